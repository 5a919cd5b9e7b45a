// The executor across a broken link, against a fake scheduler (a sync ExecutorLink server on
// 127.0.0.1:0) that follows a script per connection. Scenario: the first connection assigns
// an attempt whose handler blocks, then breaks the stream. The attempt must keep running;
// the second connection's Hello must list it (Hello.running); the handler is released while
// that connection has not been welcomed yet, so its result waits and must arrive after the
// Welcome, once, with the upstream results and not_retryable mark intact. Waits are bounded
// and on events, never on time passing.
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "executor/executor.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "taskwire/v1/executor_link.grpc.pb.h"
#include "tests/unit/executor/fake_scheduler_server.h"

namespace taskwire::executor {
namespace {

constexpr absl::Duration kBound = absl::Seconds(10);

class FakeScheduler final : public v1::ExecutorLink::Service {
 public:
  grpc::Status Connect(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<v1::SchedulerMessage, v1::ExecutorMessage>* stream)
      override {
    v1::ExecutorMessage hello;
    if (!stream->Read(&hello)) return grpc::Status(grpc::StatusCode::CANCELLED, "no hello");
    int connection;
    {
      absl::MutexLock lock(&mu_);
      hellos_.push_back(hello.hello());
      connection = static_cast<int>(hellos_.size());
    }
    if (connection == 1) {
      v1::SchedulerMessage first;
      first.mutable_welcome()->set_executor_id("e1");
      v1::Assignment* a = first.add_assignments();
      a->set_task_id("t1");
      a->set_attempt(1);
      a->set_type("gate");
      a->set_payload("+p");
      a->add_upstream_results("up1|");
      stream->Write(first);
      if (!break_first_.WaitForNotificationWithTimeout(kBound)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "test gave up");
      }
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scheduler going away");
    }
    if (!welcome_second_.WaitForNotificationWithTimeout(kBound)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "test gave up");
    }
    v1::SchedulerMessage welcome;
    welcome.mutable_welcome()->set_executor_id("e1");
    stream->Write(welcome);
    v1::ExecutorMessage in;
    while (stream->Read(&in)) {
      absl::MutexLock lock(&mu_);
      for (const v1::AttemptResult& r : in.results()) results_.push_back(r);
    }
    return grpc::Status::OK;
  }

  bool AwaitHellos(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return hellos_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kBound);
  }
  bool AwaitResults(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return results_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kBound);
  }
  v1::Hello hello(size_t i) {
    absl::MutexLock lock(&mu_);
    return hellos_.at(i);
  }
  std::vector<v1::AttemptResult> results() {
    absl::MutexLock lock(&mu_);
    return results_;
  }

  absl::Notification break_first_;
  absl::Notification welcome_second_;

 private:
  absl::Mutex mu_;
  std::vector<v1::Hello> hellos_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::AttemptResult> results_ ABSL_GUARDED_BY(mu_);
};

TEST(ExecutorReconnectTest, KeepsRunningAcrossABrokenLinkListsTheAttemptAndSendsItsResultAfterWelcome) {
  FakeScheduler fake;
  int port = 0;
  std::unique_ptr<grpc::Server> server = ServeOnLoopback(fake, port);
  ASSERT_NE(server, nullptr);

  absl::Notification started;
  absl::Notification release;
  absl::Notification returned;
  HandlerRegistry registry;
  ASSERT_TRUE(registry
                  .Register("gate",
                            [&](const TaskContext& ctx) -> absl::StatusOr<std::string> {
                              started.Notify();
                              const bool released = release.WaitForNotificationWithTimeout(kBound);
                              returned.Notify();
                              if (!released) return absl::DeadlineExceededError("never released");
                              return NotRetryable(absl::InvalidArgumentError(ctx.input()));
                            })
                  .ok());
  ExecutorOptions options = OptionsForFakeScheduler(port, /*thread_slots=*/2);
  options.min_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(50);
  absl::StatusOr<std::unique_ptr<Executor>> executor = Executor::Start(options, registry);
  ASSERT_TRUE(executor.ok()) << executor.status();

  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kBound)) << "the attempt never started";
  ASSERT_TRUE(fake.AwaitHellos(1));
  EXPECT_TRUE(fake.hello(0).running().empty());
  fake.break_first_.Notify();  // the stream breaks while the attempt runs

  ASSERT_TRUE(fake.AwaitHellos(2)) << "the executor did not dial again";
  const v1::Hello second = fake.hello(1);
  ASSERT_EQ(second.running_size(), 1);
  EXPECT_EQ(second.running(0).task_id(), "t1");
  EXPECT_EQ(second.running(0).attempt(), 1u);
  EXPECT_TRUE(second.unreported().empty());
  EXPECT_FALSE(second.incarnation().empty());
  EXPECT_EQ(second.incarnation(), fake.hello(0).incarnation()) << "one process, one incarnation";
  EXPECT_FALSE(returned.HasBeenNotified()) << "the attempt was stopped by the disconnect";

  release.Notify();  // finishes before the Welcome: its result must wait for it
  ASSERT_TRUE(returned.WaitForNotificationWithTimeout(kBound));
  EXPECT_TRUE(fake.results().empty());
  fake.welcome_second_.Notify();

  ASSERT_TRUE(fake.AwaitResults(1)) << "the result kept while disconnected never came";
  const std::vector<v1::AttemptResult> results = fake.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].task_id(), "t1");
  EXPECT_EQ(results[0].attempt(), 1u);
  EXPECT_EQ(results[0].outcome(), v1::ATTEMPT_OUTCOME_FAILED);
  EXPECT_EQ(results[0].error(), "up1|+p");  // the handler saw its upstream result first
  EXPECT_TRUE(results[0].not_retryable());

  executor->reset();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace
}  // namespace taskwire::executor
