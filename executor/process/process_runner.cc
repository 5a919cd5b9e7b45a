#include "executor/process/process_runner.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "executor/process/child_process.h"

namespace taskwire::executor {
namespace {

constexpr size_t kReadChunk = 64 << 10;
constexpr int kReadsPerWakeup = 16;  // so that one chatty child cannot starve the others
// After the child exits, how long its pipes may stay open (held by a process that left
// its group) before they are closed anyway.
constexpr absl::Duration kLinger = absl::Seconds(1);

// A write to a pipe whose reader is gone raises SIGPIPE on this thread, where every signal
// is blocked: take it back so it is not left pending.
void ConsumeSigpipe() {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  const timespec zero = {0, 0};
  while (sigtimedwait(&pipe_only, nullptr, &zero) == SIGPIPE) {
  }
}

}  // namespace

// The I/O thread's state: the queue of attempts waiting for a slot and the running children.
class ProcessRunner::IoLoop {
 public:
  explicit IoLoop(ProcessRunner& runner) : runner_(runner), buffer_(kReadChunk) {}
  void Run();

 private:
  struct Running {
    Work work;
    const PreparedCommand* command;
    std::unique_ptr<ChildProcess> child;
    absl::Time started;
    absl::Time deadline;
    std::string stdin_data;  // the input or its framed form (ProcessCommand::framed_stdin)
    size_t stdin_offset = 0;
    std::string output;
    std::string stderr_tail;
    std::optional<ProcessExit> stop_reason;  // set when we stop it
    bool killed = false;                     // SIGKILL sent
    absl::Time kill_at = absl::InfiniteFuture();
    absl::Time linger_until = absl::InfiniteFuture();
  };

  void Launch(absl::Time now);
  void Supervise(Running& r, absl::Time now);
  void Terminate(Running& r, ProcessExit reason, absl::Time now);
  void PollOnce(absl::Time now);
  void WriteStdin(Running& r);
  void ReadStdout(Running& r);
  void ReadStderr(Running& r);
  void OnExit(Running& r, absl::Time now);
  void FinishReaped(absl::Time now);
  RunResult Result(Running& r, absl::Time now) const;
  void Fail(Work& work, RunOutcome outcome, std::string error);

