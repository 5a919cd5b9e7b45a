// A drain against a fake scheduler (a sync ExecutorLink server on 127.0.0.1:0): the
// executor runs attempts, is told to drain, and the attempts finish only once the
// scheduler has read the Drain message, that is, while Drain() waits for them. Every
// result must reach the scheduler before the executor half-closes its stream. The results
// are large so that building each one takes long enough for a drain that does not wait
// for results on their way to the link to close the stream under them (a CI run lost a
// drained task that way). Waits are bounded and on events.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "executor/executor.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "taskwire/v1/executor_link.grpc.pb.h"
#include "tests/unit/executor/fake_scheduler_server.h"

namespace taskwire::executor {
namespace {

constexpr absl::Duration kBound = absl::Seconds(10);
constexpr int kAttempts = 4;
constexpr size_t kOutputBytes = 4 << 20;

class DrainingScheduler final : public v1::ExecutorLink::Service {
 public:
  grpc::Status Connect(grpc::ServerContext* /*context*/,
                       grpc::ServerReaderWriter<v1::SchedulerMessage, v1::ExecutorMessage>* stream)
      override {
    if (connections_.fetch_add(1) > 0) {  // a redial after a break: the scenario is over
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "one connection only");
    }
    v1::ExecutorMessage in;
    if (!stream->Read(&in)) return grpc::Status(grpc::StatusCode::CANCELLED, "no hello");
    v1::SchedulerMessage out;
    out.mutable_welcome()->set_executor_id("e1");
    for (int i = 0; i < kAttempts; ++i) {
      v1::Assignment* a = out.add_assignments();
      a->set_task_id("t" + std::to_string(i));
      a->set_attempt(1);
      a->set_type("gate");
    }
    stream->Write(out);
    while (stream->Read(&in)) {
      if (in.has_drain() && !drain_read_.HasBeenNotified()) drain_read_.Notify();
      absl::MutexLock lock(&mu_);
      for (const v1::AttemptResult& r : in.results()) {
        results_.push_back({r.task_id(), r.outcome(), r.output().size()});
      }
    }
    closed_.Notify();  // the executor half-closed its side
    return grpc::Status::OK;
  }

  struct Result {
    std::string task_id;
    v1::AttemptOutcome outcome;
    size_t output_bytes;
  };
  std::vector<Result> results() {
    absl::MutexLock lock(&mu_);
    return results_;
  }

  absl::Notification drain_read_;
  absl::Notification closed_;

 private:
  std::atomic<int> connections_{0};
  absl::Mutex mu_;
  std::vector<Result> results_ ABSL_GUARDED_BY(mu_);
};

TEST(ExecutorDrainTest, ResultsOfAttemptsEndingDuringTheDrainReachTheSchedulerBeforeTheClose) {
  DrainingScheduler fake;
  int port = 0;
  std::unique_ptr<grpc::Server> server = ServeOnLoopback(fake, port);
  ASSERT_NE(server, nullptr);

  absl::Mutex mu;
  int started = 0;
  HandlerRegistry registry;
  ASSERT_TRUE(registry
                  .Register("gate",
                            [&](const TaskContext&) -> absl::StatusOr<std::string> {
                              {
                                absl::MutexLock lock(&mu);
                                ++started;
                              }
                              if (!fake.drain_read_.WaitForNotificationWithTimeout(kBound)) {
                                return absl::DeadlineExceededError("no drain came");
                              }
                              return std::string(kOutputBytes, 'x');
                            })
                  .ok());
  absl::StatusOr<std::unique_ptr<Executor>> executor =
      Executor::Start(OptionsForFakeScheduler(port, kAttempts), registry);
  ASSERT_TRUE(executor.ok()) << executor.status();
  {
    absl::MutexLock lock(&mu);
    auto all_started = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return started == kAttempts; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all_started), kBound))
        << "the attempts never all started";
  }

  EXPECT_TRUE((*executor)->Drain());
  ASSERT_TRUE(fake.closed_.WaitForNotificationWithTimeout(kBound)) << "the drain never closed";
  const std::vector<DrainingScheduler::Result> results = fake.results();
  ASSERT_EQ(results.size(), static_cast<size_t>(kAttempts)) << "a result was lost in the drain";
  for (const DrainingScheduler::Result& r : results) {
    EXPECT_EQ(r.outcome, v1::ATTEMPT_OUTCOME_SUCCEEDED) << r.task_id;
    EXPECT_EQ(r.output_bytes, kOutputBytes) << r.task_id;
  }

  executor->reset();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace
}  // namespace taskwire::executor
