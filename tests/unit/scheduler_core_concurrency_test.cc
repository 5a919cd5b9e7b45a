// SchedulerCore called from several threads at once, as the gRPC adapters call it: the
// credit window holds, nothing is lost or run twice, and what one call changes reaches
// watchers and executors in the order the changes were made.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/store/memory_task_store.h"
#include "tests/unit/fake_executor_channel.h"
#include "tests/unit/gated_task_store.h"
#include "tests/unit/forwarding_task_store.h"
#include "tests/unit/scheduler_core_fixture.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler::testing {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// Runs `f` when the scope ends, so that threads are joined even after a failed ASSERT.
template <typename F>
class OnExit {
 public:
  explicit OnExit(F f) : f_(std::move(f)) {}
  ~OnExit() { f_(); }
  OnExit(const OnExit&) = delete;
  OnExit& operator=(const OnExit&) = delete;

 private:
  F f_;
};

// Each scenario runs twice: with the calling threads delivering the effects (as the
// core's other tests do) and with the core's delivery thread (as the server runs it).
class DeliveryModeTest : public ::testing::TestWithParam<bool> {
 protected:
  void StartDelivery(SchedulerCore& core) {
    if (GetParam()) core.StartDeliveryThread();
  }
};
INSTANTIATE_TEST_SUITE_P(Mode, DeliveryModeTest, ::testing::Bool(), [](const auto& info) {
  return std::string(info.param ? "DeliveryThread" : "CallerDelivers");
});

// Scenario: four client threads submit 1000 tasks in batches of five while two executors
// (4 and 3 slots), each answered by its own thread, run them. At no moment may an executor
// hold more unanswered assignments than its slots; at the end every task has succeeded on
// its first attempt, with its own output, and no slot is left in use.
TEST_P(DeliveryModeTest, ConcurrentSubmitsAndResultsLoseNothingAndKeepTheCreditWindow) {
  constexpr int kSubmitters = 4;
  constexpr int kBatchesEach = 50;
  constexpr int kBatchSize = 5;
  constexpr int kTasks = kSubmitters * kBatchesEach * kBatchSize;
  FakeClock clock;
  MemoryTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, TestOptions());
  StartDelivery(core);

  struct Worker {
    uint32_t slots;
    ExecutorSession session;
    std::shared_ptr<FakeExecutorChannel> channel = std::make_shared<FakeExecutorChannel>();
    size_t answered = 0;
    size_t max_in_flight = 0;
  };
  std::vector<Worker> workers(2);
  workers[0].slots = 4;
  workers[1].slots = 3;
  for (size_t i = 0; i < workers.size(); ++i) {
    ExecutorHello hello;
    hello.executor_id = absl::StrCat("e", i);
    hello.slots = workers[i].slots;
    hello.task_types.push_back(TaskTypeInfo{"echo", RunMode::kThread});
    ASSERT_OK_AND_ASSIGN(workers[i].session, core.ConnectExecutor(hello, workers[i].channel));
  }

  std::atomic<int> answered_total{0};
  std::mutex ids_mu;
  std::vector<std::string> ids;
  std::vector<std::thread> threads;
  for (int s = 0; s < kSubmitters; ++s) {
    threads.emplace_back([&, s] {
      for (int b = 0; b < kBatchesEach; ++b) {
        std::vector<TaskSpec> batch;
        for (int i = 0; i < kBatchSize; ++i) {
          TaskSpec spec = Spec("echo");
          spec.payload = absl::StrCat(s, "/", b, "/", i);
          batch.push_back(std::move(spec));
        }
        absl::StatusOr<std::vector<std::string>> got = core.Submit(std::move(batch));
        EXPECT_THAT(got, IsOk());
        if (!got.ok()) continue;
        std::lock_guard<std::mutex> lock(ids_mu);
        ids.insert(ids.end(), got->begin(), got->end());
      }
    });
  }
  // Every wait below is bounded, so that a bug fails the test instead of hanging it.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (Worker& worker : workers) {
    threads.emplace_back([&, &w = worker] {
      while (answered_total.load() < kTasks && std::chrono::steady_clock::now() < give_up) {
        std::optional<AssignmentOut> a = w.channel->TakeOne();
        if (!a) {
          std::this_thread::yield();
          continue;
        }
        w.max_in_flight = std::max(w.max_in_flight, w.channel->assignment_count() - w.answered);
        ++w.answered;
        ++answered_total;
        AttemptResult r;
        r.task_id = a->task_id;
        r.attempt = a->attempt;
        r.outcome = AttemptOutcome::kSucceeded;
        r.output = absl::StrCat("out:", a->spec->payload);
        core.OnResults(w.session, {std::move(r)});
      }
    });
  }
  for (std::thread& t : threads) t.join();
  core.StopDeliveryThread();  // the last results' commits

  ASSERT_EQ(answered_total.load(), kTasks);
  ASSERT_THAT(ids, SizeIs(kTasks));
  for (const Worker& w : workers) {
    EXPECT_LE(w.max_in_flight, w.slots);
    EXPECT_GT(w.answered, 0u);
  }
  for (const std::string& id : ids) {
    absl::StatusOr<TaskView> view = core.GetTask(id);
    ASSERT_THAT(view, IsOk());
    EXPECT_EQ(view->record.state, TaskState::kSucceeded) << id;
    EXPECT_THAT(view->record.attempts, SizeIs(1)) << id;
    EXPECT_EQ(view->record.output, absl::StrCat("out:", view->record.spec->payload)) << id;
  }
  for (const ExecutorView& e : core.ListExecutors()) EXPECT_EQ(e.slots_used, 0u);
  EXPECT_EQ(store.size(), static_cast<size_t>(kTasks));
  std::vector<TaskRecord> unfinished = UnfinishedIn(store);
  EXPECT_THAT(unfinished, IsEmpty());
}

