// Fuzzes the scheduler's side of the executor link: a core (fake clock, memory store)
// with tasks and a small workflow submitted, and up to three fake executors that send, in
// the order the bytes say, Hellos (new and reconnecting, with any running and unreported
// attempts), results (for attempts they hold, and for any task id with any attempt
// number, on live and stale sessions), heartbeats, drains and disconnects, while clients
// cancel and submit and the clock moves and timers run.
// Checks, after every message: each task's state is one the lifecycle knows, a RUNNING
// task's last attempt is the one running and no other attempt is, no more tasks RUNNING
// than the connected executors hold slots for; at the end, once every executor is gone
// no task is RUNNING, and one executor that answers everything brings every task and the
// workflow to an end. The core's own asserts are live in the ASan and fuzz builds.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "scheduler/core/event_hub.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/store/memory_task_store.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/unit/fake_executor_channel.h"

namespace taskwire::scheduler {
namespace {

using fuzz::ByteReader;
using testing::FakeExecutorChannel;

constexpr int kExecutors = 3;
constexpr size_t kMaxOps = 300;
const char* const kTypes[] = {"a", "b"};
const char* const kQueues[] = {"default", "q2"};

struct FakeExecutor {
  std::optional<ExecutorSession> session;  // the live one, if connected
  std::optional<ExecutorSession> stale;    // an earlier session, for late messages
  std::shared_ptr<FakeExecutorChannel> channel;
  std::vector<AttemptRef> held;  // attempts sent to it (and not known to be answered)
};

class Scenario {
 public:
  explicit Scenario(ByteReader& in) : in_(in), core_(clock_, store_, events_, nullptr, Options()) {}

  void Run() {
    for (int i = 0, n = 1 + static_cast<int>(in_.Below(6)); i < n; ++i) SubmitOne();
    SubmitChain();
    for (size_t op = 0; op < kMaxOps && !in_.empty(); ++op) {
      Step();
      CheckInvariants();
    }
    Finish();
  }

 private:
  static CoreOptions Options() {
    CoreOptions options;
    options.executor_timeout = absl::Seconds(15);
    options.max_lost_attempts = 3;
    options.default_retry.max_attempts = 3;
    return options;
  }

  TaskSpec RandomSpec() {
    TaskSpec spec;
    spec.type = kTypes[in_.Below(2)];
    spec.queue = kQueues[in_.Below(2)];
    spec.priority = static_cast<int32_t>(in_.Below(5)) - 2;
    spec.payload = "p";
    const uint32_t extras = in_.Byte();
    if (extras & 1) spec.countdown = absl::Seconds(in_.Below(120));
    if (extras & 2) spec.expires_after = absl::Seconds(1 + in_.Below(300));
    if (extras & 4) spec.timeout = absl::Seconds(1 + in_.Below(60));
    if (extras & 8) spec.retry.max_attempts = 1 + in_.Below(4);
    if (extras & 16) spec.retry.initial_backoff = absl::Seconds(in_.Below(30));
    return spec;
  }

  void SubmitOne() {
    absl::StatusOr<std::vector<std::string>> ids = core_.Submit({RandomSpec()});
    TASKWIRE_FUZZ_CHECK(ids.ok(), ids.status().ToString());
    tasks_.insert(tasks_.end(), ids->begin(), ids->end());
  }

  void SubmitChain() {
    WorkflowSpec spec;
    const size_t n = 2 + in_.Below(3);
    for (size_t i = 0; i < n; ++i) {
      WorkflowNodeSpec node{absl::StrCat("n", i), RandomSpec(), {}};
      if (i > 0) node.after.push_back(absl::StrCat("n", in_.Below(static_cast<uint32_t>(i))));
      spec.nodes.push_back(std::move(node));
    }
    absl::StatusOr<SubmittedWorkflow> wf = core_.SubmitWorkflow(std::move(spec));
    TASKWIRE_FUZZ_CHECK(wf.ok(), wf.status().ToString());
    workflow_ = wf->workflow_id;
    tasks_.insert(tasks_.end(), wf->task_ids.begin(), wf->task_ids.end());
  }

  // Some attempt: one the executor was sent, or any task with any attempt number.
  AttemptRef PickAttempt(const FakeExecutor& e) {
    if (!e.held.empty() && in_.Below(4) != 0) return e.held[in_.Below(static_cast<uint32_t>(e.held.size()))];
    AttemptRef ref;
    ref.task_id = in_.Below(8) == 0 ? std::string("no-such-task")
                                    : tasks_[in_.Below(static_cast<uint32_t>(tasks_.size()))];
    ref.attempt = in_.Below(6);
    return ref;
  }

