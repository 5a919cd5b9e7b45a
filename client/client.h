// The C++ client of the taskwire scheduler: submit tasks, inspect, wait for, cancel and
// watch them, list executors. A thin, blocking wrapper over the generated
// `taskwire.v1.Scheduler` stub that speaks absl::Status instead of grpc::Status and gives
// every call a deadline.
//
//   taskwire::client::Client client({.target = "scheduler:7070"});
//   absl::StatusOr<std::string> id = client.Submit(taskwire::client::MakeTask("echo", "hi"));
//   if (!id.ok()) return id.status();
//   absl::StatusOr<taskwire::v1::Task> task = client.WaitTask(*id, absl::Seconds(30));
//
// Workflows: build a WorkflowSpec with the shapes of workflow.h (Chain, Group, Chord), then
// SubmitWorkflow / WaitWorkflow / GetWorkflow / CancelWorkflow. Task options (retries,
// countdown, expiry, idempotency key, retention) are set on the spec with task_options.h.
//
// Errors keep the scheduler's code and message (NOT_FOUND, INVALID_ARGUMENT, ...);
// UNAVAILABLE means the scheduler could not be reached, DEADLINE_EXCEEDED that it did not
// answer within the RPC timeout. Nothing is retried here: a caller that retries a Submit
// should set an idempotency key, so that the retry cannot create a second task.
//
// Thread-safety: a Client is safe to use from many threads at once; calls share one channel.
#ifndef TASKWIRE_CLIENT_CLIENT_H_
#define TASKWIRE_CLIENT_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/credentials.h"
#include "taskwire/v1/scheduler.grpc.pb.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace taskwire::client {

struct ClientOptions {
  // gRPC target of the scheduler, e.g. "127.0.0.1:7070" or "dns:///scheduler:7070".
  std::string target = "127.0.0.1:7070";
  // Deadline of each call (WaitTask adds its own wait to it).
  absl::Duration rpc_timeout = absl::Seconds(10);
};

class Client {
 public:
  // Dials `options.target` over a plaintext channel. Connecting is lazy: an unreachable
  // scheduler shows up as UNAVAILABLE on the first call.
  explicit Client(const ClientOptions& options);
  // Dials with TLS and a token as `security` says (common/credentials.h); an error when a
  // file cannot be used.
  static absl::StatusOr<std::unique_ptr<Client>> Create(const ClientOptions& options,
                                                        const ChannelSecurity& security);
  explicit Client(std::shared_ptr<grpc::Channel> channel,
                  absl::Duration rpc_timeout = absl::Seconds(10));
  // For tests: any implementation of the stub (a fake, a mock).
  explicit Client(std::unique_ptr<v1::Scheduler::StubInterface> stub,
                  absl::Duration rpc_timeout = absl::Seconds(10));
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Returns the new task's id once the scheduler has stored it (or, when the spec's
  // idempotency key matched an earlier task, that task's id).
  absl::StatusOr<std::string> Submit(const v1::TaskSpec& spec);
  // As Submit, and says whether the idempotency key matched an earlier task.
  absl::StatusOr<v1::SubmitResponse> SubmitTask(const v1::TaskSpec& spec);
  // Submits and waits for the end in the same call (one round trip for a result): the
  // response's `task` is the task, ended or as it was when `timeout` passed. Waits longer
  // than a minute go on with WaitTask, as WaitTask's do.
  absl::StatusOr<v1::SubmitResponse> SubmitAndWait(const v1::TaskSpec& spec,
                                                   absl::Duration timeout);
  // All or nothing; the ids are in the order of `specs`.
  absl::StatusOr<std::vector<std::string>> SubmitBatch(const std::vector<v1::TaskSpec>& specs);
  absl::StatusOr<v1::Task> GetTask(const std::string& id);
  // Waits until the task is terminal or `timeout` passes, then returns the task (non-terminal
  // on timeout). `absl::InfiniteDuration()` waits for as long as the task takes. Long waits
  // are split into calls of at most a minute, each with deadline = its wait + rpc_timeout.
  absl::StatusOr<v1::Task> WaitTask(const std::string& id, absl::Duration timeout);
  // Returns the task's state after the cancel (a finished task keeps its state).
  absl::StatusOr<v1::TaskState> CancelTask(const std::string& id);
  absl::StatusOr<v1::ListTasksResponse> ListTasks(const v1::ListTasksRequest& request);
  // Blocks, calling `on_event` for each task event (and `on_workflow_event`, if given, for
  // each workflow event; only unfiltered watches get those) until a callback returns false,
  // the stream ends, or `timeout` passes (absl::InfiniteDuration() = no limit, and then no
  // deadline). Returns OK when stopped by a callback or the timeout, else the stream's
  // final status.
  absl::Status WatchTasks(
      const v1::WatchTasksRequest& request, absl::Duration timeout,
      const std::function<bool(const v1::TaskEvent&)>& on_event,
      const std::function<bool(const v1::WorkflowEvent&)>& on_workflow_event = nullptr);
  absl::StatusOr<std::vector<v1::ExecutorInfo>> ListExecutors();

