// The executor's link fixes over real gRPC, against a scripted fake scheduler on
// 127.0.0.1:0 (the integration tier of attempt_table_test): a refusal as a duplicate or
// of a bad Hello stops the dialling and reports fatal; an oversized result fails its own
// attempt without breaking the link; a silent scheduler makes the executor redial; every
// dial carries the same incarnation; the Hello lists only the built-ins chosen. Waits are
// bounded and on events.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "executor/builtin_tasks.h"
#include "executor/executor.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "taskwire/v1/executor_link.grpc.pb.h"
#include "tests/unit/executor/fake_scheduler_server.h"

namespace taskwire::executor {
namespace {

using ::testing::HasSubstr;
using Stream = grpc::ServerReaderWriter<v1::SchedulerMessage, v1::ExecutorMessage>;

constexpr absl::Duration kBound = absl::Seconds(10);

// Runs `script` for each Connect after reading its Hello; records Hellos and results.
class ScriptedScheduler final : public v1::ExecutorLink::Service {
 public:
  using Script = std::function<grpc::Status(int connection, Stream* stream)>;
  explicit ScriptedScheduler(Script script) : script_(std::move(script)) {}

  grpc::Status Connect(grpc::ServerContext* /*context*/, Stream* stream) override {
    v1::ExecutorMessage hello;
    if (!stream->Read(&hello)) return grpc::Status(grpc::StatusCode::CANCELLED, "no hello");
    int connection;
    {
      absl::MutexLock lock(&mu_);
      hellos_.push_back(hello.hello());
      connection = static_cast<int>(hellos_.size());
    }
    return script_(connection, stream);
  }

  // Reads until the stream ends, recording results.
  void ReadAll(Stream* stream) {
    v1::ExecutorMessage in;
    while (stream->Read(&in)) {
      absl::MutexLock lock(&mu_);
      for (const v1::AttemptResult& r : in.results()) results_.push_back(r);
    }
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
  std::vector<v1::Hello> hellos() {
    absl::MutexLock lock(&mu_);
    return hellos_;
  }
  std::vector<v1::AttemptResult> results() {
    absl::MutexLock lock(&mu_);
    return results_;
  }

 private:
  const Script script_;
  absl::Mutex mu_;
  std::vector<v1::Hello> hellos_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::AttemptResult> results_ ABSL_GUARDED_BY(mu_);
};

class ExecutorLinkTest : public ::testing::Test {
 protected:
  void Serve(ScriptedScheduler::Script script) {
    fake_ = std::make_unique<ScriptedScheduler>(std::move(script));
    server_ = ServeOnLoopback(*fake_, port_);
    ASSERT_NE(server_, nullptr);
    ASSERT_TRUE(registry_
                    .Register("echo",
                              [](const TaskContext& ctx) -> absl::StatusOr<std::string> {
                                return ctx.payload;
                              })
                    .ok());
    // Returns more than a 1 MiB link can carry.
    ASSERT_TRUE(registry_
                    .Register("big",
                              [](const TaskContext&) -> absl::StatusOr<std::string> {
                                return std::string(2 << 20, 'x');
                              })
                    .ok());
  }
  void StartExecutor(ExecutorOptions options) {
    absl::StatusOr<std::unique_ptr<Executor>> executor = Executor::Start(options, registry_);
    ASSERT_TRUE(executor.ok()) << executor.status();
    executor_ = std::move(*executor);
  }
  ExecutorOptions Options() {
    ExecutorOptions options = OptionsForFakeScheduler(port_, /*thread_slots=*/2);
    options.min_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(50);
    return options;
  }
  void TearDown() override {
    executor_.reset();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }

