// The built-in task types, called directly through a registry filled by
// RegisterBuiltinTasks, and the choice of which to register (--builtins). http.get talks
// only to servers the test starts on 127.0.0.1:0 (and [::1]:0, 127.0.0.2:0 that its fetch
// policy must keep it from), allowed by the fixture's policy; the metadata address it is
// refused before any connection.
#include "executor/builtin_tasks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "executor/event_loop/event_loop_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::executor {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::IsOkAndHolds;
using ::taskwire::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

// A TCP socket bound to a loopback address (127.0.0.1 unless told: 127.0.0.2, ::1) on a
// port the kernel picks; closed on destruction.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(std::string ip = "127.0.0.1") : ip_(std::move(ip)) {
    const bool v6 = ip_.find(':') != std::string::npos;
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage storage{};
    socklen_t len = 0;
    if (v6) {
      auto* addr = reinterpret_cast<sockaddr_in6*>(&storage);
      addr->sin6_family = AF_INET6;
      inet_pton(AF_INET6, ip_.c_str(), &addr->sin6_addr);
      len = sizeof(sockaddr_in6);
    } else {
      auto* addr = reinterpret_cast<sockaddr_in*>(&storage);
      addr->sin_family = AF_INET;
      inet_pton(AF_INET, ip_.c_str(), &addr->sin_addr);
      len = sizeof(sockaddr_in);
    }
    auto* addr = reinterpret_cast<sockaddr*>(&storage);
    if (fd_ < 0 || ::bind(fd_, addr, len) != 0) {
      ADD_FAILURE() << "cannot bind a socket on " << ip_;
      return;
    }
    ::getsockname(fd_, addr, &len);
    port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  }
  ~LoopbackSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;

  int fd() const { return fd_; }
  int port() const { return port_; }
  std::string Url(absl::string_view path) const {
    const bool v6 = ip_.find(':') != std::string::npos;
    return absl::StrCat("http://", v6 ? "[" : "", ip_, v6 ? "]" : "", ":", port_, path);
  }
  // Whether a connection waits to be accepted (the socket listens).
  bool HasPendingConnection() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, /*timeout_ms=*/0) == 1;
  }

 private:
  std::string ip_;
  int fd_ = -1;
  int port_ = 0;
};

