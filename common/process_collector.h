// Process metrics for /metrics: CPU time, memory, open and maximum file descriptors,
// threads and start time, read from /proc on every scrape. prometheus-cpp 1.0 has no
// process collector; the names are those of the official Prometheus clients
// (process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ...), so
// stock dashboards and alerts work unchanged. MetricsServer registers one for each
// service, so the scheduler and the executors both export them.
//
//   auto collector = std::make_shared<ProcessCollector>();   // reads /proc/self
//   exposer.RegisterCollectable(collector);                   // keep `collector` alive
//
// A file that cannot be read or parsed drops its metrics from that scrape; it never fails
// the scrape. Header-only so that both services get it through taskwire_common as it is.
// Thread-safe: Collect() keeps no state.
#ifndef TASKWIRE_COMMON_PROCESS_COLLECTOR_H_
#define TASKWIRE_COMMON_PROCESS_COLLECTOR_H_

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/memory_limit.h"
#include "prometheus/client_metric.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "prometheus/metric_type.h"

namespace taskwire {

// The fields of /proc/<pid>/stat that the collector exports, in base units.
struct ProcStat {
  double cpu_seconds = 0;          // user + system
  double start_ticks = 0;          // clock ticks after boot
  double virtual_memory_bytes = 0;
  double resident_memory_bytes = 0;
  double threads = 0;
};

// Parses the one line of /proc/<pid>/stat. The command name (field 2) is in parentheses
// and may itself hold spaces and parentheses, so fields are counted after the last ')'.
inline absl::StatusOr<ProcStat> ParseProcStat(absl::string_view line, double ticks_per_second,
                                              double page_size) {
  const size_t close = line.rfind(')');
  if (close == absl::string_view::npos) {
    return absl::InvalidArgumentError("stat: no ')' after the command name");
  }
  // tokens[0] is field 3 (state), so field n is tokens[n - 3].
  std::vector<absl::string_view> tokens =
      absl::StrSplit(line.substr(close + 1), ' ', absl::SkipWhitespace());
  constexpr size_t kRss = 24 - 3;
  if (tokens.size() <= kRss) return absl::InvalidArgumentError("stat: too few fields");
  auto number = [&](size_t field, double& out) {
    return absl::SimpleAtod(absl::StripAsciiWhitespace(tokens[field - 3]), &out);
  };
  double utime = 0, stime = 0, rss_pages = 0;
  ProcStat stat;
  if (!number(14, utime) || !number(15, stime) || !number(20, stat.threads) ||
      !number(22, stat.start_ticks) || !number(23, stat.virtual_memory_bytes) ||
      !number(24, rss_pages)) {
    return absl::InvalidArgumentError("stat: a field is not a number");
  }
  stat.cpu_seconds = (utime + stime) / ticks_per_second;
  stat.resident_memory_bytes = rss_pages * page_size;
  return stat;
}

// The boot time in seconds since the epoch: the "btime" line of /proc/stat.
inline absl::StatusOr<double> ParseBootTime(absl::string_view proc_stat) {
  for (absl::string_view line : absl::StrSplit(proc_stat, '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) {
      double seconds = 0;
      if (absl::SimpleAtod(absl::StripAsciiWhitespace(line), &seconds)) return seconds;
      break;
    }
  }
  return absl::InvalidArgumentError("/proc/stat: no btime line");
}

// The soft limit on open files from /proc/<pid>/limits; nullopt when it is "unlimited".
inline absl::StatusOr<std::optional<double>> ParseMaxOpenFiles(absl::string_view limits) {
  for (absl::string_view line : absl::StrSplit(limits, '\n')) {
    if (!absl::ConsumePrefix(&line, "Max open files")) continue;
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (words.empty()) break;
    if (words[0] == "unlimited") return std::optional<double>();
    double soft = 0;
    if (absl::SimpleAtod(words[0], &soft)) return std::optional<double>(soft);
    break;
  }
  return absl::InvalidArgumentError("limits: no 'Max open files' line");
}

class ProcessCollector : public prometheus::Collectable {
 public:
  // Reads <proc_root>/self/{stat,limits,fd,cgroup}, <proc_root>/{stat,meminfo} and the
  // memory limits under <cgroup_root>; tests pass fake trees.
  explicit ProcessCollector(std::string proc_root = "/proc",
                            std::string cgroup_root = "/sys/fs/cgroup")
      : proc_root_(std::move(proc_root)),
        cgroup_root_(std::move(cgroup_root)),
        ticks_per_second_(static_cast<double>(sysconf(_SC_CLK_TCK))),
        page_size_(static_cast<double>(sysconf(_SC_PAGESIZE))) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> families;
    if (std::optional<std::string> text = ReadFile(proc_root_ + "/self/stat")) {
      absl::StatusOr<ProcStat> stat = ParseProcStat(*text, ticks_per_second_, page_size_);
      if (stat.ok()) {
        Add(families, "process_cpu_seconds_total", "User and system CPU time spent, seconds",
            prometheus::MetricType::Counter, stat->cpu_seconds);
        Add(families, "process_resident_memory_bytes", "Resident memory size in bytes",
            prometheus::MetricType::Gauge, stat->resident_memory_bytes);
        Add(families, "process_virtual_memory_bytes", "Virtual memory size in bytes",
            prometheus::MetricType::Gauge, stat->virtual_memory_bytes);
        Add(families, "process_threads", "Threads in the process",
            prometheus::MetricType::Gauge, stat->threads);
        std::optional<std::string> proc_stat = ReadFile(proc_root_ + "/stat");
        absl::StatusOr<double> boot =
            proc_stat ? ParseBootTime(*proc_stat) : absl::NotFoundError("no /proc/stat");
        if (boot.ok()) {
          Add(families, "process_start_time_seconds",
              "Start time of the process since the Unix epoch, seconds",
              prometheus::MetricType::Gauge, *boot + stat->start_ticks / ticks_per_second_);
        }
      }
    }
    if (std::optional<double> open = CountOpenFds()) {
      Add(families, "process_open_fds", "Open file descriptors",
          prometheus::MetricType::Gauge, *open);
    }
    if (std::optional<std::string> limits = ReadFile(proc_root_ + "/self/limits")) {
      absl::StatusOr<std::optional<double>> max = ParseMaxOpenFiles(*limits);
      if (max.ok() && max->has_value()) {
        Add(families, "process_max_fds", "Limit on open file descriptors (soft)",
            prometheus::MetricType::Gauge, **max);
      }
    }
    if (std::optional<double> limit = MemoryLimit()) {
      Add(families, "taskwire_memory_limit_bytes",
          "Memory this process may use: its cgroup's limit, else the machine's memory",
          prometheus::MetricType::Gauge, *limit);
    }
    return families;
  }

