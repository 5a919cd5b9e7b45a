// EventHub and EventFilter on their own: each subscriber gets, in publish order, the
// events its filter matches, in one call per Publish.
#include "scheduler/core/event_hub.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskwire::scheduler {
namespace {

EventBatch Batch(std::vector<TaskEvent> tasks) { return EventBatch{std::move(tasks), {}}; }

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
  hub.Subscribe(EventFilter{}, [&](EventBatch b) {
    auto& batch = b.tasks;
    all.insert(all.end(), batch.begin(), batch.end());
  });
  hub.Subscribe(EventFilter{{TaskState::kSucceeded}, "", ""}, [&](EventBatch b) {
    auto& batch = b.tasks;
    finished.insert(finished.end(), batch.begin(), batch.end());
  });
  hub.Subscribe(EventFilter{{}, "", "hash"}, [&](EventBatch b) {
    auto& batch = b.tasks;
    hashes.insert(hashes.end(), batch.begin(), batch.end());
  });

  hub.Publish(Batch({Event("a", TaskState::kQueued), Event("a", TaskState::kRunning)}));
  hub.Publish(Batch({Event("a", TaskState::kSucceeded), Event("b", TaskState::kQueued, "hash")}));

  EXPECT_THAT(Describe(all),
              ElementsAre("a:queued", "a:running", "a:succeeded", "b:queued"));
  EXPECT_THAT(Describe(finished), ElementsAre("a:succeeded"));
  EXPECT_THAT(Describe(hashes), ElementsAre("b:queued"));
}

TEST(EventHubTest, CallsASubscriberOncePerPublishAndNotAtAllWithoutAMatch) {
  EventHub hub;
  std::vector<size_t> batch_sizes;
  hub.Subscribe(EventFilter{{}, "", "echo"},
                [&](EventBatch b) {
    auto& batch = b.tasks; batch_sizes.push_back(batch.size()); });

  hub.Publish(Batch({Event("a", TaskState::kQueued), Event("b", TaskState::kQueued, "hash"),
               Event("c", TaskState::kQueued)}));
  hub.Publish(Batch({Event("d", TaskState::kQueued, "hash")}));
  hub.Publish(Batch({}));

  EXPECT_THAT(batch_sizes, ElementsAre(2u));
}

TEST(EventHubTest, StopsDeliveringAfterUnsubscribe) {
  EventHub hub;
  std::vector<TaskEvent> kept;
  std::vector<TaskEvent> dropped;
  hub.Subscribe(EventFilter{}, [&](EventBatch b) {
    auto& batch = b.tasks;
    kept.insert(kept.end(), batch.begin(), batch.end());
  });
  const uint64_t id = hub.Subscribe(EventFilter{}, [&](EventBatch b) {
    auto& batch = b.tasks;
    dropped.insert(dropped.end(), batch.begin(), batch.end());
  });
  hub.Publish(Batch({Event("a", TaskState::kQueued)}));

  hub.Unsubscribe(id);
  hub.Publish(Batch({Event("a", TaskState::kRunning)}));

  EXPECT_THAT(kept, SizeIs(2));
  EXPECT_THAT(dropped, SizeIs(1));
  EXPECT_TRUE(hub.HasSubscribers());
}

TEST(EventHubTest, GivesWorkflowEventsOnlyToUnfilteredWatchers) {
  EventHub hub;
  std::vector<WorkflowEvent> unfiltered;
  std::vector<WorkflowEvent> by_queue;
  hub.Subscribe(EventFilter{}, [&](EventBatch b) {
    unfiltered.insert(unfiltered.end(), b.workflows.begin(), b.workflows.end());
  });
  hub.Subscribe(EventFilter{{}, "default", ""}, [&](EventBatch b) {
    by_queue.insert(by_queue.end(), b.workflows.begin(), b.workflows.end());
  });

  hub.Publish(EventBatch{{}, {WorkflowEvent{"w1", WorkflowState::kSucceeded, absl::Now(), "", ""}}});

  ASSERT_THAT(unfiltered, SizeIs(1));
  EXPECT_EQ(unfiltered[0].workflow_id, "w1");
  EXPECT_THAT(by_queue, IsEmpty());
}

TEST(EventHubTest, AnOwnersWatchGetsOnlyThatOwnersTasksAndWorkflows) {
  EventHub hub;
  std::vector<std::string> seen;
  EventFilter alice;
  alice.owner = "alice";
  hub.Subscribe(alice, [&](EventBatch b) {
    for (const TaskEvent& e : b.tasks) seen.push_back(e.task_id);
    for (const WorkflowEvent& e : b.workflows) seen.push_back(e.workflow_id);
  });
  TaskEvent mine = Event("a", TaskState::kQueued);
  mine.owner = "alice";
  TaskEvent theirs = Event("b", TaskState::kQueued);
  theirs.owner = "bob";
  TaskEvent nobodys = Event("c", TaskState::kQueued);
  EventBatch batch = Batch({mine, theirs, nobodys});
  batch.workflows = {WorkflowEvent{"w-alice", WorkflowState::kRunning, absl::Now(), "", "", "alice"},
                     WorkflowEvent{"w-bob", WorkflowState::kRunning, absl::Now(), "", "", "bob"}};

  hub.Publish(batch);

  EXPECT_THAT(seen, ::testing::ElementsAre("a", "w-alice"));
}

TEST(EventHubTest, KnowsWhetherAnyoneListens) {
  EventHub hub;
  EXPECT_FALSE(hub.HasSubscribers());

  const uint64_t a = hub.Subscribe(EventFilter{}, [](EventBatch) {});
  const uint64_t b = hub.Subscribe(EventFilter{}, [](EventBatch) {});
  EXPECT_NE(a, b);
  EXPECT_TRUE(hub.HasSubscribers());

  hub.Unsubscribe(a);
  EXPECT_TRUE(hub.HasSubscribers());
  hub.Unsubscribe(b);
  EXPECT_FALSE(hub.HasSubscribers());
  hub.Publish(Batch({Event("a", TaskState::kQueued)}));  // no one to call: a no-op
}

TEST(EventHubTest, LetsACallbackUnsubscribeItselfWhileBeingCalled) {
  EventHub hub;
  int calls = 0;
  uint64_t id = 0;
  id = hub.Subscribe(EventFilter{}, [&](EventBatch) {
    ++calls;
    hub.Unsubscribe(id);
  });

  hub.Publish(Batch({Event("a", TaskState::kQueued)}));
  hub.Publish(Batch({Event("a", TaskState::kRunning)}));

  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(hub.HasSubscribers());
}

}  // namespace
}  // namespace taskwire::scheduler
