#include "executor/process/child_process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "absl/strings/str_cat.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

namespace taskwire::executor {
namespace {

constexpr size_t kChildStackBytes = 64 << 10;

// The steps the child takes before exec; the first that fails is reported.
enum ChildStep : int {
  kStepNone = 0,
  kStepSetpgid,
  kStepRedirect,
  kStepChdir,
  kStepLimits,
  kStepExec,
};

const char* StepName(int step) {
  switch (step) {
    case kStepSetpgid: return "start a process group";
    case kStepRedirect: return "redirect stdin/stdout/stderr";
    case kStepChdir: return "change to the working directory";
    case kStepLimits: return "set resource limits";
    case kStepExec: return "execute";
  }
  return "start";
}

// Shared with the child (CLONE_VM): the parent reads `step`/`error` once the child has
// exec'd or exited, which CLONE_VFORK waits for.
struct ChildArgs {
  const PreparedCommand* command;
  char* const* envp;  // the command's environment plus the per-attempt variables
  int fds[3];  // the child's ends of stdin, stdout, stderr; all >= 3
  long parent_pid;  // the executor, to notice that it died before the child armed its signal
  volatile int step;
  volatile int error;
};

// The kernel's struct sigaction (x86-64 / arm64 layout), for rt_sigaction.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

// Everything that runs in the child is uninstrumented: a sanitizer would poison shadow
// memory for the child's frames, which never return (the child execs or exits).
#define TW_CHILD_CODE __attribute__((no_sanitize("address", "undefined")))

TW_CHILD_CODE inline long Sys(long number, long a = 0, long b = 0, long c = 0, long d = 0) {
  return syscall(number, a, b, c, d);
}

TW_CHILD_CODE inline bool SetLimit(int resource, uint64_t soft, uint64_t hard) {
  struct rlimit64 limit = {soft, hard};
  return Sys(SYS_prlimit64, 0, resource, reinterpret_cast<long>(&limit), 0) == 0;
}

TW_CHILD_CODE int ChildFailed(ChildArgs* args, int step) {
  args->step = step;
  args->error = errno;
  syscall(SYS_exit_group, 127);
  return 127;
}

// The child, between clone and execve. It shares the executor's memory and runs on its
// own small stack, so it calls no library code that could take a lock or allocate: raw
// system calls only (sanitizer interceptors stay out of it too).
TW_CHILD_CODE int ChildMain(void* raw) {
  ChildArgs* args = static_cast<ChildArgs*>(raw);
  const ProcessCommand& command = args->command->command();
  // A handler of the executor must never run here, and an ignored signal would stay
  // ignored across exec: every signal to its default.
  KernelSigaction dfl = {SIG_DFL, 0, nullptr, 0};
  for (int sig = 1; sig < 65; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    Sys(SYS_rt_sigaction, sig, reinterpret_cast<long>(&dfl), 0, sizeof(uint64_t));
  }
  if (Sys(SYS_setpgid, 0, 0) != 0) return ChildFailed(args, kStepSetpgid);
  // If the executor dies (kill -9, OOM), its children die with it instead of running on
  // as orphans beside the retry of their attempt. The signal follows the spawning thread,
  // the runner's long-lived I/O thread. Grandchildren in the group are not covered.
  Sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  if (Sys(SYS_getppid) != args->parent_pid) return 127;  // it died already
  for (int target = 0; target < 3; ++target) {  // the child's fds are >= 3: dup3 is dup2
    if (Sys(SYS_dup3, args->fds[target], target, 0) < 0) return ChildFailed(args, kStepRedirect);
  }
  // Ours are all close-on-exec, but the executor may have inherited open descriptors
  // from whoever started it: the child gets its three pipes and nothing else.
  Sys(SYS_close_range, 3, ~0U, 0);
  if (Sys(SYS_chdir, reinterpret_cast<long>(command.working_dir.c_str())) != 0) {
    return ChildFailed(args, kStepChdir);
  }
  const ProcessLimits& limits = command.limits;
  // No core files: a crashing task should not fill the executor's disk.
  bool ok = SetLimit(RLIMIT_CORE, 0, 0);
  // The hard CPU limit a second later kills a child that catches SIGXCPU.
  if (ok && limits.cpu_seconds) ok = SetLimit(RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1);
  if (ok && limits.address_space_bytes) {
    ok = SetLimit(RLIMIT_AS, limits.address_space_bytes, limits.address_space_bytes);
  }
  if (ok && limits.open_files) ok = SetLimit(RLIMIT_NOFILE, limits.open_files, limits.open_files);
  if (!ok) return ChildFailed(args, kStepLimits);
  uint64_t empty = 0;
  Sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&empty), 0, sizeof(empty));
  Sys(SYS_execve, reinterpret_cast<long>(command.argv[0].c_str()),
      reinterpret_cast<long>(args->command->argv()), reinterpret_cast<long>(args->envp));
  return ChildFailed(args, kStepExec);
}

absl::Status Errno(absl::string_view what) {
  const int e = errno;
  return absl::Status(e == EMFILE || e == ENFILE || e == EAGAIN || e == ENOMEM
                          ? absl::StatusCode::kResourceExhausted
                          : absl::StatusCode::kInternal,
                      absl::StrCat(what, ": ", strerrordesc_np(e)));
}

