#include "client/client.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/scheduler_target.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace taskwire::client {
namespace {

// A task's output can be large; gRPC's default receive limit (4 MiB) would turn a GetTask
// of a big result into RESOURCE_EXHAUSTED.
constexpr int kMaxReceiveMessageBytes = 64 << 20;

// Long waits are split into calls this long, so that every call has a finite deadline and
// a scheduler that caps its waits does not end ours early.
constexpr absl::Duration kMaxWaitPerCall = absl::Minutes(1);

// If the scheduler answers a wait early with a task that is not finished, the next call
// starts no sooner than this after the previous one: a bound on a misbehaving server.
constexpr absl::Duration kMinWaitCallInterval = absl::Milliseconds(100);

// The error of a wait after a successful submit: names what was submitted, so that the
// caller does not submit it again.
absl::Status Submitted(absl::string_view what, absl::string_view id, const absl::Status& error) {
  return absl::Status(error.code(), absl::StrCat(what, " '", id,
                                                 "' was submitted, but waiting for it failed: ",
                                                 error.message()));
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

constexpr std::array<std::pair<v1::TaskState, std::string_view>, 9> kStateNames = {{
    {v1::TASK_STATE_UNSPECIFIED, "unspecified"},
    {v1::TASK_STATE_PENDING, "pending"},
    {v1::TASK_STATE_SCHEDULED, "scheduled"},
    {v1::TASK_STATE_QUEUED, "queued"},
    {v1::TASK_STATE_RUNNING, "running"},
    {v1::TASK_STATE_SUCCEEDED, "succeeded"},
    {v1::TASK_STATE_FAILED, "failed"},
    {v1::TASK_STATE_CANCELLED, "cancelled"},
    {v1::TASK_STATE_EXPIRED, "expired"},
}};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target,
                                                           const ChannelSecurity& security) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(security, args);
  if (!credentials.ok()) return credentials.status();
  absl::StatusOr<SchedulerTarget> parsed = ParseSchedulerTarget(target);
  if (!parsed.ok()) return parsed.status();
  ApplySchedulerTarget(*parsed, args);
  return grpc::CreateCustomChannel(parsed->target, *credentials, args);
}

namespace {

// No security set up: plaintext credentials. A target that does not parse (a name in a
// list that does not resolve) is dialled as it is, to fail on the first call.
std::shared_ptr<grpc::Channel> PlaintextChannel(const std::string& target) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(target, ChannelSecurity());
  return channel.ok() ? *channel : grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

// Calls through a channel that follows the leader wait (within their deadline) for a
// scheduler that serves, rather than failing at once during a takeover: a call that fails
// at once may not notice the new leader for seconds (gRPC reads the health update only
// when something waits on the channel).
bool WaitsForTheLeader(const std::string& target) {
  absl::StatusOr<SchedulerTarget> parsed = ParseSchedulerTarget(target);
  return parsed.ok() && parsed->follow_leader;
}

}  // namespace

Client::Client(const ClientOptions& options)
    : Client(PlaintextChannel(options.target), options.rpc_timeout) {
  wait_for_ready_ = WaitsForTheLeader(options.target);
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const ClientOptions& options,
                                                       const ChannelSecurity& security) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(options.target, security);
  if (!channel.ok()) return channel.status();
  auto client = std::make_unique<Client>(std::move(*channel), options.rpc_timeout);
  client->wait_for_ready_ = WaitsForTheLeader(options.target);
  return client;
}

void Client::Prepare(grpc::ClientContext& context, absl::Duration timeout) const {
  SetDeadline(context, timeout);
  if (wait_for_ready_) context.set_wait_for_ready(true);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, absl::Duration rpc_timeout)
    : Client(v1::Scheduler::NewStub(std::move(channel)), rpc_timeout) {}

Client::Client(std::unique_ptr<v1::Scheduler::StubInterface> stub, absl::Duration rpc_timeout)
    : stub_(std::move(stub)), rpc_timeout_(rpc_timeout) {}

Client::~Client() = default;

absl::StatusOr<std::string> Client::Submit(const v1::TaskSpec& spec) {
  absl::StatusOr<v1::SubmitResponse> response = SubmitTask(spec);
  if (!response.ok()) return response.status();
  return std::move(*response->mutable_task_id());
}

