#include "cli/task_result.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "cli/exit_code.h"
#include "cli/format.h"
#include "cli/progress.h"
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

absl::StatusOr<v1::Task> WaitForTask(Context& context, const std::string& id,
                                     absl::Duration timeout, const v1::Task* seen) {
  if (!context.progress()) {
    if (seen != nullptr && client::IsTerminal(seen->state())) return *seen;
    return context.client().WaitTask(id, timeout);
  }
  TaskProgress progress;
  const absl::Time end = absl::Now() + std::max(timeout, absl::ZeroDuration());
  while (true) {
    absl::StatusOr<v1::Task> task =
        seen != nullptr ? *seen
                        : context.client().WaitTask(id, std::min(end - absl::Now(), kProgressInterval));
    seen = nullptr;
    if (!task.ok()) return task;
    if (std::optional<std::string> line = progress.Update(*task, absl::Now())) {
      context.Progress(*line);
    }
    if (client::IsTerminal(task->state()) || absl::Now() >= end) return task;
  }
}

int WaitAndReport(Context& context, const std::string& id, absl::Duration timeout) {
  absl::StatusOr<v1::Task> task = WaitForTask(context, id, timeout);
  if (!task.ok()) return context.ServerError(task.status());
  return ReportWaitedTask(context, *task, timeout);
}

}  // namespace taskwire::cli
