// Histogram buckets for durations in seconds, shared by every taskwire histogram so that
// dashboards can compare them: 100 µs to a day, so that a backlog hours old, minute-long
// tasks and long workflows read as what they are rather than as the last bucket.
#ifndef TASKWIRE_COMMON_DURATION_BUCKETS_H_
#define TASKWIRE_COMMON_DURATION_BUCKETS_H_

#include "prometheus/histogram.h"

namespace taskwire {

inline const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,     1,      2.5,   5,      10,    30,   60,    120,   300,
      600,    1800,    3600,   7200,  14400,  43200, 86400};
  return kBuckets;
}

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_DURATION_BUCKETS_H_
