// absl::Time and absl::Duration in 8 bytes instead of 16, for the records the scheduler
// holds by the million (a queued task carries thirteen of them). Whole nanoseconds; the
// infinities are kept, and values beyond about ±292 years from 1970 saturate to them.
// Both convert implicitly to and from the absl type, so a field reads and writes like the
// type it stands for. Two packed values compare with the operators below; arithmetic
// converts to the absl type first.
#ifndef TASKWIRE_SCHEDULER_CORE_PACKED_TIME_H_
#define TASKWIRE_SCHEDULER_CORE_PACKED_TIME_H_

#include <compare>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "absl/time/time.h"

namespace taskwire::scheduler {

class PackedDuration {
 public:
  constexpr PackedDuration() = default;
  PackedDuration(absl::Duration d)  // NOLINT(google-explicit-constructor): a drop-in field
      : ns_(absl::ToInt64Nanoseconds(d)) {}  // infinite or out of range: kMax or kMin
  operator absl::Duration() const {  // NOLINT(google-explicit-constructor)
    if (ns_ == kMax) return absl::InfiniteDuration();
    if (ns_ == kMin) return -absl::InfiniteDuration();
    return absl::Nanoseconds(ns_);
  }

  // Only for two packed values (a template, so that a packed value beside an absl one
  // uses absl's operator instead of being ambiguous).
  template <typename T, std::enable_if_t<std::is_same_v<T, PackedDuration>, int> = 0>
  friend bool operator==(const T& a, const T& b) {
    return a.ns_ == b.ns_;
  }
  template <typename T, std::enable_if_t<std::is_same_v<T, PackedDuration>, int> = 0>
  friend auto operator<=>(const T& a, const T& b) {
    return a.ns_ <=> b.ns_;
  }

 private:
  static constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  static constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  int64_t ns_ = 0;
};

class PackedTime {
 public:
  constexpr PackedTime() = default;  // the Unix epoch, as absl::Time()
  PackedTime(absl::Time t)  // NOLINT(google-explicit-constructor): a drop-in field
      : since_epoch_(t - absl::UnixEpoch()) {}
  operator absl::Time() const {  // NOLINT(google-explicit-constructor)
    return absl::UnixEpoch() + absl::Duration(since_epoch_);
  }

  template <typename T, std::enable_if_t<std::is_same_v<T, PackedTime>, int> = 0>
  friend bool operator==(const T& a, const T& b) {
    return a.since_epoch_ == b.since_epoch_;
  }
  template <typename T, std::enable_if_t<std::is_same_v<T, PackedTime>, int> = 0>
  friend auto operator<=>(const T& a, const T& b) {
    return a.since_epoch_ <=> b.since_epoch_;
  }

 private:
  PackedDuration since_epoch_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_PACKED_TIME_H_
