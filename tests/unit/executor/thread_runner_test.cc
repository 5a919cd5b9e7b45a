// ThreadRunner with a registry of test handlers: outcomes, errors and exceptions, cancel and
// timeout, real concurrency across its threads, and a Shutdown that drains started work.
#include "executor/thread_runner.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/executor/done_recorder.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::executor {
namespace {

using ::taskwire::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr absl::Duration kBound = absl::Seconds(5);  // for waits that should end at once

// Handlers count in and then hold until released: lets a test see how many run at once.
class Gate {
 public:
  void Arrive() {
    absl::MutexLock lock(&mu_);
    ++arrived_;
  }
  bool AwaitArrivals(int n, absl::Duration bound) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return arrived_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), bound);
  }
  int arrived() {
    absl::MutexLock lock(&mu_);
    return arrived_;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }
  bool AwaitRelease(absl::Duration bound) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&released_), bound);
  }

 private:
  absl::Mutex mu_;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

class ThreadRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Add("ok", [](const TaskContext& ctx) -> absl::StatusOr<std::string> {
      // Let the clock move, so that run_time is measurably > 0.
      const absl::Time entered = absl::Now();
      while (absl::Now() - entered < absl::Microseconds(1)) {
      }
      return absl::StrCat("out:", ctx.payload);
    });
    Add("error", [](const TaskContext&) -> absl::StatusOr<std::string> {
      return absl::InvalidArgumentError("bad input here");
    });
    Add("permanent", [](const TaskContext&) -> absl::StatusOr<std::string> {
      return NotRetryable(absl::InvalidArgumentError("never works"));
    });
    Add("upstream", [](const TaskContext& ctx) -> absl::StatusOr<std::string> {
      return absl::StrCat(ctx.upstream_results.size(), ":", ctx.input());
    });
    Add("throw", [](const TaskContext&) -> absl::StatusOr<std::string> {
      throw std::runtime_error("kaboom");
    });
    Add("throw.int", [](const TaskContext&) -> absl::StatusOr<std::string> { throw 42; });
    Add("gate", [this](const TaskContext& ctx) -> absl::StatusOr<std::string> {
      gate_.Arrive();
      if (!gate_.AwaitRelease(kBound)) return absl::DeadlineExceededError("gate never opened");
      return ctx.task_id;
    });
  }

  void Add(const std::string& type, Handler handler) {
    ASSERT_THAT(registry_.Register(type, std::move(handler)), IsOk());
  }

  static std::shared_ptr<Attempt> MakeAttempt(std::string id, std::string type,
                                              std::string payload = "",
                                              absl::Time deadline = absl::InfiniteFuture()) {
    return std::make_shared<Attempt>(std::move(id), 1, std::move(type), std::move(payload),
                                     deadline);
  }

  // Runs one attempt on a one-thread runner and returns its only result.
  RunResult RunOne(std::shared_ptr<Attempt> attempt) {
    ThreadRunner runner(registry_, 1);
    const std::string id = attempt->context.task_id;
    runner.Start(std::move(attempt), done_.For(id));
    runner.Shutdown();
    std::vector<RunResult> results = done_.ResultsOf(id);
    EXPECT_THAT(results, SizeIs(1)) << "done must be called exactly once";
    return results.empty() ? RunResult{} : results.front();
  }

  Gate gate_;  // declared before the registry: handlers refer to it
  HandlerRegistry registry_;
  DoneRecorder done_;
};

TEST_F(ThreadRunnerTest, RunsAnAttemptAndCallsDoneOnceWithSucceededAndTheOutput) {
  ThreadRunner runner(registry_, 2);
  runner.Start(MakeAttempt("t1", "ok", "hello"), done_.For("t1"));
  ASSERT_TRUE(done_.AwaitCalls(1, kBound));
  runner.Shutdown();

  std::vector<RunResult> results = done_.ResultsOf("t1");
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].outcome, RunOutcome::kSucceeded);
  EXPECT_EQ(results[0].output, "out:hello");
  EXPECT_THAT(results[0].error, IsEmpty());
  EXPECT_GT(results[0].run_time, absl::ZeroDuration());
}

TEST_F(ThreadRunnerTest, FailsAnUnknownTypeWithNoHandler) {
  const RunResult result = RunOne(MakeAttempt("t1", "no.such.type"));
  EXPECT_EQ(result.outcome, RunOutcome::kFailed);
  EXPECT_THAT(result.error, HasSubstr("no handler"));
  EXPECT_THAT(result.error, HasSubstr("'no.such.type'"));
}

TEST_F(ThreadRunnerTest, FailsWithTheMessageOfAHandlersError) {
  const RunResult result = RunOne(MakeAttempt("t1", "error"));
  EXPECT_EQ(result.outcome, RunOutcome::kFailed);
  EXPECT_EQ(result.error, "bad input here");
  EXPECT_THAT(result.output, IsEmpty());
}

TEST_F(ThreadRunnerTest, AnErrorMarkedNotRetryableFailsNotRetryable) {
  const RunResult result = RunOne(MakeAttempt("t1", "permanent"));
  EXPECT_EQ(result.outcome, RunOutcome::kFailed);
  EXPECT_EQ(result.error, "never works");
  EXPECT_TRUE(result.not_retryable);
  EXPECT_FALSE(RunOne(MakeAttempt("t2", "error")).not_retryable);
}

