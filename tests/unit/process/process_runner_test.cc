// ProcessRunner against real programs: the run contract (stdin -> stdout), every failure
// mode (exit code, signals, timeout with a grandchild, output flood, exec failures,
// cancel, shutdown), environment isolation and many short processes on few slots. Each
// failure test then runs a task on the same runner: the executor keeps serving. After
// every test the runner is gone and this process has no child left (no zombie, nothing
// running) and exactly the file descriptors it had before.
#include "executor/process/process_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace taskwire::executor {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::Duration kBound = absl::Seconds(10);  // for waits that should end soon

int CountOpenFds() {
  int n = 0;
  DIR* dir = opendir("/proc/self/fd");
  while (dirent* e = readdir(dir)) n += e->d_name[0] != '.';
  closedir(dir);
  return n - 1;  // the directory's own descriptor
}

// The one result of an attempt, awaited with a bound.
class ResultBox {
 public:
  Runner::Done Done() {
    return [this](RunResult r) {
      absl::MutexLock lock(&mu_);
      ++calls_;
      result_ = std::move(r);
    };
  }
  std::optional<RunResult> Await(absl::Duration bound) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return result_.has_value(); };
    mu_.AwaitWithTimeout(absl::Condition(&ready), bound);
    return result_;
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  absl::Mutex mu_;
  std::optional<RunResult> result_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// A FIFO that a child writes a line to (e.g. a PID) once it is running: the test reads it
// instead of guessing how long a start takes.
class StartSignal {
 public:
  StartSignal() {
    char tmpl[] = "/tmp/taskwire-process-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/started";
    EXPECT_EQ(mkfifo(path_.c_str(), 0600), 0);
  }
  ~StartSignal() {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  // The first line written, or "" if none within `bound`.
  std::string Await(absl::Duration bound) {
    const int fd = open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    std::string line;
    const absl::Time deadline = absl::Now() + bound;
    while (line.find('\n') == std::string::npos && absl::Now() < deadline) {
      pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()))) <= 0) {
        break;
      }
      char buf[64];
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n > 0) line.append(buf, static_cast<size_t>(n));
      if (n == 0) break;
    }
    close(fd);
    return line.substr(0, line.find('\n'));
  }

 private:
  std::string dir_;
  std::string path_;
};

// Whether `pid` (not our child, so not ours to wait for) has exited within `bound`: its
// pidfd polls readable once it is dead.
bool ProcessEnds(pid_t pid, absl::Duration bound) {
  const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p = {fd, POLLIN, 0};
  const bool ended = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(bound))) == 1;
  close(fd);
  return ended;
}

ProcessCommand Command(std::string type, std::vector<std::string> argv) {
  ProcessCommand c;
  c.type = std::move(type);
  c.argv = std::move(argv);
  return c;
}

ProcessCommand Shell(std::string type, std::string script) {
  return Command(std::move(type), {"/bin/sh", "-c", std::move(script)});
}

class ProcessRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { fds_before_ = CountOpenFds(); }

  void TearDown() override {
    runner_.reset();
    int status;
    EXPECT_EQ(waitpid(-1, &status, WNOHANG), -1) << "a child is left (zombie or running)";
    EXPECT_EQ(errno, ECHILD);
    EXPECT_EQ(CountOpenFds(), fds_before_) << "file descriptors leaked";
  }

  // Every runner also serves "cat", to show that it still works after a failure.
  ProcessRunner& MakeRunner(std::vector<ProcessCommand> commands, uint32_t slots = 2,
                            absl::Duration kill_grace = absl::Seconds(5)) {
    commands.push_back(Command("cat", {"/bin/cat"}));
    ProcessRunnerOptions options;
    options.commands = std::move(commands);
    options.slots = slots;
    options.kill_grace = kill_grace;
    runner_ = std::make_unique<ProcessRunner>(std::move(options), metrics_);
    return *runner_;
  }

  std::shared_ptr<Attempt> NewAttempt(const std::string& type, std::string payload,
                                      absl::Duration timeout = absl::InfiniteDuration()) {
    return std::make_shared<Attempt>(absl::StrCat("task-", ++next_id_), 1, type,
                                     std::move(payload), absl::Now() + timeout);
  }

  RunResult Run(const std::string& type, std::string payload = "",
                absl::Duration timeout = absl::InfiniteDuration()) {
    ResultBox box;
    runner_->Start(NewAttempt(type, std::move(payload), timeout), box.Done());
    std::optional<RunResult> result = box.Await(kBound);
    if (!result.has_value()) {
      ADD_FAILURE() << type << " gave no result within " << kBound;
      return RunResult{};
    }
    return *result;
  }

  void ExpectStillServes() {
    RunResult r = Run("cat", "still here");
    EXPECT_EQ(r.outcome, RunOutcome::kSucceeded) << r.error;
    EXPECT_EQ(r.output, "still here");
  }

  double ExitCount(const std::string& reason) {
    for (const auto& family : registry_.Collect()) {
      if (family.name != "taskwire_executor_process_exits_total") continue;
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) {
          if (label.name == "reason" && label.value == reason) return metric.counter.value;
        }
      }
    }
    return -1;
  }

  prometheus::Registry registry_;
  ProcessMetrics metrics_{registry_};
  std::unique_ptr<ProcessRunner> runner_;
  int fds_before_ = 0;
  int next_id_ = 0;
};

TEST_F(ProcessRunnerTest, PayloadGoesToStdinAndStdoutIsTheResult) {
  MakeRunner({});
  RunResult r = Run("cat", "hello, process");
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded) << r.error;
  EXPECT_EQ(r.output, "hello, process");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(ExitCount("ok"), 1);
}

TEST_F(ProcessRunnerTest, ANonZeroExitFailsWithTheCodeAndStderrTail) {
  MakeRunner({Shell("exit3", "echo first >&2; echo 'bad input on line 7' >&2; exit 3")});
  RunResult r = Run("exit3");
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_THAT(r.error, StartsWith("the process ended with exit code 3"));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_THAT(r.error, HasSubstr("bad input on line 7"));
  EXPECT_EQ(ExitCount("nonzero"), 1);
  ExpectStillServes();
}

TEST_F(ProcessRunnerTest, KeepsOnlyTheTailOfStderr) {
  ProcessCommand noisy = Shell("noisy", "/usr/bin/yes spam | /usr/bin/head -c 1000000 >&2; "
                                        "echo THE-END >&2; exit 1");
  noisy.limits.stderr_tail_bytes = 100;
  MakeRunner({noisy});
  RunResult r = Run("noisy");
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_THAT(r.error, HasSubstr("stderr (last 100 bytes)"));
  EXPECT_THAT(r.error, HasSubstr("THE-END"));
  EXPECT_LT(r.error.size(), 300u);
}

TEST_F(ProcessRunnerTest, ASegfaultFailsTheAttemptNotTheExecutor) {
  MakeRunner({Shell("segv", "kill -SEGV $$")});
  RunResult r = Run("segv");
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_THAT(r.error, StartsWith("the process was killed by SIGSEGV (Segmentation fault)"));
  EXPECT_EQ(r.term_signal, SIGSEGV);
  EXPECT_FALSE(r.exit_code.has_value());
  EXPECT_EQ(ExitCount("signal"), 1);
  ExpectStillServes();
}

TEST_F(ProcessRunnerTest, AnAbortFailsTheAttempt) {
  MakeRunner({Shell("abort", "kill -ABRT $$")});
  RunResult r = Run("abort");
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_THAT(r.error, HasSubstr("killed by SIGABRT"));
  ExpectStillServes();
}

