// In-process integration: a real scheduler and real executors talking gRPC over loopback
// (127.0.0.1:0), driven through the generated client stub.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "client/client.h"
#include "executor/builtin_tasks.h"
#include "executor/executor.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "scheduler/scheduler_server.h"
#include "taskwire/v1/executor_link.grpc.pb.h"
#include "taskwire/v1/scheduler.grpc.pb.h"
#include "tests/integration/tcp_proxy.h"

namespace taskwire {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kBound = absl::Seconds(20);  // no test waits longer for anything

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(executor::RegisterBuiltinTasks(registry_).ok());
    scheduler::SchedulerServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "";
    options.core.limits.max_payload_bytes = 1 << 20;
    auto server = scheduler::SchedulerServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::Scheduler::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    executors_.clear();
    server_->Shutdown();
  }

  executor::Executor& StartExecutor(const std::string& id, uint32_t slots,
                                    const std::string& target = "") {
    executor::ExecutorOptions options;
    options.scheduler = target.empty() ? server_->address() : target;
    options.executor_id = id;
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

  std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = kBound) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return ctx;
  }

  std::string Submit(const std::string& type, const std::string& payload) {
    v1::SubmitRequest req;
    req.mutable_task()->set_type(type);
    req.mutable_task()->set_payload(payload);
    v1::SubmitResponse resp;
    grpc::Status s = stub_->Submit(Context().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.task_id();
  }

  v1::Task Wait(const std::string& id) {
    v1::WaitTaskRequest req;
    req.set_task_id(id);
    v1::Task task;
    grpc::Status s = stub_->WaitTask(Context().get(), req, &task);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return task;
  }

  // Blocks until the watch stream reports `state` for task `id`.
  void AwaitState(grpc::ClientReader<v1::WatchTasksResponse>& watch, const std::string& id,
                  v1::TaskState state) {
    v1::WatchTasksResponse resp;
    while (watch.Read(&resp)) {
      for (const v1::TaskEvent& e : resp.events()) {
        if (e.task_id() == id && e.state() == state) return;
      }
    }
    FAIL() << "watch ended before task " << id << " reached " << v1::TaskState_Name(state);
  }

  executor::HandlerRegistry registry_;
  std::unique_ptr<scheduler::SchedulerServer> server_;
  std::unique_ptr<v1::Scheduler::Stub> stub_;
  std::vector<std::unique_ptr<executor::Executor>> executors_;
};

TEST_F(ClusterTest, ThousandTasksAllSucceedAcrossTwoExecutors) {
  StartExecutor("a", 8);
  StartExecutor("b", 8);
  v1::SubmitBatchRequest batch;
  for (int i = 0; i < 1000; ++i) {
    v1::TaskSpec* spec = batch.add_tasks();
    spec->set_type("echo");
    spec->set_payload(absl::StrCat("payload-", i));
  }
  v1::SubmitBatchResponse ids;
  ASSERT_TRUE(stub_->SubmitBatch(Context().get(), batch, &ids).ok());
  ASSERT_EQ(ids.task_ids_size(), 1000);

  std::map<std::string, int> per_executor;
  for (int i = 0; i < 1000; ++i) {
    v1::Task task = Wait(ids.task_ids(i));
    ASSERT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED) << task.DebugString();
    EXPECT_EQ(task.output(), absl::StrCat("payload-", i));
    ASSERT_EQ(task.attempts_size(), 1);
    ++per_executor[task.attempts(0).executor_id()];
  }
  EXPECT_GT(per_executor["a"], 0);
  EXPECT_GT(per_executor["b"], 0);
}

