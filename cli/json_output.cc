// --json: every result is a proto message printed with MessageToJsonString on one line,
// with proto field names and default values included, so that scripts see every field.
#include <iostream>
#include <string>

#include "cli/output.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace taskwire::cli {
namespace {

class JsonOutput final : public Output {
 public:
  explicit JsonOutput(std::ostream& out) : out_(out) {}

  void Submitted(const v1::SubmitResponse& response) override { Line(response); }

  void Task(const v1::Task& task) override { Line(task); }

  void Health(const std::string& service, const std::string& status) override {
    google::protobuf::Struct result;
    auto& fields = *result.mutable_fields();
    fields["service"].set_string_value(service);
    fields["status"].set_string_value(status);
    Line(result);
  }

  void CancelResult(const std::string& id, v1::TaskState state) override {
    google::protobuf::Struct result;
    auto& fields = *result.mutable_fields();
    fields["task_id"].set_string_value(id);
    fields["state"].set_string_value(v1::TaskState_Name(state));
    Line(result);
  }

  void TaskPage(const v1::ListTasksResponse& page) override {
    for (const v1::Task& task : page.tasks()) Line(task);
  }

  void EndTaskList(const std::string& next_page_token) override {
    if (next_page_token.empty()) return;
    v1::ListTasksResponse token_only;
    token_only.set_next_page_token(next_page_token);
    Line(token_only, /*print_defaults=*/false);
  }

  void Event(const v1::TaskEvent& event) override { Line(event); }
  void Event(const v1::WorkflowEvent& event) override { Line(event); }

  void Executors(const std::vector<v1::ExecutorInfo>& executors) override {
    for (const v1::ExecutorInfo& executor : executors) Line(executor);
  }

  void WorkflowSubmitted(const v1::SubmitWorkflowResponse& response) override { Line(response); }

  void Workflow(const v1::Workflow& workflow) override { Line(workflow); }

  void WorkflowCancelResult(const std::string& id, v1::WorkflowState state) override {
    google::protobuf::Struct result;
    auto& fields = *result.mutable_fields();
    fields["workflow_id"].set_string_value(id);
    fields["state"].set_string_value(v1::WorkflowState_Name(state));
    Line(result);
  }

 private:
  void Line(const google::protobuf::Message& message, bool print_defaults = true) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = print_defaults;
    std::string json;
    const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
    if (!status.ok()) {  // not expected for a message that parsed: report it, keep going
      std::cerr << "taskwire: cannot print a " << message.GetTypeName()
                << " as JSON: " << status.ToString() << std::endl;
      return;
    }
    out_ << json << '\n' << std::flush;
  }

  std::ostream& out_;
};

}  // namespace

std::unique_ptr<Output> MakeJsonOutput(std::ostream& out) {
  return std::make_unique<JsonOutput>(out);
}

}  // namespace taskwire::cli
