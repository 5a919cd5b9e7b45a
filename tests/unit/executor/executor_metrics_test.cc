// ExecutorMetrics: what one attempt does to the counters and slot gauges, read back from
// the registry the way a scrape reads it.
#include "executor/executor_metrics.h"

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace taskwire::executor {
namespace {

// "name{k=v,...}" -> value for every counter and gauge sample in the registry.
std::map<std::string, double> Samples(prometheus::Registry& registry) {
  std::map<std::string, double> samples;
  for (const auto& family : registry.Collect()) {
    for (const auto& metric : family.metric) {
      std::string key = family.name + "{";
      for (const auto& label : metric.label) key += label.name + "=" + label.value + ",";
      key += "}";
      if (family.type == prometheus::MetricType::Counter) samples[key] = metric.counter.value;
      if (family.type == prometheus::MetricType::Gauge) samples[key] = metric.gauge.value;
      if (family.type == prometheus::MetricType::Histogram) {
        samples[family.name + "_count" + key.substr(family.name.size())] =
            static_cast<double>(metric.histogram.sample_count);
      }
    }
  }
  return samples;
}

TEST(ExecutorMetricsTest, StartsWithEverySlotFreeAndBuildInfoSet) {
  prometheus::Registry registry;
  ExecutorMetrics metrics(registry, 4);
  auto samples = Samples(registry);
  EXPECT_EQ(samples["taskwire_executor_local_slots{state=free,}"], 4);
  EXPECT_EQ(samples["taskwire_executor_local_slots{state=used,}"], 0);
  EXPECT_EQ(samples["taskwire_executor_attempts_started_total{}"], 0);
  int build_info = 0;
  for (const auto& [key, value] : samples) {
    if (key.rfind("taskwire_executor_build_info{version=", 0) == 0) {
      ++build_info;
      EXPECT_EQ(value, 1) << key;
      EXPECT_EQ(key.find("version=,"), std::string::npos) << "empty version: " << key;
    }
  }
  EXPECT_EQ(build_info, 1);
}

TEST(ExecutorMetricsTest, AnAttemptHoldsASlotUntilItFinishes) {
  prometheus::Registry registry;
  ExecutorMetrics metrics(registry, 2);
  metrics.AttemptStarted();
  auto running = Samples(registry);
  EXPECT_EQ(running["taskwire_executor_attempts_started_total{}"], 1);
  EXPECT_EQ(running["taskwire_executor_local_slots{state=free,}"], 1);
  EXPECT_EQ(running["taskwire_executor_local_slots{state=used,}"], 1);

  metrics.AttemptFinished("echo", RunOutcome::kFailed, absl::Milliseconds(5));
  auto done = Samples(registry);
  EXPECT_EQ(done["taskwire_executor_local_slots{state=free,}"], 2);
  EXPECT_EQ(done["taskwire_executor_local_slots{state=used,}"], 0);
  EXPECT_EQ(done["taskwire_executor_attempts_total{outcome=failed,type=echo,}"], 1);
  EXPECT_EQ(done["taskwire_executor_run_seconds_count{type=echo,}"], 1);
}

TEST(ExecutorMetricsTest, TracksTheLinkAndReconnects) {
  prometheus::Registry registry;
  ExecutorMetrics metrics(registry, 1);
  metrics.Connected(true);
  EXPECT_EQ(Samples(registry)["taskwire_executor_connected{}"], 1);
  metrics.Connected(false);
  metrics.Reconnect();
  auto samples = Samples(registry);
  EXPECT_EQ(samples["taskwire_executor_connected{}"], 0);
  EXPECT_EQ(samples["taskwire_executor_reconnects_total{}"], 1);
}

}  // namespace
}  // namespace taskwire::executor