  HandlerRegistry registry_;
  std::unique_ptr<ScriptedScheduler> fake_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<Executor> executor_;
};

v1::SchedulerMessage Welcome() {
  v1::SchedulerMessage m;
  m.mutable_welcome()->set_executor_id("e1");
  return m;
}

void Assign(v1::SchedulerMessage& m, const std::string& task_id, const std::string& type,
            std::string payload) {
  v1::Assignment* a = m.add_assignments();
  a->set_task_id(task_id);
  a->set_attempt(1);
  a->set_type(type);
  a->set_payload(std::move(payload));
}

TEST_F(ExecutorLinkTest, RefusedAsADuplicateItStopsDiallingAndReportsFatal) {
  Serve([](int, Stream*) {
    return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "executor e1 is connected");
  });
  ExecutorOptions options = Options();
  options.refused_id_grace = absl::ZeroDuration();
  StartExecutor(options);
  ASSERT_TRUE(executor_->WaitForFatal(kBound)) << "the refusal was not reported";
  const absl::Status fatal = executor_->fatal_status();
  EXPECT_EQ(fatal.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(fatal.message()),
              HasSubstr("executor id 'e1' is already connected to the scheduler (another "
                        "process uses --id e1); give each executor its own --id"));
  // The link's thread ends right after reporting: no dial can follow.
  EXPECT_EQ(fake_->hellos().size(), 1u);
  EXPECT_FALSE(executor_->connected());
}

// A restarted process is refused while the scheduler still holds its predecessor's
// half-open session; it dials on within the grace and gets in once that session is gone.
TEST_F(ExecutorLinkTest, AnIdRefusedForLessThanTheGraceIsDialledAgain) {
  Serve([this](int connection, Stream* stream) {
    if (connection <= 3) {
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "executor e1 is connected");
    }
    stream->Write(Welcome());
    fake_->ReadAll(stream);
    return grpc::Status::OK;
  });
  ExecutorOptions options = Options();
  options.refused_id_grace = absl::Seconds(30);
  StartExecutor(options);
  ASSERT_TRUE(executor_->WaitUntilLinked(kBound)) << "never let in after the refusals";
  EXPECT_FALSE(executor_->WaitForFatal(absl::ZeroDuration()));
  EXPECT_GE(fake_->hellos().size(), 4u);
}

TEST_F(ExecutorLinkTest, AHelloRefusedAsInvalidIsFatal) {
  Serve([](int, Stream*) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "slots must be at least 1");
  });
  StartExecutor(Options());
  ASSERT_TRUE(executor_->WaitForFatal(kBound));
  EXPECT_EQ(executor_->fatal_status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(executor_->fatal_status().message()),
              HasSubstr("slots must be at least 1"));
  EXPECT_EQ(fake_->hellos().size(), 1u);
}

// What --builtins leaves out is not announced, so the scheduler never assigns it here.
TEST_F(ExecutorLinkTest, TheHelloAnnouncesOnlyTheChosenBuiltins) {
  Serve([this](int, Stream* stream) {
    stream->Write(Welcome());
    fake_->ReadAll(stream);
    return grpc::Status::OK;
  });
  BuiltinOptions builtins;
  absl::StatusOr<std::vector<std::string>> types = ParseBuiltinList("sha256,sleep");
  ASSERT_TRUE(types.ok()) << types.status();
  builtins.types = *types;
  ASSERT_TRUE(RegisterBuiltinTasks(registry_, builtins).ok());
  StartExecutor(Options());
  ASSERT_TRUE(fake_->AwaitHellos(1));
  const std::vector<v1::Hello> hellos = fake_->hellos();
  std::vector<std::string> announced;
  for (const v1::TaskTypeInfo& t : hellos[0].task_types()) announced.push_back(t.name());
  // echo and big are the fixture's own handlers.
  EXPECT_THAT(announced, ::testing::UnorderedElementsAre("big", "echo", "sha256", "sleep"));
}

TEST_F(ExecutorLinkTest, AnOtherRefusalIsRetriedAndEveryDialCarriesTheSameIncarnation) {
  Serve([this](int connection, Stream* stream) {
    if (connection < 3) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not yet");
    stream->Write(Welcome());
    fake_->ReadAll(stream);
    return grpc::Status::OK;
  });
  StartExecutor(Options());
  ASSERT_TRUE(executor_->WaitUntilLinked(kBound));
  EXPECT_FALSE(executor_->WaitForFatal(absl::ZeroDuration()));
  const std::vector<v1::Hello> hellos = fake_->hellos();
  ASSERT_EQ(hellos.size(), 3u);
  EXPECT_EQ(hellos[0].incarnation().size(), 16u);
  EXPECT_EQ(hellos[0].incarnation(), executor_->incarnation());
  EXPECT_EQ(hellos[1].incarnation(), hellos[0].incarnation());
  EXPECT_EQ(hellos[2].incarnation(), hellos[0].incarnation());
}