 private:
  std::optional<double> MemoryLimit() const {
    std::optional<double> limit;
    if (std::optional<std::string> cgroup = ReadFile(proc_root_ + "/self/cgroup")) {
      for (const std::string& file : CgroupMemoryLimitFiles(*cgroup, cgroup_root_)) {
        std::optional<std::string> text = ReadFile(file);
        std::optional<double> here = text ? ParseCgroupMemoryLimit(*text) : std::nullopt;
        if (here && (!limit || *here < *limit)) limit = here;
      }
    }
    if (limit) return limit;
    std::optional<std::string> meminfo = ReadFile(proc_root_ + "/meminfo");
    return meminfo ? ParseMemTotal(*meminfo) : std::nullopt;
  }

  static std::optional<std::string> ReadFile(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return std::move(text).str();
  }

  // Entries of <root>/self/fd. The directory handle opened to list it is counted too, as
  // the Go client counts it.
  std::optional<double> CountOpenFds() const {
    DIR* dir = opendir((proc_root_ + "/self/fd").c_str());
    if (dir == nullptr) return std::nullopt;
    double count = 0;
    while (const dirent* entry = readdir(dir)) {
      const absl::string_view name = entry->d_name;
      if (name != "." && name != "..") ++count;
    }
    closedir(dir);
    return count;
  }

  static void Add(std::vector<prometheus::MetricFamily>& families, std::string name,
                  std::string help, prometheus::MetricType type, double value) {
    prometheus::ClientMetric metric;
    if (type == prometheus::MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    families.push_back({std::move(name), std::move(help), type, {std::move(metric)}});
  }

  std::string proc_root_;
  std::string cgroup_root_;
  double ticks_per_second_;
  double page_size_;
};

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_PROCESS_COLLECTOR_H_
