// MemoryTaskStore on its own: upserts by id, drops stale versions, deletes, loads every
// record in submission order and remembers the highest seq it ever saw.
#include "scheduler/store/memory_task_store.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"
#include "tests/unit/store/store_test_util.h"

namespace taskwire::scheduler {
namespace {

using ::taskwire::scheduler::testing::Task;
using ::taskwire::scheduler::testing::TaskIds;
using ::taskwire::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

StoreBatch Tasks(std::vector<TaskRecord> tasks) {
  StoreBatch batch;
  batch.tasks = std::move(tasks);
  return batch;
}

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

TEST(MemoryTaskStoreTest, LoadsEveryTaskInSubmissionOrder) {
  MemoryTaskStore store;
  ASSERT_THAT(store.Commit(Tasks({Task("c", 3, 1, TaskState::kQueued),
                                  Task("a", 1, 1, TaskState::kRunning),
                                  Task("done", 2, 1, TaskState::kSucceeded),
                                  Task("b", 6, 1, TaskState::kQueued)})),
              IsOk());

  StoredState state = MustLoad(store);

  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("a", "done", "c", "b"));
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

  StoredState state = MustLoad(store);
  ASSERT_THAT(state.tasks, SizeIs(1));
  EXPECT_EQ(state.tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(state.tasks[0].output, "final");
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
