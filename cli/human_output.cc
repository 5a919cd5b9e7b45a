// The output for people: a labelled block per task, aligned tables for lists, one line
// per watched event, times in the local time zone.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "cli/format.h"
#include "cli/output.h"
#include "cli/table.h"
#include "cli/workflow_view.h"
#include "client/client.h"
#include "common/grpc_status.h"

namespace taskwire::cli {
namespace {

// Longer outputs are cut in the human form; --json prints them whole.
constexpr size_t kMaxOutputBytes = 4096;

std::string QueueName(const std::string& queue) { return queue.empty() ? "default" : queue; }

std::string Indent(absl::string_view text, absl::string_view indent) {
  return absl::StrCat(indent, absl::StrReplaceAll(text, {{"\n", absl::StrCat("\n", indent)}}));
}

std::string JoinLabels(const google::protobuf::Map<std::string, std::string>& labels) {
  const std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  return absl::StrJoin(sorted, ", ", absl::PairFormatter("="));
}

// "failed (exit 3)", "failed (signal 11)" for process tasks; the outcome alone otherwise.
std::string AttemptOutcomeText(const v1::Attempt& attempt) {
  std::string text(OutcomeName(attempt.outcome()));
  if (!attempt.has_process()) return text;
  if (attempt.process().term_signal() != 0) {
    absl::StrAppend(&text, " (signal ", attempt.process().term_signal(), ")");
  } else {
    absl::StrAppend(&text, " (exit ", attempt.process().exit_code(), ")");
  }
  return text;
}

std::string AttemptRunTime(const v1::Attempt& attempt) {
  if (!attempt.has_assigned_at() || !attempt.has_finished_at()) return "-";
  return FormatShortDuration(FromProto(attempt.finished_at()) - FromProto(attempt.assigned_at()));
}

void PrintField(std::ostream& out, absl::string_view label, absl::string_view value) {
  out << absl::StrCat(label, ":") << std::string(label.size() < 10 ? 10 - label.size() : 1, ' ')
      << value << '\n';
}

void PrintAttempts(std::ostream& out, const v1::Task& task) {
  PrintField(out, "attempts", absl::StrCat(task.attempts_size()));
  Table table({}, "  ");
  for (const v1::Attempt& attempt : task.attempts()) {
    table.AddRow({absl::StrCat("#", attempt.number()),
                  attempt.executor_id().empty() ? "-" : attempt.executor_id(),
                  AttemptOutcomeText(attempt), AttemptRunTime(attempt),
                  attempt.not_retryable() ? absl::StrCat("[not retryable] ", attempt.error())
                                          : attempt.error()});
  }
  table.Print(out);
}

// "up to 4 attempts, backoff 1s (x2, at most 1m)".
std::string RetryText(const v1::RetryPolicy& retry) {
  std::string text = absl::StrCat("up to ", CountOf(retry.max_attempts(), "attempt"));
  if (retry.has_initial_backoff()) {
    absl::StrAppend(&text, ", backoff ", FormatShortDuration(FromProto(retry.initial_backoff())));
    std::vector<std::string> growth;
    if (retry.multiplier() > 1) growth.push_back(absl::StrCat("x", retry.multiplier()));
    if (retry.has_max_backoff()) {
      growth.push_back(absl::StrCat("at most ", FormatShortDuration(FromProto(retry.max_backoff()))));
    }
    if (!growth.empty()) absl::StrAppend(&text, " (", absl::StrJoin(growth, ", "), ")");
  }
  return text;
}

void PrintSpec(std::ostream& out, const v1::TaskSpec& spec) {
  PrintField(out, "type", spec.type());
  PrintField(out, "queue", QueueName(spec.queue()));
  PrintField(out, "priority", absl::StrCat(spec.priority()));
  if (spec.has_timeout()) {
    PrintField(out, "timeout", FormatShortDuration(FromProto(spec.timeout())));
  }
  if (!spec.labels().empty()) PrintField(out, "labels", JoinLabels(spec.labels()));
  // The scheduler answers with the policy in effect, its defaults filled in, whether or not
  // the task asked for one: so say something only when it allows a retry.
  if (spec.has_retry() && spec.retry().max_attempts() > 1) {
    PrintField(out, "retry", RetryText(spec.retry()));
  }
  if (spec.has_not_before()) PrintField(out, "eta", FormatTime(spec.not_before()));
  if (spec.has_countdown()) {
    PrintField(out, "countdown", FormatShortDuration(FromProto(spec.countdown())));
  }
  if (spec.has_expires_after()) {
    PrintField(out, "expires", absl::StrCat("if not started within ",
                                            FormatShortDuration(FromProto(spec.expires_after()))));
  }
  if (!spec.idempotency_key().empty()) PrintField(out, "idempotency key", spec.idempotency_key());
  if (spec.has_retention()) {
    PrintField(out, "retention", FormatShortDuration(FromProto(spec.retention())));
  }
}

void PrintTimes(std::ostream& out, const v1::Task& task) {
  PrintField(out, "created", FormatTime(task.created_at()));
  if (!task.has_finished_at()) return;
  PrintField(out, "finished", FormatTime(task.finished_at()));
  PrintField(out, "duration",
             FormatShortDuration(FromProto(task.finished_at()) - FromProto(task.created_at())));
}

void PrintResult(std::ostream& out, const v1::Task& task) {
  if (!task.output().empty() || task.state() == v1::TASK_STATE_SUCCEEDED) {
    PrintField(out, "output", CountOf(static_cast<int64_t>(task.output().size()), "byte"));
    if (!task.output().empty()) {
      out << Indent(RenderBytes(task.output(), kMaxOutputBytes), "  ") << '\n';
    }
  }
  if (!task.error().empty()) PrintField(out, "error", task.error());
  if (!task.waiting_reason().empty()) PrintField(out, "waiting", task.waiting_reason());
}

class HumanOutput final : public Output {
 public:
  explicit HumanOutput(std::ostream& out) : out_(out) {}