TEST_F(ExecutorLinkTest, AnOversizedResultFailsItsAttemptAndTheLinkCarriesOn) {
  constexpr int kLimit = 1 << 20;
  Serve([this](int connection, Stream* stream) {
    v1::SchedulerMessage m = Welcome();
    if (connection == 1) {
      Assign(m, "big", "big", "");
      Assign(m, "small", "echo", "ok");
    }
    stream->Write(m);
    fake_->ReadAll(stream);
    return grpc::Status::OK;
  });
  ExecutorOptions options = Options();
  options.max_message_bytes = kLimit;
  StartExecutor(options);
  ASSERT_TRUE(fake_->AwaitResults(2)) << "results lost";
  std::vector<v1::AttemptResult> results = fake_->results();
  ASSERT_EQ(results.size(), 2u);
  if (results[0].task_id() != "big") std::swap(results[0], results[1]);
  EXPECT_EQ(results[0].task_id(), "big");
  EXPECT_EQ(results[0].outcome(), v1::ATTEMPT_OUTCOME_FAILED);
  EXPECT_TRUE(results[0].output().empty());
  EXPECT_THAT(results[0].error(), HasSubstr("exceeds the link's message limit of 1,048,576"));
  EXPECT_EQ(results[1].task_id(), "small");
  EXPECT_EQ(results[1].outcome(), v1::ATTEMPT_OUTCOME_SUCCEEDED);
  EXPECT_EQ(fake_->hellos().size(), 1u) << "the link broke";
}

TEST_F(ExecutorLinkTest, ASilentSchedulerPastItsLeaseMakesTheExecutorRedial) {
  // The first connection welcomes with a short lease and then says nothing (as a
  // black-holed connection would); the executor must give up on it and dial again.
  Serve([this](int connection, Stream* stream) {
    v1::SchedulerMessage m = Welcome();
    ToProto(absl::Milliseconds(200), m.mutable_welcome()->mutable_lease());
    ToProto(absl::Milliseconds(20), m.mutable_welcome()->mutable_heartbeat_interval());
    stream->Write(m);
    if (connection == 1) {
      fake_->ReadAll(stream);  // never answers; ends when the executor cancels
      return grpc::Status::OK;
    }
    // Later connections answer every heartbeat.
    v1::ExecutorMessage in;
    v1::SchedulerMessage ack;
    ack.mutable_heartbeat_ack();
    while (stream->Read(&in)) {
      if (in.has_heartbeat()) stream->Write(ack);
    }
    return grpc::Status::OK;
  });
  StartExecutor(Options());
  ASSERT_TRUE(fake_->AwaitHellos(2)) << "the executor never gave up on the silent scheduler";
  EXPECT_TRUE(executor_->WaitUntilLinked(kBound));
}

TEST_F(ExecutorLinkTest, AHealthAddressAlreadyTakenIsAStartUpError) {
  Serve([this](int, Stream* stream) {
    stream->Write(Welcome());
    fake_->ReadAll(stream);
    return grpc::Status::OK;
  });
  ExecutorOptions options = Options();
  options.health_listen = "127.0.0.1:0";
  StartExecutor(options);
  ASSERT_FALSE(executor_->health_address().empty());

  ExecutorOptions second = Options();
  second.executor_id = "e2";
  second.health_listen = executor_->health_address();
  absl::StatusOr<std::unique_ptr<Executor>> other = Executor::Start(second, registry_);
  EXPECT_FALSE(other.ok()) << "two executors share the health port " << second.health_listen;
}

}  // namespace
}  // namespace taskwire::executor
