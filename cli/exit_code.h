// The exit codes of the taskwire command, one place for code and help text alike.
#ifndef TASKWIRE_CLI_EXIT_CODE_H_
#define TASKWIRE_CLI_EXIT_CODE_H_

#include "taskwire/v1/task.pb.h"
#include "taskwire/v1/workflow.pb.h"

namespace taskwire::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitTaskNotSucceeded = 1,  // the task ended FAILED, CANCELLED or EXPIRED (a workflow:
                              // FAILED or CANCELLED); health: not SERVING
  kExitUsage = 2,             // bad command line or input file
  kExitServerError = 3,       // the scheduler answered an error or could not be reached
  kExitWaitTimedOut = 4,      // wait / submit --wait gave up before the task finished
};

// For get, wait and submit --wait: 0 when the task succeeded or has not finished yet,
// 1 when it ended otherwise.
inline int ExitCodeForTask(v1::TaskState state) {
  switch (state) {
    case v1::TASK_STATE_FAILED:
    case v1::TASK_STATE_CANCELLED:
    case v1::TASK_STATE_EXPIRED:
      return kExitTaskNotSucceeded;
    default:
      return kExitOk;
  }
}

// The same for workflows: 1 when the workflow ended failed or cancelled.
inline int ExitCodeForWorkflow(v1::WorkflowState state) {
  return state == v1::WORKFLOW_STATE_FAILED || state == v1::WORKFLOW_STATE_CANCELLED
             ? kExitTaskNotSucceeded
             : kExitOk;
}

inline constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  success; for get, wait and submit --wait: the task succeeded\n"
    "     (or, for get only, has not finished yet); the same for workflows\n"
    "  1  the task ended failed, cancelled or expired (a workflow: failed or cancelled);\n"
    "     health: not serving, or the service is unknown\n"
    "  2  bad usage: unknown option, bad --label, unknown state name, unreadable file\n"
    "  3  the scheduler answered an error, or could not be reached\n"
    "  4  a wait (wait, --wait, workflow wait) timed out before the end\n";

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_EXIT_CODE_H_