absl::StatusOr<v1::SubmitResponse> Client::SubmitTask(const v1::TaskSpec& spec) {
  v1::SubmitRequest request;
  *request.mutable_task() = spec;
  v1::SubmitResponse response;
  grpc::ClientContext context;
  Prepare(context, rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->Submit(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::SubmitResponse> Client::SubmitAndWait(const v1::TaskSpec& spec,
                                                         absl::Duration timeout) {
  const absl::Time end = absl::Now() + std::max(timeout, absl::ZeroDuration());
  const absl::Duration wait = std::clamp(timeout, absl::ZeroDuration(), kMaxWaitPerCall);
  v1::SubmitRequest request;
  *request.mutable_task() = spec;
  ToProto(wait, request.mutable_wait());
  v1::SubmitResponse response;
  grpc::ClientContext context;
  Prepare(context, wait + rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->Submit(&context, request, &response));
  if (!status.ok()) return status;
  if (response.has_task() && (IsTerminal(response.task().state()) || absl::Now() >= end)) {
    return response;
  }
  // A longer wait, or a scheduler that could not read the task back: wait on by id.
  absl::StatusOr<v1::Task> task = WaitTask(response.task_id(), end - absl::Now());
  if (!task.ok()) return Submitted("task", response.task_id(), task.status());
  *response.mutable_task() = std::move(*task);
  return response;
}

absl::StatusOr<std::vector<std::string>> Client::SubmitBatch(
    const std::vector<v1::TaskSpec>& specs) {
  v1::SubmitBatchRequest request;
  request.mutable_tasks()->Reserve(static_cast<int>(specs.size()));
  for (const v1::TaskSpec& spec : specs) *request.add_tasks() = spec;
  v1::SubmitBatchResponse response;
  grpc::ClientContext context;
  Prepare(context, rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->SubmitBatch(&context, request, &response));
  if (!status.ok()) return status;
  if (static_cast<size_t>(response.task_ids_size()) != specs.size()) {
    return absl::InternalError(absl::StrCat("SubmitBatch sent ", specs.size(),
                                            " tasks but the scheduler answered with ",
                                            response.task_ids_size(), " ids"));
  }
  return std::vector<std::string>(response.task_ids().begin(), response.task_ids().end());
}

absl::StatusOr<v1::Task> Client::GetTask(const std::string& id) {
  v1::GetTaskRequest request;
  request.set_task_id(id);
  v1::Task task;
  grpc::ClientContext context;
  Prepare(context, rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->GetTask(&context, request, &task));
  if (!status.ok()) return status;
  return task;
}

absl::StatusOr<v1::Task> Client::WaitOnce(const std::string& id, absl::Duration wait) {
  // A zero WaitTaskRequest.timeout could read as "unset", i.e. wait until the deadline.
  if (wait < absl::Milliseconds(1)) return GetTask(id);
  v1::WaitTaskRequest request;
  request.set_task_id(id);
  ToProto(wait, request.mutable_timeout());
  v1::Task task;
  grpc::ClientContext context;
  Prepare(context, wait + rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->WaitTask(&context, request, &task));
  if (!status.ok()) return status;
  return task;
}

absl::StatusOr<v1::Task> Client::WaitTask(const std::string& id, absl::Duration timeout) {
  const absl::Time end = absl::Now() + std::max(timeout, absl::ZeroDuration());
  while (true) {
    const absl::Time call_start = absl::Now();
    const absl::Duration wait = std::clamp(end - call_start, absl::ZeroDuration(), kMaxWaitPerCall);
    absl::StatusOr<v1::Task> task = WaitOnce(id, wait);
    if (!task.ok() || IsTerminal(task->state())) return task;
    const absl::Time now = absl::Now();
    if (now >= end) return task;
    const absl::Time next_call = std::min(call_start + kMinWaitCallInterval, end);
    if (now < next_call) std::this_thread::sleep_for(absl::ToChronoNanoseconds(next_call - now));
  }
}

absl::StatusOr<v1::TaskState> Client::CancelTask(const std::string& id) {
  v1::CancelTaskRequest request;
  request.set_task_id(id);
  v1::CancelTaskResponse response;
  grpc::ClientContext context;
  Prepare(context, rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->CancelTask(&context, request, &response));
  if (!status.ok()) return status;
  return response.state();
}

absl::StatusOr<v1::ListTasksResponse> Client::ListTasks(const v1::ListTasksRequest& request) {
  v1::ListTasksResponse response;
  grpc::ClientContext context;
  Prepare(context, rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->ListTasks(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::Status Client::WatchTasks(
    const v1::WatchTasksRequest& request, absl::Duration timeout,
    const std::function<bool(const v1::TaskEvent&)>& on_event,
    const std::function<bool(const v1::WorkflowEvent&)>& on_workflow_event) {
  grpc::ClientContext context;
  Prepare(context, timeout);
  const absl::Time end = absl::Now() + timeout;
  std::unique_ptr<grpc::ClientReaderInterface<v1::WatchTasksResponse>> reader =
      stub_->WatchTasks(&context, request);
  v1::WatchTasksResponse response;
  bool stopped = false;
  while (!stopped && reader->Read(&response)) {
    for (const v1::TaskEvent& event : response.events()) {
      if (!on_event(event)) {
        stopped = true;
        break;
      }
    }
    if (stopped || !on_workflow_event) continue;
    for (const v1::WorkflowEvent& event : response.workflow_events()) {
      if (!on_workflow_event(event)) {
        stopped = true;
        break;
      }
    }
  }
  if (stopped) {
    context.TryCancel();
    while (reader->Read(&response)) {
    }
  }
  absl::Status status = ToAbslStatus(reader->Finish());
  if (stopped) return absl::OkStatus();
  if (absl::IsDeadlineExceeded(status) && absl::Now() >= end) return absl::OkStatus();
  return status;
}

absl::StatusOr<std::vector<v1::ExecutorInfo>> Client::ListExecutors() {
  v1::ListExecutorsRequest request;
  v1::ListExecutorsResponse response;
  grpc::ClientContext context;
  Prepare(context, rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->ListExecutors(&context, request, &response));
  if (!status.ok()) return status;
  return std::vector<v1::ExecutorInfo>(response.executors().begin(), response.executors().end());
}

absl::StatusOr<v1::SubmitWorkflowResponse> Client::SubmitWorkflow(const v1::WorkflowSpec& spec) {
  v1::SubmitWorkflowRequest request;
  *request.mutable_workflow() = spec;
  v1::SubmitWorkflowResponse response;
  grpc::ClientContext context;
  Prepare(context, rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->SubmitWorkflow(&context, request, &response));
  if (!status.ok()) return status;
  if (response.task_ids_size() != spec.nodes_size()) {
    return absl::InternalError(absl::StrCat("SubmitWorkflow sent ", spec.nodes_size(),
                                            " nodes but the scheduler answered with ",
                                            response.task_ids_size(), " task ids"));
  }
  return response;
}

absl::StatusOr<v1::SubmitWorkflowResponse> Client::SubmitWorkflowAndWait(
    const v1::WorkflowSpec& spec, absl::Duration timeout) {
  const absl::Time end = absl::Now() + std::max(timeout, absl::ZeroDuration());
  const absl::Duration wait = std::clamp(timeout, absl::ZeroDuration(), kMaxWaitPerCall);
  v1::SubmitWorkflowRequest request;
  *request.mutable_workflow() = spec;
  ToProto(wait, request.mutable_wait());
  v1::SubmitWorkflowResponse response;
  grpc::ClientContext context;
  Prepare(context, wait + rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->SubmitWorkflow(&context, request, &response));
  if (!status.ok()) return status;
  if (response.has_workflow() &&
      (IsTerminal(response.workflow().state()) || absl::Now() >= end)) {
    return response;
  }
  absl::StatusOr<v1::Workflow> workflow = WaitWorkflow(response.workflow_id(), end - absl::Now());
  if (!workflow.ok()) return Submitted("workflow", response.workflow_id(), workflow.status());
  *response.mutable_workflow() = std::move(*workflow);
  return response;
}

absl::StatusOr<v1::Workflow> Client::GetWorkflow(const std::string& id) {
  v1::GetWorkflowRequest request;
  request.set_workflow_id(id);
  v1::Workflow workflow;
  grpc::ClientContext context;
  Prepare(context, rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->GetWorkflow(&context, request, &workflow));
  if (!status.ok()) return status;
  return workflow;
}

absl::StatusOr<v1::Workflow> Client::WaitWorkflowOnce(const std::string& id, absl::Duration wait) {
  if (wait < absl::Milliseconds(1)) return GetWorkflow(id);
  v1::WaitWorkflowRequest request;
  request.set_workflow_id(id);
  ToProto(wait, request.mutable_timeout());
  v1::Workflow workflow;
  grpc::ClientContext context;
  Prepare(context, wait + rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->WaitWorkflow(&context, request, &workflow));
  if (!status.ok()) return status;
  return workflow;
}

absl::StatusOr<v1::Workflow> Client::WaitWorkflow(const std::string& id, absl::Duration timeout) {
  const absl::Time end = absl::Now() + std::max(timeout, absl::ZeroDuration());
  while (true) {
    const absl::Time call_start = absl::Now();
    const absl::Duration wait = std::clamp(end - call_start, absl::ZeroDuration(), kMaxWaitPerCall);
    absl::StatusOr<v1::Workflow> workflow = WaitWorkflowOnce(id, wait);
    if (!workflow.ok() || IsTerminal(workflow->state())) return workflow;
    const absl::Time now = absl::Now();
    if (now >= end) return workflow;
    const absl::Time next_call = std::min(call_start + kMinWaitCallInterval, end);
    if (now < next_call) std::this_thread::sleep_for(absl::ToChronoNanoseconds(next_call - now));
  }
}

absl::StatusOr<v1::WorkflowState> Client::CancelWorkflow(const std::string& id) {
  v1::CancelWorkflowRequest request;
  request.set_workflow_id(id);
  v1::CancelWorkflowResponse response;
  grpc::ClientContext context;
  Prepare(context, rpc_timeout_);
  absl::Status status = ToAbslStatus(stub_->CancelWorkflow(&context, request, &response));
  if (!status.ok()) return status;
  return response.state();
}

bool IsTerminal(v1::WorkflowState s) {
  return s == v1::WORKFLOW_STATE_SUCCEEDED || s == v1::WORKFLOW_STATE_FAILED ||
         s == v1::WORKFLOW_STATE_CANCELLED;
}

std::string_view WorkflowStateName(v1::WorkflowState s) {
  switch (s) {
    case v1::WORKFLOW_STATE_RUNNING: return "running";
    case v1::WORKFLOW_STATE_SUCCEEDED: return "succeeded";
    case v1::WORKFLOW_STATE_FAILED: return "failed";
    case v1::WORKFLOW_STATE_CANCELLED: return "cancelled";
    default: return "unspecified";
  }
}

v1::TaskSpec MakeTask(std::string type, std::string payload) {
  v1::TaskSpec spec;
  spec.set_type(std::move(type));
  spec.set_payload(std::move(payload));
  return spec;
}

bool IsTerminal(v1::TaskState s) {
  return s == v1::TASK_STATE_SUCCEEDED || s == v1::TASK_STATE_FAILED ||
         s == v1::TASK_STATE_CANCELLED || s == v1::TASK_STATE_EXPIRED;
}

std::string_view StateName(v1::TaskState s) {
  for (const auto& [state, name] : kStateNames) {
    if (state == s) return name;
  }
  return "unspecified";
}

std::optional<v1::TaskState> ParseState(std::string_view name) {
  // Debian's Abseil has its own string_view type, hence the explicit conversions.
  absl::string_view text(name.data(), name.size());
  constexpr absl::string_view kPrefix = "task_state_";
  if (text.size() > kPrefix.size() && absl::StartsWithIgnoreCase(text, kPrefix)) {
    text.remove_prefix(kPrefix.size());
  }
  for (const auto& [state, state_name] : kStateNames) {
    if (absl::EqualsIgnoreCase(text, absl::string_view(state_name.data(), state_name.size()))) {
      return state;
    }
  }
  return std::nullopt;
}

}  // namespace taskwire::client
