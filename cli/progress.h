// Progress lines for a person watching a wait (`wait`, `submit --wait`, `chain|group|chord
// --wait`, `workflow wait`): the waiter feeds every task or workflow it sees, and Update
// returns a line only when something a person cares about changed: the state, the executor
// and attempt, why a queued task waits, a retry's error; for a workflow, how many nodes are
// in each state. No I/O and no clock here (`now` comes from the caller), so a test feeds
// states and checks lines; the commands print the lines on stderr (Context::Progress).
//
//   TaskProgress progress;
//   if (std::optional<std::string> line = progress.Update(task, absl::Now())) print(*line);
#ifndef TASKWIRE_CLI_PROGRESS_H_
#define TASKWIRE_CLI_PROGRESS_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "taskwire/v1/task.pb.h"
#include "taskwire/v1/workflow.pb.h"

namespace taskwire::cli {

// How often a waiter with progress on asks again: each ask is a wait of at most this long,
// which the scheduler ends early when the task or workflow ends.
inline constexpr absl::Duration kProgressInterval = absl::Seconds(1);

class TaskProgress {
 public:
  // "task ID: queued: no connected executor serves ...", "task ID: running on e-2",
  // "task ID: retry in 2s after attempt 1 failed: boom", "task ID: succeeded"; nullopt
  // when nothing changed since the last line, or when the first task seen has already
  // ended (the result follows anyway).
  std::optional<std::string> Update(const v1::Task& task, absl::Time now);

 private:
  std::optional<std::string> last_key_;  // unset until the first task is seen
};

class WorkflowProgress {
 public:
  // "workflow ID: running: 1 running, 2 pending; collect-3 queued: no connected ...",
  // then "workflow ID: succeeded: 3 succeeded". nullopt as for TaskProgress.
  std::optional<std::string> Update(const v1::Workflow& workflow);

 private:
  std::optional<std::string> last_;
};

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_PROGRESS_H_
