// store-bench: the SQLite task store on its own, without gRPC (results in bench/README.md).
//
//   store-bench --dir /tmp/twbench commit     --threads 16 --batch 1 --seconds 3 --synchronous normal
//   store-bench --dir /tmp/twbench lifecycle  --threads 16 --batch 1 --seconds 3
//   store-bench --dir /tmp/twbench load       --tasks 1000000
//
// commit: every thread commits new QUEUED tasks, `--batch` per call, back to back, as
//   Submit (batch 1) or SubmitBatch (batch N) threads do; reports records/s, transactions
//   (group commit: calls per transaction) and the callers' commit latency.
// lifecycle: every task is written three times, as the scheduler does for a no-op task
//   (QUEUED on submit, RUNNING on assignment, SUCCEEDED on its result); reports tasks/s.
// load: fills a fresh store with --tasks QUEUED tasks (commits of 10,000), closes it, then
//   times Open() and Load() as a restarted scheduler does; reports the file size. --reuse
//   skips the fill when the previous run's file is there.
// Each run uses a fresh file under --dir.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "scheduler/store/sqlite_task_store.h"

namespace taskwire::bench {
namespace {

using scheduler::SqliteOptions;
using scheduler::SqliteTaskStore;
using scheduler::StoreBatch;
using scheduler::TaskRecord;
using scheduler::TaskSpec;
using scheduler::TaskState;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Flags {
  std::string dir = "/tmp/taskwire-store-bench";
  std::string synchronous = "normal";
  int threads = 16;
  int batch = 1;
  double seconds = 3;
  int64_t tasks = 1'000'000;
  int payload_bytes = 16;
  bool reuse = false;  // load: Load() an existing load.db again, without filling it
};

// A task as the scheduler stores a no-op submission: spec, times, an id like its ids.
TaskRecord MakeTask(uint64_t seq, const std::shared_ptr<const TaskSpec>& spec) {
  TaskRecord r;
  char id[32];
  std::snprintf(id, sizeof(id), "t-%016llx", static_cast<unsigned long long>(seq));
  r.id = id;
  r.seq = seq;
  r.version = 1;
  r.spec = spec;
  r.state = TaskState::kQueued;
  r.created_at = absl::Now();
  r.queued_at = r.created_at;
  r.retain_until = absl::InfiniteFuture();
  return r;
}

// Round `round` of thread `t`: --batch new tasks, with seqs no other thread or round uses.
StoreBatch NewTasks(const Flags& flags, const std::shared_ptr<const TaskSpec>& spec, int t,
                    uint64_t round) {
  StoreBatch batch;
  for (int i = 0; i < flags.batch; ++i) {
    const uint64_t seq = (static_cast<uint64_t>(t) << 40) +
                         round * static_cast<uint64_t>(flags.batch) + i + 1;
    batch.tasks.push_back(MakeTask(seq, spec));
  }
  return batch;
}

std::shared_ptr<const TaskSpec> MakeSpec(const Flags& flags) {
  auto spec = std::make_shared<TaskSpec>();
  spec->type = "noop";
  spec->queue = "default";
  spec->payload = std::string(static_cast<size_t>(flags.payload_bytes), 'x');
  spec->retry.max_attempts = 3;
  spec->retry.initial_backoff = absl::Seconds(1);
  spec->retry.multiplier = 2;
  spec->retry.max_backoff = absl::Seconds(60);
  spec->retry.jitter = 0.2;
  return spec;
}

std::unique_ptr<SqliteTaskStore> OpenFresh(const Flags& flags, const std::string& name) {
  const std::string path = flags.dir + "/" + name + ".db";
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(path + suffix);
  SqliteOptions options;
  auto mode = scheduler::ParseSqliteSynchronous(flags.synchronous);
  if (!mode.ok()) {
    std::fprintf(stderr, "%s\n", mode.status().ToString().c_str());
    std::exit(2);
  }
  options.synchronous = *mode;
  auto store = SqliteTaskStore::Open(path, options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*store);
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

// Runs `flags.threads` threads for `flags.seconds`; each calls `step(thread, round)` in a
// loop, which commits and returns how many tasks it completed. Prints the summary.
template <typename Step>
void RunThreads(const Flags& flags, SqliteTaskStore& store, const char* what, const char* unit,
                Step step) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(flags.threads));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int t = 0; t < flags.threads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t round = 0; !stop.load(std::memory_order_relaxed); ++round) {
        done += step(t, round, latencies[static_cast<size_t>(t)]);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(flags.seconds));
  stop = true;
  for (std::thread& t : threads) t.join();
  const double elapsed = Since(start);
  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::printf(
      "%s synchronous=%s threads=%d batch=%d: %.0f %s/s (%llu in %.2f s); %llu commit calls "
      "in %llu transactions (%.1f calls/transaction); commit latency p50 %.2f ms p99 %.2f ms\n",
      what, flags.synchronous.c_str(), flags.threads, flags.batch,
      static_cast<double>(done.load()) / elapsed, unit,
      static_cast<unsigned long long>(done.load()), elapsed,
      static_cast<unsigned long long>(store.commit_calls()),
      static_cast<unsigned long long>(store.transactions()),
      static_cast<double>(store.commit_calls()) / static_cast<double>(store.transactions()),
      Percentile(all, 0.5) * 1e3, Percentile(all, 0.99) * 1e3);
}

absl::Status CommitTimed(SqliteTaskStore& store, const StoreBatch& batch, std::vector<double>& lat) {
  const auto start = Clock::now();
  absl::Status s = store.Commit(batch);
  lat.push_back(Since(start));
  if (!s.ok()) {
    std::fprintf(stderr, "commit failed: %s\n", s.ToString().c_str());
    std::exit(1);
  }
  return s;
}