// A MemoryTaskStore whose next Commit() of a record in a given state blocks until released,
// like a commit stuck on a slow disk: it holds a thread inside the core's Flush().
class BlockingTaskStore final : public testing::ForwardingTaskStore {
 public:
  void BlockNextSaveOf(TaskState state) {
    std::lock_guard<std::mutex> lock(mu_);
    block_state_ = state;
    armed_ = true;
  }
  bool WaitUntilBlocked(absl::Duration timeout) {
    return blocked_.WaitForNotificationWithTimeout(timeout);
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!release_.HasBeenNotified()) release_.Notify();
  }

  absl::Status Commit(const StoreBatch& batch) override {
    const std::vector<TaskRecord>& records = batch.tasks;
    bool block = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (armed_ && std::any_of(records.begin(), records.end(), [&](const TaskRecord& r) {
            return r.state == block_state_;
          })) {
        armed_ = false;
        block = true;
      }
    }
    if (block) {
      blocked_.Notify();
      release_.WaitForNotificationWithTimeout(absl::Seconds(20));
    }
    return inner_.Commit(batch);
  }
  std::string Describe() const override { return "blocking memory store"; }

 private:
  std::mutex mu_;
  bool armed_ = false;
  TaskState block_state_ = TaskState::kQueued;
  absl::Notification blocked_;
  absl::Notification release_;
};

