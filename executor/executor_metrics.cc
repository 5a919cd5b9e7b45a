#include "executor/executor_metrics.h"

#include "common/duration_buckets.h"
#include "common/version.h"

namespace taskwire::executor {
namespace {

const char* OutcomeLabel(RunOutcome o) {
  switch (o) {
    case RunOutcome::kSucceeded: return "succeeded";
    case RunOutcome::kFailed: return "failed";
    case RunOutcome::kCancelled: return "cancelled";
    case RunOutcome::kTimedOut: return "timed_out";
  }
  return "unknown";
}

}  // namespace

ExecutorMetrics::ExecutorMetrics(prometheus::Registry& registry, uint32_t slots)
    : started_(prometheus::BuildCounter()
                   .Name("taskwire_executor_attempts_started_total")
                   .Help("Attempts this executor accepted and started (celery_task_received)")
                   .Register(registry)
                   .Add({})),
      attempts_(prometheus::BuildCounter()
                    .Name("taskwire_executor_attempts_total")
                    .Help("Attempts this executor finished, by task type and outcome")
                    .Register(registry)),
      run_time_(prometheus::BuildHistogram()
                    .Name("taskwire_executor_run_seconds")
                    .Help("Run time of attempts on this executor")
                    .Register(registry)),
      slots_free_(prometheus::BuildGauge()
                      .Name("taskwire_executor_local_slots")
                      .Help("This executor's slots, by state")
                      .Register(registry)
                      .Add({{"state", "free"}})),
      slots_used_(prometheus::BuildGauge()
                      .Name("taskwire_executor_local_slots")
                      .Help("This executor's slots, by state")
                      .Register(registry)
                      .Add({{"state", "used"}})),
      connected_(prometheus::BuildGauge()
                     .Name("taskwire_executor_connected")
                     .Help("1 while the link to the scheduler is up")
                     .Register(registry)
                     .Add({})),
      reconnects_(prometheus::BuildCounter()
                      .Name("taskwire_executor_reconnects_total")
                      .Help("Times the link to the scheduler was lost")
                      .Register(registry)
                      .Add({})) {
  slots_free_.Set(slots);
  // Constant 1; the label tells which version runs where during a rolling upgrade.
  prometheus::BuildGauge()
      .Name("taskwire_executor_build_info")
      .Help("Always 1; the version label is the executor's build")
      .Register(registry)
      .Add({{"version", kVersion}})
      .Set(1);
}

void ExecutorMetrics::AttemptStarted() {
  started_.Increment();
  slots_free_.Decrement();
  slots_used_.Increment();
}

void ExecutorMetrics::AttemptFinished(const std::string& type, RunOutcome outcome,
                                      absl::Duration run_time) {
  slots_free_.Increment();
  slots_used_.Decrement();
  TypeSeries* series;
  TypeSeries uncached;
  absl::MutexLock lock(&mu_);
  if (auto it = by_type_.find(type); it != by_type_.end()) {
    series = &it->second;
  } else {
    // Only announced types are assigned, so the map stays small; a bound all the same.
    series = by_type_.size() < kMaxCachedTypes ? &by_type_[type] : &uncached;
    series->run_time = &run_time_.Add({{"type", type}}, DurationBuckets());
  }
  prometheus::Counter*& attempts = series->attempts[static_cast<size_t>(outcome)];
  if (attempts == nullptr) {
    attempts = &attempts_.Add({{"type", type}, {"outcome", OutcomeLabel(outcome)}});
  }
  attempts->Increment();
  series->run_time->Observe(absl::ToDoubleSeconds(run_time));
}

}  // namespace taskwire::executor
