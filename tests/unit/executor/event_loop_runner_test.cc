// EventLoop and EventLoopRunner with test handlers: every attempt ends exactly once, by a
// completion from any thread, a cancel in flight (which aborts the work and drops a later
// completion), its deadline, a throw, or Shutdown; and one loop thread carries a thousand
// waits at once.
#include "executor/event_loop/event_loop_runner.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "executor/event_loop/event_loop.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/executor/done_recorder.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::executor {
namespace {

using ::taskwire::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr absl::Duration kBound = absl::Seconds(5);  // for waits that should end at once

TEST(EventLoopTest, RunsPostedClosuresInOrderOnItsOwnThread) {
  auto loop = EventLoop::Create();
  ASSERT_THAT(loop.status(), IsOk());
  absl::Mutex mu;
  std::vector<int> seen;
  std::thread::id loop_thread;
  absl::Notification done;
  for (int i = 0; i < 100; ++i) {
    (*loop)->Post([&, i] {
      absl::MutexLock lock(&mu);
      seen.push_back(i);
      loop_thread = std::this_thread::get_id();
      if (i == 99) done.Notify();
    });
  }
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kBound));
  absl::MutexLock lock(&mu);
  ASSERT_THAT(seen, SizeIs(100));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_NE(loop_thread, std::this_thread::get_id());
}

TEST(EventLoopTest, FiresTimersInDueOrderAndNotACancelledOne) {
  auto loop = EventLoop::Create();
  ASSERT_THAT(loop.status(), IsOk());
  EventLoop& l = **loop;
  absl::Mutex mu;
  std::vector<std::string> fired;
  absl::Notification last;
  l.Post([&] {
    const absl::Time now = absl::Now();
    auto record = [&](std::string name) {
      absl::MutexLock lock(&mu);
      fired.push_back(std::move(name));
    };
    l.AddTimer(now + absl::Milliseconds(30), [&, record] { record("30ms"); last.Notify(); });
    l.AddTimer(now + absl::Milliseconds(10), [record] { record("10ms"); });
    const EventLoop::TimerId cancelled =
        l.AddTimer(now + absl::Milliseconds(20), [record] { record("cancelled"); });
    l.AddTimer(now - absl::Seconds(1), [record] { record("past"); });
    l.CancelTimer(cancelled);
  });
  ASSERT_TRUE(last.WaitForNotificationWithTimeout(kBound));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(fired, (std::vector<std::string>{"past", "10ms", "30ms"}));
}

TEST(EventLoopTest, CallsAWatchWhenItsDescriptorIsReadableAndNotAfterUnwatch) {
  auto loop = EventLoop::Create();
  ASSERT_THAT(loop.status(), IsOk());
  EventLoop& l = **loop;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<int> calls{0};
  absl::Notification readable;
  l.Post([&] {
    l.WatchFd(fds[0], EPOLLIN, [&](uint32_t) {
      char c;
      (void)!read(fds[0], &c, 1);
      ++calls;
      l.UnwatchFd(fds[0]);  // from inside its own callback
      readable.Notify();
    });
  });
  ASSERT_EQ(write(fds[1], "xy", 2), 2);
  ASSERT_TRUE(readable.WaitForNotificationWithTimeout(kBound));
  absl::Notification flushed;
  l.Post([&] { flushed.Notify(); });  // one more turn of the loop: the byte left is ignored
  ASSERT_TRUE(flushed.WaitForNotificationWithTimeout(kBound));
  EXPECT_EQ(calls.load(), 1);
  close(fds[0]);
  close(fds[1]);
}

class EventLoopRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Completes after the payload's milliseconds, on a timer; a cancel removes the timer.
    Add("wait", [this](AsyncTask task) {
      int64_t ms = 0;
      (void)absl::SimpleAtoi(task.context().payload, &ms);
      EventLoop& loop = task.loop();
      const EventLoop::TimerId t = loop.AddTimer(absl::Now() + absl::Milliseconds(ms), [task] {
        task.Complete(absl::StrCat("waited ", task.context().payload));
      });
      task.OnAbort([this, &loop, t] {
        loop.CancelTimer(t);
        ++aborts_;
      });
    });
    // Completes from a thread of its own.
    Add("other.thread", [](AsyncTask task) {
      std::thread([task] { task.Complete("from another thread"); }).detach();
    });
    // Never completes; counts its aborts. Its handle is kept so a test can complete late.
    Add("never", [this](AsyncTask task) {
      {
        absl::MutexLock lock(&mu_);
        kept_.push_back(task);
      }
      task.OnAbort([this] { ++aborts_; });
      started_.Notify();
    });
    Add("twice", [](AsyncTask task) {
      task.Complete("first");
      task.Complete("second");
      task.Complete(absl::InternalError("third"));
    });
    Add("throw", [](AsyncTask) { throw std::runtime_error("kaboom"); });
    Add("permanent", [](AsyncTask task) {
      task.Complete(NotRetryable(absl::InvalidArgumentError("never works")));
    });
  }

  void Add(const std::string& type, AsyncHandler handler) {
    ASSERT_THAT(registry_.RegisterAsync(type, std::move(handler)), IsOk());
  }

  std::unique_ptr<EventLoopRunner> NewRunner(size_t threads = 1) {
    auto runner = EventLoopRunner::Create(registry_, threads);
    EXPECT_THAT(runner.status(), IsOk());
    return runner.ok() ? *std::move(runner) : nullptr;
  }

  static std::shared_ptr<Attempt> MakeAttempt(std::string id, std::string type,
                                              std::string payload = "",
                                              absl::Time deadline = absl::InfiniteFuture()) {
    return std::make_shared<Attempt>(std::move(id), 1, std::move(type), std::move(payload),
                                     deadline);
  }

  // The only result of `id`, after waiting for it.
  RunResult OnlyResult(const std::string& id) {
    EXPECT_TRUE(done_.AwaitCalls(1, kBound));
    std::vector<RunResult> results = done_.ResultsOf(id);
    EXPECT_THAT(results, SizeIs(1)) << "done must be called exactly once";
    return results.empty() ? RunResult{} : results.front();
  }

  HandlerRegistry registry_;
  DoneRecorder done_;
  std::atomic<int> aborts_{0};
  absl::Notification started_;
  absl::Mutex mu_;
  std::vector<AsyncTask> kept_ ABSL_GUARDED_BY(mu_);
};

TEST_F(EventLoopRunnerTest, ATimerTaskCompletesOnceWithItsOutput) {
  auto runner = NewRunner();
  runner->Start(MakeAttempt("t1", "wait", "20"), done_.For("t1"));
  const RunResult r = OnlyResult("t1");
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded);
  EXPECT_EQ(r.output, "waited 20");
  EXPECT_GE(r.run_time, absl::Milliseconds(20));
  runner->Shutdown();
  EXPECT_THAT(done_.ResultsOf("t1"), SizeIs(1));
  EXPECT_EQ(aborts_.load(), 0);
}

TEST_F(EventLoopRunnerTest, ACompletionFromAnotherThreadEndsTheAttempt) {
  auto runner = NewRunner();
  runner->Start(MakeAttempt("t1", "other.thread"), done_.For("t1"));
  const RunResult r = OnlyResult("t1");
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded);
  EXPECT_EQ(r.output, "from another thread");
}

TEST_F(EventLoopRunnerTest, ACancelInFlightAbortsTheWorkAndDropsALaterCompletion) {
  auto runner = NewRunner();
  std::shared_ptr<Attempt> attempt = MakeAttempt("t1", "never");
  runner->Start(attempt, done_.For("t1"));
  ASSERT_TRUE(started_.WaitForNotificationWithTimeout(kBound));

  attempt->token.Cancel();
  runner->CancelRequested();
  const RunResult r = OnlyResult("t1");
  EXPECT_EQ(r.outcome, RunOutcome::kCancelled);
  EXPECT_EQ(aborts_.load(), 1);

  {
    absl::MutexLock lock(&mu_);
    ASSERT_THAT(kept_, SizeIs(1));
    EXPECT_TRUE(kept_[0].ended());
    kept_[0].Complete("too late");  // dropped
  }
  runner->Shutdown();
  EXPECT_THAT(done_.ResultsOf("t1"), SizeIs(1));
  EXPECT_EQ(done_.ResultsOf("t1")[0].outcome, RunOutcome::kCancelled);
}

TEST_F(EventLoopRunnerTest, ACancelOfATimerTaskRemovesItsTimer) {
  auto runner = NewRunner();
  std::shared_ptr<Attempt> attempt = MakeAttempt("t1", "wait", "60000");
  runner->Start(attempt, done_.For("t1"));
  attempt->token.Cancel();
  runner->CancelRequested();
  const RunResult r = OnlyResult("t1");
  EXPECT_EQ(r.outcome, RunOutcome::kCancelled);
  EXPECT_LT(r.run_time, absl::Seconds(5));
}

