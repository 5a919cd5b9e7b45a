// The KEDA external scaler, called the way KEDA calls it: a scheduler in process on
// 127.0.0.1:0 with its --keda-listen port, real executors over loopback, and the generated
// externalscaler.ExternalScaler stub sending ScaledObjectRefs with trigger metadata.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executor/builtin_tasks.h"
#include "executor/executor.h"
#include "externalscaler/externalscaler.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "scheduler/scheduler_server.h"
#include "scheduler/service/keda_scaler_service.h"
#include "taskwire/v1/scheduler.grpc.pb.h"

namespace taskwire {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kBound = absl::Seconds(20);  // no test waits longer for anything

class KedaScalerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(executor::RegisterBuiltinTasks(registry_).ok());
    scheduler::SchedulerServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "";
    options.keda_listen = "127.0.0.1:0";
    auto server = scheduler::SchedulerServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_FALSE(server_->keda_address().empty());
    stub_ = v1::Scheduler::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
    keda_ = externalscaler::ExternalScaler::NewStub(
        grpc::CreateChannel(server_->keda_address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    executors_.clear();  // cancels the sleeps they still run
    if (server_) server_->Shutdown();
  }

  // An executor serving `queue` with `slots` thread slots (and the default event-loop ones).
  executor::Executor& StartExecutor(const std::string& id, uint32_t slots,
                                    const std::string& queue) {
    executor::ExecutorOptions options;
    options.scheduler = server_->address();
    options.executor_id = id;
    options.queues = {queue};
    options.thread_slots = slots;
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

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + kBound));
    return ctx;
  }

  // A ScaledObjectRef as KEDA sends it: the trigger's whole metadata, scalerAddress too.
  externalscaler::ScaledObjectRef Ref(const std::map<std::string, std::string>& metadata) {
    externalscaler::ScaledObjectRef ref;
    ref.set_name("taskwire-executor");
    ref.set_namespace_("taskwire");
    (*ref.mutable_scalermetadata())["scalerAddress"] = server_->keda_address();
    for (const auto& [key, value] : metadata) (*ref.mutable_scalermetadata())[key] = value;
    return ref;
  }

  // What KEDA reads for one trigger: activity, the metric's spec and its value.
  struct Reading {
    grpc::Status status;
    bool active = false;
    std::string spec_name;
    int64_t target = 0;
    double target_float = 0;
    std::string value_name;
    int64_t value = 0;
    double value_float = 0;
  };

  Reading Read(const externalscaler::ScaledObjectRef& ref) {
    Reading r;
    externalscaler::IsActiveResponse active;
    r.status = keda_->IsActive(Context().get(), ref, &active);
    if (!r.status.ok()) return r;
    r.active = active.result();
    externalscaler::GetMetricSpecResponse spec;
    r.status = keda_->GetMetricSpec(Context().get(), ref, &spec);
    if (!r.status.ok()) return r;
    EXPECT_EQ(spec.metricspecs_size(), 1);
    if (spec.metricspecs_size() != 1) return r;
    r.spec_name = spec.metricspecs(0).metricname();
    r.target = spec.metricspecs(0).targetsize();
    r.target_float = spec.metricspecs(0).targetsizefloat();
    externalscaler::GetMetricsRequest metrics_request;
    *metrics_request.mutable_scaledobjectref() = ref;
    metrics_request.set_metricname(r.spec_name);  // KEDA strips its "s<N>-" prefix first
    externalscaler::GetMetricsResponse metrics;
    r.status = keda_->GetMetrics(Context().get(), metrics_request, &metrics);
    if (!r.status.ok()) return r;
    EXPECT_EQ(metrics.metricvalues_size(), 1);
    if (metrics.metricvalues_size() != 1) return r;
    r.value_name = metrics.metricvalues(0).metricname();
    r.value = metrics.metricvalues(0).metricvalue();
    r.value_float = metrics.metricvalues(0).metricvaluefloat();
    return r;
  }

  std::vector<std::string> Submit(const std::string& type, const std::string& payload,
                                  const std::string& queue, int count) {
    v1::SubmitBatchRequest batch;
    for (int i = 0; i < count; ++i) {
      v1::TaskSpec* spec = batch.add_tasks();
      spec->set_type(type);
      spec->set_payload(payload);
      spec->set_queue(queue);
    }
    v1::SubmitBatchResponse ids;
    grpc::Status s = stub_->SubmitBatch(Context().get(), batch, &ids);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {ids.task_ids().begin(), ids.task_ids().end()};
  }

  void Cancel(const std::vector<std::string>& ids) {
    for (const std::string& id : ids) {
      v1::CancelTaskRequest req;
      req.set_task_id(id);
      v1::CancelTaskResponse resp;
      grpc::Status s = stub_->CancelTask(Context().get(), req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
  }

  // Blocks until the watch has reported `count` distinct tasks RUNNING.
  void AwaitRunning(grpc::ClientReader<v1::WatchTasksResponse>& watch, size_t count) {
    std::set<std::string> running;
    v1::WatchTasksResponse resp;
    while (running.size() < count && watch.Read(&resp)) {
      for (const v1::TaskEvent& e : resp.events()) {
        if (e.state() == v1::TASK_STATE_RUNNING) running.insert(e.task_id());
      }
    }
    ASSERT_EQ(running.size(), count) << "the watch ended first";
  }

  executor::HandlerRegistry registry_;
  std::unique_ptr<scheduler::SchedulerServer> server_;
  std::unique_ptr<v1::Scheduler::Stub> stub_;
  std::unique_ptr<externalscaler::ExternalScaler::Stub> keda_;
  std::vector<std::unique_ptr<executor::Executor>> executors_;
};

TEST_F(KedaScalerTest, AnEmptyQueueIsInactiveWithValueZeroAndTheDefaultTarget) {
  const Reading r = Read(Ref({{"queue", "Video_Encode.v2"}}));

  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_FALSE(r.active);
  EXPECT_EQ(r.value, 0);
  EXPECT_EQ(r.value_float, 0);
  // Lowercase letters, digits and '-' only: Kubernetes takes the name in URL paths.
  EXPECT_EQ(r.spec_name, "taskwire-video-encode-v2");
  EXPECT_EQ(r.value_name, r.spec_name);
  EXPECT_EQ(r.target, 1);  // no executor serves the queue to say otherwise
  EXPECT_EQ(r.target_float, 1);
}

TEST_F(KedaScalerTest, ABusyQueueCountsRunningAndWaitingTasksAgainstTheExecutorsSlots) {
  StartExecutor("busy-1", /*slots=*/2, "busy");
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(absl::ToChronoTime(absl::Now() + kBound));
  v1::WatchTasksRequest watch_request;
  watch_request.set_queue("busy");
  auto watch = stub_->WatchTasks(&watch_ctx, watch_request);
  watch->WaitForInitialMetadata();  // subscribed: every later event reaches it
  const std::vector<std::string> ids = Submit("thread.sleep", "60000", "busy", 5);
  AwaitRunning(*watch, 2);  // one per thread slot; three wait
  watch_ctx.TryCancel();

  const scheduler::QueueLoad load = server_->core().LoadOfQueue("busy");
  EXPECT_EQ(load.running, 2u);
  EXPECT_EQ(load.waiting, 3u);
  const Reading r = Read(Ref({{"queue", "busy"}}));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_TRUE(r.active);
  EXPECT_EQ(r.value, 5);
  EXPECT_EQ(r.value_float, 5);
  EXPECT_EQ(r.spec_name, "taskwire-busy");
  // Its two thread slots; its 10,000 event-loop slots would never let a backlog scale out.
  EXPECT_EQ(r.target, 2);

  const Reading given = Read(Ref({{"queue", "busy"}, {"tasksPerReplica", "4"}}));
  ASSERT_TRUE(given.status.ok()) << given.status.error_message();
  EXPECT_EQ(given.target, 4);
  EXPECT_EQ(given.target_float, 4);
  EXPECT_EQ(given.value, 5);

  // Active only past activationTasks: 5 > 4, not 5 > 5.
  EXPECT_TRUE(Read(Ref({{"queue", "busy"}, {"activationTasks", "4"}})).active);
  const Reading at_threshold = Read(Ref({{"queue", "busy"}, {"activationTasks", "5"}}));
  ASSERT_TRUE(at_threshold.status.ok()) << at_threshold.status.error_message();
  EXPECT_FALSE(at_threshold.active);
  EXPECT_EQ(at_threshold.value, 5);  // the metric does not change with the threshold

  // Cancelled here, the waiting ones cannot reach the executor while it shuts down.
  Cancel(ids);
  EXPECT_EQ(Read(Ref({{"queue", "busy"}})).value, 0);
}

TEST_F(KedaScalerTest, TasksOfATypeNoExecutorServesCountAndKeepTheQueueActive) {
  StartExecutor("orphans-1", /*slots=*/3, "orphans");
  Submit("nobody.serves.this", "", "orphans", 3);

  const Reading r = Read(Ref({{"queue", "orphans"}}));

  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_TRUE(r.active);
  EXPECT_EQ(r.value, 3);
  EXPECT_EQ(r.target, 3);
  const scheduler::QueueLoad load = server_->core().LoadOfQueue("orphans");
  EXPECT_EQ(load.waiting_unserved, 3u);
  EXPECT_EQ(load.running, 0u);
}

TEST_F(KedaScalerTest, MetadataWithoutAQueueOrWithABadNumberIsAnInvalidArgument) {
  const externalscaler::ScaledObjectRef no_queue = Ref({});
  externalscaler::IsActiveResponse active;
  grpc::Status s = keda_->IsActive(Context().get(), no_queue, &active);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("queue"));
  externalscaler::GetMetricSpecResponse spec;
  s = keda_->GetMetricSpec(Context().get(), no_queue, &spec);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  externalscaler::GetMetricsRequest metrics_request;
  *metrics_request.mutable_scaledobjectref() = no_queue;
  externalscaler::GetMetricsResponse metrics;
  s = keda_->GetMetrics(Context().get(), metrics_request, &metrics);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto ctx = Context();
  auto stream = keda_->StreamIsActive(ctx.get(), no_queue);
  externalscaler::IsActiveResponse message;
  EXPECT_FALSE(stream->Read(&message));
  s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("queue"));

  for (const char* bad : {"0", "-2", "many", "1.5"}) {
    s = keda_->IsActive(Context().get(), Ref({{"queue", "q"}, {"tasksPerReplica", bad}}),
                        &active);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_THAT(s.error_message(), HasSubstr("tasksPerReplica")) << bad;
  }
  s = keda_->IsActive(Context().get(), Ref({{"queue", "q"}, {"activationTasks", "-1"}}), &active);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("activationTasks"));
  s = keda_->IsActive(Context().get(), Ref({{"queue", "no spaces"}}), &active);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KedaScalerTest, StreamIsActiveSendsTrueWhenTasksArriveAndFalseOnceTheyEnd) {
  auto ctx = Context();  // every Read below ends by this deadline at the latest
  auto stream = keda_->StreamIsActive(ctx.get(), Ref({{"queue", "stream"}}));
  externalscaler::IsActiveResponse message;
  ASSERT_TRUE(stream->Read(&message));  // the first value comes at once
  EXPECT_FALSE(message.result());

  // No executor serves the queue yet: the task waits, and the queue is active.
  const std::string id = Submit("echo", "hello", "stream", 1).at(0);
  ASSERT_TRUE(stream->Read(&message));
  EXPECT_TRUE(message.result());

  // An executor comes (as KEDA's scale-up would bring one), runs it, and the queue idles.
  StartExecutor("stream-1", /*slots=*/1, "stream");
  ASSERT_TRUE(stream->Read(&message));
  EXPECT_FALSE(message.result());
  v1::WaitTaskRequest wait;
  wait.set_task_id(id);
  v1::Task task;
  ASSERT_TRUE(stub_->WaitTask(Context().get(), wait, &task).ok());
  EXPECT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED);

  ctx->TryCancel();
  EXPECT_FALSE(stream->Read(&message));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(KedaScalerTest, ShutdownEndsAnOpenStream) {
  auto ctx = Context();
  auto stream = keda_->StreamIsActive(ctx.get(), Ref({{"queue", "stream"}}));
  externalscaler::IsActiveResponse message;
  ASSERT_TRUE(stream->Read(&message));

  const absl::Time start = absl::Now();
  server_->Shutdown();

  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_FALSE(stream->Read(&message));
  const grpc::Status s = stream->Finish();
  // Ended by the scheduler, not cancelled by the server's shutdown deadline.
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("stopping"));
}

