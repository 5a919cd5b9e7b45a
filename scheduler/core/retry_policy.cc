#include "scheduler/core/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace taskwire::scheduler {

RetryPolicy WithDefaults(const RetryPolicy& policy, const RetryPolicy& defaults) {
  RetryPolicy out = policy;
  if (out.max_attempts == 0) out.max_attempts = defaults.max_attempts;
  if (out.initial_backoff == absl::ZeroDuration()) out.initial_backoff = defaults.initial_backoff;
  if (out.multiplier == 0) out.multiplier = defaults.multiplier;
  if (out.max_backoff == absl::ZeroDuration()) out.max_backoff = defaults.max_backoff;
  // Zero is a valid jitter, so it is taken as given unless the task set no policy at all.
  if (policy == RetryPolicy{}) out.jitter = defaults.jitter;
  return out;
}

absl::Duration BackoffFor(const RetryPolicy& policy, uint32_t retry, double unit_random) {
  const double exponent = retry == 0 ? 0 : retry - 1;
  const double seconds =
      absl::ToDoubleSeconds(policy.initial_backoff) * std::pow(policy.multiplier, exponent);
  const double capped = std::min(seconds, absl::ToDoubleSeconds(policy.max_backoff));
  const double scale = 1.0 - policy.jitter * std::clamp(unit_random, 0.0, 1.0);
  return absl::Seconds(std::max(0.0, capped * scale));
}

}  // namespace taskwire::scheduler
