// SqliteTaskStore: the durable, embedded TaskStore. One SQLite file (WAL mode) under the
// scheduler's data directory; each record is one row holding its encoded bytes
// (record_codec.h) beside the few columns SQL needs (sqlite_schema.h).
//
//   SqliteOptions options;  // synchronous NORMAL, no metrics
//   absl::StatusOr<std::unique_ptr<SqliteTaskStore>> store =
//       SqliteTaskStore::Open("/var/lib/taskwire/taskwire.db", options);
//
// Group commit (group_commit.h): concurrent Commit() calls share one transaction (and one
// fsync). An error fails every caller of that transaction and nothing of it is visible.
//
// Durability (SqliteOptions::synchronous, flag --sqlite-synchronous):
//  - kNormal (default): a committed transaction survives the process being killed (kill -9,
//    a crash, OOM): it is in the write-ahead log, which SQLite replays. A power loss or
//    kernel crash may lose the last transactions before a checkpoint, never corrupt the file.
//  - kFull: the log is fsynced at every commit, so a commit survives power loss too; costs
//    one fsync per transaction (group commit shares it). bench/README.md has both figures.
//
// Open() creates the parent directory, refuses a file that another process holds (a lock
// file beside it, `<path>.lock`), upgrades an older schema in place and refuses a newer one
// (FAILED_PRECONDITION). Load() fails with DATA_LOSS naming the record that does not decode.
//
// Finished tasks are read back (Find*, ListFinishedTasks) on a second connection, which in
// WAL mode never waits for the writer; DeleteExpired() runs retention in batches.
//
// Thread-safe: every method may be called from any thread.
#ifndef TASKWIRE_SCHEDULER_STORE_SQLITE_TASK_STORE_H_
#define TASKWIRE_SCHEDULER_STORE_SQLITE_TASK_STORE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "scheduler/store/group_commit.h"
#include "scheduler/store/store_metrics.h"
#include "scheduler/core/task_store.h"

struct sqlite3;

namespace taskwire::scheduler {

enum class SqliteSynchronous { kNormal, kFull };

// "normal" or "full" (any case); INVALID_ARGUMENT otherwise.
absl::StatusOr<SqliteSynchronous> ParseSqliteSynchronous(absl::string_view name);
absl::string_view SqliteSynchronousName(SqliteSynchronous s);

struct SqliteOptions {
  SqliteSynchronous synchronous = SqliteSynchronous::kNormal;
  StoreMetrics* metrics = nullptr;  // optional; must outlive the store
  // Tests only: runs inside every transaction just before COMMIT; an error aborts it.
  std::function<absl::Status()> before_commit;
};

class SqliteTaskStore final : public TaskStore {
 public:
  // `path` is the database file, e.g. <data-dir>/taskwire.db.
  static absl::StatusOr<std::unique_ptr<SqliteTaskStore>> Open(const std::string& path,
                                                               SqliteOptions options = {});
  ~SqliteTaskStore() override;

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

  const std::string& path() const { return path_; }
  // Calls of Commit() with a non-empty batch, and transactions written for them (committed
  // or failed): with concurrent callers, fewer transactions than calls.
  uint64_t commit_calls() const { return group_.calls(); }
  uint64_t transactions() const { return group_.transactions(); }
  // Tests: blocks until `n` non-empty Commit() calls have entered the store.
  void WaitForCommitCalls(uint64_t n) const { group_.WaitForCalls(n); }

 private:
  struct Db;  // the connection and its prepared statements

  SqliteTaskStore(std::string path, SqliteOptions options, std::unique_ptr<Db> db,
                  std::unique_ptr<Db> checkpoint_db, std::unique_ptr<Db> read_db, int lock_fd);

  static absl::StatusOr<std::unique_ptr<Db>> Connect(const std::string& path,
                                                     SqliteSynchronous synchronous);

  static absl::Status Configure(Db& db, SqliteSynchronous synchronous);
  // Brings the schema up to CurrentSqliteSchemaVersion(), one transaction per migration;
  // refuses a file written by a newer taskwire.
  static absl::Status Migrate(Db& db);
  static absl::Status PrepareStatements(Db& db);
  static absl::Status PrepareReadStatements(Db& db);
  static absl::Status FillRecordColumns(Db& db);
  static absl::Status MoveSpecsOut(Db& db);

  // Writes every batch of `group` in one transaction.
  absl::Status WriteGroup(absl::Span<const StoreBatch* const> group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);
  absl::Status WriteBatch(const StoreBatch& batch, uint64_t& max_seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);
  absl::Status WriteTask(const TaskRecord& r, absl::string_view record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);
  void MaybeUpdateSize() ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);

  // Checkpoints (copying the write-ahead log back into the database file, then an fsync)
  // are the slow part of WAL mode. SQLite runs them inside a commit; here a background
  // thread runs them on a connection of its own, so that commits wait for one only when
  // the log outgrows its hard limit (WalHook). Under sustained writes the log cannot
  // restart from its beginning while the background copies (new frames keep arriving), so
  // it stays near that limit (64 MiB) and each crossing costs one commit a short
  // checkpoint of what the background has not copied yet.
  static int WalHook(void* store, sqlite3* conn, const char* db_name, int frames);
  void CheckpointLoop();

  const std::string path_;
  const SqliteOptions options_;
  const int lock_fd_;

  GroupCommit group_;  // its lock is never held while db_mu_ is taken

  absl::Mutex db_mu_;
  std::unique_ptr<Db> db_ ABSL_PT_GUARDED_BY(db_mu_);
  std::chrono::steady_clock::time_point size_updated_ ABSL_GUARDED_BY(db_mu_);
  // A lower bound of meta.max_seq: a commit whose records are all at or below it (a
  // delivery round, no new task) leaves the meta row, and its page, alone.
  uint64_t committed_max_seq_ ABSL_GUARDED_BY(db_mu_) = 0;

  // Reads of finished work (Find*, ListFinishedTasks) on a connection of their own.
  absl::Mutex read_mu_;
  std::unique_ptr<Db> read_db_ ABSL_PT_GUARDED_BY(read_mu_);

  const std::unique_ptr<Db> checkpoint_db_;  // used by checkpointer_ only
  absl::Mutex checkpoint_mu_;
  bool checkpoint_wanted_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  std::thread checkpointer_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_SQLITE_TASK_STORE_H_