// A KedaScalerService of its own on a port of its own, whose leader flag the test sets.
class KedaStandbyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scheduler::SchedulerServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "";
    auto server = scheduler::SchedulerServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    scheduler_ = std::move(*server);
    scheduler::KedaScalerOptions keda_options;
    keda_options.poll_interval = absl::Milliseconds(20);
    service_ = std::make_unique<scheduler::KedaScalerService>(
        scheduler_->core(), [this] { return leader_.load(); }, keda_options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    stub_ = externalscaler::ExternalScaler::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (service_) service_->Stop();
    if (server_) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    service_.reset();  // after its server
    if (scheduler_) scheduler_->Shutdown();
  }

  externalscaler::ScaledObjectRef Ref() {
    externalscaler::ScaledObjectRef ref;
    (*ref.mutable_scalermetadata())["queue"] = "default";
    return ref;
  }

  std::atomic<bool> leader_{true};
  std::unique_ptr<scheduler::SchedulerServer> scheduler_;
  std::unique_ptr<scheduler::KedaScalerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<externalscaler::ExternalScaler::Stub> stub_;
};

TEST_F(KedaStandbyTest, AStandbyAnswersUnavailable) {
  leader_ = false;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kBound));
  externalscaler::IsActiveResponse active;

  grpc::Status s = stub_->IsActive(&ctx, Ref(), &active);

  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("standby"));
}

TEST_F(KedaStandbyTest, AStreamEndsUnavailableWhenTheSchedulerStopsLeading) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kBound));
  auto stream = stub_->StreamIsActive(&ctx, Ref());
  externalscaler::IsActiveResponse message;
  ASSERT_TRUE(stream->Read(&message));
  EXPECT_FALSE(message.result());

  leader_ = false;

  EXPECT_FALSE(stream->Read(&message));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("standby"));
}

}  // namespace
}  // namespace taskwire
