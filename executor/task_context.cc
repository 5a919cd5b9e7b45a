#include "executor/task_context.h"

#include <algorithm>

namespace taskwire::executor {

void CancelToken::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
}

bool CancelToken::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool CancelToken::SleepFor(absl::Duration d) const {
  const absl::Time wake = std::min(absl::Now() + d, deadline_);
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithDeadline(absl::Condition(&cancelled_), wake);
  return !cancelled_ && absl::Now() < deadline_;
}

}  // namespace taskwire::executor
