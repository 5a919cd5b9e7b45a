// The scheduler behind TLS and an access file, over real gRPC on loopback: certificates are
// made by scripts/make-certs.sh (openssl) when the suite starts. Checks what each kind of
// caller gets (no token, a wrong token, another owner's task, an executor outside its
// scope, mTLS without a certificate), and that a rotated access file and a rotated
// certificate take effect without a restart while a stream stays up.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/credentials.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "scheduler/scheduler_server.h"
#include "taskwire/v1/executor_link.grpc.pb.h"
#include "taskwire/v1/scheduler.grpc.pb.h"

namespace taskwire::scheduler {
namespace {

namespace fs = std::filesystem;

constexpr absl::Duration kEventually = absl::Seconds(15);

struct Token {
  std::string name;
  std::string role;
  std::string value;
  std::string scope;  // extra text-format fields
};

const Token kAlice{"alice", "ROLE_SUBMITTER", "alice-token-0123456789", ""};
const Token kBob{"bob", "ROLE_SUBMITTER", "bob-token-0123456789", ""};
const Token kRoot{"root", "ROLE_ADMIN", "root-token-0123456789", ""};
const Token kImages{"images-executor", "ROLE_EXECUTOR", "images-token-0123456789",
                    R"(queues: "images" task_types: "resize")"};
const Token kCarol{"carol", "ROLE_SUBMITTER", "carol-token-0123456789", ""};

std::string Entry(const Token& t) {
  return absl::StrCat("entry { name: \"", t.name, "\" role: ", t.role, " token_sha256: \"",
                      Sha256Hex(t.value), "\" ", t.scope, " }\n");
}

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        (fs::temp_directory_path() / absl::StrCat("taskwire-auth-", getpid())).string());
    MakeCerts();
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  static void MakeCerts() {
    const std::string command =
        absl::StrCat(TASKWIRE_SOURCE_DIR, "/scripts/make-certs.sh ", *dir_,
                     " --client exec-1 --client stranger > /dev/null");
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  static std::string File(const std::string& name) { return *dir_ + "/" + name; }

  void WriteAccessFile(const std::string& text) {
    // Replaced by rename, as an editor or a Secret update does.
    const std::string tmp = File("access.textproto.new");
    std::ofstream(tmp) << text;
    fs::rename(tmp, File("access.textproto"));
  }

  void Start(bool mtls = false) {
    WriteAccessFile(Entry(kAlice) + Entry(kBob) + Entry(kRoot) + Entry(kImages) +
                    "entry { name: \"exec-1\" role: ROLE_EXECUTOR client_cert_subject: "
                    "\"CN=exec-1\" queues: \"*\" }\n");
    SchedulerServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "";
    options.health_listen = "127.0.0.1:0";
    options.tls.cert_file = File("server.pem");
    options.tls.key_file = File("server.key");
    if (mtls) options.tls.client_ca_file = File("ca.pem");
    options.tls.reload_interval = absl::Seconds(1);
    options.access_file = File("access.textproto");
    auto server = SchedulerServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& token,
                                         const std::string& client_cert = "") {
    ChannelSecurity security;
    security.ca_file = File("ca.pem");
    security.token = token;
    if (!client_cert.empty()) {
      security.cert_file = File(client_cert + ".pem");
      security.key_file = File(client_cert + ".key");
    }
    grpc::ChannelArguments args;
    auto credentials = MakeChannelCredentials(security, args);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return grpc::CreateCustomChannel(server_->address(), *credentials, args);
  }
  std::unique_ptr<v1::Scheduler::Stub> Stub(const Token& t) {
    return v1::Scheduler::NewStub(Channel(t.value));
  }

  static grpc::Status Submit(v1::Scheduler::Stub& stub, std::string* id,
                             const std::string& key = "") {
    grpc::ClientContext ctx;
    v1::SubmitRequest req;
    req.mutable_task()->set_type("echo");
    req.mutable_task()->set_payload("hi");
    req.mutable_task()->set_idempotency_key(key);
    v1::SubmitResponse resp;
    grpc::Status s = stub.Submit(&ctx, req, &resp);
    if (id != nullptr) *id = resp.task_id();
    return s;
  }
  static grpc::Status Get(v1::Scheduler::Stub& stub, const std::string& id, v1::Task* task) {
    grpc::ClientContext ctx;
    v1::GetTaskRequest req;
    req.set_task_id(id);
    return stub.GetTask(&ctx, req, task);
  }

  // Opens an executor link with `hello` and returns how it went: OK once welcomed.
  grpc::Status Link(std::shared_ptr<grpc::Channel> channel, const v1::Hello& hello) {
    auto stub = v1::ExecutorLink::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    auto stream = stub->Connect(&ctx);
    v1::ExecutorMessage out;
    *out.mutable_hello() = hello;
    stream->Write(out);
    v1::SchedulerMessage in;
    if (stream->Read(&in) && in.has_welcome()) {
      ctx.TryCancel();
      stream->Finish().IgnoreError();
      return grpc::Status::OK;
    }
    stream->WritesDone();
    return stream->Finish();
  }
  static v1::Hello Hello(const std::string& queue, const std::string& type) {
    v1::Hello hello;
    hello.set_slots(1);
    hello.add_queues(queue);
    hello.add_task_types()->set_name(type);
    return hello;
  }

  double Failures(const std::string& reason) {
    double total = 0;
    for (const auto& family : server_->registry().Collect()) {
      if (family.name != "taskwire_auth_failures_total") continue;
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) {
          if (label.name == "reason" && label.value == reason) total += metric.counter.value;
        }
      }
    }
    return total;
  }

  // Waits for `condition`, looking again every 50 ms, up to kEventually.
  template <typename Condition>
  static bool Eventually(Condition condition) {
    const absl::Time deadline = absl::Now() + kEventually;
    while (absl::Now() < deadline) {
      if (condition()) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return condition();
  }

  static std::string* dir_;
  std::unique_ptr<SchedulerServer> server_;
};

