// The lifecycle table: the legal moves, written out here as a list a reader can check
// against docs/architecture.md, and what each state counts toward.
#include "scheduler/core/task_lifecycle.h"

#include <set>
#include <utility>

#include "gtest/gtest.h"

namespace taskwire::scheduler {
namespace {

using S = TaskState;

constexpr S kAll[] = {S::kPending,   S::kScheduled, S::kQueued,    S::kRunning,
                      S::kSucceeded, S::kFailed,    S::kCancelled, S::kExpired};

TEST(TaskLifecycleTest, AllowsExactlyTheMovesOfTheLifecycle) {
  const std::set<std::pair<S, S>> legal = {
      {S::kPending, S::kScheduled}, {S::kPending, S::kQueued},
      {S::kPending, S::kExpired},   {S::kPending, S::kCancelled},
      {S::kScheduled, S::kQueued},  {S::kScheduled, S::kExpired},
      {S::kScheduled, S::kCancelled},
      {S::kQueued, S::kRunning},    {S::kQueued, S::kExpired},
      {S::kQueued, S::kCancelled},
      {S::kRunning, S::kScheduled}, {S::kRunning, S::kQueued},
      {S::kRunning, S::kSucceeded}, {S::kRunning, S::kFailed},
      {S::kRunning, S::kCancelled},
  };
  for (S from : kAll) {
    for (S to : kAll) {
      EXPECT_EQ(CanMove(from, to), legal.contains({from, to}))
          << TaskStateName(from) << " -> " << TaskStateName(to);
    }
  }
}

TEST(TaskLifecycleTest, ATerminalTaskNeverMovesAndCountsTowardNothing) {
  for (S from : kAll) {
    if (!IsTerminal(from)) continue;
    for (S to : kAll) EXPECT_FALSE(CanMove(from, to)) << TaskStateName(from);
    const StateRoles roles = RolesOf(from);
    EXPECT_FALSE(roles.waiting || roles.ready || roles.running) << TaskStateName(from);
  }
}

TEST(TaskLifecycleTest, WaitingStatesCountAgainstAdmissionAndOnlyQueuedIsReady) {
  EXPECT_TRUE(RolesOf(S::kPending).waiting);
  EXPECT_TRUE(RolesOf(S::kScheduled).waiting);
  EXPECT_TRUE(RolesOf(S::kQueued).waiting);
  EXPECT_FALSE(RolesOf(S::kRunning).waiting);

  for (S s : kAll) EXPECT_EQ(RolesOf(s).ready, s == S::kQueued) << TaskStateName(s);
  for (S s : kAll) EXPECT_EQ(RolesOf(s).running, s == S::kRunning) << TaskStateName(s);
}

}  // namespace
}  // namespace taskwire::scheduler
