// PostgresTaskStore: the TaskStore on a PostgreSQL database (--store=postgres), for
// schedulers that share one database: a leader and its standbys (leader_lease.h), on the
// HA the operator already runs (streaming replication, Patroni, a managed service).
//
//   PostgresOptions options;  // synchronous_commit on, no metrics
//   absl::StatusOr<std::unique_ptr<PostgresTaskStore>> store =
//       PostgresTaskStore::Open("postgresql://taskwire@db/taskwire", options);
//
// The same guarantees as SqliteTaskStore: Commit() returns once the transaction has
// committed; concurrent commits share one transaction (group_commit.h), on one of
// PostgresOptions::writers connections; records are the same bytes (record_codec.h); the
// schema is migrated in place (postgres_schema.h). A transaction writes the whole group
// with a few statements whatever its size: the rows travel as arrays (unnest), their bytes
// as one binary parameter sliced by offsets, in id order, so that two transactions in
// flight lock rows in the same order and never deadlock.
//
// Durability: with synchronous_commit on (the default), a commit is flushed to the
// database's write-ahead log (and to synchronous replicas, if the server has any) before
// Commit() returns. Off (PostgresOptions::synchronous_commit, flag
// --postgres-synchronous-commit): a crash of the database server may lose the last
// fraction of a second of commits, never corrupt them; a crash of the scheduler loses
// nothing.
//
// Fencing: after FenceWithTerm(term), every write transaction first reads the lease row
// with a share lock and fails with FAILED_PRECONDITION when the term has moved on, so a
// deposed leader (paused, partitioned) cannot overwrite its successor's state. The share
// lock makes a successor's takeover wait for a transaction in progress, so the successor
// loads every commit of the old term.
//
// Thread-safe. Reads of finished work (Find*, ListFinishedTasks) use a connection of
// their own.
#ifndef TASKWIRE_SCHEDULER_STORE_POSTGRES_TASK_STORE_H_
#define TASKWIRE_SCHEDULER_STORE_POSTGRES_TASK_STORE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "scheduler/core/task_store.h"
#include "scheduler/store/group_commit.h"
#include "scheduler/store/postgres_util.h"
#include "scheduler/store/store_metrics.h"

namespace taskwire::scheduler {

struct PostgresOptions {
  bool synchronous_commit = true;
  // Connections that write: that many transactions may be in flight at once (the core's
  // submit thread and its delivery thread each commit), so one's wait for the disk does not
  // hold up the other.
  size_t writers = 2;
  StoreMetrics* metrics = nullptr;  // optional; must outlive the store
  // A session that stays idle inside a transaction this long is ended by the server, so a
  // paused scheduler cannot hold the lease row's lock (and block a takeover) for longer.
  absl::Duration idle_in_transaction_timeout = absl::Seconds(5);
  // Tests only: runs inside every transaction just before COMMIT; an error aborts it.
  std::function<absl::Status()> before_commit = {};
};

class PostgresTaskStore final : public TaskStore {
 public:
  // `url`: a libpq connection string or URL. UNAVAILABLE when the server cannot be reached,
  // FAILED_PRECONDITION for a database of a newer schema or one that is not taskwire's.
  static absl::StatusOr<std::unique_ptr<PostgresTaskStore>> Open(const std::string& url,
                                                                 PostgresOptions options = {});
  ~PostgresTaskStore() override;

  absl::Status Commit(const StoreBatch& batch) override;
  absl::StatusOr<StoredState> Load() override;
  absl::StatusOr<std::optional<TaskRecord>> FindTask(absl::string_view id) override;
  absl::StatusOr<std::optional<WorkflowRecord>> FindWorkflow(absl::string_view id) override;
  absl::StatusOr<std::optional<std::string>> FindTaskIdByKey(absl::string_view key) override;
  absl::StatusOr<std::optional<WorkflowRecord>> FindWorkflowByKey(absl::string_view key) override;
  absl::StatusOr<std::vector<TaskRecord>> ListFinishedTasks(
      const FinishedTaskQuery& query) override;
  absl::StatusOr<RetentionSweep> DeleteExpired(absl::Time now, size_t limit) override;
  std::string Describe() const override;

  // From now on every write checks that the lease's term is still `term` (see above).
  void FenceWithTerm(uint64_t term) { fence_term_.store(term); }

  uint64_t commit_calls() const { return group_.calls(); }
  uint64_t transactions() const { return group_.transactions(); }
  void WaitForCommitCalls(uint64_t n) const { group_.WaitForCalls(n); }

 private:
  PostgresTaskStore(PostgresOptions options, std::vector<PgConnection> writers,
                    PgConnection db, PgConnection read_db);

  // Runs on writers_[writer], which group_ gives to one transaction at a time.
  absl::Status WriteGroup(absl::Span<const StoreBatch* const> group, size_t writer);
  void MaybeUpdateSize() ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);
  void RaiseCommittedMaxSeq(uint64_t seq);

  const std::string where_;  // the server and database, for messages (no password)
  const PostgresOptions options_;
  std::atomic<uint64_t> fence_term_{0};  // 0: not fenced (a single scheduler, tests)

  GroupCommit group_;
  const std::vector<PgConnection> writers_;
  // A lower bound of taskwire_meta.max_seq: a commit whose records are all at or below it
  // (a delivery round) leaves that row alone.
  std::atomic<uint64_t> committed_max_seq_{0};

  // Recovery, retention and the size gauge, on a connection of their own.
  absl::Mutex db_mu_;
  PgConnection db_ ABSL_PT_GUARDED_BY(db_mu_);
  std::chrono::steady_clock::time_point size_updated_ ABSL_GUARDED_BY(db_mu_);

  absl::Mutex read_mu_;
  PgConnection read_db_ ABSL_PT_GUARDED_BY(read_mu_);
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_POSTGRES_TASK_STORE_H_
