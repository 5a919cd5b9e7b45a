// Shared set-up for the SchedulerCore tests: a FakeClock, a MemoryTaskStore, an EventHub
// and a core over them, plus short helpers that submit tasks, connect fake executors and
// answer their assignments, so each test reads as its scenario.
//
//   TEST_F(SchedulerCoreTest, ...) {
//     TestExecutor e = Connect("e1", {"echo"}, /*slots=*/2);
//     std::string id = Submit(Spec("echo"));
//     Succeed(e, e.channel->TakeAssignments().at(0), "out");
//     EXPECT_EQ(StateOf(id), TaskState::kSucceeded);
//   }
#ifndef TASKWIRE_TESTS_UNIT_SCHEDULER_CORE_FIXTURE_H_
#define TASKWIRE_TESTS_UNIT_SCHEDULER_CORE_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "scheduler/core/event_hub.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/core/task_record.h"
#include "scheduler/store/memory_task_store.h"
#include "tests/unit/fake_executor_channel.h"

namespace taskwire::scheduler {

// Readable failure messages (found by argument-dependent lookup).
inline void PrintTo(TaskState s, std::ostream* os) { *os << TaskStateName(s); }
inline void PrintTo(AttemptOutcome o, std::ostream* os) { *os << AttemptOutcomeName(o); }
inline void PrintTo(const AttemptRef& r, std::ostream* os) {
  *os << "{" << r.task_id << ", attempt " << r.attempt << "}";
}
inline void PrintTo(const AttemptRecord& a, std::ostream* os) {
  *os << "{attempt " << a.number << " on " << a.executor_id << ": "
      << AttemptOutcomeName(a.outcome) << (a.error.empty() ? "" : ", ") << a.error << "}";
}
inline void PrintTo(const ExecutorView& e, std::ostream* os) {
  *os << "{executor " << e.hello.executor_id << ", " << e.slots_used << "/" << e.hello.slots
      << " slots used" << (e.draining ? ", draining" : "") << "}";
}

namespace testing {

struct TestExecutor {
  ExecutorSession session;
  std::shared_ptr<FakeExecutorChannel> channel;
};

inline TaskSpec Spec(std::string type, int32_t priority = 0, std::string queue = "") {
  TaskSpec spec;
  spec.type = std::move(type);
  spec.priority = priority;
  spec.queue = std::move(queue);
  spec.payload = "payload";
  return spec;
}

// The tasks `store` holds that are not terminal, in submission order.
inline std::vector<TaskRecord> UnfinishedIn(TaskStore& store) {
  absl::StatusOr<StoredState> state = store.Load();
  EXPECT_TRUE(state.ok()) << state.status();
  std::vector<TaskRecord> out;
  if (!state.ok()) return out;
  for (TaskRecord& r : state->tasks) {
    if (!IsTerminal(r.state)) out.push_back(std::move(r));
  }
  return out;
}

// A Hello as the executor process "<id>" sends it; every dial of one test executor
// carries the same incarnation, as one process does.
inline ExecutorHello Hello(std::string id, std::vector<std::string> types, uint32_t slots,
                           std::vector<std::string> queues = {}) {
  ExecutorHello hello;
  hello.incarnation = "process-of-" + id;
  hello.executor_id = std::move(id);
  hello.peer = "ipv4:127.0.0.1:1";
  hello.version = "test";
  for (std::string& t : types) hello.task_types.push_back(TaskTypeInfo{std::move(t), RunMode::kThread});
  hello.queues = std::move(queues);
  hello.slots = slots;
  return hello;
}

inline CoreOptions TestOptions() {
  CoreOptions options;
  options.executor_timeout = absl::Seconds(15);
  options.max_lost_attempts = 5;
  return options;
}

class SchedulerCoreTest : public ::testing::Test {
 protected:
  SchedulerCoreTest() { RebuildCore(TestOptions()); }

  // A new core over the same clock, store and hub (the old one is destroyed first).
  void RebuildCore(CoreOptions options, CoreMetrics* metrics = nullptr) {
    core_.reset();
    core_ = std::make_unique<SchedulerCore>(clock_, store_, events_, metrics, std::move(options));
  }

  SchedulerCore& core() { return *core_; }

  // Submits one task; returns its id, or "" after recording a test failure.
  std::string Submit(TaskSpec spec) {
    std::vector<std::string> ids = SubmitAll({std::move(spec)});
    return ids.size() == 1 ? ids[0] : std::string();
  }

  std::vector<std::string> SubmitAll(std::vector<TaskSpec> specs) {
    absl::StatusOr<std::vector<std::string>> ids = core_->Submit(std::move(specs));
    EXPECT_TRUE(ids.ok()) << ids.status();
    return ids.ok() ? *std::move(ids) : std::vector<std::string>();
  }

  TestExecutor Connect(std::string id, std::vector<std::string> types, uint32_t slots,
                       std::vector<std::string> queues = {}) {
    return Reconnect(std::move(id), std::move(types), slots, {}, std::move(queues));
  }

  // Connects an executor that says it still runs `running` from an earlier connection.
  TestExecutor Reconnect(std::string id, std::vector<std::string> types, uint32_t slots,
                         std::vector<AttemptRef> running, std::vector<std::string> queues = {}) {
    ExecutorHello hello = Hello(std::move(id), std::move(types), slots, std::move(queues));
    hello.running = std::move(running);
    return Connect(std::move(hello));
  }

  TestExecutor Connect(ExecutorHello hello) {
    auto channel = std::make_shared<FakeExecutorChannel>();
    absl::StatusOr<ExecutorSession> session = core_->ConnectExecutor(std::move(hello), channel);
    EXPECT_TRUE(session.ok()) << session.status();
    return TestExecutor{session.ok() ? *session : ExecutorSession{}, channel};
  }

  void Answer(const TestExecutor& e, const AssignmentOut& a, AttemptOutcome outcome,
              std::string output = "", std::string error = "") {
    AttemptResult r;
    r.task_id = a.task_id;
    r.attempt = a.attempt;
    r.outcome = outcome;
    r.output = std::move(output);
    r.error = std::move(error);
    r.run_time = absl::Milliseconds(5);
    core_->OnResults(e.session, {std::move(r)});
  }

  void Succeed(const TestExecutor& e, const AssignmentOut& a, std::string output = "ok") {
    Answer(e, a, AttemptOutcome::kSucceeded, std::move(output));
  }

  // The task as GetTask reports it; a default record after a test failure if unknown.
  TaskView View(absl::string_view id) {
    absl::StatusOr<TaskView> view = core_->GetTask(id);
    EXPECT_TRUE(view.ok()) << view.status();
    return view.ok() ? *std::move(view) : TaskView{};
  }
  TaskRecord Task(absl::string_view id) { return View(id).record; }
  TaskState StateOf(absl::string_view id) { return Task(id).state; }

  // Slots in use on the executor with this id, as ListExecutors reports them; -1 if it is
  // not connected.
  int SlotsUsed(absl::string_view executor_id) {
    for (const ExecutorView& e : core_->ListExecutors()) {
      if (e.hello.executor_id == executor_id) return static_cast<int>(e.slots_used);
    }
    return -1;
  }

  FakeClock clock_;
  MemoryTaskStore store_;
  EventHub events_;
  std::unique_ptr<SchedulerCore> core_;
};

}  // namespace testing
}  // namespace taskwire::scheduler

#endif  // TASKWIRE_TESTS_UNIT_SCHEDULER_CORE_FIXTURE_H_
