// The executor's runners, one per run mode, and which mode serves each task type. A type
// nobody announced goes to the thread runner, which fails it (no handler by that name).
// A run mode is one Add call and one Route per type.
//
// Not thread-safe to build; Add and Route happen before the first For, then it is
// read-only.
#ifndef TASKWIRE_EXECUTOR_RUNNER_SET_H_
#define TASKWIRE_EXECUTOR_RUNNER_SET_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "executor/runner.h"

namespace taskwire::executor {

class RunnerSet {
 public:
  // Owns `runner`; at most one per mode. Shutdown stops them in the order they were added.
  void Add(RunMode mode, std::unique_ptr<Runner> runner);
  // `type` runs in `mode` (which must have a runner).
  void Route(const std::string& type, RunMode mode);

  Runner& For(const std::string& type);
  // The task types and their modes, in the order routed (for Hello.task_types).
  const std::vector<std::pair<std::string, RunMode>>& routes() const { return routes_; }
  void CancelRequested();
  void Shutdown();

 private:
  std::map<RunMode, std::unique_ptr<Runner>> runners_;
  std::vector<RunMode> order_;
  absl::flat_hash_map<std::string, Runner*> by_type_;
  std::vector<std::pair<std::string, RunMode>> routes_;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_RUNNER_SET_H_