// A close-on-exec pipe. The executor's end is non-blocking; the child's stays blocking
// (the flag lives on the shared file description) and is moved above 0..2, so that the
// child's dup2 onto 0..2 cannot clobber another of its pipes.
absl::Status MakePipe(bool child_reads, UniqueFd* parent_end, UniqueFd* child_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Errno("pipe2");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  UniqueFd& mine = child_reads ? write_end : read_end;
  UniqueFd& theirs = child_reads ? read_end : write_end;
  if (fcntl(mine.get(), F_SETFL, O_NONBLOCK) != 0) return Errno("fcntl");
  if (theirs.get() < 3) {
    UniqueFd moved(fcntl(theirs.get(), F_DUPFD_CLOEXEC, 3));
    if (!moved.valid()) return Errno("fcntl");
    theirs = std::move(moved);
  }
  *parent_end = std::move(mine);
  *child_end = std::move(theirs);
  return absl::OkStatus();
}

class ChildStack {
 public:
  ChildStack()
      : base_(mmap(nullptr, kChildStackBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) {}
  ~ChildStack() {
    if (base_ != MAP_FAILED) munmap(base_, kChildStackBytes);
  }
  bool ok() const { return base_ != MAP_FAILED; }
  void* top() const { return static_cast<char*>(base_) + kChildStackBytes; }

 private:
  void* const base_;
};

}  // namespace

PreparedCommand::PreparedCommand(ProcessCommand command) : command_(std::move(command)) {
  for (std::string& arg : command_.argv) argv_.push_back(arg.data());
  argv_.push_back(nullptr);
  for (std::string& var : command_.env) envp_.push_back(var.data());
  envp_.push_back(nullptr);
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const PreparedCommand& command, std::vector<std::string> extra_env) {
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  // Built here, before the clone: the child allocates nothing.
  std::vector<char*> envp(command.envp(), command.envp() + command.command().env.size());
  for (std::string& var : extra_env) envp.push_back(var.data());
  envp.push_back(nullptr);
  UniqueFd theirs[3];
  if (absl::Status s = MakePipe(true, &child->stdin_, &theirs[0]); !s.ok()) return s;
  if (absl::Status s = MakePipe(false, &child->stdout_, &theirs[1]); !s.ok()) return s;
  if (absl::Status s = MakePipe(false, &child->stderr_, &theirs[2]); !s.ok()) return s;
  // One stack per spawning thread, kept: unmapping it after every spawn would cost a TLB
  // shootdown across the executor's threads each time.
  thread_local ChildStack stack;
  if (!stack.ok()) return Errno("mmap");
  ChildArgs args{&command, envp.data(), {theirs[0].get(), theirs[1].get(), theirs[2].get()},
                 static_cast<long>(getpid()), kStepNone, 0};

  // With every signal blocked, no handler of ours can run in the child before it resets
  // them; the child unblocks right before exec.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int pidfd = -1;
  const pid_t pid = clone(ChildMain, stack.top(), CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
                          &args, &pidfd);
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    errno = clone_errno;
    return Errno("clone");
  }
  child->pid_ = pid;
  child->pidfd_.Reset(pidfd);  // CLONE_PIDFD descriptors are close-on-exec
  if (args.step != kStepNone) {
    siginfo_t info{};  // the child has exited already; reap it
    while (waitid(static_cast<idtype_t>(P_PIDFD), pidfd, &info, WEXITED) != 0 && errno == EINTR) {
    }
    child->reaped_ = true;
    std::string what = StepName(args.step);
    if (args.step == kStepExec) absl::StrAppend(&what, " ", command.command().argv[0]);
    if (args.step == kStepChdir) absl::StrAppend(&what, " ", command.command().working_dir);
    return absl::Status(absl::StatusCode::kFailedPrecondition,
                        absl::StrCat("cannot ", what, ": ", strerrordesc_np(args.error)));
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ < 0 || reaped_) return;
  SignalGroup(SIGKILL);
  siginfo_t info{};
  while (waitid(static_cast<idtype_t>(P_PIDFD), pidfd_.get(), &info, WEXITED) != 0 && errno == EINTR) {
  }
}

void ChildProcess::SignalGroup(int sig) {
  if (pid_ > 0 && !reaped_) kill(-pid_, sig);
}

bool ChildProcess::TryReap() {
  if (reaped_) return true;
  siginfo_t info{};
  if (waitid(static_cast<idtype_t>(P_PIDFD), pidfd_.get(), &info, WEXITED | WNOHANG) != 0) {
    // ECHILD: already gone (someone else reaped it); count it as reaped.
    if (errno != ECHILD) return false;
    reaped_ = true;
    exit_ = ExitStatus{true, 0, SIGKILL, false};
    return true;
  }
  if (info.si_pid == 0) return false;  // still running
  reaped_ = true;
  if (info.si_code == CLD_EXITED) {
    exit_ = ExitStatus{false, info.si_status, 0, false};
  } else {
    exit_ = ExitStatus{true, 0, info.si_status, info.si_code == CLD_DUMPED};
  }
  return true;
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  const char* description = sigdescr_np(sig);
  return absl::StrCat(abbrev ? absl::StrCat("SIG", abbrev) : absl::StrCat("signal ", sig), " (",
                      description ? description : "unknown", ")");
}

}  // namespace taskwire::executor
