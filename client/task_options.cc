#include "client/task_options.h"

#include <utility>

#include "common/grpc_status.h"

namespace taskwire::client {

void SetRetry(v1::TaskSpec& spec, const RetryOptions& retry) {
  v1::RetryPolicy* policy = spec.mutable_retry();
  policy->Clear();
  policy->set_max_attempts(retry.max_attempts);
  if (retry.initial_backoff > absl::ZeroDuration()) {
    ToProto(retry.initial_backoff, policy->mutable_initial_backoff());
  }
  policy->set_multiplier(retry.multiplier);
  if (retry.max_backoff > absl::ZeroDuration()) {
    ToProto(retry.max_backoff, policy->mutable_max_backoff());
  }
  policy->set_jitter(retry.jitter);
}

void SetEta(v1::TaskSpec& spec, absl::Time eta) {
  spec.clear_countdown();
  ToProto(eta, spec.mutable_not_before());
}

void SetCountdown(v1::TaskSpec& spec, absl::Duration delay) {
  spec.clear_not_before();
  ToProto(delay, spec.mutable_countdown());
}

void SetExpiresAfter(v1::TaskSpec& spec, absl::Duration after) {
  ToProto(after, spec.mutable_expires_after());
}

void SetIdempotencyKey(v1::TaskSpec& spec, std::string key) {
  spec.set_idempotency_key(std::move(key));
}

void SetRetention(v1::TaskSpec& spec, absl::Duration retention) {
  ToProto(retention, spec.mutable_retention());
}

}  // namespace taskwire::client