  ProcessRunner& runner_;
  std::vector<char> buffer_;
  std::deque<Work> queue_;
  std::vector<std::unique_ptr<Running>> running_;
  bool stopping_ = false;
};

void ProcessRunner::IoLoop::Run() {
  while (true) {
    std::vector<Work> fresh;
    if (runner_.TakePending(&fresh)) stopping_ = true;
    for (Work& w : fresh) queue_.push_back(std::move(w));
    absl::Time now = absl::Now();
    if (stopping_) {
      for (Work& w : queue_) Fail(w, RunOutcome::kCancelled, "the executor is shutting down");
      queue_.clear();
    }
    Launch(now);
    now = absl::Now();
    for (auto& r : running_) Supervise(*r, now);
    FinishReaped(now);
    if (stopping_ && running_.empty()) return;
    // A slot that just freed starts the next queued attempt before any waiting.
    if (!queue_.empty() && running_.size() < runner_.options_.slots) continue;
    PollOnce(now);
  }
}

void ProcessRunner::IoLoop::Fail(Work& work, RunOutcome outcome, std::string error) {
  RunResult result;
  result.outcome = outcome;
  result.error = std::move(error);
  work.done(std::move(result));
}

void ProcessRunner::IoLoop::Launch(absl::Time now) {
  while (!queue_.empty() && running_.size() < runner_.options_.slots) {
    Work work = std::move(queue_.front());
    queue_.pop_front();
    const TaskContext& ctx = work.attempt->context;
    const PreparedCommand* command = runner_.Find(ctx.type);
    if (command == nullptr) {
      Fail(work, RunOutcome::kFailed,
           absl::StrCat("task type '", ctx.type, "' is not a process task of this executor"));
      continue;
    }
    if (work.attempt->token.cancelled()) {
      Fail(work, RunOutcome::kCancelled, "cancelled before a process slot was free");
      continue;
    }
    if (work.attempt->token.expired()) {
      Fail(work, RunOutcome::kTimedOut, "timed out before a process slot was free");
      continue;
    }
    const absl::Time t0 = absl::Now();
    absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Spawn(
        *command, {absl::StrCat(kUpstreamCountEnv, "=", ctx.upstream_results.size())});
    const absl::Time t1 = absl::Now();
    if (!child.ok()) {
      runner_.metrics_.Exited(ProcessExit::kSpawnFailed);
      Fail(work, RunOutcome::kFailed,
           absl::StrCat("task type '", ctx.type, "': ", child.status().message(),
                        " (check the command of this type in the executor config)"));
      continue;
    }
    runner_.metrics_.Spawned(t1 - t0);
    auto r = std::make_unique<Running>();
    r->work = std::move(work);
    r->command = command;
    r->child = std::move(*child);
    r->started = t0;
    r->deadline = std::min(r->work.attempt->token.deadline(), t0 + command->command().timeout);
    r->stdin_data = command->command().framed_stdin
                        ? FramedStdin(ctx.upstream_results, ctx.payload)
                        : ctx.input();
    WriteStdin(*r);  // the first chunk now; the rest as the pipe drains
    running_.push_back(std::move(r));
  }
}

void ProcessRunner::IoLoop::Supervise(Running& r, absl::Time now) {
  if (!r.child->reaped()) {
    if (!r.stop_reason.has_value()) {
      if (stopping_ || r.work.attempt->token.cancelled()) {
        Terminate(r, ProcessExit::kCancelled, now);
      } else if (now >= r.deadline) {
        Terminate(r, ProcessExit::kTimeout, now);
      }
    } else if (!r.killed && now >= r.kill_at) {
      r.child->SignalGroup(SIGKILL);
      r.killed = true;
    }
  } else if (now >= r.linger_until) {
    r.child->stdout_pipe().Reset();
    r.child->stderr_pipe().Reset();
  }
}

void ProcessRunner::IoLoop::Terminate(Running& r, ProcessExit reason, absl::Time now) {
  r.stop_reason = reason;
  r.child->stdin_pipe().Reset();
  const absl::Duration grace = runner_.options_.kill_grace;
  r.child->SignalGroup(grace > absl::ZeroDuration() ? SIGTERM : SIGKILL);
  r.killed = grace <= absl::ZeroDuration();
  r.kill_at = now + grace;
}

void ProcessRunner::IoLoop::PollOnce(absl::Time now) {
  enum Which { kStdin, kStdout, kStderr, kExit };
  std::vector<pollfd> fds;
  std::vector<std::pair<Running*, Which>> owners;
  fds.push_back({runner_.wake_fd_.get(), POLLIN, 0});
  owners.emplace_back(nullptr, kExit);
  absl::Time wake_at = absl::InfiniteFuture();
  for (auto& r : running_) {
    auto add = [&](UniqueFd& fd, short events, Which which) {
      if (!fd.valid()) return;
      fds.push_back({fd.get(), events, 0});
      owners.emplace_back(r.get(), which);
    };
    add(r->child->stdin_pipe(), POLLOUT, kStdin);
    add(r->child->stdout_pipe(), POLLIN, kStdout);
    add(r->child->stderr_pipe(), POLLIN, kStderr);
    if (!r->child->reaped()) {
      fds.push_back({r->child->pidfd(), POLLIN, 0});
      owners.emplace_back(r.get(), kExit);
      wake_at = std::min(wake_at, r->stop_reason ? (r->killed ? absl::InfiniteFuture() : r->kill_at)
                                                 : r->deadline);
    } else {
      wake_at = std::min(wake_at, r->linger_until);
    }
  }
  int timeout_ms = -1;
  if (wake_at != absl::InfiniteFuture()) {
    // Rounded up, so that we do not wake just before a deadline and spin.
    timeout_ms = static_cast<int>(std::clamp<int64_t>(
        absl::ToInt64Milliseconds(wake_at - now + absl::Microseconds(999)), 0, 60'000));
  }
  if (poll(fds.data(), fds.size(), timeout_ms) <= 0) return;  // timeout or EINTR: re-check
  now = absl::Now();
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].revents == 0) continue;
    auto [r, which] = owners[i];
    if (r == nullptr) {
      uint64_t count;
      while (read(fds[i].fd, &count, sizeof(count)) > 0) {
      }
      continue;
    }
    switch (which) {
      case kStdin: WriteStdin(*r); break;
      case kStdout: ReadStdout(*r); break;
      case kStderr: ReadStderr(*r); break;
      case kExit: OnExit(*r, now); break;
    }
  }
}

