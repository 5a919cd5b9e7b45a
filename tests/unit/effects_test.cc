// Effects: one message per executor in a round, and one commit for many rounds that
// writes each record once, in its last version, leaving the rounds empty.
#include "scheduler/core/effects.h"

#include <deque>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/fake_executor_channel.h"

namespace taskwire::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::FakeExecutorChannel;

TaskRecord Version(std::string id, uint64_t version) {
  TaskRecord r;
  r.id = std::move(id);
  r.version = version;
  return r;
}

TEST(EffectsTest, ARoundSendsOneMessagePerExecutor) {
  auto a = std::make_shared<FakeExecutorChannel>();
  auto b = std::make_shared<FakeExecutorChannel>();
  Effects fx;
  fx.OutboxFor(a).assignments.push_back(AssignmentOut{"t1", 1, nullptr, {}});
  fx.OutboxFor(b).cancels.push_back(AttemptRef{"t2", 1});
  fx.OutboxFor(a).cancels.push_back(AttemptRef{"t3", 2});

  ASSERT_EQ(fx.sends.size(), 2u);
  EXPECT_EQ(fx.sends[0].channel, a);
  EXPECT_EQ(fx.sends[0].assignments.size(), 1u);
  EXPECT_EQ(fx.sends[0].cancels.size(), 1u);
  EXPECT_EQ(fx.sends[1].channel, b);
}

TEST(EffectsTest, MergedRoundsWriteEachRecordOnceInItsLastVersion) {
  std::deque<Effects> rounds(2);
  rounds[0].saves.tasks = {Version("a", 1), Version("b", 1)};
  rounds[0].saves.deleted_tasks = {"old"};
  rounds[1].saves.tasks = {Version("a", 2), Version("c", 1), Version("a", 3)};

  StoreBatch merged = MergeSaves(rounds);

  std::vector<std::string> written;
  for (const TaskRecord& r : merged.tasks) {
    written.push_back(r.id + "@" + std::to_string(r.version));
  }
  EXPECT_THAT(written, ElementsAre("b@1", "c@1", "a@3"));
  EXPECT_THAT(merged.deleted_tasks, ElementsAre("old"));
  // Emptied, not left holding moved-from records: a held-back round is merged again.
  EXPECT_THAT(rounds[0].saves.tasks, IsEmpty());
  EXPECT_THAT(rounds[1].saves.tasks, IsEmpty());
}

}  // namespace
}  // namespace taskwire::scheduler
