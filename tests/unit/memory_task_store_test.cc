// MemoryTaskStore on its own: upserts by id, drops stale versions, deletes, loads the
// unfinished records in submission order, remembers the highest seq it ever saw and keeps
// at most its limit of finished tasks; plus the contract every store keeps.
#include "scheduler/store/memory_task_store.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"
#include "tests/unit/store/store_test_util.h"
#include "tests/unit/store/task_store_contract.h"

namespace taskwire::scheduler {
namespace {

using ::taskwire::scheduler::testing::Task;
using ::taskwire::scheduler::testing::TaskIds;
using ::taskwire::testing::IsOk;
using ::taskwire::testing::IsOkAndHolds;
using ::testing::Field;
using ::testing::Optional;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

StoreBatch Tasks(std::vector<TaskRecord> tasks) {
  StoreBatch batch;
  batch.tasks = std::move(tasks);
  return batch;
}

std::unique_ptr<TaskStore> MakeMemory(const testing::TempDir&) {
  return std::make_unique<MemoryTaskStore>();
}
using testing::TaskStoreContractTest;
INSTANTIATE_TEST_SUITE_P(Memory, TaskStoreContractTest, ::testing::Values(&MakeMemory),
                         [](const auto&) { return std::string("memory"); });

StoredState MustLoad(MemoryTaskStore& store) {
  absl::StatusOr<StoredState> state = store.Load();
  EXPECT_TRUE(state.ok()) << state.status();
  return state.ok() ? *std::move(state) : StoredState{};
}

TEST(MemoryTaskStoreTest, StartsEmpty) {
  MemoryTaskStore store;

  StoredState state = MustLoad(store);
  EXPECT_THAT(state.tasks, IsEmpty());
  EXPECT_THAT(state.workflows, IsEmpty());
  EXPECT_EQ(state.max_seq, 0u);
  EXPECT_THAT(store.Describe(), HasSubstr("memory"));
}

TEST(MemoryTaskStoreTest, LoadsTheUnfinishedTasksInSubmissionOrder) {
  MemoryTaskStore store;
  ASSERT_THAT(store.Commit(Tasks({Task("c", 3, 1, TaskState::kQueued),
                                  Task("a", 1, 1, TaskState::kRunning),
                                  Task("done", 2, 1, TaskState::kSucceeded),
                                  Task("b", 6, 1, TaskState::kQueued)})),
              IsOk());

  StoredState state = MustLoad(store);

  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("a", "c", "b"));
  EXPECT_EQ(state.max_seq, 6u);
}

TEST(MemoryTaskStoreTest, ReplacesARecordWithANewerVersion) {
  MemoryTaskStore store;
  ASSERT_THAT(store.Commit(Tasks({Task("a", 1, 1, TaskState::kQueued)})), IsOk());

  ASSERT_THAT(store.Commit(Tasks({Task("a", 1, 2, TaskState::kRunning)})), IsOk());

  StoredState state = MustLoad(store);
  ASSERT_THAT(state.tasks, SizeIs(1));
  EXPECT_EQ(state.tasks[0].state, TaskState::kRunning);
  EXPECT_EQ(state.tasks[0].version, 2u);
}

TEST(MemoryTaskStoreTest, IgnoresAStaleOrRepeatedVersion) {
  MemoryTaskStore store;
  ASSERT_THAT(store.Commit(Tasks({Task("a", 1, 5, TaskState::kSucceeded, "final")})), IsOk());

  // Writes that raced outside the core's lock and arrive late must not roll it back.
  ASSERT_THAT(store.Commit(Tasks({Task("a", 1, 4, TaskState::kRunning)})), IsOk());
  ASSERT_THAT(store.Commit(Tasks({Task("a", 1, 5, TaskState::kQueued)})), IsOk());

  const std::vector<TaskRecord> tasks = testing::AllTasks(store);
  ASSERT_THAT(tasks, SizeIs(1));
  EXPECT_EQ(tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(tasks[0].output, "final");
}

TEST(MemoryTaskStoreTest, PastItsLimitDropsTheOldestFinishedTasksAndCountsThem) {
  MemoryTaskStore store(/*max_finished_tasks=*/2);
  ASSERT_THAT(store.Commit(Tasks({Task("first", 1, 2, TaskState::kSucceeded),
                                  Task("waiting", 2, 1, TaskState::kQueued),
                                  Task("second", 3, 2, TaskState::kFailed)})),
              IsOk());
  ASSERT_THAT(store.Commit(Tasks({Task("third", 4, 2, TaskState::kSucceeded)})), IsOk());
  ASSERT_THAT(store.Commit(Tasks({Task("waiting", 2, 2, TaskState::kSucceeded)})), IsOk());

  // Finished in the order first, second, third, waiting: the two oldest went.
  EXPECT_THAT(TaskIds(testing::AllTasks(store)), ElementsAre("waiting", "third"));
  EXPECT_EQ(store.evicted(), 2u);
  EXPECT_THAT(store.Describe(), HasSubstr("at most 2 finished tasks"));
}

TEST(MemoryTaskStoreTest, HistoryOnlyKeepsJustTheFinishedRecords) {
  MemoryTaskStore store(/*max_finished_tasks=*/0, /*history_only=*/true);
  ASSERT_THAT(store.Commit(Tasks({Task("waiting", 1, 1, TaskState::kQueued),
                                  Task("done", 2, 2, TaskState::kSucceeded)})),
              IsOk());
  EXPECT_THAT(TaskIds(testing::AllTasks(store)), ElementsAre("done"));
  ASSERT_THAT(store.Commit(Tasks({Task("waiting", 1, 3, TaskState::kFailed)})), IsOk());

  EXPECT_THAT(TaskIds(testing::AllTasks(store)), ElementsAre("waiting", "done"));
  EXPECT_THAT(store.FindTask("waiting"), IsOkAndHolds(Optional(Field(&TaskRecord::state,
                                                                       TaskState::kFailed))));
  StoredState state = MustLoad(store);
  EXPECT_THAT(state.tasks, IsEmpty());
  EXPECT_EQ(state.max_seq, 2u);
}

TEST(MemoryTaskStoreTest, DeletesButRemembersTheHighestSeq) {
  MemoryTaskStore store;
  ASSERT_THAT(store.Commit(Tasks({Task("a", 7, 1, TaskState::kSucceeded),
                                  Task("b", 3, 1, TaskState::kQueued)})),
              IsOk());
  StoreBatch deletes;
  deletes.deleted_tasks = {"a"};
  ASSERT_THAT(store.Commit(deletes), IsOk());

  StoredState state = MustLoad(store);
  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("b"));
  EXPECT_EQ(state.max_seq, 7u);  // so a new task never reuses a's id
}

TEST(MemoryTaskStoreTest, KeepsWorkflows) {
  MemoryTaskStore store;
  WorkflowRecord wf;
  wf.id = "w";
  wf.seq = 9;
  wf.version = 1;
  wf.nodes.push_back(WorkflowNodeRecord{"a", "t1", {}});
  StoreBatch batch;
  batch.workflows.push_back(wf);
  ASSERT_THAT(store.Commit(batch), IsOk());

  StoredState state = MustLoad(store);
  ASSERT_THAT(state.workflows, SizeIs(1));
  EXPECT_EQ(state.workflows[0].nodes[0].task_id, "t1");
  EXPECT_EQ(state.max_seq, 9u);
}

}  // namespace
}  // namespace taskwire::scheduler