  // All nodes or none; the response has the workflow id and each node's task id.
  absl::StatusOr<v1::SubmitWorkflowResponse> SubmitWorkflow(const v1::WorkflowSpec& spec);
  // As SubmitAndWait, for a workflow: the response's `workflow` is the workflow.
  absl::StatusOr<v1::SubmitWorkflowResponse> SubmitWorkflowAndWait(const v1::WorkflowSpec& spec,
                                                                   absl::Duration timeout);
  absl::StatusOr<v1::Workflow> GetWorkflow(const std::string& id);
  // As WaitTask, for a workflow: returns once it has ended or `timeout` passed.
  absl::StatusOr<v1::Workflow> WaitWorkflow(const std::string& id, absl::Duration timeout);
  // Cancels every unfinished node; returns the workflow's state after the cancel.
  absl::StatusOr<v1::WorkflowState> CancelWorkflow(const std::string& id);

 private:
  absl::StatusOr<v1::Task> WaitOnce(const std::string& id, absl::Duration wait);
  absl::StatusOr<v1::Workflow> WaitWorkflowOnce(const std::string& id, absl::Duration wait);

  // The deadline of a call, and wait_for_ready for a channel that follows the leader.
  void Prepare(grpc::ClientContext& context, absl::Duration timeout) const;

  const std::unique_ptr<v1::Scheduler::StubInterface> stub_;
  const absl::Duration rpc_timeout_;
  bool wait_for_ready_ = false;  // set once, by the constructors that know the target
};

// The channel every Client::Create uses: `security` as common/credentials.h says, and a
// receive limit large enough for big task outputs. For other services on the same
// scheduler or executor (grpc.health.v1) with the same TLS and token.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target,
                                                           const ChannelSecurity& security);

// A spec with only the type and payload set: the default queue, priority 0, no timeout.
v1::TaskSpec MakeTask(std::string type, std::string payload = {});

// SUCCEEDED, FAILED, CANCELLED and EXPIRED are terminal.
bool IsTerminal(v1::TaskState s);

// "pending", "scheduled", "queued", "running", "succeeded", "failed", "cancelled",
// "expired"; "unspecified" for TASK_STATE_UNSPECIFIED and for values outside the enum.
std::string_view StateName(v1::TaskState s);

// SUCCEEDED, FAILED and CANCELLED are terminal.
bool IsTerminal(v1::WorkflowState s);

// "running", "succeeded", "failed", "cancelled"; "unspecified" otherwise.
std::string_view WorkflowStateName(v1::WorkflowState s);

// The inverse of StateName, case-insensitive; also accepts the full enum name
// ("TASK_STATE_QUEUED"). nullopt for anything else.
std::optional<v1::TaskState> ParseState(std::string_view name);

}  // namespace taskwire::client

#endif  // TASKWIRE_CLIENT_CLIENT_H_