// Scenario: a client submits task X while a slot is free, so the core assigns it at once;
// the delivering thread then stalls in the store commit of that round, before it has
// published X's QUEUED and RUNNING events or sent the assignment. Meanwhile a second
// client, who found X through ListTasks, cancels it. Watchers must still see QUEUED,
// RUNNING, CANCELLED, in that order, and the executor must get the assignment before the
// cancel of that attempt. The core's final state and the store must agree: CANCELLED.
TEST_P(DeliveryModeTest, WatchersAndExecutorsSeeATasksChangesInTheOrderTheyHappened) {
  FakeClock clock;
  BlockingTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, TestOptions());
  StartDelivery(core);
  std::mutex seen_mu;
  std::vector<TaskEvent> seen;
  events.Subscribe(EventFilter{}, [&](EventBatch b) {
    auto& batch = b.tasks;
    std::lock_guard<std::mutex> lock(seen_mu);
    seen.insert(seen.end(), batch.begin(), batch.end());
  });
  auto channel = std::make_shared<FakeExecutorChannel>();
  ExecutorHello hello;
  hello.executor_id = "e1";
  hello.slots = 1;
  hello.task_types.push_back(TaskTypeInfo{"echo", RunMode::kThread});
  ASSERT_THAT(core.ConnectExecutor(hello, channel), IsOk());

  store.BlockNextSaveOf(TaskState::kRunning);
  std::thread submitter([&] { EXPECT_THAT(core.Submit({Spec("echo")}), IsOk()); });
  absl::Notification cancelled;
  std::thread canceller;
  OnExit join([&] {
    store.Release();
    if (submitter.joinable()) submitter.join();
    if (canceller.joinable()) canceller.join();
  });
  ASSERT_TRUE(store.WaitUntilBlocked(absl::Seconds(10)));

  absl::StatusOr<TaskPage> page = core.ListTasks(TaskListQuery{});
  ASSERT_THAT(page, IsOk());
  ASSERT_THAT(page->tasks, SizeIs(1));
  const std::string id = page->tasks[0].id;
  ASSERT_EQ(page->tasks[0].state, TaskState::kRunning);
  canceller = std::thread([&] {
    EXPECT_THAT(core.CancelTask(id), IsOk());
    cancelled.Notify();
  });
  // A core that serializes its flushes may hold the cancel until the stalled commit ends;
  // the bound keeps such a core from deadlocking this test.
  cancelled.WaitForNotificationWithTimeout(absl::Seconds(2));
  store.Release();
  submitter.join();
  canceller.join();
  core.StopDeliveryThread();

  std::vector<TaskState> states;
  {
    std::lock_guard<std::mutex> lock(seen_mu);
    for (const TaskEvent& e : seen) {
      if (e.task_id == id) states.push_back(e.state);
    }
  }
  EXPECT_THAT(states, ElementsAre(TaskState::kQueued, TaskState::kRunning, TaskState::kCancelled));

  std::vector<FakeExecutorChannel::Batch> batches = channel->batches();
  ASSERT_FALSE(batches.empty());
  EXPECT_THAT(batches[0].assignments, SizeIs(1)) << "the executor got the cancel first";
  EXPECT_THAT(channel->cancels(), ElementsAre(AttemptRef{id, 1}));

  absl::StatusOr<TaskView> view = core.GetTask(id);
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->record.state, TaskState::kCancelled);
  std::vector<TaskRecord> unfinished = UnfinishedIn(store);
  EXPECT_THAT(unfinished, IsEmpty());  // the stalled older write did not roll it back
}

