// ReadyQueues on its own: lanes by (queue, type), priority then FIFO, removal.
#include "scheduler/core/ready_queues.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskwire::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::IsNull;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Tasks for the queues to point at; they must outlive the queues' use of them.
class ReadyQueuesTest : public ::testing::Test {
 protected:
  TaskRecord* Make(std::string id, std::string type, int32_t priority,
                   std::string queue = "default") {
    auto spec = std::make_shared<TaskSpec>();
    spec->type = std::move(type);
    spec->queue = std::move(queue);
    spec->priority = priority;
    auto task = std::make_unique<TaskRecord>();
    task->id = std::move(id);
    task->seq = ++seq_;
    task->spec = std::move(spec);
    tasks_.push_back(std::move(task));
    return tasks_.back().get();
  }

  // Pops until `lanes` are empty; returns the ids in pop order.
  std::vector<std::string> Drain(const std::vector<LaneKey>& lanes) {
    std::vector<std::string> ids;
    while (TaskRecord* t = queues_.Best(lanes)) {
      ids.push_back(t->id);
      queues_.Remove(*t);
    }
    return ids;
  }

  ReadyQueues queues_;
  uint64_t seq_ = 0;
  std::vector<std::unique_ptr<TaskRecord>> tasks_;
};

const LaneKey kEcho{"default", "echo"};
const LaneKey kHash{"default", "hash"};
const LaneKey kGpuEcho{"gpu", "echo"};

TEST_F(ReadyQueuesTest, PopsHigherPriorityFirstAndFifoWithinAPriority) {
  queues_.Push(Make("a", "echo", 0));
  queues_.Push(Make("b", "echo", 5));
  queues_.Push(Make("c", "echo", 0));
  queues_.Push(Make("d", "echo", 5));
  queues_.Push(Make("e", "echo", -100));
  queues_.Push(Make("f", "echo", 100));

  EXPECT_THAT(Drain({kEcho}), ElementsAre("f", "b", "d", "a", "c", "e"));
  EXPECT_EQ(queues_.size(), 0u);
}

TEST_F(ReadyQueuesTest, PopsOnlyFromTheLanesAsked) {
  queues_.Push(Make("echo", "echo", 0));
  queues_.Push(Make("hash", "hash", 9));
  queues_.Push(Make("gpu-echo", "echo", 9, "gpu"));

  EXPECT_THAT(Drain({kEcho}), ElementsAre("echo"));
  EXPECT_EQ(queues_.size(), 2u);
  EXPECT_EQ(queues_.LaneSize(kHash), 1u);
  EXPECT_EQ(queues_.LaneSize(kGpuEcho), 1u);
}

TEST_F(ReadyQueuesTest, PicksTheBestHeadAcrossLanes) {
  queues_.Push(Make("old-echo", "echo", 1));
  queues_.Push(Make("urgent-hash", "hash", 3));
  queues_.Push(Make("old-hash", "hash", 1));
  queues_.Push(Make("new-echo", "echo", 1));
  queues_.Push(Make("gpu", "echo", 2, "gpu"));

  EXPECT_THAT(Drain({kEcho, kHash, kGpuEcho}),
              ElementsAre("urgent-hash", "gpu", "old-echo", "old-hash", "new-echo"));
}

TEST_F(ReadyQueuesTest, ReturnsNullWhenTheLanesAreEmptyOrUnknown) {
  EXPECT_THAT(queues_.Best({}), IsNull());
  EXPECT_THAT(queues_.Best({kEcho}), IsNull());
  queues_.Push(Make("hash", "hash", 0));

  EXPECT_THAT(queues_.Best({kEcho, kGpuEcho}), IsNull());
  EXPECT_EQ(queues_.size(), 1u);
}

TEST_F(ReadyQueuesTest, RemovesAQueuedTaskSoItIsNeverPicked) {
  TaskRecord* a = Make("a", "echo", 0);
  TaskRecord* b = Make("b", "echo", 0);
  TaskRecord* c = Make("c", "echo", 0);
  queues_.Push(a);
  queues_.Push(b);
  queues_.Push(c);

  EXPECT_TRUE(queues_.Remove(*b));
  EXPECT_FALSE(queues_.Remove(*b));

  EXPECT_EQ(queues_.size(), 2u);
  EXPECT_EQ(queues_.LaneSize(kEcho), 2u);
  EXPECT_THAT(Drain({kEcho}), ElementsAre("a", "c"));
}

TEST_F(ReadyQueuesTest, RefusesToRemoveATaskThatIsNotQueued) {
  TaskRecord* queued = Make("queued", "echo", 0);
  TaskRecord* other_lane = Make("other", "hash", 0);
  queues_.Push(queued);

  EXPECT_FALSE(queues_.Remove(*other_lane));
  EXPECT_TRUE(queues_.Remove(*queued));
  EXPECT_FALSE(queues_.Remove(*queued));
  EXPECT_EQ(queues_.size(), 0u);
  EXPECT_EQ(queues_.LaneSize(kEcho), 0u);
}

TEST_F(ReadyQueuesTest, TakesBackATaskPushedAgainAfterItWasTaken) {
  TaskRecord* a = Make("a", "echo", 0);
  TaskRecord* b = Make("b", "echo", 0);
  queues_.Push(a);
  queues_.Push(b);
  ASSERT_EQ(queues_.Best({kEcho}), a);
  ASSERT_TRUE(queues_.Remove(*a));

  queues_.Push(a);  // a lost attempt: it keeps its place by submission order

  EXPECT_THAT(Drain({kEcho}), ElementsAre("a", "b"));
}

TEST_F(ReadyQueuesTest, CountsTasksPerLane) {
  queues_.Push(Make("a", "echo", 0));
  queues_.Push(Make("b", "echo", 0));
  queues_.Push(Make("c", "hash", 0));

  EXPECT_EQ(queues_.size(), 3u);
  EXPECT_EQ(queues_.LaneSize(kEcho), 2u);
  EXPECT_EQ(queues_.LaneSize(kHash), 1u);
  EXPECT_EQ(queues_.LaneSize(kGpuEcho), 0u);
}

TEST_F(ReadyQueuesTest, ListsTheLanesOfOneQueueWithTheirSizes) {
  queues_.Push(Make("a", "echo", 0));
  queues_.Push(Make("b", "echo", 0));
  queues_.Push(Make("c", "hash", 0));
  queues_.Push(Make("d", "echo", 0, "gpu"));
  TaskRecord* gone = Make("e", "primes", 0);
  queues_.Push(gone);
  queues_.Remove(*gone);  // an emptied lane is not listed

  EXPECT_THAT(queues_.LanesOf("default"),
              UnorderedElementsAre(Pair("echo", 2u), Pair("hash", 1u)));
  EXPECT_THAT(queues_.LanesOf("gpu"), ElementsAre(Pair("echo", 1u)));
  EXPECT_THAT(queues_.LanesOf("nothing"), IsEmpty());
}

}  // namespace
}  // namespace taskwire::scheduler
