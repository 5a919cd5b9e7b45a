#include "executor/task_context.h"

#include <algorithm>

#include "absl/strings/cord.h"

namespace taskwire::executor {

std::string TaskContext::input() const {
  if (upstream_results.empty()) return payload;
  size_t size = payload.size();
  for (const std::string& r : upstream_results) size += r.size();
  std::string in;
  in.reserve(size);
  for (const std::string& r : upstream_results) in += r;
  in += payload;
  return in;
}

absl::Status NotRetryable(absl::Status status) {
  if (!status.ok()) status.SetPayload(kNotRetryablePayload, absl::Cord("1"));
  return status;
}

bool IsNotRetryable(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kNotRetryablePayload).has_value();
}

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