void ProcessRunner::IoLoop::WriteStdin(Running& r) {
  UniqueFd& pipe = r.child->stdin_pipe();
  const std::string& payload = r.stdin_data;
  while (pipe.valid() && r.stdin_offset < payload.size()) {
    const ssize_t n = write(pipe.get(), payload.data() + r.stdin_offset,
                            std::min<size_t>(payload.size() - r.stdin_offset, 1 << 20));
    if (n > 0) {
      r.stdin_offset += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      // EPIPE: the child stopped reading; what it makes of a partial payload is its call.
      if (errno == EPIPE) ConsumeSigpipe();
      break;
    }
  }
  pipe.Reset();  // EOF on the child's stdin
}

void ProcessRunner::IoLoop::ReadStdout(Running& r) {
  UniqueFd& pipe = r.child->stdout_pipe();
  const uint64_t limit = r.command->command().limits.max_output_bytes;
  for (int i = 0; i < kReadsPerWakeup && pipe.valid(); ++i) {
    const ssize_t n = read(pipe.get(), buffer_.data(), buffer_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      pipe.Reset();
      return;
    }
    const size_t room = limit - r.output.size();
    r.output.append(buffer_.data(), std::min(room, static_cast<size_t>(n)));
    if (static_cast<size_t>(n) > room) {
      // Closing our end also stops a writer that ignores SIGTERM (it gets EPIPE/SIGPIPE).
      pipe.Reset();
      if (!r.stop_reason && !r.child->reaped()) Terminate(r, ProcessExit::kOutputLimit, absl::Now());
      if (!r.stop_reason) r.stop_reason = ProcessExit::kOutputLimit;
      return;
    }
  }
}

void ProcessRunner::IoLoop::ReadStderr(Running& r) {
  UniqueFd& pipe = r.child->stderr_pipe();
  const size_t keep = r.command->command().limits.stderr_tail_bytes;
  for (int i = 0; i < kReadsPerWakeup && pipe.valid(); ++i) {
    const ssize_t n = read(pipe.get(), buffer_.data(), buffer_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) {
      pipe.Reset();
      break;
    }
    r.stderr_tail.append(buffer_.data(), static_cast<size_t>(n));
    // Trimmed in batches, so a flood costs amortized O(1) per byte.
    if (r.stderr_tail.size() > 2 * keep) r.stderr_tail.erase(0, r.stderr_tail.size() - keep);
  }
}

void ProcessRunner::IoLoop::OnExit(Running& r, absl::Time now) {
  // The leader is a zombie now, so its group id is still ours: stop whatever it left
  // behind (background grandchildren) before reaping it. No leftover processes.
  r.child->SignalGroup(SIGKILL);
  if (r.child->TryReap()) {
    r.child->stdin_pipe().Reset();
    r.linger_until = now + kLinger;
  }
}

void ProcessRunner::IoLoop::FinishReaped(absl::Time now) {
  auto done = [](const std::unique_ptr<Running>& r) {
    return r->child->reaped() && !r->child->stdout_pipe().valid() &&
           !r->child->stderr_pipe().valid();
  };
  std::vector<std::unique_ptr<Running>> finished;
  for (auto& r : running_) {
    if (done(r)) finished.push_back(std::move(r));
  }
  running_.erase(std::remove(running_.begin(), running_.end(), nullptr), running_.end());
  for (auto& r : finished) {
    RunResult result = Result(*r, now);
    r->work.done(std::move(result));
  }
}

