#include "scheduler/core/admission.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/quote.h"

namespace taskwire::scheduler {

absl::Status Admission::Reserve(const std::vector<const TaskSpec*>& specs) {
  if (waiting_ + specs.size() > max_waiting_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the scheduler holds ", waiting_, " tasks waiting to run and ", specs.size(),
        " more would pass its limit of ", max_waiting_, " (--max-waiting-tasks); retry later"));
  }
  if (max_waiting_per_queue_ > 0) {
    absl::flat_hash_map<absl::string_view, size_t> adding;
    for (const TaskSpec* spec : specs) ++adding[spec->queue];
    for (const auto& [queue, n] : adding) {
      auto it = waiting_by_queue_.find(queue);
      const size_t now = it == waiting_by_queue_.end() ? 0 : it->second;
      if (now + n > max_waiting_per_queue_) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "queue ", Quote(queue), " holds ", now, " tasks waiting to run and ", n,
            " more would pass its limit of ", max_waiting_per_queue_,
            " (--max-waiting-per-queue); retry later"));
      }
    }
  }
  for (const TaskSpec* spec : specs) Count(spec->queue, +1);
  return absl::OkStatus();
}

void Admission::Release(const std::vector<const TaskSpec*>& specs) {
  for (const TaskSpec* spec : specs) Count(spec->queue, -1);
}

void Admission::Count(const std::string& queue, int delta) {
  waiting_ += delta;
  size_t& n = waiting_by_queue_[queue];
  n += delta;
  if (n == 0) waiting_by_queue_.erase(queue);
}

}  // namespace taskwire::scheduler
