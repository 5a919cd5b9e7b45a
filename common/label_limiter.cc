#include "common/label_limiter.h"

namespace taskwire {

std::string LabelLimiter::Limit(absl::string_view value) {
  absl::MutexLock lock(&mu_);
  if (seen_.contains(value)) return std::string(value);
  if (seen_.size() >= max_values_) return std::string(kOther);
  seen_.emplace(value);
  return std::string(value);
}

}  // namespace taskwire