TEST_F(ProcessRunnerTest, AHangPastTheTimeoutIsKilledWithItsGrandchild) {
  StartSignal started;
  ProcessCommand hang = Shell(
      "hang", absl::StrCat("/bin/sleep 1000 & echo $! > ", started.path(), "; wait"));
  hang.timeout = absl::Milliseconds(300);
  MakeRunner({hang});
  ResultBox box;
  runner_->Start(NewAttempt("hang", ""), box.Done());
  const std::string grandchild = started.Await(kBound);
  ASSERT_FALSE(grandchild.empty()) << "the shell never started its sleep";
  std::optional<RunResult> r = box.Await(kBound);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->outcome, RunOutcome::kTimedOut);
  EXPECT_THAT(r->error, StartsWith("timed out after"));
  EXPECT_THAT(r->error, HasSubstr("SIGTERM"));
  EXPECT_TRUE(ProcessEnds(std::stoi(grandchild), kBound)) << "grandchild " << grandchild;
  EXPECT_EQ(ExitCount("timeout"), 1);
  ExpectStillServes();
}

TEST_F(ProcessRunnerTest, TheTasksOwnTimeoutAlsoApplies) {
  MakeRunner({Command("sleep", {"/bin/sleep", "1000"})});
  RunResult r = Run("sleep", "", absl::Milliseconds(200));
  EXPECT_EQ(r.outcome, RunOutcome::kTimedOut);
  ExpectStillServes();
}

TEST_F(ProcessRunnerTest, AChildIgnoringSigtermGetsSigkillAfterTheGrace) {
  StartSignal started;
  ProcessCommand stubborn = Shell(
      "stubborn", absl::StrCat("trap '' TERM; echo $$ > ", started.path(), "; exec /bin/sleep 1000"));
  stubborn.timeout = absl::Milliseconds(100);
  MakeRunner({stubborn}, 2, absl::Milliseconds(200));
  RunResult r = Run("stubborn");
  EXPECT_EQ(r.outcome, RunOutcome::kTimedOut);
  EXPECT_THAT(r.error, HasSubstr("SIGKILL"));
  EXPECT_THAT(r.error, HasSubstr("killed by SIGKILL"));
  ExpectStillServes();
}

TEST_F(ProcessRunnerTest, OutputPastTheLimitStopsTheChild) {
  ProcessCommand flood = Command("flood", {"/usr/bin/yes"});
  flood.limits.max_output_bytes = 1 << 20;
  MakeRunner({flood});
  RunResult r = Run("flood");
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_THAT(r.error, StartsWith("output exceeded 1048576 bytes"));
  EXPECT_TRUE(r.output.empty());
  EXPECT_EQ(ExitCount("output_limit"), 1);
  ExpectStillServes();
}

TEST_F(ProcessRunnerTest, A16MiBPayloadGoesThroughStdin) {
  MakeRunner({Command("count", {"/usr/bin/wc", "-c"})});
  RunResult r = Run("count", std::string(16 << 20, 'x'));
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded) << r.error;
  EXPECT_EQ(r.output, "16777216\n");
}

TEST_F(ProcessRunnerTest, AChildThatReadsNoStdinStillSucceeds) {
  MakeRunner({Command("true", {"/bin/true"})});
  RunResult r = Run("true", std::string(4 << 20, 'x'));
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded) << r.error;
}

TEST_F(ProcessRunnerTest, AMissingBinaryFailsWithAClearMessage) {
  MakeRunner({Command("ghost", {"/nonexistent/bin/ghost"})});
  RunResult r = Run("ghost");
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_THAT(r.error, HasSubstr("cannot execute /nonexistent/bin/ghost: No such file or directory"));
  EXPECT_EQ(ExitCount("spawn_failed"), 1);
  ExpectStillServes();
}

TEST_F(ProcessRunnerTest, ANonExecutableFileFailsWithAClearMessage) {
  char path[] = "/tmp/taskwire-not-executable-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  MakeRunner({Command("noexec", {path})});
  RunResult r = Run("noexec");
  unlink(path);
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_THAT(r.error, HasSubstr(absl::StrCat("cannot execute ", path, ": Permission denied")));
  ExpectStillServes();
}