TEST_F(ClusterTest, CancelStopsARunningSleepAndFreesTheSlot) {
  StartExecutor("only", 1);
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(absl::ToChronoTime(absl::Now() + kBound));
  auto watch = stub_->WatchTasks(&watch_ctx, v1::WatchTasksRequest());
  watch->WaitForInitialMetadata();  // the scheduler sends it once the watch is subscribed
  const std::string id = Submit("thread.sleep", "60000");
  AwaitState(*watch, id, v1::TASK_STATE_RUNNING);

  v1::CancelTaskRequest cancel;
  cancel.set_task_id(id);
  v1::CancelTaskResponse cancelled;
  ASSERT_TRUE(stub_->CancelTask(Context().get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), v1::TASK_STATE_CANCELLED);
  EXPECT_EQ(Wait(id).state(), v1::TASK_STATE_CANCELLED);

  // The executor has one slot: the next task runs only once the sleep gave it back.
  const absl::Time start = absl::Now();
  v1::Task next = Wait(Submit("echo", "after"));
  EXPECT_EQ(next.state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  watch_ctx.TryCancel();
}

TEST_F(ClusterTest, CutStreamRequeuesTheTaskOnAnotherExecutor) {
  const int port = std::stoi(server_->address().substr(server_->address().rfind(':') + 1));
  testing::TcpProxy proxy(port);
  StartExecutor("flaky", 1, proxy.address());
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(absl::ToChronoTime(absl::Now() + kBound));
  auto watch = stub_->WatchTasks(&watch_ctx, v1::WatchTasksRequest());
  watch->WaitForInitialMetadata();  // the scheduler sends it once the watch is subscribed
  const std::string id = Submit("thread.sleep", "300");
  AwaitState(*watch, id, v1::TASK_STATE_RUNNING);

  proxy.Cut(/*refuse_new=*/true);  // the stream breaks mid-task
  AwaitState(*watch, id, v1::TASK_STATE_QUEUED);
  StartExecutor("steady", 1);

  v1::Task task = Wait(id);
  ASSERT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(task.attempts_size(), 2);
  EXPECT_EQ(task.attempts(0).executor_id(), "flaky");
  EXPECT_EQ(task.attempts(0).outcome(), v1::ATTEMPT_OUTCOME_LOST);
  EXPECT_EQ(task.attempts(1).executor_id(), "steady");
  EXPECT_EQ(task.output(), "slept 300 ms");
  watch_ctx.TryCancel();
}

TEST_F(ClusterTest, ExecutorReconnectsToARestartedScheduler) {
  executor::Executor& e = StartExecutor("survivor", 2);
  const std::string address = server_->address();
  server_->Shutdown();
  server_.reset();

  scheduler::SchedulerServerOptions options;
  options.listen = address;  // same port: the executor keeps dialling it
  options.metrics_listen = "";
  auto restarted = scheduler::SchedulerServer::Start(options);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  server_ = std::move(*restarted);
  stub_ = v1::Scheduler::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));

  ASSERT_TRUE(e.WaitUntilLinked(kBound));
  v1::Task task = Wait(Submit("echo", "back again"));
  EXPECT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(task.attempts(0).executor_id(), "survivor");
}

TEST_F(ClusterTest, WaitTaskAnswersWithTheCurrentStateWhenItsTimeoutPasses) {
  const std::string id = Submit("nobody.serves.this", "");
  v1::WaitTaskRequest req;
  req.set_task_id(id);
  req.mutable_timeout()->set_nanos(100'000'000);
  v1::Task task;
  ASSERT_TRUE(stub_->WaitTask(Context().get(), req, &task).ok());
  EXPECT_EQ(task.state(), v1::TASK_STATE_QUEUED);
  EXPECT_THAT(task.waiting_reason(), HasSubstr("nobody.serves.this"));
}

