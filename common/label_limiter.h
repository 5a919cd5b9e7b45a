// Keeps a metric label's cardinality bounded when its values come from clients (queue and
// task type names): the first `max_values` distinct values pass through, later ones are
// reported as "_other". Thread-safe.
#ifndef TASKWIRE_COMMON_LABEL_LIMITER_H_
#define TASKWIRE_COMMON_LABEL_LIMITER_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace taskwire {

class LabelLimiter {
 public:
  static constexpr absl::string_view kOther = "_other";
  explicit LabelLimiter(size_t max_values) : max_values_(max_values) {}

  std::string Limit(absl::string_view value);

 private:
  const size_t max_values_;
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_LABEL_LIMITER_H_
