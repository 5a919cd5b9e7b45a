#include "cli/task_result.h"

#include "absl/strings/str_cat.h"
#include "cli/exit_code.h"
#include "cli/format.h"
#include "client/client.h"

namespace taskwire::cli {

int ReportTask(Context& context, const v1::Task& task) {
  context.out().Task(task);
  return ExitCodeForTask(task.state());
}

int ReportWaitedTask(Context& context, const v1::Task& task, absl::Duration timeout) {
  const int code = ReportTask(context, task);
  if (client::IsTerminal(task.state())) return code;
  context.Warn(absl::StrCat("timed out after ", FormatShortDuration(timeout), " waiting for task '",
                            task.id(), "' (still ", std::string(client::StateName(task.state())),
                            ")"));
  return kExitWaitTimedOut;
}

int WaitAndReport(Context& context, const std::string& id, absl::Duration timeout) {
  absl::StatusOr<v1::Task> task = context.client().WaitTask(id, timeout);
  if (!task.ok()) return context.ServerError(task.status());
  return ReportWaitedTask(context, *task, timeout);
}

}  // namespace taskwire::cli