std::string* AuthTest::dir_ = nullptr;

TEST_F(AuthTest, CallsWithoutKnownCredentialsAreUnauthenticatedAndCounted) {
  Start();
  auto anonymous = v1::Scheduler::NewStub(Channel(""));
  EXPECT_EQ(Submit(*anonymous, nullptr).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Failures("missing"), 1);

  auto forged = Stub(Token{"x", "", "not-a-known-token", ""});
  grpc::Status s = Submit(*forged, nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("not valid"));
  EXPECT_EQ(Failures("unknown"), 1);

  auto alice = Stub(kAlice);
  EXPECT_TRUE(Submit(*alice, nullptr).ok());
}

TEST_F(AuthTest, ASubmitterTouchesOnlyItsOwnTasksAndAnAdminEverything) {
  Start();
  auto alice = Stub(kAlice);
  auto bob = Stub(kBob);
  auto root = Stub(kRoot);
  std::string id;
  ASSERT_TRUE(Submit(*alice, &id).ok());

  v1::Task task;
  EXPECT_EQ(Get(*bob, id, &task).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  {
    grpc::ClientContext ctx;
    v1::CancelTaskRequest req;
    req.set_task_id(id);
    v1::CancelTaskResponse resp;
    EXPECT_EQ(bob->CancelTask(&ctx, req, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext ctx;
    v1::WaitTaskRequest req;
    req.set_task_id(id);
    EXPECT_EQ(bob->WaitTask(&ctx, req, &task).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_GE(Failures("owner"), 3);

  ASSERT_TRUE(Get(*alice, id, &task).ok());
  EXPECT_EQ(task.owner(), "alice");
  ASSERT_TRUE(Get(*root, id, &task).ok());
  EXPECT_EQ(task.owner(), "alice");

  auto list = [](v1::Scheduler::Stub& stub) {
    grpc::ClientContext ctx;
    v1::ListTasksResponse resp;
    EXPECT_TRUE(stub.ListTasks(&ctx, v1::ListTasksRequest(), &resp).ok());
    return resp.tasks_size();
  };
  std::string bobs;
  ASSERT_TRUE(Submit(*bob, &bobs).ok());
  EXPECT_EQ(list(*alice), 1);
  EXPECT_EQ(list(*bob), 1);
  EXPECT_EQ(list(*root), 2);

  grpc::ClientContext ctx;
  v1::ListExecutorsResponse executors;
  EXPECT_EQ(alice->ListExecutors(&ctx, v1::ListExecutorsRequest(), &executors).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(AuthTest, IdempotencyKeysBelongToTheirOwner) {
  Start();
  auto alice = Stub(kAlice);
  auto bob = Stub(kBob);
  std::string first, again, bobs;
  ASSERT_TRUE(Submit(*alice, &first, "order-7").ok());
  ASSERT_TRUE(Submit(*alice, &again, "order-7").ok());
  ASSERT_TRUE(Submit(*bob, &bobs, "order-7").ok());
  EXPECT_EQ(first, again);
  EXPECT_NE(first, bobs);  // bob neither learns nor gets alice's task
  v1::Task task;
  ASSERT_TRUE(Get(*bob, bobs, &task).ok());
  EXPECT_EQ(task.spec().idempotency_key(), "order-7");
}

TEST_F(AuthTest, AnExecutorTokenServesOnlyItsQueuesAndTypes) {
  Start();
  EXPECT_TRUE(Link(Channel(kImages.value), Hello("images", "resize")).ok());
  grpc::Status queue = Link(Channel(kImages.value), Hello("payments", "resize"));
  EXPECT_EQ(queue.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(queue.error_message(), ::testing::HasSubstr("queue payments"));
  EXPECT_EQ(Link(Channel(kImages.value), Hello("images", "charge")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Failures("scope"), 2);
  // A client's token is not an executor's.
  EXPECT_EQ(Link(Channel(kRoot.value), Hello("images", "resize")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Failures("role"), 1);
}

TEST_F(AuthTest, HealthAnswersWithoutCredentialsOnBothPorts) {
  Start();
  // grpc.health.v1.Health/Check through a generic stub: an empty request asks about the
  // server as a whole.
  auto check = [&](std::shared_ptr<grpc::Channel> channel) {
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1), response;
    grpc::GenericStub stub(channel);
    grpc::Status status;
    grpc::ClientContext call;
    call.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    absl::Notification done;
    stub.UnaryCall(&call, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                   &response, [&](grpc::Status s) {
                     status = s;
                     done.Notify();
                   });
    done.WaitForNotification();
    std::vector<grpc::Slice> slices;
    if (status.ok() && response.Dump(&slices).ok()) {
      std::string bytes;
      for (const grpc::Slice& s : slices) bytes.append(s.begin(), s.end());
      EXPECT_EQ(bytes, std::string("\x08\x01")) << "status SERVING";
    }
    return status;
  };
  EXPECT_TRUE(check(grpc::CreateChannel(server_->health_address(),
                                        grpc::InsecureChannelCredentials()))
                  .ok());
  EXPECT_TRUE(check(Channel("")).ok());
}

TEST_F(AuthTest, MutualTlsNeedsACertificateAndMapsItsSubject) {
  Start(/*mtls=*/true);
  auto no_certificate = v1::Scheduler::NewStub(Channel(kAlice.value));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::SubmitRequest req;
  req.mutable_task()->set_type("echo");
  v1::SubmitResponse resp;
  EXPECT_EQ(no_certificate->Submit(&ctx, req, &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);  // the handshake fails

  EXPECT_TRUE(Link(Channel("", "exec-1"), Hello("any-queue", "echo")).ok());
  auto stranger = v1::Scheduler::NewStub(Channel("", "stranger"));
  EXPECT_EQ(Submit(*stranger, nullptr).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A token still names its caller over mTLS.
  auto alice = v1::Scheduler::NewStub(Channel(kAlice.value, "stranger"));
  EXPECT_TRUE(Submit(*alice, nullptr).ok());
}

TEST_F(AuthTest, RotatedAccessFileAndCertificateTakeEffectWhileAStreamStaysUp) {
  Start();
  auto root = Stub(kRoot);
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto watch = root->WatchTasks(&watch_ctx, v1::WatchTasksRequest());
  watch->WaitForInitialMetadata();  // subscribed: later events reach it

  auto peer_certificate = [&] {
    auto stub = v1::Scheduler::NewStub(Channel(kRoot.value));
    grpc::ClientContext ctx;
    v1::ListExecutorsResponse resp;
    EXPECT_TRUE(stub->ListExecutors(&ctx, v1::ListExecutorsRequest(), &resp).ok());
    auto values = ctx.auth_context()->FindPropertyValues("x509_pem_cert");
    return values.empty() ? std::string() : std::string(values[0].data(), values[0].size());
  };
  const std::string before = peer_certificate();
  ASSERT_FALSE(before.empty());

  // Carol in, alice out.
  WriteAccessFile(Entry(kCarol) + Entry(kBob) + Entry(kRoot));
  auto carol = Stub(kCarol);
  auto alice = Stub(kAlice);
  EXPECT_TRUE(Eventually([&] { return Submit(*carol, nullptr).ok(); }));
  EXPECT_EQ(Submit(*alice, nullptr).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  MakeCerts();  // a new server certificate from the same CA
  EXPECT_TRUE(Eventually([&] { return peer_certificate() != before; }));

  // The watch opened before both rotations still carries events.
  std::string id;
  ASSERT_TRUE(Submit(*carol, &id).ok());
  v1::WatchTasksResponse event;
  bool seen = false;
  while (!seen && watch->Read(&event)) {
    for (const auto& e : event.events()) seen |= e.task_id() == id;
  }
  EXPECT_TRUE(seen);
  watch_ctx.TryCancel();
  watch->Finish().IgnoreError();
}

}  // namespace
}  // namespace taskwire::scheduler
