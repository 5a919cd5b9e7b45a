// MemoryTaskStore on its own: upserts by id, drops stale versions, lists unfinished tasks
// in submission order and remembers the highest seq it ever saw.
#include "scheduler/store/memory_task_store.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::IsOkAndHolds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

TaskRecord Record(std::string id, uint64_t seq, uint64_t version, TaskState state,
                  std::string output = "") {
  auto spec = std::make_shared<TaskSpec>();
  spec->type = "echo";
  spec->queue = "default";
  TaskRecord r;
  r.id = std::move(id);
  r.seq = seq;
  r.version = version;
  r.spec = std::move(spec);
  r.state = state;
  r.output = std::move(output);
  return r;
}

std::vector<std::string> Ids(const std::vector<TaskRecord>& records) {
  std::vector<std::string> ids;
  for (const TaskRecord& r : records) ids.push_back(r.id);
  return ids;
}

TEST(MemoryTaskStoreTest, StartsEmpty) {
  MemoryTaskStore store;

  EXPECT_EQ(store.size(), 0u);
  EXPECT_THAT(store.MaxSeq(), IsOkAndHolds(0u));
  EXPECT_THAT(store.LoadUnfinished(), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store.Describe(), HasSubstr("memory"));
}

TEST(MemoryTaskStoreTest, ListsOnlyUnfinishedTasksInSubmissionOrder) {
  MemoryTaskStore store;
  ASSERT_THAT(store.Save({Record("c", 3, 1, TaskState::kQueued),
                          Record("a", 1, 1, TaskState::kRunning),
                          Record("done", 2, 1, TaskState::kSucceeded),
                          Record("failed", 4, 1, TaskState::kFailed),
                          Record("cancelled", 5, 1, TaskState::kCancelled),
                          Record("b", 6, 1, TaskState::kQueued)}),
              IsOk());

  ASSERT_OK_AND_ASSIGN(std::vector<TaskRecord> unfinished, store.LoadUnfinished());

  EXPECT_THAT(Ids(unfinished), ElementsAre("a", "c", "b"));
  EXPECT_EQ(store.size(), 6u);
  EXPECT_THAT(store.MaxSeq(), IsOkAndHolds(6u));
}

TEST(MemoryTaskStoreTest, ReplacesARecordWithANewerVersion) {
  MemoryTaskStore store;
  ASSERT_THAT(store.Save({Record("a", 1, 1, TaskState::kQueued)}), IsOk());

  ASSERT_THAT(store.Save({Record("a", 1, 2, TaskState::kRunning)}), IsOk());

  ASSERT_OK_AND_ASSIGN(std::vector<TaskRecord> unfinished, store.LoadUnfinished());
  ASSERT_THAT(unfinished, SizeIs(1));
  EXPECT_EQ(unfinished[0].state, TaskState::kRunning);
  EXPECT_EQ(unfinished[0].version, 2u);
  EXPECT_EQ(store.size(), 1u);
}

TEST(MemoryTaskStoreTest, IgnoresAStaleOrRepeatedVersionOnSave) {
  MemoryTaskStore store;
  ASSERT_THAT(store.Save({Record("a", 1, 5, TaskState::kSucceeded, "final")}), IsOk());

  // Writes that raced outside the core's lock and arrive late must not roll it back.
  ASSERT_THAT(store.Save({Record("a", 1, 4, TaskState::kRunning)}), IsOk());
  ASSERT_THAT(store.Save({Record("a", 1, 5, TaskState::kQueued)}), IsOk());

  EXPECT_THAT(store.LoadUnfinished(), IsOkAndHolds(IsEmpty()));
  EXPECT_EQ(store.size(), 1u);
}

TEST(MemoryTaskStoreTest, RemembersTheHighestSeqEverSaved) {
  MemoryTaskStore store;
  ASSERT_THAT(store.Save({Record("a", 7, 1, TaskState::kSucceeded)}), IsOk());
  ASSERT_THAT(store.Save({Record("b", 3, 1, TaskState::kQueued)}), IsOk());

  EXPECT_THAT(store.MaxSeq(), IsOkAndHolds(7u));  // even though task 7 is finished
}

TEST(MemoryTaskStoreTest, KeepsTheSharedSpecOfARecord) {
  MemoryTaskStore store;
  TaskRecord r = Record("a", 1, 1, TaskState::kQueued);
  ASSERT_THAT(store.Save({r}), IsOk());

  ASSERT_OK_AND_ASSIGN(std::vector<TaskRecord> unfinished, store.LoadUnfinished());

  ASSERT_THAT(unfinished, SizeIs(1));
  EXPECT_EQ(unfinished[0].spec, r.spec);
  EXPECT_EQ(unfinished[0].spec->type, "echo");
}

}  // namespace
}  // namespace taskwire::scheduler