// Answers one HTTP request with a canned response on its own thread, then closes. Every
// wait has a bound, so a client that never comes costs seconds, not a hung test.
class OneShotHttpServer {
 public:
  explicit OneShotHttpServer(std::string response) : response_(std::move(response)) {
    if (::listen(socket_.fd(), 1) != 0) ADD_FAILURE() << "listen failed";
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotHttpServer() { thread_.join(); }

  std::string Url(absl::string_view path) const { return socket_.Url(path); }
  // The request head the server read; set before it answers.
  std::string request() {
    absl::MutexLock lock(&mu_);
    return request_;
  }

 private:
  static bool WaitReadable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, /*timeout_ms=*/5000) == 1;
  }

  void Serve() {
    if (!WaitReadable(socket_.fd())) return;
    const int conn = ::accept4(socket_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    std::string head;
    char buf[1024];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 64 * 1024 &&
           WaitReadable(conn)) {
      const ssize_t n = ::read(conn, buf, sizeof(buf));
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    {
      // Before the response goes out, so the client cannot finish before it is recorded.
      absl::MutexLock lock(&mu_);
      request_ = head;
    }
    for (size_t sent = 0; sent < response_.size();) {
      const ssize_t n =
          ::send(conn, response_.data() + sent, response_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::close(conn);
  }

  LoopbackSocket socket_;
  const std::string response_;
  absl::Mutex mu_;
  std::string request_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// A redirect to `location`, once.
std::string RedirectTo(absl::string_view location) {
  return absl::StrCat("HTTP/1.1 302 Found\r\nLocation: ", location,
                      "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

constexpr char kDenied[] =
    " is denied by the executor's fetch policy (--fetch-deny/--fetch-allow)";

class BuiltinTasksTest : public ::testing::Test {
 protected:
  // Every built-in; http.get may fetch the test's servers on 127.0.0.1, nothing else local.
  void SetUp() override { ASSERT_THAT(Register(registry_, "127.0.0.1", ""), IsOk()); }

  static absl::Status Register(HandlerRegistry& registry, absl::string_view allow,
                               absl::string_view deny) {
    absl::StatusOr<FetchPolicy> policy = FetchPolicy::Parse(allow, deny);
    if (!policy.ok()) return policy.status();
    BuiltinOptions options;
    options.fetch_policy = *std::move(policy);
    return RegisterBuiltinTasks(registry, options);
  }
  // http.get of `url` through a registry of its own with this policy.
  absl::StatusOr<std::string> GetWithPolicy(absl::string_view allow, absl::string_view deny,
                                            std::string url) {
    HandlerRegistry registry;
    if (absl::Status s = Register(registry, allow, deny); !s.ok()) return s;
    return (*registry.Find("thread.http.get"))(
        TaskContext{"task-1", 1, "thread.http.get", std::move(url), &token_, {}});
  }

  absl::StatusOr<std::string> Run(const std::string& type, std::string payload) {
    return Run(type, std::move(payload), token_);
  }
  absl::StatusOr<std::string> Run(const std::string& type, std::string payload,
                                  const CancelToken& token) {
    const Handler* handler = registry_.Find(type);
    if (handler == nullptr) return absl::NotFoundError(absl::StrCat("no handler ", type));
    return (*handler)(TaskContext{"task-1", 1, type, std::move(payload), &token, {}});
  }
  // A workflow node's run: attempt number and upstream results too.
  absl::StatusOr<std::string> RunNode(const std::string& type, std::string payload,
                                      std::vector<std::string> upstream, uint32_t attempt = 1) {
    const Handler* handler = registry_.Find(type);
    if (handler == nullptr) return absl::NotFoundError(absl::StrCat("no handler ", type));
    return (*handler)(
        TaskContext{"task-1", attempt, type, std::move(payload), &token_, std::move(upstream)});
  }

  HandlerRegistry registry_;
  CancelToken token_;
};

TEST_F(BuiltinTasksTest, RegistersEveryBuiltinTypeInItsRunMode) {
  EXPECT_THAT(registry_.Types(), ElementsAre("collect", "echo", "fail", "primes", "sha256",
                                             "thread.http.get", "thread.sleep"));
  EXPECT_THAT(registry_.AsyncTypes(), ElementsAre("http.get", "http.request", "sleep"));
}

TEST_F(BuiltinTasksTest, RegisteringTwiceIntoOneRegistryFailsWithAlreadyExists) {
  EXPECT_THAT(RegisterBuiltinTasks(registry_), StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST(BuiltinListTest, AllNamesEveryBuiltinAndNoneNoBuiltin) {
  EXPECT_THAT(ParseBuiltinList("all"), IsOkAndHolds(BuiltinTaskTypes()));
  EXPECT_THAT(ParseBuiltinList(" none "), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(BuiltinTaskTypes(),
              ElementsAre("collect", "echo", "fail", "http.get", "http.request", "primes",
                          "sha256", "sleep", "thread.http.get", "thread.sleep"));
}

TEST(BuiltinListTest, AListKeepsItsOrderAndDropsRepeatsAndBlanks) {
  EXPECT_THAT(ParseBuiltinList("sha256, echo,,echo,"), IsOkAndHolds(ElementsAre("sha256", "echo")));
}

TEST(BuiltinListTest, AnUnknownNameIsAnErrorListingTheKnownOnes) {
  EXPECT_THAT(ParseBuiltinList("echo,http.post"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown built-in task type 'http.post'; the built-ins are: "
                                 "collect, echo, fail, http.get, http.request, primes, sha256, "
                                 "sleep, thread.http.get, thread.sleep")));
  EXPECT_THAT(ParseBuiltinList("Echo"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(BuiltinListTest, AllAndNoneStandAloneAndAnEmptyListIsAnError) {
  EXPECT_THAT(ParseBuiltinList("all,echo"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stands alone")));
  EXPECT_THAT(ParseBuiltinList("none,none"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseBuiltinList(" , "),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST(BuiltinListTest, OnlyTheChosenTypesAreRegistered) {
  HandlerRegistry registry;
  BuiltinOptions options;
  options.types = {"sha256", "echo"};
  ASSERT_THAT(RegisterBuiltinTasks(registry, options), IsOk());
  EXPECT_THAT(registry.Types(), ElementsAre("echo", "sha256"));
  EXPECT_EQ(registry.Find("thread.http.get"), nullptr);
  EXPECT_EQ(registry.FindAsync("http.get"), nullptr);
}

TEST(BuiltinListTest, RegisteringAnUnknownTypeFailsWithInvalidArgument) {
  HandlerRegistry registry;
  BuiltinOptions options;
  options.types = {"echo", "rm-rf"};
  EXPECT_THAT(RegisterBuiltinTasks(registry, options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'rm-rf'")));
}

TEST_F(BuiltinTasksTest, EchoReturnsThePayload) {
  EXPECT_THAT(Run("echo", "hello world"), IsOkAndHolds("hello world"));
  EXPECT_THAT(Run("echo", ""), IsOkAndHolds(""));
}

TEST_F(BuiltinTasksTest, EchoReturnsBinaryPayloadsWithNulBytesIntact) {
  const std::string binary("a\0b\xff\0\x01z", 7);
  EXPECT_THAT(Run("echo", binary), IsOkAndHolds(binary));
}

TEST_F(BuiltinTasksTest, EchoOfAWorkflowNodeReturnsUpstreamResultsThenPayload) {
  EXPECT_THAT(RunNode("echo", "!", {"hello", " world"}), IsOkAndHolds("hello world!"));
}

TEST_F(BuiltinTasksTest, Sha256OfEchoOfEchoHelloIsTheDigestOfHello) {
  // The chain echo("hello") -> echo -> sha256, one node at a time.
  absl::StatusOr<std::string> first = RunNode("echo", "hello", {});
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<std::string> second = RunNode("echo", "", {*first});
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(RunNode("sha256", "", {*second}),
              IsOkAndHolds("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"));
}

TEST_F(BuiltinTasksTest, PrimesOfAWorkflowNodeParsesItsUpstreamResult) {
  EXPECT_THAT(RunNode("primes", "", {"100"}), IsOkAndHolds("25"));
}

TEST_F(BuiltinTasksTest, CollectFramesUpstreamResultsAsAJsonArrayInOrder) {
  EXPECT_THAT(RunNode("collect", "ignored", {"b", "a", "c"}), IsOkAndHolds(R"(["b","a","c"])"));
  EXPECT_THAT(RunNode("collect", "", {}), IsOkAndHolds("[]"));
  EXPECT_THAT(RunNode("collect", "", {"", "x,y"}), IsOkAndHolds(R"(["","x,y"])"));
}

TEST_F(BuiltinTasksTest, CollectEscapesQuotesControlsAndBytesThatAreNotUtf8) {
  EXPECT_THAT(RunNode("collect", "", {"say \"hi\"\\\n\t", std::string("\x01\xff", 2), "h\xc3\xa9"}),
              IsOkAndHolds("[\"say \\\"hi\\\"\\\\\\n\\t\",\"\\u0001\\u00ff\",\"h\xc3\xa9\"]"));
}

TEST_F(BuiltinTasksTest, FailWithPermanentPrefixIsNotRetryable) {
  absl::StatusOr<std::string> r = Run("fail", "permanent:bad input");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnknown, "bad input"));
  EXPECT_TRUE(IsNotRetryable(r.status()));
  EXPECT_FALSE(IsNotRetryable(Run("fail", "plain").status()));
}

TEST_F(BuiltinTasksTest, FlakyFailsTheFirstNAttemptsThenSucceeds) {
  for (uint32_t attempt = 1; attempt <= 2; ++attempt) {
    absl::StatusOr<std::string> r = RunNode("fail", "flaky:2:done", {}, attempt);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("flaky")));
    EXPECT_FALSE(IsNotRetryable(r.status()));
  }
  EXPECT_THAT(RunNode("fail", "flaky:2:done", {}, 3), IsOkAndHolds("done"));
  EXPECT_THAT(RunNode("fail", "flaky:0", {}, 1), IsOkAndHolds("succeeded on attempt 1"));
  EXPECT_THAT(RunNode("fail", "flaky:1:a:b", {}, 2), IsOkAndHolds("a:b"));
}

TEST_F(BuiltinTasksTest, FlakyWithABadCountFailsNotRetryable) {
  absl::StatusOr<std::string> r = Run("fail", "flaky:x");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("flaky:N")));
  EXPECT_TRUE(IsNotRetryable(r.status()));
}

TEST_F(BuiltinTasksTest, Sha256OfHelloIsTheKnownDigest) {
  EXPECT_THAT(Run("sha256", "hello"),
              IsOkAndHolds("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"));
}

TEST_F(BuiltinTasksTest, Sha256OfTheEmptyPayloadIsTheEmptyStringDigest) {
  EXPECT_THAT(Run("sha256", ""),
              IsOkAndHolds("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

TEST_F(BuiltinTasksTest, PrimesCountsNoPrimesBelowTwoAndOneBelowThree) {
  EXPECT_THAT(Run("primes", "0"), IsOkAndHolds("0"));
  EXPECT_THAT(Run("primes", "1"), IsOkAndHolds("0"));
  EXPECT_THAT(Run("primes", "2"), IsOkAndHolds("0"));
  EXPECT_THAT(Run("primes", "3"), IsOkAndHolds("1"));
  EXPECT_THAT(Run("primes", "4"), IsOkAndHolds("2"));
}

TEST_F(BuiltinTasksTest, PrimesCountsTwentyFiveBelowOneHundred) {
  EXPECT_THAT(Run("primes", "100"), IsOkAndHolds("25"));
  EXPECT_THAT(Run("primes", "101"), IsOkAndHolds("25"));  // 101 itself is not below 101
  EXPECT_THAT(Run("primes", "102"), IsOkAndHolds("26"));
}

// Spans several sieve segments (each 2^18 numbers), so segment edges are counted once.
TEST_F(BuiltinTasksTest, PrimesCounts78498BelowOneMillion) {
  EXPECT_THAT(Run("primes", "1000000"), IsOkAndHolds("78498"));
  EXPECT_THAT(Run("primes", "262144"), IsOkAndHolds("23000"));  // all in the first segment
  EXPECT_THAT(Run("primes", "262148"), IsOkAndHolds("23001"));  // + 262147, in segment two
}

TEST_F(BuiltinTasksTest, PrimesRejectsABadPayloadWithInvalidArgumentNamingIt) {
  for (const char* payload : {"abc", "-5", "99999999999999", "", "12x", "4000000001"}) {
    EXPECT_THAT(Run("primes", payload), StatusIs(absl::StatusCode::kInvalidArgument,
                                                 HasSubstr(absl::StrCat("got '", payload, "'"))))
        << "payload: " << payload;
  }
}

TEST_F(BuiltinTasksTest, PrimesStopsEarlyWithCancelledWhenTheTokenIsAlreadyCancelled) {
  CancelToken token;
  token.Cancel();
  const absl::Time start = absl::Now();
  EXPECT_THAT(Run("primes", "4000000000", token), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(BuiltinTasksTest, PrimesStopsEarlyWhenTheDeadlineHasPassed) {
  CancelToken token(absl::Now() - absl::Seconds(1));
  EXPECT_THAT(Run("primes", "4000000000", token), StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(BuiltinTasksTest, SleepSleepsThePayloadsMillisecondsAndSaysSo) {
  const absl::Time start = absl::Now();
  EXPECT_THAT(Run("thread.sleep", "10"), IsOkAndHolds("slept 10 ms"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(10));
  EXPECT_THAT(Run("thread.sleep", "0"), IsOkAndHolds("slept 0 ms"));
}

TEST_F(BuiltinTasksTest, SleepRejectsABadPayloadWithInvalidArgument) {
  for (const char* payload : {"abc", "-1", "", "1.5", "86400001"}) {
    EXPECT_THAT(Run("thread.sleep", payload),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("milliseconds")))
        << "payload: " << payload;
  }
}

TEST_F(BuiltinTasksTest, SleepIsInterruptedByCancelFromAnotherThread) {
  CancelToken token;
  const absl::Time start = absl::Now();
  std::thread canceller([&token] { token.Cancel(); });
  const absl::StatusOr<std::string> result = Run("thread.sleep", "60000", token);
  canceller.join();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(BuiltinTasksTest, FailReturnsAnErrorCarryingThePayloadAsMessage) {
  EXPECT_THAT(Run("fail", "disk on fire"), StatusIs(absl::StatusCode::kUnknown, "disk on fire"));
}

TEST_F(BuiltinTasksTest, FailWithAnEmptyPayloadReturnsADefaultMessage) {
  const absl::StatusOr<std::string> result = Run("fail", "");
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnknown, "failed on purpose"));
}

TEST_F(BuiltinTasksTest, HttpGetRejectsANonHttpUrlWithInvalidArgument) {
  for (const char* url : {"file:///etc/passwd", "ftp://x", "gopher://127.0.0.1/", "", "x"}) {
    EXPECT_THAT(Run("thread.http.get", url),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("http://")))
        << "url: " << url;
  }
}

TEST_F(BuiltinTasksTest, HttpGetReturnsStatusSizeAndBodyFromALoopbackServer) {
  OneShotHttpServer server(
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  EXPECT_THAT(Run("thread.http.get", server.Url("/greeting")),
              IsOkAndHolds("status 200\nsize 5\n\nhello"));
  EXPECT_THAT(server.request(), StartsWith("GET /greeting HTTP/1.1\r\n"));
}

TEST_F(BuiltinTasksTest, HttpGetReportsANon200StatusAsAResultNotAnError) {
  OneShotHttpServer server(
      "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope");
  EXPECT_THAT(Run("thread.http.get", server.Url("/missing")), IsOkAndHolds("status 404\nsize 4\n\nnope"));
}

TEST_F(BuiltinTasksTest, HttpGetFollowsARedirectToAnotherHttpUrl) {
  OneShotHttpServer target(
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nthere");
  OneShotHttpServer redirector(absl::StrCat("HTTP/1.1 302 Found\r\nLocation: ", target.Url("/new"),
                                            "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
  EXPECT_THAT(Run("thread.http.get", redirector.Url("/old")), IsOkAndHolds("status 200\nsize 5\n\nthere"));
  EXPECT_THAT(target.request(), StartsWith("GET /new HTTP/1.1\r\n"));
}

// A server must not be able to turn http.get into a local file read.
TEST_F(BuiltinTasksTest, HttpGetRefusesARedirectToAFileUrl) {
  OneShotHttpServer redirector(
      "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n");
  const absl::StatusOr<std::string> result = Run("thread.http.get", redirector.Url("/"));
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnavailable));
  if (result.ok()) {
    EXPECT_THAT(*result, Not(HasSubstr("root:")));
  }
}

// The server never reads the request, so only the token can end the call before curl's
// own 10 s limit.
TEST_F(BuiltinTasksTest, HttpGetStopsWithCancelledWhenTheTokenIsCancelled) {
  LoopbackSocket silent;
  ASSERT_EQ(::listen(silent.fd(), 1), 0);
  CancelToken token;
  token.Cancel();
  const absl::Time start = absl::Now();
  EXPECT_THAT(Run("thread.http.get", silent.Url("/"), token), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(BuiltinTasksTest, HttpGetToAClosedPortFailsWithUnavailable) {
  // Bound but not listening: the port stays ours, and a connect to it is refused at once.
  LoopbackSocket closed;
  EXPECT_THAT(Run("thread.http.get", closed.Url("/")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(closed.Url("/"))));
}

TEST_F(BuiltinTasksTest, HttpGetRefusesLoopbackUnderTheDefaultPolicyWithoutConnecting) {
  HandlerRegistry registry;
  ASSERT_THAT(RegisterBuiltinTasks(registry), IsOk());
  LoopbackSocket server;
  ASSERT_EQ(::listen(server.fd(), 1), 0);
  const absl::StatusOr<std::string> result = (*registry.Find("thread.http.get"))(
      TaskContext{"task-1", 1, "thread.http.get", server.Url("/metrics"), &token_, {}});
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kPermissionDenied,
                               absl::StrCat("thread.http.get: 127.0.0.1", kDenied)));
  EXPECT_TRUE(IsNotRetryable(result.status()));
  EXPECT_FALSE(server.HasPendingConnection());
}

// Refused in the open-socket callback, before a connect: no network needed.
TEST_F(BuiltinTasksTest, HttpGetRefusesTheMetadataAddressNotRetryable) {
  const absl::StatusOr<std::string> result =
      Run("thread.http.get", "http://169.254.169.254/latest/meta-data/");
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kPermissionDenied,
                               absl::StrCat("thread.http.get: 169.254.169.254", kDenied)));
  EXPECT_TRUE(IsNotRetryable(result.status()));
}

TEST_F(BuiltinTasksTest, HttpGetRefusesARedirectFromAnAllowedServerToADeniedAddress) {
  for (const char* denied : {"::1", "127.0.0.2"}) {
    LoopbackSocket target(denied);
    ASSERT_EQ(::listen(target.fd(), 1), 0);
    OneShotHttpServer redirector(RedirectTo(target.Url("/secret")));
    const absl::StatusOr<std::string> result = Run("thread.http.get", redirector.Url("/"));
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kPermissionDenied,
                                 absl::StrCat("thread.http.get: ", denied, kDenied)));
    EXPECT_TRUE(IsNotRetryable(result.status()));
    EXPECT_THAT(redirector.request(), StartsWith("GET / HTTP/1.1\r\n"));
    EXPECT_FALSE(target.HasPendingConnection()) << denied;
  }
}

// localhost's addresses are allowed; the name is not.
TEST_F(BuiltinTasksTest, HttpGetRefusesARedirectToADeniedHostName) {
  LoopbackSocket target;
  ASSERT_EQ(::listen(target.fd(), 1), 0);
  OneShotHttpServer redirector(
      RedirectTo(absl::StrCat("http://LocalHost:", target.port(), "/")));
  HandlerRegistry registry;
  ASSERT_THAT(Register(registry, "127.0.0.1,::1", "localhost"), IsOk());
  const absl::StatusOr<std::string> result = (*registry.Find("thread.http.get"))(
      TaskContext{"task-1", 1, "thread.http.get", redirector.Url("/"), &token_, {}});
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("LocalHost (")));
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(kDenied)));
  EXPECT_FALSE(target.HasPendingConnection());
}

// A host name entry never lifts the default deny: the name's owner decides what it
// resolves to.
TEST_F(BuiltinTasksTest, HttpGetAllowedByHostNameStillRefusesALoopbackAddress) {
  LoopbackSocket server;
  ASSERT_EQ(::listen(server.fd(), 1), 0);
  EXPECT_THAT(GetWithPolicy("localhost", "", absl::StrCat("http://localhost:", server.port())),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(kDenied)));
  EXPECT_FALSE(server.HasPendingConnection());
}

TEST_F(BuiltinTasksTest, HttpGetDenyBeatsAllow) {
  LoopbackSocket server;
  ASSERT_EQ(::listen(server.fd(), 1), 0);
  EXPECT_THAT(GetWithPolicy("127.0.0.1", "127.0.0.0/8", server.Url("/")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       absl::StrCat("thread.http.get: 127.0.0.1", kDenied)));
}

// A proxy would be the only address libcurl connects to; the policy must see the target.
TEST_F(BuiltinTasksTest, HttpGetIgnoresProxiesFromTheEnvironment) {
  LoopbackSocket proxy;
  ASSERT_EQ(::listen(proxy.fd(), 1), 0);
  OneShotHttpServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  const std::string proxy_url = proxy.Url("");
  for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}) {
    ::setenv(name, proxy_url.c_str(), 1);
  }
  const absl::StatusOr<std::string> result = Run("thread.http.get", server.Url("/"));
  for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}) {
    ::unsetenv(name);
  }
  EXPECT_THAT(result, IsOkAndHolds("status 200\nsize 2\n\nok"));
  EXPECT_FALSE(proxy.HasPendingConnection());
}

// --- the event-loop built-ins: http.get, http.request and sleep through an EventLoopRunner ---

// Serves two requests on ONE connection (keep-alive), then closes: a client that opened a
// second connection would wait for an answer that never comes.
class KeepAliveHttpServer {
 public:
  KeepAliveHttpServer() {
    if (::listen(socket_.fd(), 4) != 0) ADD_FAILURE() << "listen failed";
    thread_ = std::thread([this] { Serve(); });
  }
  ~KeepAliveHttpServer() { thread_.join(); }
  std::string Url(absl::string_view path) const { return socket_.Url(path); }

 private:
  void Serve() {
    pollfd p{socket_.fd(), POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return;
    const int conn = ::accept4(socket_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    std::string buffered;
    for (int i = 1; i <= 2; ++i) {
      char buf[1024];
      while (buffered.find("\r\n\r\n") == std::string::npos) {
        pollfd c{conn, POLLIN, 0};
        if (::poll(&c, 1, 5000) != 1) break;
        const ssize_t n = ::read(conn, buf, sizeof(buf));
        if (n <= 0) break;
        buffered.append(buf, static_cast<size_t>(n));
      }
      const size_t end = buffered.find("\r\n\r\n");
      if (end == std::string::npos) break;
      buffered.erase(0, end + 4);
      const std::string response =
          absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nreply", i);
      (void)!::send(conn, response.data(), response.size(), MSG_NOSIGNAL);
    }
    ::close(conn);
  }

  LoopbackSocket socket_;
  std::thread thread_;
};

class LoopBuiltinsTest : public BuiltinTasksTest {
 protected:
  // Runs one attempt of `type` on a one-thread event loop over `registry` and returns its
  // only result.
  static RunResult RunOnLoop(const HandlerRegistry& registry, const std::string& type,
                             std::string payload,
                             absl::Time deadline = absl::Now() + absl::Seconds(20)) {
    auto runner = EventLoopRunner::Create(registry, 1);
    EXPECT_TRUE(runner.ok());
    if (!runner.ok()) return {};
    absl::Notification done;
    RunResult out;
    (*runner)->Start(std::make_shared<Attempt>("task-1", 1, type, std::move(payload), deadline),
                     [&](RunResult r) {
                       out = std::move(r);
                       done.Notify();
                     });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    (*runner)->Shutdown();
    return out;
  }
  RunResult RunOnLoop(const std::string& type, std::string payload,
                      absl::Time deadline = absl::Now() + absl::Seconds(20)) {
    return RunOnLoop(registry_, type, std::move(payload), deadline);
  }
};

TEST_F(LoopBuiltinsTest, HttpGetReturnsStatusSizeAndBodyLikeTheThreadOne) {
  OneShotHttpServer server(
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  const RunResult r = RunOnLoop("http.get", server.Url("/greeting"));
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded) << r.error;
  EXPECT_EQ(r.output, "status 200\nsize 5\n\nhello");
  EXPECT_THAT(server.request(), StartsWith("GET /greeting HTTP/1.1\r\n"));
}

TEST_F(LoopBuiltinsTest, HttpGetReportsAnErrorStatusAsAResult) {
  OneShotHttpServer server(
      "HTTP/1.1 500 Oops\r\nContent-Length: 4\r\nConnection: close\r\n\r\nboom");
  const RunResult r = RunOnLoop("http.get", server.Url("/"));
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded) << r.error;
  EXPECT_EQ(r.output, "status 500\nsize 4\n\nboom");
}

TEST_F(LoopBuiltinsTest, HttpGetReusesItsKeepAliveConnection) {
  KeepAliveHttpServer server;
  auto runner = EventLoopRunner::Create(registry_, 1);
  ASSERT_TRUE(runner.ok());
  for (int i = 1; i <= 2; ++i) {
    absl::Notification done;
    RunResult r;
    (*runner)->Start(std::make_shared<Attempt>(absl::StrCat("t", i), 1, "http.get",
                                               server.Url("/"), absl::Now() + absl::Seconds(5)),
                     [&](RunResult result) {
                       r = std::move(result);
                       done.Notify();
                     });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    EXPECT_EQ(r.outcome, RunOutcome::kSucceeded) << "request " << i << ": " << r.error;
    EXPECT_EQ(r.output, absl::StrCat("status 200\nsize 6\n\nreply", i));
  }
  (*runner)->Shutdown();
}

TEST_F(LoopBuiltinsTest, HttpRequestSendsItsMethodHeadersAndBody) {
  OneShotHttpServer server(
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  const std::string payload = absl::StrCat(
      R"({"url": ")", server.Url("/items"),
      R"(", "method": "post", "headers": {"X-Trace": "abc"}, "body": "{\"n\":1}"})");
  const RunResult r = RunOnLoop("http.request", payload);
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded) << r.error;
  EXPECT_EQ(r.output, "status 201\nsize 2\n\nok");
  EXPECT_THAT(server.request(), StartsWith("POST /items HTTP/1.1\r\n"));
  EXPECT_THAT(server.request(), HasSubstr("X-Trace: abc\r\n"));
  EXPECT_THAT(server.request(), HasSubstr("Content-Length: 7\r\n"));
}

TEST_F(LoopBuiltinsTest, HttpRequestRefusesBadPayloadsNotRetryable) {
  for (const char* payload :
       {"not json", R"({"url": "file:///etc/passwd"})", R"({"url": "http://x", "nope": 1})",
        R"({"url": "http://x", "method": "GET /evil"})",
        R"({"url": "http://x", "headers": {"a\r\nb": "c"}})"}) {
    const RunResult r = RunOnLoop("http.request", payload);
    EXPECT_EQ(r.outcome, RunOutcome::kFailed) << payload;
    EXPECT_TRUE(r.not_retryable) << payload << ": " << r.error;
  }
}

TEST_F(LoopBuiltinsTest, HttpGetRefusesARedirectToADeniedAddressNotRetryable) {
  LoopbackSocket target("127.0.0.2");
  ASSERT_EQ(::listen(target.fd(), 1), 0);
  OneShotHttpServer redirector(RedirectTo(target.Url("/")));
  const RunResult r = RunOnLoop("http.get", redirector.Url("/"));
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_TRUE(r.not_retryable);
  EXPECT_EQ(r.error, absl::StrCat("http.get: 127.0.0.2", kDenied));
  EXPECT_FALSE(target.HasPendingConnection());
}

TEST_F(LoopBuiltinsTest, HttpGetFailsABodyOverTheLimitNotRetryable) {
  HandlerRegistry registry;
  BuiltinOptions options;
  options.fetch_policy = *FetchPolicy::Parse("127.0.0.1", "");
  options.http_max_response_bytes = 1000;
  ASSERT_THAT(RegisterBuiltinTasks(registry, options), IsOk());
  // No Content-Length: the limit must hold while the body streams in.
  OneShotHttpServer server(absl::StrCat("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
                                        std::string(5000, 'x')));
  const RunResult r = RunOnLoop(registry, "http.get", server.Url("/huge"));
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_TRUE(r.not_retryable);
  EXPECT_THAT(r.error, HasSubstr("larger than the executor's limit of 1000 bytes"));
}

// A server that accepts and never answers: the attempt's deadline ends the transfer.
TEST_F(LoopBuiltinsTest, HttpGetToASilentServerIsTimedOutAtTheDeadline) {
  LoopbackSocket silent;
  ASSERT_EQ(::listen(silent.fd(), 1), 0);
  const RunResult r =
      RunOnLoop("http.get", silent.Url("/"), absl::Now() + absl::Milliseconds(300));
  EXPECT_EQ(r.outcome, RunOutcome::kTimedOut);
  EXPECT_LT(r.run_time, absl::Seconds(5));
}

TEST_F(LoopBuiltinsTest, HttpGetRefusesLoopbackUnderTheDefaultPolicy) {
  HandlerRegistry registry;
  ASSERT_THAT(RegisterBuiltinTasks(registry), IsOk());
  LoopbackSocket target;
  ASSERT_EQ(::listen(target.fd(), 1), 0);
  const RunResult r = RunOnLoop(registry, "http.get", target.Url("/"));
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_TRUE(r.not_retryable);
  EXPECT_EQ(r.error, absl::StrCat("http.get: 127.0.0.1", kDenied));
  EXPECT_FALSE(target.HasPendingConnection());
}

TEST_F(LoopBuiltinsTest, SleepWaitsOnATimerAndRejectsABadPayload) {
  const RunResult r = RunOnLoop("sleep", "20");
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded);
  EXPECT_EQ(r.output, "slept 20 ms");
  EXPECT_GE(r.run_time, absl::Milliseconds(20));
  const RunResult bad = RunOnLoop("sleep", "soon");
  EXPECT_EQ(bad.outcome, RunOutcome::kFailed);
  EXPECT_TRUE(bad.not_retryable);
}

}  // namespace
}  // namespace taskwire::executor