// Scenario: a submit with an idempotency key is held in its commit; a second submit with
// the same key, meanwhile, must not be told "existing" (the first may still fail, and its
// ids are not visible yet): it gets UNAVAILABLE and stores nothing. After a failed first
// commit the key is free; after a successful one a retry gets the first ids.
TEST(SchedulerCoreRaceTest, ARepeatedIdempotencyKeyWhileTheFirstSubmitCommitsIsUnavailable) {
  FakeClock clock;
  GatedTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, TestOptions());
  const WorkflowSpec workflow{{WorkflowNodeSpec{"a", Spec("echo"), {}}}, {}, "wf-key"};
  TaskSpec task = Spec("echo");
  task.idempotency_key = "task-key";

  // A workflow whose first commit fails.
  store.GateNext(absl::UnavailableError("disk full"));
  absl::StatusOr<SubmittedWorkflow> failed;
  std::thread first([&] { failed = core.SubmitWorkflow(workflow); });
  OnExit join_first([&] {  // after a failed ASSERT
    store.Release();
    if (first.joinable()) first.join();
  });
  ASSERT_TRUE(store.AwaitEntered(absl::Seconds(10)));
  EXPECT_THAT(core.SubmitWorkflow(workflow),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("still being stored")));
  store.Release();
  first.join();
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("disk full")));
  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow stored, core.SubmitWorkflow(workflow));
  EXPECT_FALSE(stored.existing);  // the failed submit left the key free
  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow again, core.SubmitWorkflow(workflow));
  EXPECT_TRUE(again.existing);
  EXPECT_EQ(again.workflow_id, stored.workflow_id);

  // A task whose first commit goes through.
  store.GateNext(absl::OkStatus());
  absl::StatusOr<std::vector<std::string>> kept;
  std::thread second([&] { kept = core.Submit({task}); });
  OnExit join_second([&] {  // after a failed ASSERT
    store.Release();
    if (second.joinable()) second.join();
  });
  ASSERT_TRUE(store.AwaitEntered(absl::Seconds(10)));
  EXPECT_THAT(core.Submit({task}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("still being stored")));
  store.Release();
  second.join();
  ASSERT_THAT(kept, IsOk());
  std::vector<bool> existing;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> retried,
                       core.Submit({task}, SchedulerCore::SubmitPath::kOne, &existing));
  EXPECT_EQ(retried, *kept);
  EXPECT_THAT(existing, ElementsAre(true));
  EXPECT_EQ(store.size(), 2u);  // one workflow node, one task
}


// Scenario: a task's end is being stored when a client starts waiting for it. The waiter
// must hear only once the end is stored: a result it heard must not be undone by a crash
// (kill -9 between the answer and the commit ran the task again: e2e_durability's flake).
TEST(SchedulerCoreRaceTest, AWaitThatComesWhileTheEndIsStoredHearsOnlyOnceItIs) {
  FakeClock clock;
  GatedTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, TestOptions());
  auto channel = std::make_shared<FakeExecutorChannel>();
  ASSERT_OK_AND_ASSIGN(ExecutorSession session,
                       core.ConnectExecutor(Hello("e1", {"echo"}, 1), channel));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> ids, core.Submit({Spec("echo")}));
  ASSERT_THAT(channel->TakeAssignments(), SizeIs(1));

  store.GateNext(absl::OkStatus());
  AttemptResult result;
  result.task_id = ids[0];
  result.attempt = 1;
  result.outcome = AttemptOutcome::kSucceeded;
  result.output = "ok";
  std::thread answer([&] { core.OnResults(session, {result}); });
  OnExit join([&] {  // after a failed ASSERT
    store.Release();
    if (answer.joinable()) answer.join();
  });
  ASSERT_TRUE(store.AwaitEntered(absl::Seconds(10)));  // the end is in its commit

  absl::Notification heard;
  TaskState state = TaskState::kQueued;
  ASSERT_THAT(core.AddWaiter(ids[0],
                             [&](const TaskView& view) {
                               state = view.record.state;
                               heard.Notify();
                             }),
              IsOk());
  EXPECT_FALSE(heard.HasBeenNotified()) << "answered before the end was stored";
  store.Release();
  answer.join();
  ASSERT_TRUE(heard.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(state, TaskState::kSucceeded);
}

