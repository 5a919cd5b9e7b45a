#include "executor/runner_set.h"

#include "absl/base/internal/raw_logging.h"

namespace taskwire::executor {

void RunnerSet::Add(RunMode mode, std::unique_ptr<Runner> runner) {
  ABSL_RAW_CHECK(runner != nullptr, "no runner");
  const bool added = runners_.emplace(mode, std::move(runner)).second;
  ABSL_RAW_CHECK(added, "two runners for one mode");
  order_.push_back(mode);
}

void RunnerSet::Route(const std::string& type, RunMode mode) {
  auto it = runners_.find(mode);
  ABSL_RAW_CHECK(it != runners_.end(), "a task type routed to a mode without a runner");
  by_type_[type] = it->second.get();
  routes_.emplace_back(type, mode);
}

Runner& RunnerSet::For(const std::string& type) {
  auto it = by_type_.find(type);
  if (it != by_type_.end()) return *it->second;
  auto thread = runners_.find(RunMode::kThread);
  ABSL_RAW_CHECK(thread != runners_.end(), "no thread runner");
  return *thread->second;
}

void RunnerSet::CancelRequested() {
  for (auto& [mode, runner] : runners_) runner->CancelRequested();
}

void RunnerSet::Shutdown() {
  for (RunMode mode : order_) runners_.at(mode)->Shutdown();
}

}  // namespace taskwire::executor
