// One subprocess of a process-mode task: started in its own process group with fresh pipes
// on stdin, stdout and stderr, watched through a pidfd, signalled as a group, and reaped.
//
// Spawning is safe in a multithreaded executor: a vfork-style clone (no copy of the
// address space, no locks taken in the child) makes only raw system calls until execve,
// and reports a failure before exec (missing binary, not executable, bad working dir)
// back to Spawn() as an error. Every descriptor the executor opens is close-on-exec, so
// a child inherits only its three pipes.
#ifndef TASKWIRE_EXECUTOR_PROCESS_CHILD_PROCESS_H_
#define TASKWIRE_EXECUTOR_PROCESS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/process/process_config.h"
#include "executor/process/unique_fd.h"

namespace taskwire::executor {

// A command with its argv and environment laid out as the C arrays execve takes, built
// once so that a spawn allocates nothing for them.
class PreparedCommand {
 public:
  explicit PreparedCommand(ProcessCommand command);
  PreparedCommand(const PreparedCommand&) = delete;
  PreparedCommand& operator=(const PreparedCommand&) = delete;

  const ProcessCommand& command() const { return command_; }
  char* const* argv() const { return argv_.data(); }
  char* const* envp() const { return envp_.data(); }

 private:
  ProcessCommand command_;
  std::vector<char*> argv_;
  std::vector<char*> envp_;
};

// How a reaped child ended.
struct ExitStatus {
  bool signaled = false;
  int code = 0;    // exit code, when !signaled
  int signal = 0;  // terminating signal, when signaled
  bool core_dumped = false;
};

// Not thread-safe: one thread owns a child.
class ChildProcess {
 public:
  // Starts `command`, its environment extended by `extra_env` ("NAME=value" each). The
  // error names the step that failed and errno's text, e.g.
  // "execute /usr/bin/nope: No such file or directory".
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(
      const PreparedCommand& command, std::vector<std::string> extra_env = {});
  // A child not reaped yet is killed (its whole group) and reaped.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  // The executor's ends of the pipes, non-blocking; Reset() one to close it.
  UniqueFd& stdin_pipe() { return stdin_; }
  UniqueFd& stdout_pipe() { return stdout_; }
  UniqueFd& stderr_pipe() { return stderr_; }

  // Signals every process of the child's group (grandchildren too). A no-op once reaped:
  // until then the leader (even as a zombie) keeps its group id from being reused.
  void SignalGroup(int sig);
  // Reaps the child if it has exited (its pidfd polls readable then); false if it runs.
  bool TryReap();
  bool reaped() const { return reaped_; }
  const ExitStatus& exit_status() const { return exit_; }

 private:
  ChildProcess() = default;

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd stdin_;
  UniqueFd stdout_;
  UniqueFd stderr_;
  bool reaped_ = false;
  ExitStatus exit_;
};

// "SIGSEGV (Segmentation fault)".
std::string SignalName(int sig);

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_PROCESS_CHILD_PROCESS_H_