// Scenario: with the delivery thread, a submit hands its tasks over and returns: the gRPC
// thread that called it is free while the disk works, and the answer comes from the
// callback once the tasks are stored, never before.
TEST(SubmitAsyncTest, TheCallerGoesOnWhileTheTasksAreStoredAndHearsOnlyOnceTheyAre) {
  FakeClock clock;
  GatedTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, TestOptions());
  core.StartDeliveryThread();
  store.GateNext(absl::OkStatus());
  absl::Notification answered;
  absl::StatusOr<SchedulerCore::Submitted> answer;

  core.SubmitAsync({Spec("echo"), Spec("echo")}, SchedulerCore::SubmitPath::kBatch,
                   [&](absl::StatusOr<SchedulerCore::Submitted> a) {
                     answer = std::move(a);
                     answered.Notify();
                   });

  ASSERT_TRUE(store.AwaitEntered(absl::Seconds(10)));  // the commit runs on its own thread
  EXPECT_FALSE(answered.HasBeenNotified());
  ASSERT_OK_AND_ASSIGN(TaskPage listed, core.ListTasks(TaskListQuery{}));
  EXPECT_THAT(listed.tasks, IsEmpty());  // not stored yet: invisible
  store.Release();
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_THAT(answer, IsOk());
  ASSERT_THAT(answer->ids, SizeIs(2));
  EXPECT_THAT(answer->existing, ElementsAre(false, false));
  EXPECT_EQ(store.size(), 2u);
  ASSERT_OK_AND_ASSIGN(TaskView view, core.GetTask(answer->ids[1]));
  EXPECT_EQ(view.record.state, TaskState::kQueued);
}

// The same for a workflow: its nodes and the workflow are stored in one commit on the
// submit thread, and the caller hears once they are.
TEST(SubmitAsyncTest, AWorkflowIsAnsweredOnceItAndItsNodesAreStored) {
  FakeClock clock;
  GatedTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, TestOptions());
  core.StartDeliveryThread();
  store.GateNext(absl::OkStatus());
  absl::Notification answered;
  absl::StatusOr<SubmittedWorkflow> answer;
  WorkflowSpec chain{{WorkflowNodeSpec{"a", Spec("echo"), {}},
                      WorkflowNodeSpec{"b", Spec("echo"), {"a"}}},
                     {},
                     "chain-key"};

  core.SubmitWorkflowAsync(chain, [&](absl::StatusOr<SubmittedWorkflow> a) {
    answer = std::move(a);
    answered.Notify();
  });

  ASSERT_TRUE(store.AwaitEntered(absl::Seconds(10)));
  EXPECT_FALSE(answered.HasBeenNotified());
  EXPECT_THAT(core.SubmitWorkflow(chain),  // the key is claimed, its commit not answered
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("still being stored")));
  store.Release();
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_THAT(answer, IsOk());
  EXPECT_THAT(answer->task_ids, SizeIs(2));
  EXPECT_EQ(store.size(), 2u);
  ASSERT_OK_AND_ASSIGN(WorkflowView view, core.GetWorkflow(answer->workflow_id));
  EXPECT_EQ(view.record.state, WorkflowState::kRunning);
  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow again, core.SubmitWorkflow(chain));
  EXPECT_TRUE(again.existing);
  EXPECT_EQ(again.workflow_id, answer->workflow_id);
}

// Scenario: the commit of a submit fails. The caller hears UNAVAILABLE with the store's
// reason, nothing of it is stored, and the room it reserved under --max-waiting-tasks is
// free again.
TEST_P(DeliveryModeTest, ASubmitWhoseCommitFailsIsAnsweredUnavailableAndFreesItsRoom) {
  FakeClock clock;
  GatedTaskStore store;
  EventHub events;
  CoreOptions options = TestOptions();
  options.max_waiting_tasks = 2;
  SchedulerCore core(clock, store, events, nullptr, options);
  StartDelivery(core);
  store.GateNext(absl::ResourceExhaustedError("disk full"));
  store.Release();  // the gated commit fails as soon as it comes

  EXPECT_THAT(core.Submit({Spec("echo"), Spec("echo")}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("disk full")));

  EXPECT_EQ(store.size(), 0u);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> ids, core.Submit({Spec("echo"), Spec("echo")}));
  EXPECT_THAT(ids, SizeIs(2));
  EXPECT_EQ(store.size(), 2u);
}

}  // namespace
}  // namespace taskwire::scheduler::testing