TEST_F(ThreadRunnerTest, HandsUpstreamResultsToTheHandler) {
  const RunResult result = RunOne(std::make_shared<Attempt>(
      "t1", 1, "upstream", "+p", absl::InfiniteFuture(), std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(result.outcome, RunOutcome::kSucceeded) << result.error;
  EXPECT_EQ(result.output, "2:ab+p");
}

TEST_F(ThreadRunnerTest, FailsWithHandlerThrewWhenAHandlerThrowsAStdException) {
  const RunResult result = RunOne(MakeAttempt("t1", "throw"));
  EXPECT_EQ(result.outcome, RunOutcome::kFailed);
  EXPECT_THAT(result.error, HasSubstr("handler threw"));
  EXPECT_THAT(result.error, HasSubstr("kaboom"));
}

TEST_F(ThreadRunnerTest, FailsWhenAHandlerThrowsSomethingElseAndKeepsRunning) {
  ThreadRunner runner(registry_, 1);
  runner.Start(MakeAttempt("t1", "throw.int"), done_.For("t1"));
  runner.Start(MakeAttempt("t2", "ok", "after"), done_.For("t2"));
  runner.Shutdown();
  ASSERT_THAT(done_.ResultsOf("t1"), SizeIs(1));
  EXPECT_EQ(done_.ResultsOf("t1")[0].outcome, RunOutcome::kFailed);
  EXPECT_THAT(done_.ResultsOf("t1")[0].error, HasSubstr("handler threw"));
  ASSERT_THAT(done_.ResultsOf("t2"), SizeIs(1));
  EXPECT_EQ(done_.ResultsOf("t2")[0].outcome, RunOutcome::kSucceeded);
}

TEST_F(ThreadRunnerTest, ReportsCancelledWhenTheTokenIsCancelled) {
  std::shared_ptr<Attempt> attempt = MakeAttempt("t1", "ok");
  attempt->token.Cancel();
  const RunResult result = RunOne(std::move(attempt));
  EXPECT_EQ(result.outcome, RunOutcome::kCancelled);
  EXPECT_EQ(result.error, "cancelled");
  EXPECT_THAT(result.output, IsEmpty());
}

TEST_F(ThreadRunnerTest, ReportsTimedOutWhenTheDeadlineHasPassed) {
  const RunResult result = RunOne(MakeAttempt("t1", "ok", "", absl::Now() - absl::Seconds(1)));
  EXPECT_EQ(result.outcome, RunOutcome::kTimedOut);
  EXPECT_THAT(result.error, HasSubstr("timed out"));
  EXPECT_THAT(result.output, IsEmpty());
}

// N threads, N handlers that each wait at the gate: all N must be inside their handler at
// the same time, or the arrivals never reach N. No attempt may be lost or reported twice.
TEST_F(ThreadRunnerTest, RunsAsManyHandlersAtOnceAsItHasThreads) {
  constexpr int kThreads = 4;
  ThreadRunner runner(registry_, kThreads);
  for (int i = 0; i < kThreads; ++i) {
    const std::string id = absl::StrCat("t", i);
    runner.Start(MakeAttempt(id, "gate"), done_.For(id));
  }
  const bool all_in = gate_.AwaitArrivals(kThreads, kBound);
  gate_.Release();  // whatever happened, let the handlers finish
  EXPECT_TRUE(all_in) << "only " << gate_.arrived() << " of " << kThreads
                      << " handlers ran at once";
  runner.Shutdown();

  EXPECT_EQ(done_.calls(), kThreads);
  for (int i = 0; i < kThreads; ++i) {
    const std::string id = absl::StrCat("t", i);
    std::vector<RunResult> results = done_.ResultsOf(id);
    ASSERT_THAT(results, SizeIs(1)) << id;
    EXPECT_EQ(results[0].outcome, RunOutcome::kSucceeded) << results[0].error;
    EXPECT_EQ(results[0].output, id);
  }
}

// Two threads, six attempts held at the gate: when Shutdown returns, the two running and
// the four still queued have all run and reported, none twice.
TEST_F(ThreadRunnerTest, ShutdownWaitsForEveryStartedAttemptToFinish) {
  constexpr int kAttempts = 6;
  ThreadRunner runner(registry_, 2);
  for (int i = 0; i < kAttempts; ++i) {
    const std::string id = absl::StrCat("t", i);
    runner.Start(MakeAttempt(id, "gate"), done_.For(id));
  }
  ASSERT_TRUE(gate_.AwaitArrivals(2, kBound));
  EXPECT_EQ(done_.calls(), 0);
  std::thread releaser([this] { gate_.Release(); });
  runner.Shutdown();
  EXPECT_EQ(done_.calls(), kAttempts);
  releaser.join();

  for (int i = 0; i < kAttempts; ++i) {
    const std::string id = absl::StrCat("t", i);
    std::vector<RunResult> results = done_.ResultsOf(id);
    ASSERT_THAT(results, SizeIs(1)) << id;
    EXPECT_EQ(results[0].outcome, RunOutcome::kSucceeded) << results[0].error;
  }
}

TEST_F(ThreadRunnerTest, ShutdownTwiceAndThenDestructionAreHarmless) {
  ThreadRunner runner(registry_, 2);
  runner.Start(MakeAttempt("t1", "ok"), done_.For("t1"));
  runner.Shutdown();
  runner.Shutdown();
  EXPECT_EQ(done_.calls(), 1);
}

TEST_F(ThreadRunnerTest, DestructionWithoutShutdownStillRunsStartedAttempts) {
  {
    ThreadRunner runner(registry_, 1);
    runner.Start(MakeAttempt("t1", "ok"), done_.For("t1"));
    runner.Start(MakeAttempt("t2", "ok"), done_.For("t2"));
  }
  EXPECT_EQ(done_.calls(), 2);
}

}  // namespace
}  // namespace taskwire::executor