  // Moves what the core sent into what each executor holds.
  void Collect() {
    for (FakeExecutor& e : executors_) {
      if (e.channel == nullptr) continue;
      for (const AssignmentOut& a : e.channel->TakeAssignments()) {
        e.held.push_back(AttemptRef{a.task_id, a.attempt});
      }
    }
  }

  void Hello(int k) {
    FakeExecutor& e = executors_[k];
    ExecutorHello hello;
    hello.executor_id = absl::StrCat("e", k);
    hello.incarnation = absl::StrCat("e", k, "-", in_.Below(2));
    hello.peer = "ipv4:127.0.0.1:1";
    const uint32_t types = 1 + in_.Below(3);
    for (int t = 0; t < 2; ++t) {
      if (types & (1u << t)) hello.task_types.push_back({kTypes[t], RunMode::kThread});
    }
    const uint32_t queues = in_.Below(4);
    for (int q = 0; q < 2; ++q) {
      if (queues & (1u << q)) hello.queues.push_back(kQueues[q]);
    }
    hello.slots = in_.Below(5);  // 0 is refused
    for (uint32_t i = 0, n = in_.Below(3); i < n; ++i) hello.running.push_back(PickAttempt(e));
    for (uint32_t i = 0, n = in_.Below(2); i < n; ++i) hello.unreported.push_back(PickAttempt(e));
    auto channel = std::make_shared<FakeExecutorChannel>();
    absl::StatusOr<ExecutorSession> session = core_.ConnectExecutor(std::move(hello), channel);
    if (!session.ok()) {
      TASKWIRE_FUZZ_CHECK(absl::IsAlreadyExists(session.status()) ||
                              absl::IsInvalidArgument(session.status()),
                          session.status().ToString());
      return;
    }
    if (e.session) e.stale = e.session;
    e.session = *session;
    e.channel = channel;
  }

  // The session a message goes on: usually the live one, sometimes a stale one.
  std::optional<ExecutorSession> SessionOf(const FakeExecutor& e) {
    if (e.stale && in_.Below(5) == 0) return e.stale;
    return e.session;
  }

  void Result(FakeExecutor& e) {
    std::optional<ExecutorSession> session = SessionOf(e);
    if (!session) return;
    std::vector<AttemptResult> results;
    for (uint32_t i = 0, n = 1 + in_.Below(3); i < n; ++i) {
      AttemptResult r;
      const AttemptRef ref = PickAttempt(e);
      r.task_id = ref.task_id;
      r.attempt = ref.attempt;
      switch (in_.Below(4)) {  // what the link's FromProto can give
        case 0: r.outcome = AttemptOutcome::kSucceeded; break;
        case 1: r.outcome = AttemptOutcome::kFailed; break;
        case 2: r.outcome = AttemptOutcome::kCancelled; break;
        default: r.outcome = AttemptOutcome::kTimedOut; break;
      }
      r.output = "out";
      r.not_retryable = in_.Below(4) == 0;
      results.push_back(std::move(r));
    }
    core_.OnResults(*session, std::move(results));
  }

  void Step() {
    Collect();
    FakeExecutor& e = executors_[in_.Below(kExecutors)];
    const int k = static_cast<int>(&e - executors_);
    switch (in_.Below(11)) {
      case 0:
      case 1:
        Hello(k);
        break;
      case 2:
      case 3:
      case 4:
        Result(e);
        break;
      case 5:
        if (auto s = SessionOf(e)) core_.OnHeartbeat(*s);
        break;
      case 6:
        if (auto s = SessionOf(e)) core_.OnDrain(*s);
        break;
      case 7:
        if (auto s = SessionOf(e)) {
          core_.DisconnectExecutor(*s, "stream ended");
          if (e.session && s->session_id == e.session->session_id) {
            e.stale = e.session;
            e.session.reset();
          }
        }
        break;
      case 8:
        clock_.Advance(absl::Seconds(in_.Below(40)));
        core_.Tick();
        break;
      case 9: {
        absl::StatusOr<TaskState> s = core_.CancelTask(tasks_[in_.Below(static_cast<uint32_t>(tasks_.size()))]);
        TASKWIRE_FUZZ_CHECK(s.ok() && IsTerminal(*s), s.ok() ? std::string(TaskStateName(*s)) : s.status().ToString());
        break;
      }
      default:
        if (tasks_.size() < 40) SubmitOne();
        break;
    }
  }