TEST_F(ProcessRunnerTest, AMissingWorkingDirFailsWithAClearMessage) {
  ProcessCommand lost = Command("lost", {"/bin/true"});
  lost.working_dir = "/nonexistent/dir";
  MakeRunner({lost});
  RunResult r = Run("lost");
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_THAT(r.error, HasSubstr("cannot change to the working directory /nonexistent/dir"));
}

TEST_F(ProcessRunnerTest, CancelStopsARunningProcess) {
  StartSignal started;
  MakeRunner({Shell("wait", absl::StrCat("echo $$ > ", started.path(), "; exec /bin/sleep 1000"))});
  ResultBox box;
  std::shared_ptr<Attempt> attempt = NewAttempt("wait", "");
  runner_->Start(attempt, box.Done());
  ASSERT_FALSE(started.Await(kBound).empty());
  attempt->token.Cancel();
  runner_->CancelRequested();
  std::optional<RunResult> r = box.Await(kBound);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->outcome, RunOutcome::kCancelled);
  EXPECT_THAT(r->error, StartsWith("cancelled; the process group got SIGTERM"));
  EXPECT_EQ(ExitCount("cancelled"), 1);
  ExpectStillServes();
}

TEST_F(ProcessRunnerTest, ShutdownStopsRunningChildrenAndQueuedAttempts) {
  StartSignal started;
  MakeRunner({Shell("wait", absl::StrCat("echo $$ > ", started.path(), "; exec /bin/sleep 1000"))},
             1);
  ResultBox running, queued;
  runner_->Start(NewAttempt("wait", ""), running.Done());
  ASSERT_FALSE(started.Await(kBound).empty());
  runner_->Start(NewAttempt("cat", "never"), queued.Done());
  runner_->Shutdown();
  EXPECT_EQ(running.calls(), 1);
  EXPECT_EQ(queued.calls(), 1);
  EXPECT_EQ(running.Await(absl::ZeroDuration())->outcome, RunOutcome::kCancelled);
  EXPECT_THAT(running.Await(absl::ZeroDuration())->error, HasSubstr("shutting down"));
  EXPECT_EQ(queued.Await(absl::ZeroDuration())->outcome, RunOutcome::kCancelled);
  ResultBox late;
  runner_->Start(NewAttempt("cat", "late"), late.Done());
  EXPECT_EQ(late.calls(), 1);  // refused at once
}

TEST_F(ProcessRunnerTest, OnlyListedVariablesReachTheChild) {
  setenv("TASKWIRE_TEST_SECRET", "must-not-leak", 1);
  ProcessCommand env = Command("env", {"/usr/bin/env"});
  env.env = {"VISIBLE=yes"};
  MakeRunner({env});
  RunResult r = Run("env");
  unsetenv("TASKWIRE_TEST_SECRET");
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded) << r.error;
  EXPECT_EQ(r.output, "VISIBLE=yes\nTASKWIRE_UPSTREAM_COUNT=0\n");  // listed, then ours
}

TEST_F(ProcessRunnerTest, AWorkflowNodeReadsItsInputUpstreamResultsFirst) {
  MakeRunner({Shell("count", "echo \"$TASKWIRE_UPSTREAM_COUNT\"; /bin/cat")});
  ResultBox box;
  runner_->Start(std::make_shared<Attempt>("t", 1, "count", "payload", absl::InfiniteFuture(),
                                           std::vector<std::string>{"up1|", "up2|"}),
                 box.Done());
  std::optional<RunResult> r = box.Await(kBound);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->outcome, RunOutcome::kSucceeded) << r->error;
  EXPECT_EQ(r->output, "2\nup1|up2|payload");
}

TEST_F(ProcessRunnerTest, FramedStdinGivesEachUpstreamResultThenThePayloadWithItsLength) {
  ProcessCommand framed = Command("framed", {"/bin/cat"});
  framed.framed_stdin = true;
  MakeRunner({framed});
  ResultBox box;
  runner_->Start(std::make_shared<Attempt>("t", 1, "framed", "p", absl::InfiniteFuture(),
                                           std::vector<std::string>{"hello", "", "a\nb"}),
                 box.Done());
  std::optional<RunResult> r = box.Await(kBound);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->outcome, RunOutcome::kSucceeded) << r->error;
  EXPECT_EQ(r->output, "5\nhello\n0\n\n3\na\nb\n1\np\n");
}