  void Submitted(const v1::SubmitResponse& response) override {
    out_ << response.task_id() << '\n' << std::flush;
  }

  void WorkflowSubmitted(const v1::SubmitWorkflowResponse& response) override {
    out_ << response.workflow_id() << '\n' << std::flush;
  }

  void Workflow(const v1::Workflow& workflow) override {
    out_ << RenderWorkflow(workflow) << std::flush;
  }

  void WorkflowCancelResult(const std::string& id, v1::WorkflowState state) override {
    const std::string name(client::WorkflowStateName(state));
    if (state == v1::WORKFLOW_STATE_CANCELLED) {
      out_ << "workflow " << id << ": cancelled\n";
    } else if (client::IsTerminal(state)) {
      out_ << "workflow " << id << ": already " << name << ", nothing to cancel\n";
    } else {
      out_ << "workflow " << id << ": " << name << " (cancel requested)\n";
    }
    out_.flush();
  }

  void Task(const v1::Task& task) override {
    PrintField(out_, "id", task.id());
    if (!task.workflow_id().empty()) {
      PrintField(out_, "workflow", absl::StrCat(task.workflow_id(), " (node ", task.node(), ")"));
    }
    PrintSpec(out_, task.spec());
    PrintField(out_, "state", std::string(client::StateName(task.state())));
    if (task.state() == v1::TASK_STATE_SCHEDULED && task.has_scheduled_for()) {
      PrintField(out_, "runs at", FormatTime(task.scheduled_for()));
    }
    PrintTimes(out_, task);
    PrintAttempts(out_, task);
    PrintResult(out_, task);
    out_.flush();
  }

  void CancelResult(const std::string& id, v1::TaskState state) override {
    const std::string name(client::StateName(state));
    if (state == v1::TASK_STATE_CANCELLED) {
      out_ << id << ": cancelled\n";
    } else if (client::IsTerminal(state)) {
      out_ << id << ": already " << name << ", nothing to cancel\n";
    } else {
      out_ << id << ": " << name << " (cancel requested)\n";
    }
    out_.flush();
  }

  void TaskPage(const v1::ListTasksResponse& page) override {
    const absl::Time now = absl::Now();
    for (const v1::Task& task : page.tasks()) {
      tasks_.AddRow({task.id(), std::string(client::StateName(task.state())), task.spec().type(),
                     QueueName(task.spec().queue()), absl::StrCat(task.spec().priority()),
                     absl::StrCat(task.attempts_size()), FormatAge(task.created_at(), now)});
    }
  }

  void EndTaskList(const std::string& next_page_token) override {
    if (tasks_.empty()) {
      out_ << "No tasks.\n";
    } else {
      tasks_.Print(out_);
    }
    if (!next_page_token.empty()) {
      out_ << "next page token: " << next_page_token << "  (use --page-token, or --all)\n";
    }
    out_.flush();
  }

