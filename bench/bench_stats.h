// Small helpers of taskwire-bench: latency summaries and one-line JSON results.
#ifndef TASKWIRE_BENCH_BENCH_STATS_H_
#define TASKWIRE_BENCH_BENCH_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace taskwire::bench {

// Percentiles of a set of durations, in milliseconds.
struct LatencySummary {
  size_t count = 0;
  double mean_ms = 0;
  double min_ms = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

// Nearest-rank percentiles; `nanos` is sorted in place.
LatencySummary Summarize(std::vector<int64_t>& nanos);

// "p50 0.412 ms, p90 ..., p99 ..., max ..." for the human-readable lines.
std::string Describe(const LatencySummary& s);

// Builds {"key":value,...} in insertion order. Keys are trusted identifiers; string values
// are escaped.
class JsonLine {
 public:
  JsonLine& Add(const std::string& key, const std::string& value);
  JsonLine& Add(const std::string& key, const char* value) { return Add(key, std::string(value)); }
  JsonLine& Add(const std::string& key, double value);
  JsonLine& Add(const std::string& key, int64_t value);
  JsonLine& Add(const std::string& key, uint64_t value);
  JsonLine& Add(const std::string& key, int value) { return Add(key, int64_t{value}); }
  JsonLine& Add(const std::string& key, bool value);
  // Adds count, mean_ms, p50_ms, ... under `prefix` (e.g. "latency_").
  JsonLine& Add(const std::string& prefix, const LatencySummary& s);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void Key(const std::string& key);
  std::string body_;
};

}  // namespace taskwire::bench

#endif  // TASKWIRE_BENCH_BENCH_STATS_H_
