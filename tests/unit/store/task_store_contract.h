// What the scheduler core relies on from every TaskStore once finished work has left its
// memory: recovery loads only the work in flight, finished tasks and workflows are found by
// id, key and listing, and retention deletes them in batches. Included by one test file of
// each store, which instantiates the suite with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, TaskStoreContractTest, ::testing::Values(&MakeSqlite),
//                            [](const auto&) { return std::string("sqlite"); });
#ifndef TASKWIRE_TESTS_UNIT_STORE_TASK_STORE_CONTRACT_H_
#define TASKWIRE_TESTS_UNIT_STORE_TASK_STORE_CONTRACT_H_

#include <memory>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/core/task_store.h"
#include "tests/unit/status_matchers.h"
#include "tests/unit/store/store_test_util.h"

namespace taskwire::scheduler::testing {

using ::taskwire::testing::IsOkAndHolds;

// Makes a store whose files (if any) live in `dir`.
using StoreFactory = std::unique_ptr<TaskStore> (*)(const TempDir& dir);

class TaskStoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override { store_ = GetParam()(dir_); }

  TaskStore& store() { return *store_; }
  void MustCommit(const StoreBatch& batch) { ASSERT_TRUE(store_->Commit(batch).ok()); }

  static TaskRecord Finished(std::string id, uint64_t seq, TaskState state, absl::Time until,
                             std::string queue = "default", std::string type = "echo") {
    TaskRecord r = Task(std::move(id), seq, 2, state, "out");
    auto spec = std::make_shared<TaskSpec>(*r.spec);
    spec->queue = std::move(queue);
    spec->type = std::move(type);
    r.spec = std::move(spec);
    r.retain_until = until;
    return r;
  }
  static TaskRecord Owned(TaskRecord r, std::string owner) {
    auto spec = std::make_shared<TaskSpec>(*r.spec);
    spec->owner = std::move(owner);
    r.spec = std::move(spec);
    return r;
  }
  static TaskRecord Keyed(TaskRecord r, std::string key) {
    auto spec = std::make_shared<TaskSpec>(*r.spec);
    spec->idempotency_key = std::move(key);
    r.spec = std::move(spec);
    return r;
  }
  static absl::Time At(int minutes) { return absl::FromUnixSeconds(1'800'000'000) + absl::Minutes(minutes); }

  TempDir dir_;
  std::unique_ptr<TaskStore> store_;
};

TEST_P(TaskStoreContractTest, LoadHoldsOnlyTheWorkInFlightWithEveryNodeOfARunningWorkflow) {
  StoreBatch batch;
  batch.tasks = {Task("queued", 1, 1, TaskState::kQueued), Finished("done", 2, TaskState::kSucceeded, At(1))};
  TaskRecord finished_node = Task("node-done", 4, 2, TaskState::kSucceeded);
  finished_node.workflow_id = "running";
  TaskRecord pending_node = Task("node-pending", 5, 1, TaskState::kPending);
  pending_node.workflow_id = "running";
  TaskRecord old_node = Task("old-node", 7, 2, TaskState::kFailed);
  old_node.workflow_id = "ended";
  batch.tasks.push_back(finished_node);
  batch.tasks.push_back(pending_node);
  batch.tasks.push_back(old_node);
  WorkflowRecord ended = Workflow("ended", 6, 2, WorkflowState::kFailed);
  ended.retain_until = At(1);
  batch.workflows = {Workflow("running", 3, 1), ended};
  MustCommit(batch);

  ASSERT_OK_AND_ASSIGN(StoredState state, store().Load());

  EXPECT_THAT(TaskIds(state.tasks), ::testing::ElementsAre("queued", "node-done", "node-pending"));
  ASSERT_THAT(state.workflows, ::testing::SizeIs(1));
  EXPECT_EQ(state.workflows[0].id, "running");
  EXPECT_EQ(state.max_seq, 7u);
}

TEST_P(TaskStoreContractTest, FindsFinishedTasksAndWorkflowsByIdAndByKey) {
  StoreBatch batch;
  batch.tasks = {Keyed(Finished("done", 1, TaskState::kSucceeded, At(1)), "order-1")};
  WorkflowRecord wf = Workflow("wf", 2, 3, WorkflowState::kSucceeded);
  wf.idempotency_key = "flow-1";
  wf.retain_until = At(1);
  batch.workflows = {wf};
  MustCommit(batch);

  ASSERT_OK_AND_ASSIGN(std::optional<TaskRecord> task, store().FindTask("done"));
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(task->output, "out");
  EXPECT_THAT(store().FindTask("nope"), IsOkAndHolds(::testing::Eq(std::nullopt)));
  EXPECT_THAT(store().FindTaskIdByKey("order-1"), IsOkAndHolds(std::optional<std::string>("done")));
  EXPECT_THAT(store().FindTaskIdByKey("order-2"), IsOkAndHolds(::testing::Eq(std::nullopt)));
  ASSERT_OK_AND_ASSIGN(std::optional<WorkflowRecord> by_key, store().FindWorkflowByKey("flow-1"));
  ASSERT_TRUE(by_key.has_value());
  EXPECT_EQ(by_key->id, "wf");
  EXPECT_EQ(StoredWorkflow(store(), "wf").state, WorkflowState::kSucceeded);
  EXPECT_THAT(store().FindWorkflow("nope"), IsOkAndHolds(::testing::Eq(std::nullopt)));
}

TEST_P(TaskStoreContractTest, ListsFinishedTasksInSeqOrderWithinTheRangeAndFilters) {
  StoreBatch batch;
  batch.tasks = {Finished("a", 1, TaskState::kSucceeded, At(1)),
                 Task("running", 2, 1, TaskState::kRunning),
                 Finished("b", 3, TaskState::kFailed, At(1), "gpu"),
                 Finished("c", 4, TaskState::kSucceeded, At(1), "default", "hash"),
                 Owned(Finished("d", 5, TaskState::kSucceeded, At(1)), "alice")};
  MustCommit(batch);
  auto ids = [&](FinishedTaskQuery q) {
    absl::StatusOr<std::vector<TaskRecord>> page = store().ListFinishedTasks(q);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? TaskIds(*page) : std::vector<std::string>{};
  };
  using ::testing::ElementsAre;
  FinishedTaskQuery all, range, failed, gpu, hash, two, alice, newest, newest_one_in_range;
  range.from_seq = 2;
  range.to_seq = 5;
  failed.state = TaskState::kFailed;
  gpu.queue = "gpu";
  hash.type = "hash";
  two.limit = 2;
  alice.owner = "alice";
  newest.newest_first = true;
  newest_one_in_range = range;
  newest_one_in_range.newest_first = true;
  newest_one_in_range.limit = 1;

  EXPECT_THAT(ids(all), ElementsAre("a", "b", "c", "d"));
  EXPECT_THAT(ids(newest), ElementsAre("d", "c", "b", "a"));
  EXPECT_THAT(ids(newest_one_in_range), ElementsAre("c"));
  EXPECT_THAT(ids(range), ElementsAre("b", "c"));
  EXPECT_THAT(ids(failed), ElementsAre("b"));
  EXPECT_THAT(ids(gpu), ElementsAre("b"));
  EXPECT_THAT(ids(hash), ElementsAre("c"));
  EXPECT_THAT(ids(two), ElementsAre("a", "b"));
  EXPECT_THAT(ids(alice), ElementsAre("d"));
}

TEST_P(TaskStoreContractTest, RetentionDeletesWhatIsDueInBatchesAndSaysWhenMoreIsDue) {
  StoreBatch batch;
  batch.tasks = {Keyed(Finished("early", 1, TaskState::kSucceeded, At(1)), "k"),
                 Finished("also-early", 2, TaskState::kCancelled, At(2)),
                 Finished("late", 3, TaskState::kSucceeded, At(60)),
                 Task("queued", 4, 1, TaskState::kQueued)};
  TaskRecord node = Task("node", 6, 2, TaskState::kSucceeded);
  node.workflow_id = "wf";
  node.retain_until = At(1);  // a node goes with its workflow, never before it
  batch.tasks.push_back(node);
  WorkflowRecord wf = Workflow("wf", 5, 3, WorkflowState::kSucceeded);
  wf.nodes = {WorkflowNodeRecord{"only", "node", {}}};
  wf.retain_until = At(3);
  batch.workflows = {wf};
  MustCommit(batch);

  ASSERT_OK_AND_ASSIGN(RetentionSweep first, store().DeleteExpired(At(5), 2));
  EXPECT_EQ(first.deleted, 2u);
  EXPECT_LE(first.next_due, At(3));  // the workflow is due and not deleted yet
  EXPECT_THAT(store().FindTask("node"), IsOkAndHolds(::testing::Ne(std::nullopt)));
  ASSERT_OK_AND_ASSIGN(RetentionSweep second, store().DeleteExpired(At(5), 2));
  EXPECT_EQ(second.deleted, 1u);
  EXPECT_EQ(second.next_due, At(60));
  ASSERT_OK_AND_ASSIGN(RetentionSweep idle, store().DeleteExpired(At(5), 2));
  EXPECT_EQ(idle.deleted, 0u);

  EXPECT_THAT(TaskIds(AllTasks(store())), ::testing::ElementsAre("late", "queued"));
  EXPECT_THAT(store().FindWorkflow("wf"), IsOkAndHolds(::testing::Eq(std::nullopt)));
  EXPECT_THAT(store().FindTask("node"), IsOkAndHolds(::testing::Eq(std::nullopt)));
  EXPECT_THAT(store().FindTaskIdByKey("k"), IsOkAndHolds(::testing::Eq(std::nullopt)));
}

}  // namespace taskwire::scheduler::testing

#endif  // TASKWIRE_TESTS_UNIT_STORE_TASK_STORE_CONTRACT_H_
