// Checks a client's TaskSpec against the scheduler's limits. Errors are INVALID_ARGUMENT
// and name the offending field, prefixed with where it sits in the request.
#ifndef TASKWIRE_SCHEDULER_CORE_TASK_VALIDATION_H_
#define TASKWIRE_SCHEDULER_CORE_TASK_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

struct TaskLimits {
  size_t max_payload_bytes = 4 << 20;
  size_t max_name_bytes = 128;  // task type and queue names
  int32_t min_priority = -100;
  int32_t max_priority = 100;
  size_t max_labels = 32;
  size_t max_label_bytes = 256;  // each key and each value
  size_t max_batch_size = 10'000;
  uint32_t max_attempts = 100;       // retry.max_attempts
  size_t max_idempotency_key_bytes = 128;
  size_t max_workflow_nodes = 20'000;
  size_t max_workflow_edges = 200'000;
};

inline constexpr absl::string_view kDefaultQueue = "default";

// A task type or queue name: 1..max bytes of [A-Za-z0-9_.:-].
absl::Status ValidateName(absl::string_view field, absl::string_view name, size_t max_bytes);

// `field` is the request path of the spec, e.g. "task" or "tasks[3]". Besides ValidateName,
// a type must not start with '-'.
absl::Status ValidateTaskSpec(absl::string_view field, const TaskSpec& spec,
                              const TaskLimits& limits);

// Zero fields are allowed (they take the scheduler's defaults).
absl::Status ValidateRetryPolicy(absl::string_view field, const RetryPolicy& policy,
                                 const TaskLimits& limits);

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_TASK_VALIDATION_H_
