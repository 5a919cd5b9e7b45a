// In-process integration of standby schedulers: two real schedulers on one real PostgreSQL
// 15 (started by the test in a temporary directory), a real executor and a client that both
// know the two addresses, all over gRPC on 127.0.0.1. One scheduler leads, the other
// refuses calls naming it; when the leader stops, the standby takes over, the executor's
// running attempt goes on, and clients follow. A leader whose lease is taken steps down
// and cannot write. Skipped, with the reason, where PostgreSQL 15 is not installed.
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "client/client.h"
#include "executor/builtin_tasks.h"
#include "executor/executor.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "scheduler/scheduler_server.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/postgres_server.h"
#include "tests/unit/store/store_test_util.h"

namespace taskwire {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr absl::Duration kBound = absl::Seconds(30);  // no test waits longer for anything

// Polls `done` until it holds or kBound passes.
template <typename Predicate>
bool Eventually(Predicate done) {
  const absl::Time deadline = absl::Now() + kBound;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return done();
}

class FailoverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new scheduler::testing::TempDir;
    absl::StatusOr<std::unique_ptr<testing::PostgresServer>> pg =
        testing::PostgresServer::Start(dir_->path());
    if (pg.ok()) {
      postgres_ = pg->release();
    } else {
      why_not_ = new std::string(pg.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete postgres_;
    postgres_ = nullptr;
    delete dir_;
  }

  void SetUp() override {
    if (postgres_ == nullptr) GTEST_SKIP() << "no PostgreSQL 15 to test against: " << *why_not_;
    ASSERT_TRUE(executor::RegisterBuiltinTasks(registry_).ok());
    absl::StatusOr<std::string> url =
        postgres_->CreateDatabase(absl::StrCat("failover", ++databases_));
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
  }

  void TearDown() override {
    executors_.clear();
    for (auto& s : schedulers_) {
      if (s) s->Shutdown();
    }
  }

  scheduler::SchedulerServer& StartScheduler() {
    scheduler::SchedulerServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "";
    options.store = "postgres";
    options.postgres_url = url_;
    options.leader_lease = absl::Seconds(1);
    options.core.executor_timeout = absl::Seconds(5);
    options.core.heartbeat_interval = absl::Milliseconds(500);
    options.on_lost_leadership = [this](const std::string& reason) {
      absl::MutexLock lock(&mu_);
      lost_.push_back(reason);
    };
    auto server = scheduler::SchedulerServer::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    schedulers_.push_back(std::move(*server));
    return *schedulers_.back();
  }

  executor::Executor& StartExecutor(const std::string& target) {
    executor::ExecutorOptions options;
    options.scheduler = target;
    options.executor_id = "e1";
    options.thread_slots = 4;
    options.health_listen = "";
    options.metrics_listen = "";
    options.min_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    auto e = executor::Executor::Start(options, registry_);
    EXPECT_TRUE(e.ok()) << e.status();
    EXPECT_TRUE((*e)->WaitUntilLinked(kBound));
    executors_.push_back(std::move(*e));
    return *executors_.back();
  }

  static grpc::health::v1::HealthCheckResponse::ServingStatus Health(
      const std::string& address, const std::string& service) {
    auto stub = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    grpc::Status s = stub->Check(&ctx, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.status();
  }

  static v1::TaskSpec Spec(const std::string& type, const std::string& payload) {
    v1::TaskSpec spec;
    spec.set_type(type);
    spec.set_payload(payload);
    return spec;
  }

  std::vector<std::string> Lost() {
    absl::MutexLock lock(&mu_);
    return lost_;
  }

  static scheduler::testing::TempDir* dir_;
  static testing::PostgresServer* postgres_;
  static std::string* why_not_;
  static int databases_;

  std::string url_;
  executor::HandlerRegistry registry_;
  std::vector<std::unique_ptr<scheduler::SchedulerServer>> schedulers_;
  std::vector<std::unique_ptr<executor::Executor>> executors_;
  absl::Mutex mu_;
  std::vector<std::string> lost_ ABSL_GUARDED_BY(mu_);
};

scheduler::testing::TempDir* FailoverTest::dir_ = nullptr;
testing::PostgresServer* FailoverTest::postgres_ = nullptr;
std::string* FailoverTest::why_not_ = nullptr;
int FailoverTest::databases_ = 0;

TEST_F(FailoverTest, TheStandbyTakesOverAndTheRunningAttemptGoesOn) {
  scheduler::SchedulerServer& a = StartScheduler();
  ASSERT_TRUE(Eventually([&] { return a.leader(); })) << "the first scheduler never led";
  scheduler::SchedulerServer& b = StartScheduler();
  EXPECT_FALSE(b.leader());

  // Readiness says who leads; liveness says both run.
  EXPECT_EQ(Health(a.address(), "taskwire.v1.Scheduler"),
            grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(Health(b.address(), "taskwire.v1.Scheduler"),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Health(b.address(), ""), grpc::health::v1::HealthCheckResponse::SERVING);

  // The standby refuses calls, naming the leader.
  client::Client only_b(client::ClientOptions{.target = b.address()});
  absl::StatusOr<std::string> refused = only_b.Submit(Spec("echo", "x"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(),
              AllOf(HasSubstr("standby"), HasSubstr(a.address()), HasSubstr("term 1")));

  // A client and an executor that know both addresses reach the leader.
  const std::string both = absl::StrCat(b.address(), ",", a.address());
  StartExecutor(both);
  client::Client client(client::ClientOptions{.target = both});
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<v1::SubmitResponse> r =
        client.SubmitAndWait(Spec("echo", absl::StrCat("before-", i)), kBound);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->task().state(), v1::TASK_STATE_SUCCEEDED);
  }
  // An attempt that runs across the takeover (the old leader ends streams after 2 s).
  absl::StatusOr<std::string> long_task = client.Submit(Spec("thread.sleep", "4000"));
  ASSERT_TRUE(long_task.ok()) << long_task.status();
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<v1::Task> t = client.GetTask(*long_task);
    return t.ok() && t->state() == v1::TASK_STATE_RUNNING;
  }));

  a.Shutdown();  // releases the lease after its last write
  ASSERT_TRUE(Eventually([&] { return b.leader(); })) << "the standby never took over";
  EXPECT_EQ(Health(b.address(), "taskwire.v1.Scheduler"),
            grpc::health::v1::HealthCheckResponse::SERVING);

  // The executor reconnected with its running attempt, which ends once, not LOST.
  absl::StatusOr<v1::Task> done = client.WaitTask(*long_task, kBound);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(done->attempts_size(), 1);

  // Clients follow: new work goes to the new leader, old work is found there.
  absl::StatusOr<v1::SubmitResponse> after = client.SubmitAndWait(Spec("echo", "after"), kBound);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->task().output(), "after");
  EXPECT_TRUE(Lost().empty());
}