void CommitMode(const Flags& flags) {
  auto store = OpenFresh(flags, "commit");
  const auto spec = MakeSpec(flags);
  RunThreads(flags, *store, "commit", "records",
             [&](int t, uint64_t round, std::vector<double>& lat) -> uint64_t {
               StoreBatch batch = NewTasks(flags, spec, t, round);
               (void)CommitTimed(*store, batch, lat);
               return batch.tasks.size();
             });
}

void LifecycleMode(const Flags& flags) {
  auto store = OpenFresh(flags, "lifecycle");
  const auto spec = MakeSpec(flags);
  RunThreads(flags, *store, "lifecycle (3 writes per task)", "tasks",
             [&](int t, uint64_t round, std::vector<double>& lat) -> uint64_t {
               StoreBatch batch = NewTasks(flags, spec, t, round);
               (void)CommitTimed(*store, batch, lat);  // submitted: QUEUED
               for (TaskRecord& r : batch.tasks) {
                 ++r.version;
                 r.state = TaskState::kRunning;
                 r.attempts.push_back({.number = 1,
                                       .executor_id = "exec-1",
                                       .assigned_at = absl::Now(),
                                       .finished_at = absl::InfinitePast(),
                                       .outcome = scheduler::AttemptOutcome::kRunning,
                                       .error = "",
                                       .exit_code = std::nullopt,
                                       .term_signal = 0,
                                       .not_retryable = false});
               }
               (void)CommitTimed(*store, batch, lat);  // assigned: RUNNING
               for (TaskRecord& r : batch.tasks) {
                 ++r.version;
                 r.state = TaskState::kSucceeded;
                 r.finished_at = absl::Now();
                 r.attempts.back().finished_at = r.finished_at;
                 r.attempts.back().outcome = scheduler::AttemptOutcome::kSucceeded;
                 r.output = "ok";
               }
               (void)CommitTimed(*store, batch, lat);  // result: SUCCEEDED
               return batch.tasks.size();
             });
}

void LoadMode(const Flags& flags) {
  const std::string path = flags.dir + "/load.db";
  if (!flags.reuse || !std::filesystem::exists(path)) {
    auto store = OpenFresh(flags, "load");
    const auto spec = MakeSpec(flags);
    const auto start = Clock::now();
    constexpr int64_t kChunk = 10'000;
    for (int64_t first = 0; first < flags.tasks; first += kChunk) {
      StoreBatch batch;
      for (int64_t seq = first + 1; seq <= std::min(flags.tasks, first + kChunk); ++seq) {
        batch.tasks.push_back(MakeTask(static_cast<uint64_t>(seq), spec));
      }
      if (absl::Status s = store->Commit(batch); !s.ok()) {
        std::fprintf(stderr, "fill: %s\n", s.ToString().c_str());
        std::exit(1);
      }
    }
    std::printf("load: filled %lld queued tasks in %.2f s (commits of %lld)\n",
                static_cast<long long>(flags.tasks), Since(start), static_cast<long long>(kChunk));
  }  // closed: the log is checkpointed into the file
  const double mib = static_cast<double>(std::filesystem::file_size(path)) / (1 << 20);
  SqliteOptions options;
  auto start = Clock::now();
  auto store = SqliteTaskStore::Open(path, options);
  const double open_s = Since(start);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  start = Clock::now();
  auto state = (*store)->Load();
  const double load_s = Since(start);
  if (!state.ok()) {
    std::fprintf(stderr, "%s\n", state.status().ToString().c_str());
    std::exit(1);
  }
  std::printf("load: file %.1f MiB; Open %.3f s; Load %.2f s for %zu tasks (%.0f tasks/s), "
              "max_seq %llu\n",
              mib, open_s, load_s, state->tasks.size(),
              static_cast<double>(state->tasks.size()) / load_s,
              static_cast<unsigned long long>(state->max_seq));
}

}  // namespace
}  // namespace taskwire::bench

int main(int argc, char** argv) {
  taskwire::bench::Flags flags;
  CLI::App app{"store-bench: the SQLite task store's commit throughput and load time"};
  app.add_option("--dir", flags.dir, "directory for the store files")->capture_default_str();
  app.add_option("--synchronous", flags.synchronous, "normal or full")->capture_default_str();
  app.add_option("--payload-bytes", flags.payload_bytes, "payload of each task")
      ->capture_default_str();
  app.require_subcommand(1);
  for (const char* mode : {"commit", "lifecycle"}) {
    CLI::App* sub = app.add_subcommand(mode, mode == std::string("commit")
                                                 ? "new tasks, --batch per commit"
                                                 : "three writes per task");
    sub->add_option("--threads", flags.threads, "committing threads")->capture_default_str();
    sub->add_option("--batch", flags.batch, "tasks per commit call")->capture_default_str();
    sub->add_option("--seconds", flags.seconds, "duration")->capture_default_str();
  }
  CLI::App* load = app.add_subcommand("load", "fill, reopen and Load()");
  load->add_option("--tasks", flags.tasks, "queued tasks")->capture_default_str();
  load->add_flag("--reuse", flags.reuse, "Load() the file of the previous run again");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::create_directories(flags.dir);
  if (app.got_subcommand("commit")) taskwire::bench::CommitMode(flags);
  if (app.got_subcommand("lifecycle")) taskwire::bench::LifecycleMode(flags);
  if (app.got_subcommand("load")) taskwire::bench::LoadMode(flags);
  return 0;
}