TEST_F(ProcessRunnerTest, AListedExitCodeFailsNotRetryableAndOthersStayRetryable) {
  ProcessCommand permanent = Shell("exit", "exit \"$(/bin/cat)\"");
  permanent.not_retryable_exit_codes = {3, 4};
  MakeRunner({permanent});
  RunResult three = Run("exit", "3");
  EXPECT_EQ(three.outcome, RunOutcome::kFailed);
  EXPECT_TRUE(three.not_retryable);
  EXPECT_THAT(three.error, HasSubstr("not retryable"));
  RunResult five = Run("exit", "5");
  EXPECT_EQ(five.outcome, RunOutcome::kFailed);
  EXPECT_FALSE(five.not_retryable);
  RunResult zero = Run("exit", "0");
  EXPECT_EQ(zero.outcome, RunOutcome::kSucceeded);
  EXPECT_FALSE(zero.not_retryable);
}

TEST_F(ProcessRunnerTest, AChildInheritsOnlyItsThreePipes) {
  MakeRunner({Command("fds", {"/bin/ls", "/proc/self/fd"})});
  RunResult r = Run("fds");
  EXPECT_EQ(r.outcome, RunOutcome::kSucceeded) << r.error;
  // 0, 1, 2, and the descriptor ls opened to list the directory.
  EXPECT_EQ(r.output, "0\n1\n2\n3\n");
}

TEST_F(ProcessRunnerTest, AnUnlistedTypeIsNeverRun) {
  MakeRunner({});
  RunResult r = Run("rm");
  EXPECT_EQ(r.outcome, RunOutcome::kFailed);
  EXPECT_THAT(r.error, HasSubstr("'rm' is not a process task of this executor"));
}

// 200 attempts arrive at once for 8 slots: each must run exactly once with its own
// payload, none lost, none mixed up.
// Regression: with one slot, the attempt queued behind a finished one used to wait for an
// event that never came (the I/O thread polled with nothing running).
TEST_F(ProcessRunnerTest, AFreedSlotStartsTheNextQueuedAttemptAtOnce) {
  MakeRunner({}, 1);
  std::vector<std::unique_ptr<ResultBox>> boxes;
  for (int i = 0; i < 3; ++i) {
    boxes.push_back(std::make_unique<ResultBox>());
    runner_->Start(NewAttempt("cat", absl::StrCat("queued-", i)), boxes.back()->Done());
  }
  for (int i = 0; i < 3; ++i) {
    std::optional<RunResult> r = boxes[i]->Await(kBound);
    ASSERT_TRUE(r.has_value()) << "attempt " << i << " never ran";
    EXPECT_EQ(r->output, absl::StrCat("queued-", i));
  }
}

TEST_F(ProcessRunnerTest, TwoHundredShortProcessesOnEightSlotsAllSucceed) {
  MakeRunner({}, 8);
  constexpr int kTasks = 200;
  std::vector<std::unique_ptr<ResultBox>> boxes;
  for (int i = 0; i < kTasks; ++i) {
    boxes.push_back(std::make_unique<ResultBox>());
    runner_->Start(NewAttempt("cat", absl::StrCat("payload-", i)), boxes.back()->Done());
  }
  for (int i = 0; i < kTasks; ++i) {
    std::optional<RunResult> r = boxes[i]->Await(kBound);
    ASSERT_TRUE(r.has_value()) << "task " << i;
    EXPECT_EQ(r->outcome, RunOutcome::kSucceeded) << r->error;
    EXPECT_EQ(r->output, absl::StrCat("payload-", i));
  }
  runner_.reset();
  for (auto& box : boxes) EXPECT_EQ(box->calls(), 1);
  EXPECT_EQ(ExitCount("ok"), kTasks);
}

}  // namespace
}  // namespace taskwire::executor
