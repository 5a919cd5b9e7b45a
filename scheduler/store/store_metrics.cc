#include "scheduler/store/store_metrics.h"

#include "common/duration_buckets.h"

namespace taskwire::scheduler {
namespace {

// Records per transaction: one lone Submit up to tens of thousands grouped under load.
const prometheus::Histogram::BucketBoundaries& BatchSizeBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
  return kBuckets;
}

}  // namespace

StoreMetrics::StoreMetrics(prometheus::Registry& registry)
    : commit_seconds_(prometheus::BuildHistogram()
                          .Name("taskwire_store_commit_seconds")
                          .Help("Time of one store transaction, from begin to durable")
                          .Register(registry)
                          .Add({}, DurationBuckets())),
      batch_size_(prometheus::BuildHistogram()
                      .Name("taskwire_store_commit_batch_size")
                      .Help("Records (upserts and deletes) written by one store transaction")
                      .Register(registry)
                      .Add({}, BatchSizeBuckets())),
      size_bytes_(prometheus::BuildGauge()
                      .Name("taskwire_store_size_bytes")
                      .Help("Size of the store on disk: database file plus write-ahead log")
                      .Register(registry)
                      .Add({})),
      commit_errors_(prometheus::BuildCounter()
                         .Name("taskwire_store_commit_errors_total")
                         .Help("Store transactions that failed")
                         .Register(registry)
                         .Add({})) {}

}  // namespace taskwire::scheduler
