// Printing a task the way get, wait and submit --wait do, and the exit code that goes
// with its state.
#ifndef TASKWIRE_CLI_TASK_RESULT_H_
#define TASKWIRE_CLI_TASK_RESULT_H_

#include <string>

#include "absl/status/statusor.h"

#include "absl/time/time.h"
#include "cli/context.h"
#include "taskwire/v1/task.pb.h"

namespace taskwire::cli {

// Prints `task`; returns 0, or 1 if it ended failed, cancelled or expired.
int ReportTask(Context& context, const v1::Task& task);

// Prints `task`, waited for up to `timeout`: ReportTask's code, or 4 (with a warning) if
// it has not ended.
int ReportWaitedTask(Context& context, const v1::Task& task, absl::Duration timeout);

// Waits up to `timeout` for task `id` to finish, as Client::WaitTask does; with progress on
// (Context::progress), in waits of kProgressInterval, printing each change on stderr.
// `seen` is the task as a submit already answered it, if any.
absl::StatusOr<v1::Task> WaitForTask(Context& context, const std::string& id,
                                     absl::Duration timeout, const v1::Task* seen = nullptr);

// Waits up to `timeout` for the task to finish and prints it. Returns ReportTask's code,
// 4 if the wait timed out (the task is printed anyway), 3 on an error.
int WaitAndReport(Context& context, const std::string& id, absl::Duration timeout);

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_TASK_RESULT_H_
