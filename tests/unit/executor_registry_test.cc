// ExecutorRegistry: sessions in connection order, the credit of each executor (slots
// against attempts held) with its gauges, and dispatch's rotating turn.
#include "scheduler/core/executor_registry.h"

#include <memory>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace taskwire::scheduler {
namespace {

// Sums what the registry reports, as the Prometheus gauges would.
struct GaugeSums : CoreMetrics {
  double connected = 0, free_slots = 0, used_slots = 0, default_queue_executors = 0;
  void ExecutorsConnectedChanged(double d) override { connected += d; }
  void SlotsChanged(SlotWindow, double free_delta, double used_delta) override {
    free_slots += free_delta;
    used_slots += used_delta;
  }
  void QueueExecutorsChanged(absl::string_view queue, double d) override {
    if (queue == "default") default_queue_executors += d;
  }
};

ExecutorHello Hello(std::string id, uint32_t slots) {
  ExecutorHello h;
  h.executor_id = std::move(id);
  h.slots = slots;
  h.queues = {"default"};
  h.task_types = {{"echo"}, {"hash"}};
  return h;
}

TEST(ExecutorRegistryTest, AnAttemptTakesOneSlotUntilItIsFreedOnce) {
  GaugeSums gauges;
  ExecutorRegistry registry(gauges);
  ConnectedExecutor& e = registry.Add(Hello("a", 2), nullptr, absl::UnixEpoch());
  EXPECT_EQ(e.lanes.size(), 2u);  // one per (queue, type)
  EXPECT_EQ(gauges.free_slots, 2);

  EXPECT_TRUE(registry.Take(e, AttemptRef{"t1", 1}, "echo"));
  EXPECT_FALSE(registry.Take(e, AttemptRef{"t1", 1}, "echo"));  // already held: no second slot
  EXPECT_TRUE(registry.Take(e, AttemptRef{"t1", 2}, "echo"));   // another attempt of the same task
  EXPECT_EQ(e.free_slots(), 0u);
  EXPECT_EQ(gauges.free_slots, 0);
  EXPECT_EQ(gauges.used_slots, 2);

  EXPECT_TRUE(registry.Free(e, AttemptRef{"t1", 1}));
  EXPECT_FALSE(registry.Free(e, AttemptRef{"t1", 1}));  // a stale second answer
  EXPECT_EQ(e.free_slots(), 1u);
  EXPECT_EQ(gauges.free_slots, 1);
  EXPECT_EQ(gauges.used_slots, 1);
}

// An executor that announces its modes' slots apart gets a credit window per mode: a
// thread task takes a thread slot, an event-loop task an event-loop slot.
TEST(ExecutorRegistryTest, EachRunModeHasItsOwnWindowWhenTheHelloGivesModeSlots) {
  GaugeSums gauges;
  ExecutorRegistry registry(gauges);
  ExecutorHello hello = Hello("a", 101);
  hello.task_types = {{"echo", RunMode::kThread}, {"http.get", RunMode::kEventLoop}};
  hello.mode_slots = {{RunMode::kThread, 1}, {RunMode::kEventLoop, 100}};
  ConnectedExecutor& e = registry.Add(std::move(hello), nullptr, absl::UnixEpoch());
  ASSERT_EQ(e.pools.size(), 2u);
  EXPECT_EQ(e.pools[0].lanes.size(), 1u);
  EXPECT_EQ(e.pools[1].lanes.size(), 1u);
  EXPECT_EQ(e.free_slots(), 101u);

  EXPECT_TRUE(registry.Take(e, AttemptRef{"t1", 1}, "echo"));
  EXPECT_EQ(e.pools[0].free(), 0u);
  EXPECT_EQ(e.pools[1].free(), 100u);
  EXPECT_TRUE(registry.Take(e, AttemptRef{"t2", 1}, "http.get"));
  EXPECT_EQ(e.pools[1].free(), 99u);
  EXPECT_EQ(gauges.used_slots, 2);

  EXPECT_TRUE(registry.Free(e, AttemptRef{"t1", 1}));  // back to the pool it came from
  EXPECT_EQ(e.pools[0].free(), 1u);
  EXPECT_EQ(e.pools[1].free(), 99u);
}

TEST(ExecutorRegistryTest, RemovingAnExecutorTakesItsSlotsOutOfTheGauges) {
  GaugeSums gauges;
  ExecutorRegistry registry(gauges);
  ConnectedExecutor& a = registry.Add(Hello("a", 3), nullptr, absl::UnixEpoch());
  registry.Add(Hello("b", 1), nullptr, absl::UnixEpoch());
  registry.Take(a, AttemptRef{"t1", 1}, "echo");

  std::unique_ptr<ConnectedExecutor> removed = registry.Remove("a");
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(removed->outstanding.size(), 1u);  // the caller settles what it held
  EXPECT_EQ(registry.Remove("a"), nullptr);
  EXPECT_EQ(registry.Find("a"), nullptr);
  EXPECT_EQ(gauges.connected, 1);
  EXPECT_EQ(gauges.default_queue_executors, 1);
  EXPECT_EQ(gauges.free_slots, 1);
  EXPECT_EQ(gauges.used_slots, 0);
}

TEST(ExecutorRegistryTest, EachConnectionIsANewSessionAndMadeUpIdsAvoidChosenOnes) {
  GaugeSums gauges;
  ExecutorRegistry registry(gauges);
  // An executor that chose the name the registry would make up next.
  ConnectedExecutor& chosen = registry.Add(Hello("executor-2", 1), nullptr, absl::UnixEpoch());
  const std::string made_up = registry.UnusedId();
  EXPECT_NE(made_up, "executor-2");
  EXPECT_EQ(registry.Find(made_up), nullptr);

  ConnectedExecutor& other = registry.Add(Hello(made_up, 1), nullptr, absl::UnixEpoch());
  EXPECT_NE(chosen.session_id, other.session_id);
  EXPECT_EQ(registry.FindSession(other.session_id), &other);
  EXPECT_EQ(registry.FindSession(999), nullptr);
}

TEST(ExecutorRegistryTest, EachTurnStartsOneExecutorLater) {
  GaugeSums gauges;
  ExecutorRegistry registry(gauges);
  for (const char* id : {"a", "b", "c"}) registry.Add(Hello(id, 1), nullptr, absl::UnixEpoch());

  auto first_of_turn = [&] { return registry.InTurn(0).hello.executor_id; };
  EXPECT_EQ(first_of_turn(), "a");
  EXPECT_EQ(registry.InTurn(2).hello.executor_id, "c");
  registry.NextTurn();
  EXPECT_EQ(first_of_turn(), "b");
  EXPECT_EQ(registry.InTurn(2).hello.executor_id, "a");
  registry.NextTurn();
  registry.NextTurn();
  EXPECT_EQ(first_of_turn(), "a");
}

}  // namespace
}  // namespace taskwire::scheduler