RunResult ProcessRunner::IoLoop::Result(Running& r, absl::Time now) const {
  RunResult result;
  result.run_time = now - r.started;
  const ExitStatus& status = r.child->exit_status();
  const std::string how = status.signaled
                              ? absl::StrCat("killed by ", SignalName(status.signal),
                                             status.core_dumped ? ", core dumped" : "")
                              : absl::StrCat("exit code ", status.code);
  if (status.signaled) {
    result.term_signal = status.signal;
  } else {
    result.exit_code = status.code;
  }
  const std::string& type = r.work.attempt->context.type;
  ProcessExit reason;
  if (r.stop_reason.has_value()) {
    reason = *r.stop_reason;
    const std::string stopped = absl::StrCat(
        "the process group got SIGTERM", r.killed ? " and, after the grace period, SIGKILL" : "",
        " (", how, ")");
    switch (reason) {
      case ProcessExit::kTimeout:
        result.outcome = RunOutcome::kTimedOut;
        result.error = absl::StrCat("timed out after ", absl::FormatDuration(result.run_time),
                                    "; ", stopped);
        break;
      case ProcessExit::kOutputLimit:
        result.error = absl::StrCat("output exceeded ", r.command->command().limits.max_output_bytes,
                                    " bytes (limits.max_output_bytes of task type '", type,
                                    "'); the process was stopped (", how, ")");
        break;
      default:
        result.outcome = RunOutcome::kCancelled;
        result.error = absl::StrCat(stopping_ ? "the executor is shutting down" : "cancelled",
                                    "; ", stopped);
        break;
    }
  } else if (status.signaled) {
    reason = ProcessExit::kSignal;
    result.error = absl::StrCat("the process was ", how);
  } else if (status.code != 0) {
    reason = ProcessExit::kNonzero;
    result.error = absl::StrCat("the process ended with ", how);
    const std::vector<int>& permanent = r.command->command().not_retryable_exit_codes;
    if (std::binary_search(permanent.begin(), permanent.end(), status.code)) {
      result.not_retryable = true;
      absl::StrAppend(&result.error, " (not retryable for task type '", type, "')");
    }
  } else {
    reason = ProcessExit::kOk;
    result.outcome = RunOutcome::kSucceeded;
    result.output = std::move(r.output);
  }
  if (reason != ProcessExit::kOk && !r.stderr_tail.empty()) {
    const size_t keep = r.command->command().limits.stderr_tail_bytes;
    if (r.stderr_tail.size() > keep) r.stderr_tail.erase(0, r.stderr_tail.size() - keep);
    absl::StrAppend(&result.error, "\nstderr (last ", r.stderr_tail.size(), " bytes):\n",
                    r.stderr_tail);
  }
  runner_.metrics_.Exited(reason);
  return result;
}

ProcessRunner::ProcessRunner(ProcessRunnerOptions options, ProcessMetrics& metrics)
    : options_(std::move(options)),
      metrics_(metrics),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  for (const ProcessCommand& command : options_.commands) {
    types_.push_back(command.type);
    commands_[command.type] = std::make_unique<PreparedCommand>(command);
  }
  if (!wake_fd_.valid()) {
    spdlog::critical("eventfd: {}", std::strerror(errno));
    std::abort();  // out of descriptors at start-up: nothing sensible to run with
  }
  io_ = std::thread([this] {
    // Signals go to the executor's other threads; SIGPIPE from our writes stays ours.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    IoLoop(*this).Run();
  });
}

ProcessRunner::~ProcessRunner() { Shutdown(); }

void ProcessRunner::Start(std::shared_ptr<Attempt> attempt, Done done) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      pending_.push_back(Work{std::move(attempt), std::move(done)});
      Wake();
      return;
    }
  }
  done(RunResult::NotRun("the runner is shut down"));
}

void ProcessRunner::CancelRequested() { Wake(); }

void ProcessRunner::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  Wake();
  if (io_.joinable()) io_.join();
}

void ProcessRunner::Wake() {
  const uint64_t one = 1;
  // EAGAIN means the counter is huge, so a wake-up is pending anyway.
  [[maybe_unused]] ssize_t n = write(wake_fd_.get(), &one, sizeof(one));
}

bool ProcessRunner::TakePending(std::vector<Work>* out) {
  absl::MutexLock lock(&mu_);
  out->swap(pending_);
  return stopping_;
}

const PreparedCommand* ProcessRunner::Find(const std::string& type) const {
  auto it = commands_.find(type);
  return it == commands_.end() ? nullptr : it->second.get();
}

}  // namespace taskwire::executor
