// ProcessCollector: the /proc parsers on fixed text, the collector on a fake /proc tree
// (exact values) and on the real /proc/self (values that move as the process does).
#include "common/process_collector.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace taskwire {
namespace {

// A /proc/<pid>/stat line whose command name holds spaces and parentheses. utime 250 and
// stime 150 ticks, 7 threads, start 1000 ticks after boot, 8 MiB virtual, 300 pages resident.
constexpr char kStat[] =
    "4242 (task (wire) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 7 0 1000 "
    "8388608 300 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

std::map<std::string, const prometheus::MetricFamily*> ByName(
    const std::vector<prometheus::MetricFamily>& families) {
  std::map<std::string, const prometheus::MetricFamily*> by_name;
  for (const auto& family : families) by_name[family.name] = &family;
  return by_name;
}

double Value(const prometheus::MetricFamily& family) {
  EXPECT_EQ(family.metric.size(), 1u) << family.name;
  return family.type == prometheus::MetricType::Counter ? family.metric[0].counter.value
                                                        : family.metric[0].gauge.value;
}

TEST(ParseProcStatTest, CountsFieldsAfterTheLastParenthesisOfTheCommand) {
  absl::StatusOr<ProcStat> stat = ParseProcStat(kStat, /*ticks_per_second=*/100,
                                                /*page_size=*/4096);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_DOUBLE_EQ(stat->cpu_seconds, 4.0);
  EXPECT_DOUBLE_EQ(stat->threads, 7);
  EXPECT_DOUBLE_EQ(stat->start_ticks, 1000);
  EXPECT_DOUBLE_EQ(stat->virtual_memory_bytes, 8388608);
  EXPECT_DOUBLE_EQ(stat->resident_memory_bytes, 300 * 4096.0);
}

TEST(ParseProcStatTest, RejectsTruncatedAndGarbledLines) {
  EXPECT_FALSE(ParseProcStat("4242 (x) S 1 2 3", 100, 4096).ok());
  EXPECT_FALSE(ParseProcStat("no parenthesis here", 100, 4096).ok());
  std::string garbled = kStat;
  garbled.replace(garbled.find(" 250 "), 5, " abc ");
  EXPECT_FALSE(ParseProcStat(garbled, 100, 4096).ok());
}

TEST(ParseBootTimeTest, ReadsTheBtimeLine) {
  absl::StatusOr<double> boot = ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n");
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_DOUBLE_EQ(*boot, 1700000000);
  EXPECT_FALSE(ParseBootTime("cpu 1 2 3\n").ok());
}

TEST(ParseMaxOpenFilesTest, ReadsTheSoftLimitAndUnlimited) {
  const char* limits =
      "Limit                     Soft Limit           Hard Limit           Units\n"
      "Max processes             63704                63704                processes\n"
      "Max open files            1024                 524288               files\n";
  absl::StatusOr<std::optional<double>> max = ParseMaxOpenFiles(limits);
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ(*max, std::optional<double>(1024));
  max = ParseMaxOpenFiles("Max open files            unlimited            unlimited   files\n");
  ASSERT_TRUE(max.ok());
  EXPECT_FALSE(max->has_value());
  EXPECT_FALSE(ParseMaxOpenFiles("Max processes 5 5 processes\n").ok());
}

TEST(CgroupMemoryLimitTest, ParsesLimitsAndTheirAbsence) {
  EXPECT_EQ(ParseCgroupMemoryLimit("2147483648\n"), std::optional<double>(2147483648));
  EXPECT_EQ(ParseCgroupMemoryLimit("max\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupMemoryLimit("9223372036854771712\n"), std::nullopt);  // v1's none
  EXPECT_EQ(ParseCgroupMemoryLimit("garbage"), std::nullopt);
  EXPECT_EQ(ParseMemTotal("MemTotal:       24683748 kB\nMemFree: 1 kB\n"),
            std::optional<double>(24683748.0 * 1024));
  EXPECT_EQ(ParseMemTotal("MemFree: 1 kB\n"), std::nullopt);
}

TEST(CgroupMemoryLimitTest, ListsTheCgroupAndItsAncestorsOnEitherVersion) {
  EXPECT_EQ(CgroupMemoryLimitFiles("0::/kubepods/pod1/c1\n", "/cg"),
            (std::vector<std::string>{"/cg/kubepods/pod1/c1/memory.max",
                                      "/cg/kubepods/pod1/memory.max", "/cg/kubepods/memory.max",
                                      "/cg/memory.max"}));
  EXPECT_EQ(CgroupMemoryLimitFiles("0::/\n", "/cg"), (std::vector<std::string>{"/cg/memory.max"}));
  // Hybrid: the memory controller's v1 line wins over the unified one.
  EXPECT_EQ(CgroupMemoryLimitFiles("5:cpu,cpuacct:/\n4:memory:/docker/abc\n0::/\n", "/cg"),
            (std::vector<std::string>{"/cg/memory/docker/abc/memory.limit_in_bytes",
                                      "/cg/memory/docker/memory.limit_in_bytes",
                                      "/cg/memory/memory.limit_in_bytes"}));
  EXPECT_TRUE(CgroupMemoryLimitFiles("garbage", "/cg").empty());
}

class FakeProcTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("taskwire-fake-proc-" + std::to_string(getpid()));
    std::filesystem::create_directories(root_ / "self" / "fd");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& relative, const std::string& text) {
    std::ofstream(root_ / relative) << text;
  }
  std::filesystem::path root_;
};

TEST_F(FakeProcTest, ExportsEveryMetricWithItsTypeAndValue) {
  Write("self/stat", kStat);
  Write("stat", "cpu 1 2 3\nbtime 1700000000\n");
  Write("self/limits", "Max open files            4096                 4096                 files\n");
  for (const char* fd : {"0", "1", "2"}) Write(std::string("self/fd/") + fd, "");

  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const std::vector<prometheus::MetricFamily> families = ProcessCollector(root_).Collect();
  auto by_name = ByName(families);
  ASSERT_EQ(by_name.size(), 7u);
  EXPECT_EQ(by_name["process_cpu_seconds_total"]->type, prometheus::MetricType::Counter);
  EXPECT_DOUBLE_EQ(Value(*by_name["process_cpu_seconds_total"]), 400 / ticks);
  EXPECT_DOUBLE_EQ(Value(*by_name["process_resident_memory_bytes"]), 300 * page);
  EXPECT_DOUBLE_EQ(Value(*by_name["process_virtual_memory_bytes"]), 8388608);
  EXPECT_DOUBLE_EQ(Value(*by_name["process_threads"]), 7);
  EXPECT_DOUBLE_EQ(Value(*by_name["process_start_time_seconds"]), 1700000000 + 1000 / ticks);
  EXPECT_DOUBLE_EQ(Value(*by_name["process_open_fds"]), 3);
  EXPECT_DOUBLE_EQ(Value(*by_name["process_max_fds"]), 4096);
  for (const auto& family : families) {
    if (family.name != "process_cpu_seconds_total") {
      EXPECT_EQ(family.type, prometheus::MetricType::Gauge) << family.name;
    }
    EXPECT_FALSE(family.help.empty()) << family.name;
  }
}

TEST_F(FakeProcTest, MemoryLimitIsTheSmallestOfTheCgroupsElseTheMachines) {
  const std::filesystem::path cgroup = root_ / "cgroup";
  std::filesystem::create_directories(cgroup / "kubepods" / "pod1");
  Write("meminfo", "MemTotal:       1000 kB\n");
  auto limit = [&] {
    auto families = ProcessCollector(root_, cgroup).Collect();
    auto by_name = ByName(families);
    auto it = by_name.find("taskwire_memory_limit_bytes");
    return it == by_name.end() ? -1.0 : Value(*it->second);
  };
  EXPECT_EQ(limit(), 1000 * 1024.0) << "no cgroup file: the machine's memory";
  Write("self/cgroup", "0::/kubepods/pod1\n");
  Write("cgroup/kubepods/pod1/memory.max", "max\n");
  Write("cgroup/kubepods/memory.max", "3000\n");
  EXPECT_EQ(limit(), 3000) << "a parent's limit applies to its children";
  Write("cgroup/kubepods/pod1/memory.max", "2000\n");
  EXPECT_EQ(limit(), 2000);
}

TEST_F(FakeProcTest, DropsOnlyTheMetricsOfAnUnreadableFile) {
  Write("self/stat", "garbage");
  Write("self/limits", "Max open files 64 64 files\n");
  auto by_name = ByName(ProcessCollector(root_).Collect());
  EXPECT_EQ(by_name.count("process_cpu_seconds_total"), 0u);
  EXPECT_EQ(by_name.count("process_start_time_seconds"), 0u);
  EXPECT_EQ(by_name.count("process_open_fds"), 1u);
  EXPECT_EQ(by_name.count("process_max_fds"), 1u);
}

TEST(ProcessCollectorTest, FollowsThisProcessOnTheRealProc) {
  ProcessCollector collector;
  auto before_families = collector.Collect();
  auto before = ByName(before_families);
  ASSERT_EQ(before.size(), 8u) << "every metric should be readable from /proc/self";
  EXPECT_GT(Value(*before["taskwire_memory_limit_bytes"]),
            Value(*before["process_resident_memory_bytes"]));
  EXPECT_GT(Value(*before["process_resident_memory_bytes"]), 0);
  EXPECT_GE(Value(*before["process_threads"]), 1);
  EXPECT_GT(Value(*before["process_start_time_seconds"]), 1.5e9);

  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(open("/dev/null", O_RDONLY));
  auto after_families = collector.Collect();
  auto after = ByName(after_families);
  EXPECT_DOUBLE_EQ(Value(*after["process_open_fds"]), Value(*before["process_open_fds"]) + 3);
  for (int fd : fds) close(fd);

  // Burn CPU until the kernel has charged at least two ticks more (bounded).
  const double cpu_before = Value(*before["process_cpu_seconds_total"]);
  const double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  volatile unsigned sink = 0;
  double cpu_now = cpu_before;
  for (int round = 0; round < 2000 && cpu_now < cpu_before + 2 * tick; ++round) {
    for (unsigned i = 0; i < 1000000; ++i) sink = sink + i;
    auto now = collector.Collect();
    cpu_now = Value(*ByName(now)["process_cpu_seconds_total"]);
  }
  EXPECT_GE(cpu_now, cpu_before + 2 * tick);
}

TEST(ProcessCollectorTest, SerializesToTheTextFormat) {
  const std::string text = prometheus::TextSerializer().Serialize(ProcessCollector().Collect());
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE process_open_fds gauge"), std::string::npos) << text;
}

}  // namespace
}  // namespace taskwire
