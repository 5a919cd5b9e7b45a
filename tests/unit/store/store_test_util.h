// Helpers for the store tests: a temporary directory removed at the end of the test, and
// records with every field set to something other than its default.
#ifndef TASKWIRE_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_
#define TASKWIRE_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "scheduler/core/task_record.h"
#include "scheduler/core/task_store.h"

namespace taskwire::scheduler::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "taskwire-store-XXXXXX";
    const char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << pattern;
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A plain task, as the memory store's tests make them.
inline TaskRecord Task(std::string id, uint64_t seq, uint64_t version, TaskState state,
                       std::string output = "") {
  auto spec = std::make_shared<TaskSpec>();
  spec->type = "echo";
  spec->queue = "default";
  TaskRecord r;
  r.id = std::move(id);
  r.seq = seq;
  r.version = version;
  r.spec = std::move(spec);
  r.state = state;
  r.output = std::move(output);
  return r;
}

inline WorkflowRecord Workflow(std::string id, uint64_t seq, uint64_t version,
                               WorkflowState state = WorkflowState::kRunning) {
  WorkflowRecord w;
  w.id = std::move(id);
  w.seq = seq;
  w.version = version;
  w.state = state;
  return w;
}

// Every field set, none to its default value; times at whole microseconds.
inline TaskRecord FullTask() {
  const absl::Time t0 = absl::FromUnixMicros(1'764'000'000'123'456);
  auto spec = std::make_shared<TaskSpec>();
  spec->type = "sha256";
  spec->payload = std::string("pay\0load\xff", 9);
  spec->queue = "batch";
  spec->priority = -7;
  spec->timeout = absl::Milliseconds(1500);
  spec->labels = {{"team", "search"}, {"env", "prod"}, {"team", "again"}};
  spec->retry = RetryPolicy{.max_attempts = 5,
                            .initial_backoff = absl::Milliseconds(250),
                            .multiplier = 2.5,
                            .max_backoff = absl::Seconds(30),
                            .jitter = 0.25};
  spec->not_before = t0 + absl::Seconds(60);
  spec->countdown = absl::Seconds(60);
  spec->expires_after = absl::Minutes(10);
  spec->idempotency_key = "order-42";
  spec->retention = absl::Hours(48);
  spec->owner = "alice";

  TaskRecord r;
  r.id = "t-000123";
  r.seq = 123;
  r.version = 9;
  r.spec = std::move(spec);
  r.state = TaskState::kRunning;
  r.created_at = t0;
  r.queued_at = t0 + absl::Microseconds(1);
  r.finished_at = t0 + absl::Seconds(5);
  r.output = std::string("out\0put\x80", 8);
  r.error = "stderr tail \xfe\xff";
  AttemptRecord lost{.number = 1,
                     .executor_id = "exec-a",
                     .assigned_at = t0 + absl::Seconds(1),
                     .finished_at = t0 + absl::Seconds(2),
                     .outcome = AttemptOutcome::kLost,
                     .error = "executor went away",
                     .exit_code = std::nullopt,
                     .term_signal = 0,
                     .not_retryable = false};
  AttemptRecord failed{.number = 2,
                       .executor_id = "exec-b",
                       .assigned_at = t0 + absl::Seconds(3),
                       .finished_at = t0 + absl::Seconds(4),
                       .outcome = AttemptOutcome::kFailed,
                       .error = "exit 0 is still a failure here",
                       .exit_code = 0,
                       .term_signal = 9,
                       .not_retryable = true};
  AttemptRecord running{.number = 3,
                        .executor_id = "exec-c",
                        .assigned_at = t0 + absl::Seconds(5),
                        .finished_at = absl::InfinitePast(),
                        .outcome = AttemptOutcome::kRunning,
                        .error = "",
                        .exit_code = -1,
                        .term_signal = 0,
                        .not_retryable = false};
  r.attempts = {lost, failed, running};
  r.scheduled_for = t0 + absl::Seconds(6);
  r.expires_at = t0 + absl::Minutes(10);
  r.retain_until = t0 + absl::Hours(48);
  r.workflow_id = "wf-7";
  r.node_index = 3;
  return r;
}

inline WorkflowRecord FullWorkflow() {
  const absl::Time t0 = absl::FromUnixMicros(1'764'000'000'654'321);
  WorkflowRecord w;
  w.id = "wf-7";
  w.seq = 120;
  w.version = 4;
  w.state = WorkflowState::kFailed;
  w.created_at = t0;
  w.finished_at = t0 + absl::Seconds(9);
  w.nodes = {{"fetch", "t-000121", {}},
             {"parse", "t-000122", {0}},
             {"join", "t-000123", {1, 0}}};
  w.decided_by = "parse";
  w.error = "parse: bad input \xff";
  w.labels = {{"pipeline", "nightly"}, {"owner", "ops"}};
  w.retain_until = t0 + absl::Hours(24);
  w.idempotency_key = "nightly-2026-11-25";
  w.owner = "ops";
  return w;
}

// Field-by-field comparisons, so a failure names the field.
inline void ExpectSameSpec(const TaskSpec& a, const TaskSpec& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.payload, b.payload);
  EXPECT_EQ(a.queue, b.queue);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.timeout, b.timeout);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.retry.max_attempts, b.retry.max_attempts);
  EXPECT_EQ(a.retry.initial_backoff, b.retry.initial_backoff);
  EXPECT_EQ(a.retry.multiplier, b.retry.multiplier);
  EXPECT_EQ(a.retry.max_backoff, b.retry.max_backoff);
  EXPECT_EQ(a.retry.jitter, b.retry.jitter);
  EXPECT_EQ(a.not_before, b.not_before);
  EXPECT_EQ(a.countdown, b.countdown);
  EXPECT_EQ(a.expires_after, b.expires_after);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.retention, b.retention);
  EXPECT_EQ(a.owner, b.owner);
}

