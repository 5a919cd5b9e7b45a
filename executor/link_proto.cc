#include "executor/link_proto.h"

#include <iterator>
#include <string>
#include <utility>

#include "common/grpc_status.h"

namespace taskwire::executor {
namespace {

v1::AttemptOutcome ToProto(RunOutcome o) {
  switch (o) {
    case RunOutcome::kSucceeded: return v1::ATTEMPT_OUTCOME_SUCCEEDED;
    case RunOutcome::kFailed: return v1::ATTEMPT_OUTCOME_FAILED;
    case RunOutcome::kCancelled: return v1::ATTEMPT_OUTCOME_CANCELLED;
    case RunOutcome::kTimedOut: return v1::ATTEMPT_OUTCOME_TIMED_OUT;
  }
  return v1::ATTEMPT_OUTCOME_FAILED;
}

void SetRef(const AttemptKey& key, v1::AttemptRef* ref) {
  ref->set_task_id(key.first);
  ref->set_attempt(key.second);
}

void ToProto(AttemptReport& report, v1::AttemptResult* r) {
  RunResult& result = report.result;
  r->set_task_id(std::move(report.task_id));
  r->set_attempt(report.attempt);
  r->set_outcome(ToProto(result.outcome));
  r->set_output(std::move(result.output));
  r->set_error(std::move(result.error));
  r->set_not_retryable(result.not_retryable && result.outcome == RunOutcome::kFailed);
  taskwire::ToProto(result.run_time, r->mutable_run_time());
  if (result.exit_code || result.term_signal != 0) {
    r->mutable_process()->set_exit_code(result.exit_code.value_or(0));
    r->mutable_process()->set_term_signal(result.term_signal);
  }
}

}  // namespace

std::shared_ptr<Attempt> AttemptFromProto(v1::Assignment& a) {
  const absl::Duration timeout = FromProto(a.timeout());
  return std::make_shared<Attempt>(
      std::move(*a.mutable_task_id()), a.attempt(), std::move(*a.mutable_type()),
      std::move(*a.mutable_payload()),
      timeout > absl::ZeroDuration() ? absl::Now() + timeout : absl::InfiniteFuture(),
      std::vector<std::string>(std::make_move_iterator(a.mutable_upstream_results()->begin()),
                               std::make_move_iterator(a.mutable_upstream_results()->end())));
}

std::vector<AttemptKey> CancelsFromProto(const v1::SchedulerMessage& message) {
  std::vector<AttemptKey> keys;
  keys.reserve(message.cancels_size());
  for (const v1::AttemptRef& c : message.cancels()) keys.emplace_back(c.task_id(), c.attempt());
  return keys;
}

WelcomeInfo WelcomeFromProto(const v1::Welcome& welcome) {
  WelcomeInfo info;
  if (welcome.has_heartbeat_interval()) {
    info.heartbeat_interval = FromProto(welcome.heartbeat_interval());
  }
  if (welcome.has_lease()) info.lease = FromProto(welcome.lease());
  return info;
}

void AddToHello(const HelloLists& lists, v1::Hello& hello) {
  for (const AttemptKey& key : lists.running) SetRef(key, hello.add_running());
  for (const AttemptKey& key : lists.unreported) SetRef(key, hello.add_unreported());
}

void MergeInto(LinkMessage& message, v1::ExecutorMessage& out) {
  for (AttemptReport& report : message.results) ToProto(report, out.add_results());
  if (message.heartbeat) out.mutable_heartbeat();
  if (message.drain) out.mutable_drain()->set_reason(*message.drain);
}

v1::RunMode ToProto(RunMode mode) {
  switch (mode) {
    case RunMode::kThread: return v1::RUN_MODE_THREAD;
    case RunMode::kProcess: return v1::RUN_MODE_PROCESS;
    case RunMode::kEventLoop: return v1::RUN_MODE_EVENT_LOOP;
  }
  return v1::RUN_MODE_THREAD;
}

}  // namespace taskwire::executor