TEST_F(ClusterTest, SubmitThatWaitsAnswersWithTheFinishedTask) {
  StartExecutor("a", 2);
  v1::SubmitRequest req;
  req.mutable_task()->set_type("echo");
  req.mutable_task()->set_payload("one round trip");
  req.mutable_task()->set_idempotency_key("k1");
  req.mutable_wait()->set_seconds(20);
  v1::SubmitResponse resp;
  ASSERT_TRUE(stub_->Submit(Context().get(), req, &resp).ok());
  ASSERT_TRUE(resp.has_task());
  EXPECT_EQ(resp.task().id(), resp.task_id());
  EXPECT_EQ(resp.task().state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(resp.task().output(), "one round trip");
  EXPECT_FALSE(resp.existing());

  // The same key again: the first task, already finished, with its result.
  v1::SubmitResponse again;
  ASSERT_TRUE(stub_->Submit(Context().get(), req, &again).ok());
  EXPECT_TRUE(again.existing());
  EXPECT_EQ(again.task_id(), resp.task_id());
  EXPECT_EQ(again.task().output(), "one round trip");

  // Without `wait`, Submit answers at once and carries no task.
  req.clear_wait();
  req.mutable_task()->clear_idempotency_key();
  v1::SubmitResponse plain;
  ASSERT_TRUE(stub_->Submit(Context().get(), req, &plain).ok());
  EXPECT_FALSE(plain.has_task());
}

TEST_F(ClusterTest, SubmitThatWaitsAnswersWithTheCurrentStateWhenTheWaitRunsOut) {
  v1::SubmitRequest req;
  req.mutable_task()->set_type("nobody.serves.this");
  req.mutable_wait()->set_nanos(100'000'000);
  v1::SubmitResponse resp;
  ASSERT_TRUE(stub_->Submit(Context().get(), req, &resp).ok());
  EXPECT_EQ(resp.task().state(), v1::TASK_STATE_QUEUED);
  EXPECT_THAT(resp.task().waiting_reason(), HasSubstr("nobody.serves.this"));

  req.mutable_wait()->set_nanos(0);  // zero: the task as stored, at once
  ASSERT_TRUE(stub_->Submit(Context().get(), req, &resp).ok());
  EXPECT_EQ(resp.task().state(), v1::TASK_STATE_QUEUED);
  EXPECT_EQ(resp.task().id(), resp.task_id());
}

TEST_F(ClusterTest, SubmitWithANegativeWaitIsRefusedAndStoresNothing) {
  v1::SubmitRequest req;
  req.mutable_task()->set_type("echo");
  req.mutable_wait()->set_seconds(-1);
  v1::SubmitResponse resp;
  grpc::Status s = stub_->Submit(Context().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("wait is negative"));

  v1::SubmitWorkflowRequest wf;
  v1::WorkflowNode* node = wf.mutable_workflow()->add_nodes();
  node->set_name("a");
  node->mutable_task()->set_type("echo");
  wf.mutable_wait()->set_seconds(-1);
  v1::SubmitWorkflowResponse wf_resp;
  s = stub_->SubmitWorkflow(Context().get(), wf, &wf_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::ListTasksRequest list;
  v1::ListTasksResponse page;
  ASSERT_TRUE(stub_->ListTasks(Context().get(), list, &page).ok());
  EXPECT_EQ(page.tasks_size(), 0);
}

TEST_F(ClusterTest, SubmitWorkflowThatWaitsAnswersWithTheEndedWorkflow) {
  StartExecutor("a", 2);
  v1::SubmitWorkflowRequest req;
  v1::WorkflowNode* first = req.mutable_workflow()->add_nodes();
  first->set_name("first");
  first->mutable_task()->set_type("echo");
  first->mutable_task()->set_payload("x");
  v1::WorkflowNode* second = req.mutable_workflow()->add_nodes();
  second->set_name("second");
  second->mutable_task()->set_type("echo");
  second->add_after("first");
  req.mutable_wait()->set_seconds(20);
  v1::SubmitWorkflowResponse resp;
  ASSERT_TRUE(stub_->SubmitWorkflow(Context().get(), req, &resp).ok());
  ASSERT_TRUE(resp.has_workflow());
  EXPECT_EQ(resp.workflow().id(), resp.workflow_id());
  EXPECT_EQ(resp.workflow().state(), v1::WORKFLOW_STATE_SUCCEEDED);
  EXPECT_EQ(resp.workflow().nodes_size(), 2);
}

TEST_F(ClusterTest, ClientSubmitAndWaitReturnsTheTaskInEitherState) {
  client::Client c(grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  absl::StatusOr<v1::SubmitResponse> waiting =
      c.SubmitAndWait(client::MakeTask("nobody.serves.this"), absl::Milliseconds(100));
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  EXPECT_EQ(waiting->task().state(), v1::TASK_STATE_QUEUED);

  StartExecutor("a", 1);
  absl::StatusOr<v1::SubmitResponse> done =
      c.SubmitAndWait(client::MakeTask("echo", "hello"), kBound);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->task().state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(done->task().output(), "hello");
}

TEST_F(ClusterTest, FailingTaskReportsItsError) {
  StartExecutor("a", 2);
  v1::Task task = Wait(Submit("fail", "broken on purpose"));
  EXPECT_EQ(task.state(), v1::TASK_STATE_FAILED);
  EXPECT_EQ(task.error(), "broken on purpose");
  ASSERT_EQ(task.attempts_size(), 1);
  EXPECT_EQ(task.attempts(0).outcome(), v1::ATTEMPT_OUTCOME_FAILED);
}

TEST_F(ClusterTest, TimeoutFailsAnAttemptThatRunsTooLong) {
  StartExecutor("a", 1);
  v1::SubmitRequest req;
  req.mutable_task()->set_type("thread.sleep");
  req.mutable_task()->set_payload("60000");
  req.mutable_task()->mutable_timeout()->set_nanos(200'000'000);
  v1::SubmitResponse resp;
  ASSERT_TRUE(stub_->Submit(Context().get(), req, &resp).ok());
  v1::Task task = Wait(resp.task_id());
  EXPECT_EQ(task.state(), v1::TASK_STATE_FAILED);
  EXPECT_THAT(task.error(), HasSubstr("timed out"));
  EXPECT_EQ(task.attempts(0).outcome(), v1::ATTEMPT_OUTCOME_TIMED_OUT);
}

// The event loop's slots are its own: 100 event-loop sleeps all run at once on an executor
// with one thread slot, and a thread task does not wait behind them. A cancel reaches each
// sleep in flight and gives its slot back.
TEST_F(ClusterTest, EventLoopTasksRunBeyondTheThreadSlotsAndCancelInFlight) {
  StartExecutor("a", /*slots=*/1);
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(Submit("sleep", "60000"));

  // Bounded wait until the scheduler counts all 100 in the event loop's window.
  auto event_loop_used = [&]() -> int64_t {
    v1::ListExecutorsResponse resp;
    if (!stub_->ListExecutors(Context().get(), v1::ListExecutorsRequest(), &resp).ok() ||
        resp.executors_size() != 1) {
      return -1;
    }
    for (const v1::ModeSlots& m : resp.executors(0).mode_slots()) {
      if (m.mode() == v1::RUN_MODE_EVENT_LOOP) return m.used();
    }
    return -1;
  };
  const absl::Time deadline = absl::Now() + kBound;
  while (event_loop_used() != 100 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(event_loop_used(), 100);
  for (const std::string& id : ids) {
    v1::GetTaskRequest get;
    get.set_task_id(id);
    v1::Task task;
    ASSERT_TRUE(stub_->GetTask(Context().get(), get, &task).ok());
    EXPECT_EQ(task.state(), v1::TASK_STATE_RUNNING) << id;
  }

  const std::string echo = Submit("echo", "not behind the sleeps");
  EXPECT_EQ(Wait(echo).state(), v1::TASK_STATE_SUCCEEDED);

  for (const std::string& id : ids) {
    v1::CancelTaskRequest req;
    req.set_task_id(id);
    v1::CancelTaskResponse resp;
    ASSERT_TRUE(stub_->CancelTask(Context().get(), req, &resp).ok());
  }
  for (const std::string& id : ids) {
    const v1::Task task = Wait(id);
    EXPECT_EQ(task.state(), v1::TASK_STATE_CANCELLED) << id;
  }
  const absl::Time freed = absl::Now() + kBound;
  while (event_loop_used() != 0 && absl::Now() < freed) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(event_loop_used(), 0);
}

// A run mode this scheduler does not know is refused with INVALID_ARGUMENT naming it, not
// taken for a thread type.
TEST_F(ClusterTest, AHelloWithAnUnknownRunModeIsRefused) {
  auto link = v1::ExecutorLink::NewStub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  std::unique_ptr<grpc::ClientContext> ctx = Context();
  auto stream = link->Connect(ctx.get());
  v1::ExecutorMessage hello;
  hello.mutable_hello()->set_executor_id("from-the-future");
  hello.mutable_hello()->set_slots(4);
  v1::TaskTypeInfo* type = hello.mutable_hello()->add_task_types();
  type->set_name("quantum.compute");
  type->set_mode(static_cast<v1::RunMode>(7));
  ASSERT_TRUE(stream->Write(hello));
  stream->WritesDone();
  v1::SchedulerMessage message;
  while (stream->Read(&message)) {
  }
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("'quantum.compute': unknown run mode 7"));
}

TEST_F(ClusterTest, BadRequestsGetClearErrors) {
  struct Case {
    std::string type;
    std::string payload;
    int priority;
    int64_t timeout_seconds;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"", "", 0, 0, "task.type is empty"},
      {std::string(200, 'x'), "", 0, 0, "task.type is 200 bytes long"},
      {"echo", std::string((1 << 20) + 1, 'p'), 0, 0, "task.payload is 1048577 bytes"},
      {"echo", "", 0, -5, "task.timeout is negative"},
      {"echo", "", 1000, 0, "task.priority 1000 is outside"},
  };
  for (const Case& c : cases) {
    v1::SubmitRequest req;
    req.mutable_task()->set_type(c.type);
    req.mutable_task()->set_payload(c.payload);
    req.mutable_task()->set_priority(c.priority);
    if (c.timeout_seconds != 0) req.mutable_task()->mutable_timeout()->set_seconds(c.timeout_seconds);
    v1::SubmitResponse resp;
    grpc::Status s = stub_->Submit(Context().get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.expected;
    EXPECT_THAT(s.error_message(), HasSubstr(c.expected));
  }

  v1::GetTaskRequest get;
  get.set_task_id("no-such-task");
  v1::Task task;
  grpc::Status s = stub_->GetTask(Context().get(), get, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("no-such-task"));

  v1::WaitTaskRequest wait;
  wait.set_task_id("no-such-task");
  EXPECT_EQ(stub_->WaitTask(Context().get(), wait, &task).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::ListTasksRequest list;
  list.set_page_token("not-a-token-of-ours");
  v1::ListTasksResponse page;
  s = stub_->ListTasks(Context().get(), list, &page);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_token"));

  // Nothing of the rejected requests was stored.
  list.Clear();
  ASSERT_TRUE(stub_->ListTasks(Context().get(), list, &page).ok());
  EXPECT_EQ(page.tasks_size(), 0);
}

TEST_F(ClusterTest, ServesGrpcHealth) {
  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  grpc::Slice empty("");  // an empty HealthCheckRequest asks about the whole server
  grpc::ByteBuffer request(&empty, 1);
  grpc::GenericStub generic(channel);
  grpc::Status status;
  absl::Notification done;
  grpc::ByteBuffer response;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kBound));
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
}

}  // namespace
}  // namespace taskwire