TEST_F(EventLoopRunnerTest, AHandlerThatNeverCompletesIsTimedOutAtItsDeadline) {
  auto runner = NewRunner();
  runner->Start(MakeAttempt("t1", "never", "", absl::Now() + absl::Milliseconds(50)),
                done_.For("t1"));
  const RunResult r = OnlyResult("t1");
  EXPECT_EQ(r.outcome, RunOutcome::kTimedOut);
  EXPECT_THAT(r.error, HasSubstr("timed out after"));
  EXPECT_GE(r.run_time, absl::Milliseconds(40));
  EXPECT_EQ(aborts_.load(), 1);  // the deadline reached the in-flight work
}

TEST_F(EventLoopRunnerTest, AHandlerThatCompletesTwiceEndsOnceWithTheFirst) {
  auto runner = NewRunner();
  runner->Start(MakeAttempt("t1", "twice"), done_.For("t1"));
  const RunResult r = OnlyResult("t1");
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded);
  EXPECT_EQ(r.output, "first");
  runner->Shutdown();
  EXPECT_THAT(done_.ResultsOf("t1"), SizeIs(1));
}

TEST_F(EventLoopRunnerTest, AHandlerThatThrowsFailsItsAttemptAndTheLoopGoesOn) {
  auto runner = NewRunner();
  runner->Start(MakeAttempt("t1", "throw"), done_.For("t1"));
  const RunResult r = OnlyResult("t1");
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_THAT(r.error, HasSubstr("kaboom"));

  runner->Start(MakeAttempt("t2", "wait", "1"), done_.For("t2"));
  ASSERT_TRUE(done_.AwaitCalls(2, kBound));
  EXPECT_EQ(done_.ResultsOf("t2")[0].outcome, RunOutcome::kSucceeded);
}

TEST_F(EventLoopRunnerTest, ANotRetryableErrorIsMarkedSo) {
  auto runner = NewRunner();
  runner->Start(MakeAttempt("t1", "permanent"), done_.For("t1"));
  const RunResult r = OnlyResult("t1");
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_TRUE(r.not_retryable);
  EXPECT_THAT(r.error, HasSubstr("never works"));
}

TEST_F(EventLoopRunnerTest, AnUnknownTypeFails) {
  auto runner = NewRunner();
  runner->Start(MakeAttempt("t1", "nobody"), done_.For("t1"));
  const RunResult r = OnlyResult("t1");
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_THAT(r.error, HasSubstr("no event-loop handler for task type 'nobody'"));
}

TEST_F(EventLoopRunnerTest, ShutdownEndsWhatStillRunsAsCancelledAndRefusesNewWork) {
  auto runner = NewRunner();
  runner->Start(MakeAttempt("t1", "never"), done_.For("t1"));
  ASSERT_TRUE(started_.WaitForNotificationWithTimeout(kBound));
  runner->Shutdown();
  ASSERT_THAT(done_.ResultsOf("t1"), SizeIs(1));
  EXPECT_EQ(done_.ResultsOf("t1")[0].outcome, RunOutcome::kCancelled);
  EXPECT_EQ(aborts_.load(), 1);

  runner->Start(MakeAttempt("t2", "wait", "1"), done_.For("t2"));
  ASSERT_THAT(done_.ResultsOf("t2"), SizeIs(1));
  EXPECT_EQ(done_.ResultsOf("t2")[0].outcome, RunOutcome::kCancelled);
}

// A thousand 200 ms waits on one loop thread end together, not one after another.
TEST_F(EventLoopRunnerTest, OneLoopThreadCarriesAThousandWaitsAtOnce) {
  auto runner = NewRunner(1);
  constexpr int kTasks = 1000;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kTasks; ++i) {
    const std::string id = absl::StrCat("t", i);
    runner->Start(MakeAttempt(id, "wait", "200"), done_.For(id));
  }
  ASSERT_TRUE(done_.AwaitCalls(kTasks, absl::Seconds(20)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // in series: 200 s
  for (int i = 0; i < kTasks; ++i) {
    EXPECT_EQ(done_.ResultsOf(absl::StrCat("t", i))[0].outcome, RunOutcome::kSucceeded);
  }
}

}  // namespace
}  // namespace taskwire::executor