inline void ExpectSameAttempt(const AttemptRecord& a, const AttemptRecord& b) {
  EXPECT_EQ(a.number, b.number);
  EXPECT_EQ(a.executor_id, b.executor_id);
  EXPECT_EQ(a.assigned_at, b.assigned_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  EXPECT_EQ(a.outcome, b.outcome);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.exit_code, b.exit_code);
  EXPECT_EQ(a.term_signal, b.term_signal);
  EXPECT_EQ(a.not_retryable, b.not_retryable);
}

inline void ExpectSameTask(const TaskRecord& a, const TaskRecord& b) {
  SCOPED_TRACE("task " + a.id);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.version, b.version);
  ASSERT_NE(a.spec, nullptr);
  ASSERT_NE(b.spec, nullptr);
  ExpectSameSpec(*a.spec, *b.spec);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.queued_at, b.queued_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  EXPECT_EQ(a.output, b.output);
  EXPECT_EQ(a.error, b.error);
  ASSERT_EQ(a.attempts.size(), b.attempts.size());
  for (size_t i = 0; i < a.attempts.size(); ++i) ExpectSameAttempt(a.attempts[i], b.attempts[i]);
  EXPECT_EQ(a.scheduled_for, b.scheduled_for);
  EXPECT_EQ(a.expires_at, b.expires_at);
  EXPECT_EQ(a.retain_until, b.retain_until);
  EXPECT_EQ(a.workflow_id, b.workflow_id);
  EXPECT_EQ(a.node_index, b.node_index);
}

inline void ExpectSameWorkflow(const WorkflowRecord& a, const WorkflowRecord& b) {
  SCOPED_TRACE("workflow " + a.id);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    EXPECT_EQ(a.nodes[i].name, b.nodes[i].name);
    EXPECT_EQ(a.nodes[i].task_id, b.nodes[i].task_id);
    EXPECT_EQ(a.nodes[i].after, b.nodes[i].after);
  }
  EXPECT_EQ(a.decided_by, b.decided_by);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.owner, b.owner);
  EXPECT_EQ(a.retain_until, b.retain_until);
}

inline std::vector<std::string> TaskIds(const std::vector<TaskRecord>& records) {
  std::vector<std::string> ids;
  for (const TaskRecord& r : records) ids.push_back(r.id);
  return ids;
}

// Every task `store` holds: the unfinished ones (Load) and the finished ones
// (ListFinishedTasks), once each, in seq order.
inline std::vector<TaskRecord> AllTasks(TaskStore& store) {
  absl::StatusOr<StoredState> state = store.Load();
  EXPECT_TRUE(state.ok()) << state.status();
  FinishedTaskQuery all;
  all.limit = 1'000'000;
  absl::StatusOr<std::vector<TaskRecord>> finished = store.ListFinishedTasks(all);
  EXPECT_TRUE(finished.ok()) << finished.status();
  std::vector<TaskRecord> out;
  if (!state.ok() || !finished.ok()) return out;
  for (TaskRecord& r : state->tasks) {
    if (!IsTerminal(r.state)) out.push_back(std::move(r));
  }
  for (TaskRecord& r : *finished) out.push_back(std::move(r));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  return out;
}

// The workflow `id` as stored; fails the test if there is none.
inline WorkflowRecord StoredWorkflow(TaskStore& store, const std::string& id) {
  absl::StatusOr<std::optional<WorkflowRecord>> w = store.FindWorkflow(id);
  EXPECT_TRUE(w.ok() && w->has_value()) << "workflow " << id;
  return w.ok() && w->has_value() ? **w : WorkflowRecord{};
}

}  // namespace taskwire::scheduler::testing

#endif  // TASKWIRE_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_
