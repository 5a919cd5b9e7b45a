// EventHub and EventFilter on their own: each subscriber gets, in publish order, the
// events its filter matches, in one call per Publish.
#include "scheduler/core/event_hub.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskwire::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

TaskEvent Event(std::string id, TaskState state, std::string type = "echo",
                std::string queue = "default") {
  TaskEvent e;
  e.task_id = std::move(id);
  e.state = state;
  e.type = std::move(type);
  e.queue = std::move(queue);
  return e;
}

std::vector<std::string> Describe(const std::vector<TaskEvent>& events) {
  std::vector<std::string> out;
  for (const TaskEvent& e : events) {
    out.push_back(e.task_id + ":" + std::string(TaskStateName(e.state)));
  }
  return out;
}

TEST(EventFilterTest, MatchesEverythingWhenEmpty) {
  EXPECT_TRUE(EventFilter{}.Matches(Event("t", TaskState::kFailed, "any", "where")));
}

TEST(EventFilterTest, MatchesOnEveryFieldItSets) {
  EventFilter filter{{TaskState::kSucceeded, TaskState::kFailed}, "gpu", "render"};

  EXPECT_TRUE(filter.Matches(Event("t", TaskState::kSucceeded, "render", "gpu")));
  EXPECT_TRUE(filter.Matches(Event("t", TaskState::kFailed, "render", "gpu")));
  EXPECT_FALSE(filter.Matches(Event("t", TaskState::kRunning, "render", "gpu")));
  EXPECT_FALSE(filter.Matches(Event("t", TaskState::kSucceeded, "echo", "gpu")));
  EXPECT_FALSE(filter.Matches(Event("t", TaskState::kSucceeded, "render", "default")));
}

TEST(EventHubTest, DeliversMatchingEventsInPublishOrder) {
  EventHub hub;
  std::vector<TaskEvent> all;
  std::vector<TaskEvent> finished;
  std::vector<TaskEvent> hashes;
  hub.Subscribe(EventFilter{}, [&](std::vector<TaskEvent> batch) {
    all.insert(all.end(), batch.begin(), batch.end());
  });
  hub.Subscribe(EventFilter{{TaskState::kSucceeded}, "", ""}, [&](std::vector<TaskEvent> batch) {
    finished.insert(finished.end(), batch.begin(), batch.end());
  });
  hub.Subscribe(EventFilter{{}, "", "hash"}, [&](std::vector<TaskEvent> batch) {
    hashes.insert(hashes.end(), batch.begin(), batch.end());
  });

  hub.Publish({Event("a", TaskState::kQueued), Event("a", TaskState::kRunning)});
  hub.Publish({Event("a", TaskState::kSucceeded), Event("b", TaskState::kQueued, "hash")});

  EXPECT_THAT(Describe(all),
              ElementsAre("a:queued", "a:running", "a:succeeded", "b:queued"));
  EXPECT_THAT(Describe(finished), ElementsAre("a:succeeded"));
  EXPECT_THAT(Describe(hashes), ElementsAre("b:queued"));
}

TEST(EventHubTest, CallsASubscriberOncePerPublishAndNotAtAllWithoutAMatch) {
  EventHub hub;
  std::vector<size_t> batch_sizes;
  hub.Subscribe(EventFilter{{}, "", "echo"},
                [&](std::vector<TaskEvent> batch) { batch_sizes.push_back(batch.size()); });

  hub.Publish({Event("a", TaskState::kQueued), Event("b", TaskState::kQueued, "hash"),
               Event("c", TaskState::kQueued)});
  hub.Publish({Event("d", TaskState::kQueued, "hash")});
  hub.Publish({});

  EXPECT_THAT(batch_sizes, ElementsAre(2u));
}

TEST(EventHubTest, StopsDeliveringAfterUnsubscribe) {
  EventHub hub;
  std::vector<TaskEvent> kept;
  std::vector<TaskEvent> dropped;
  hub.Subscribe(EventFilter{}, [&](std::vector<TaskEvent> batch) {
    kept.insert(kept.end(), batch.begin(), batch.end());
  });
  const uint64_t id = hub.Subscribe(EventFilter{}, [&](std::vector<TaskEvent> batch) {
    dropped.insert(dropped.end(), batch.begin(), batch.end());
  });
  hub.Publish({Event("a", TaskState::kQueued)});

  hub.Unsubscribe(id);
  hub.Publish({Event("a", TaskState::kRunning)});

  EXPECT_THAT(kept, SizeIs(2));
  EXPECT_THAT(dropped, SizeIs(1));
  EXPECT_TRUE(hub.HasSubscribers());
}

TEST(EventHubTest, KnowsWhetherAnyoneListens) {
  EventHub hub;
  EXPECT_FALSE(hub.HasSubscribers());

  const uint64_t a = hub.Subscribe(EventFilter{}, [](std::vector<TaskEvent>) {});
  const uint64_t b = hub.Subscribe(EventFilter{}, [](std::vector<TaskEvent>) {});
  EXPECT_NE(a, b);
  EXPECT_TRUE(hub.HasSubscribers());

  hub.Unsubscribe(a);
  EXPECT_TRUE(hub.HasSubscribers());
  hub.Unsubscribe(b);
  EXPECT_FALSE(hub.HasSubscribers());
  hub.Publish({Event("a", TaskState::kQueued)});  // no one to call: a no-op
}

TEST(EventHubTest, LetsACallbackUnsubscribeItselfWhileBeingCalled) {
  EventHub hub;
  int calls = 0;
  uint64_t id = 0;
  id = hub.Subscribe(EventFilter{}, [&](std::vector<TaskEvent>) {
    ++calls;
    hub.Unsubscribe(id);
  });

  hub.Publish({Event("a", TaskState::kQueued)});
  hub.Publish({Event("a", TaskState::kRunning)});

  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(hub.HasSubscribers());
}

}  // namespace
}  // namespace taskwire::scheduler