  // Slots in use over every connected executor, as the core reports them.
  size_t SlotsHeld() const {
    size_t used = 0;
    for (const ExecutorView& v : core_.ListExecutors()) used += v.slots_used;
    return used;
  }

  void CheckTask(const std::string& id, size_t& running) {
    absl::StatusOr<TaskView> view = core_.GetTask(id);
    TASKWIRE_FUZZ_CHECK(view.ok(), view.status().ToString());
    const TaskRecord& t = view->record;
    TASKWIRE_FUZZ_CHECK(!TaskStateName(t.state).empty(), id);
    uint32_t last = 0;
    for (size_t i = 0; i < t.attempts.size(); ++i) {
      const AttemptRecord& a = t.attempts[i];
      TASKWIRE_FUZZ_CHECK(a.number > last, absl::StrCat(id, ": attempt numbers do not grow"));
      last = a.number;
      const bool current_running = t.state == TaskState::kRunning && i + 1 == t.attempts.size();
      TASKWIRE_FUZZ_CHECK((a.outcome == AttemptOutcome::kRunning) == current_running,
                          absl::StrCat(id, " is ", TaskStateName(t.state), " with attempt ",
                                       a.number, " ", AttemptOutcomeName(a.outcome)));
    }
    if (t.state == TaskState::kRunning) ++running;
  }

  void CheckInvariants() {
    size_t running = 0;
    for (const std::string& id : tasks_) CheckTask(id, running);
    TASKWIRE_FUZZ_CHECK(running <= SlotsHeld(),
                        absl::StrCat(running, " tasks RUNNING, ", SlotsHeld(), " slots held"));
  }

  // Every executor leaves; then one that answers everything ends every task.
  void Finish() {
    for (FakeExecutor& e : executors_) {
      if (e.session) core_.DisconnectExecutor(*e.session, "end of the scenario");
      e.session.reset();
    }
    size_t running = 0;
    for (const std::string& id : tasks_) CheckTask(id, running);
    TASKWIRE_FUZZ_CHECK(running == 0, absl::StrCat(running, " tasks RUNNING with no executor"));

    ExecutorHello hello;
    hello.executor_id = "finisher";
    hello.incarnation = "finisher";
    hello.task_types = {{"a", RunMode::kThread}, {"b", RunMode::kThread}};
    hello.queues = {"default", "q2"};
    hello.slots = 64;
    auto channel = std::make_shared<FakeExecutorChannel>();
    absl::StatusOr<ExecutorSession> session = core_.ConnectExecutor(std::move(hello), channel);
    TASKWIRE_FUZZ_CHECK(session.ok(), session.status().ToString());
    for (int round = 0; round < 200 && !AllEnded(); ++round) {
      for (const AssignmentOut& a : channel->TakeAssignments()) {
        AttemptResult r;
        r.task_id = a.task_id;
        r.attempt = a.attempt;
        core_.OnResults(*session, {std::move(r)});
      }
      clock_.Advance(absl::Seconds(10));  // heartbeats keep it alive
      core_.OnHeartbeat(*session);
      core_.Tick();
    }
    for (const std::string& id : tasks_) {
      absl::StatusOr<TaskView> view = core_.GetTask(id);
      TASKWIRE_FUZZ_CHECK(view.ok() && IsTerminal(view->record.state),
                          absl::StrCat(id, " never ended: ",
                                       view.ok() ? TaskStateName(view->record.state) : "unknown"));
    }
    absl::StatusOr<WorkflowView> wf = core_.GetWorkflow(workflow_);
    TASKWIRE_FUZZ_CHECK(wf.ok() && wf->record.state != WorkflowState::kRunning,
                        absl::StrCat("workflow ", workflow_, " never ended"));
  }

  bool AllEnded() {
    for (const std::string& id : tasks_) {
      absl::StatusOr<TaskView> view = core_.GetTask(id);
      if (!view.ok() || !IsTerminal(view->record.state)) return false;
    }
    return true;
  }

  ByteReader& in_;
  FakeClock clock_;
  MemoryTaskStore store_;
  EventHub events_;
  SchedulerCore core_;
  FakeExecutor executors_[kExecutors];
  std::vector<std::string> tasks_;
  std::string workflow_;
};

}  // namespace
}  // namespace taskwire::scheduler

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  taskwire::fuzz::FailOnErrorLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  taskwire::fuzz::ByteReader in(data, size);
  taskwire::scheduler::Scenario(in).Run();
  return 0;
}
