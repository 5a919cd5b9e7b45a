// Prometheus metrics of a durable TaskStore (names in docs/metrics.md):
//   taskwire_store_commit_seconds       histogram: one transaction, begin to durable
//   taskwire_store_commit_batch_size    histogram: records (upserts + deletes) per transaction
//   taskwire_store_size_bytes           gauge: the database file plus its write-ahead log
//   taskwire_store_commit_errors_total  counter: transactions that failed (every caller of
//                                       one failed transaction gets the error)
// A store takes an optional StoreMetrics* (SqliteOptions::metrics). Thread-safe
// (prometheus-cpp metrics are atomic).
#ifndef TASKWIRE_SCHEDULER_STORE_STORE_METRICS_H_
#define TASKWIRE_SCHEDULER_STORE_STORE_METRICS_H_

#include <cstddef>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace taskwire::scheduler {

class StoreMetrics {
 public:
  explicit StoreMetrics(prometheus::Registry& registry);

  void Committed(double seconds, size_t records) {
    commit_seconds_.Observe(seconds);
    batch_size_.Observe(static_cast<double>(records));
  }
  void CommitFailed() { commit_errors_.Increment(); }
  void SizeBytes(double bytes) { size_bytes_.Set(bytes); }

 private:
  prometheus::Histogram& commit_seconds_;
  prometheus::Histogram& batch_size_;
  prometheus::Gauge& size_bytes_;
  prometheus::Counter& commit_errors_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_STORE_METRICS_H_