  void Event(const v1::TaskEvent& event) override {
    std::string line =
        absl::StrCat(FormatTime(event.time()), "  ", event.task_id(), "  ", event.type(), "  ",
                     absl::StrFormat("%-9s", std::string(client::StateName(event.state()))), "  ",
                     event.attempt() == 0 ? std::string("-") : absl::StrCat("#", event.attempt()),
                     "  ", event.executor_id().empty() ? "-" : event.executor_id());
    if (!event.workflow_id().empty()) {
      absl::StrAppend(&line, "  workflow ", event.workflow_id(), "/", event.node());
    }
    if (!event.error().empty()) absl::StrAppend(&line, "  ", event.error());
    out_ << line << '\n' << std::flush;
  }

  // Aligned with the task lines: the type column says "workflow".
  void Event(const v1::WorkflowEvent& event) override {
    std::string line = absl::StrCat(
        FormatTime(event.time()), "  ", event.workflow_id(), "  workflow  ",
        absl::StrFormat("%-9s", std::string(client::WorkflowStateName(event.state()))));
    if (!event.decided_by().empty()) absl::StrAppend(&line, "  decided by ", event.decided_by());
    if (!event.error().empty()) absl::StrAppend(&line, "  ", event.error());
    out_ << absl::StripTrailingAsciiWhitespace(line) << '\n' << std::flush;
  }

  void Executors(const std::vector<v1::ExecutorInfo>& executors) override;

  void Health(const std::string& /*service*/, const std::string& status) override {
    out_ << status << '\n' << std::flush;
  }

 private:
  std::ostream& out_;
  Table tasks_{{"ID", "STATE", "TYPE", "QUEUE", "PRIO", "ATTEMPTS", "AGE"}};
};

std::string TaskTypeNames(const v1::ExecutorInfo& executor) {
  std::vector<std::string> names;
  for (const v1::TaskTypeInfo& type : executor.task_types()) {
    switch (type.mode()) {
      case v1::RUN_MODE_PROCESS: names.push_back(absl::StrCat(type.name(), "(process)")); break;
      case v1::RUN_MODE_EVENT_LOOP:
        names.push_back(absl::StrCat(type.name(), "(event-loop)"));
        break;
      default: names.push_back(type.name()); break;  // threads, the default mode
    }
  }
  return names.empty() ? "-" : absl::StrJoin(names, ",");
}

// "thread 1/8, event-loop 0/10000": used of each mode's slots; "-" for one window.
std::string ModeSlotsText(const v1::ExecutorInfo& executor) {
  std::vector<std::string> parts;
  for (const v1::ModeSlots& m : executor.mode_slots()) {
    absl::string_view mode = m.mode() == v1::RUN_MODE_PROCESS      ? "process"
                             : m.mode() == v1::RUN_MODE_EVENT_LOOP ? "event-loop"
                                                                    : "thread";
    parts.push_back(absl::StrCat(mode, " ", m.used(), "/", m.slots()));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, ", ");
}

void HumanOutput::Executors(const std::vector<v1::ExecutorInfo>& executors) {
  if (executors.empty()) {
    out_ << "No executors connected.\n" << std::flush;
    return;
  }
  const absl::Time now = absl::Now();
  Table table({"ID", "PEER", "SLOTS", "USED", "FREE", "USED/SLOTS BY MODE", "QUEUES", "TYPES",
               "DRAINING", "LAST_SEEN"});
  for (const v1::ExecutorInfo& e : executors) {
    const uint32_t free = e.slots() > e.slots_used() ? e.slots() - e.slots_used() : 0;
    table.AddRow({e.id(), e.peer(), absl::StrCat(e.slots()), absl::StrCat(e.slots_used()),
                  absl::StrCat(free), ModeSlotsText(e),
                  e.queues().empty() ? "default" : absl::StrJoin(e.queues(), ","), TaskTypeNames(e),
                  e.draining() ? "yes" : "no",
                  absl::StrCat(FormatAge(e.last_seen(), now), " ago")});
  }
  table.Print(out_);
}

}  // namespace

std::unique_ptr<Output> MakeHumanOutput(std::ostream& out) {
  return std::make_unique<HumanOutput>(out);
}

}  // namespace taskwire::cli