// Someone else takes the lease (as a standby would once this leader's lease ran out while
// it was paused): the leader's next renewal finds out and steps down, and from the moment
// the term moved on, none of its writes is stored.
TEST_F(FailoverTest, ALeaderWhoseLeaseIsTakenStepsDownAndCannotWrite) {
  scheduler::SchedulerServer& a = StartScheduler();
  ASSERT_TRUE(Eventually([&] { return a.leader(); }));
  {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    tx.exec("UPDATE scheduler_lease SET owner = 'thief', advertise = 'thief:1', "
            "term = term + 1, expires_at = now() + interval '1 hour'");
  }
  client::Client client(client::ClientOptions{.target = a.address()});
  absl::StatusOr<std::string> ghost = client.Submit(Spec("echo", "ghost"));
  ASSERT_TRUE(Eventually([&] { return !Lost().empty(); })) << "the leader never stepped down";
  EXPECT_THAT(Lost()[0], HasSubstr("another scheduler took the lease: thief:1 (term 2)"));
  EXPECT_FALSE(a.leader());
  EXPECT_EQ(Health(a.address(), "taskwire.v1.Scheduler"),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  // A submit that raced the renewal was refused by the fence, never acknowledged.
  if (!ghost.ok()) {
    EXPECT_THAT(ghost.status().message(), AnyOf(HasSubstr("fenced"), HasSubstr("lost")));
  }
  pqxx::connection c(url_);
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM tasks")[0].as<int>(), ghost.ok() ? 1 : 0);
  EXPECT_EQ(client.Submit(Spec("echo", "late")).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace taskwire
