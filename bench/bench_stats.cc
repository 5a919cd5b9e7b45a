#include "bench_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/json_string.h"

namespace taskwire::bench {
namespace {

double Ms(int64_t nanos) { return static_cast<double>(nanos) / 1e6; }

// Nearest rank: the smallest value with at least p of the samples at or below it.
int64_t Rank(const std::vector<int64_t>& sorted, double p) {
  const size_t n = sorted.size();
  size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(n)));
  k = std::clamp<size_t>(k, 1, n);
  return sorted[k - 1];
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace

LatencySummary Summarize(std::vector<int64_t>& nanos) {
  LatencySummary s;
  if (nanos.empty()) return s;
  std::sort(nanos.begin(), nanos.end());
  s.count = nanos.size();
  long double sum = 0;
  for (int64_t v : nanos) sum += v;
  s.mean_ms = static_cast<double>(sum / static_cast<long double>(nanos.size())) / 1e6;
  s.min_ms = Ms(nanos.front());
  s.p50_ms = Ms(Rank(nanos, 0.50));
  s.p90_ms = Ms(Rank(nanos, 0.90));
  s.p99_ms = Ms(Rank(nanos, 0.99));
  s.max_ms = Ms(nanos.back());
  return s;
}

std::string Describe(const LatencySummary& s) {
  const int d = s.max_ms < 10 ? 3 : 1;
  return "p50 " + Fixed(s.p50_ms, d) + " ms, p90 " + Fixed(s.p90_ms, d) + " ms, p99 " +
         Fixed(s.p99_ms, d) + " ms, max " + Fixed(s.max_ms, d) + " ms (mean " +
         Fixed(s.mean_ms, d) + " ms, n=" + std::to_string(s.count) + ")";
}

void JsonLine::Key(const std::string& key) {
  if (!body_.empty()) body_ += ',';
  body_ += '"';
  body_ += key;
  body_ += "\":";
}

JsonLine& JsonLine::Add(const std::string& key, const std::string& value) {
  Key(key);
  AppendJsonString(value, &body_);
  return *this;
}

JsonLine& JsonLine::Add(const std::string& key, double value) {
  Key(key);
  body_ += std::isfinite(value) ? Fixed(value, 4) : "null";
  return *this;
}

JsonLine& JsonLine::Add(const std::string& key, int64_t value) {
  Key(key);
  body_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::Add(const std::string& key, uint64_t value) {
  Key(key);
  body_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::Add(const std::string& key, bool value) {
  Key(key);
  body_ += value ? "true" : "false";
  return *this;
}

JsonLine& JsonLine::Add(const std::string& prefix, const LatencySummary& s) {
  Add(prefix + "count", static_cast<uint64_t>(s.count));
  Add(prefix + "mean_ms", s.mean_ms);
  Add(prefix + "p50_ms", s.p50_ms);
  Add(prefix + "p90_ms", s.p90_ms);
  Add(prefix + "p99_ms", s.p99_ms);
  Add(prefix + "max_ms", s.max_ms);
  return *this;
}

}  // namespace taskwire::bench
