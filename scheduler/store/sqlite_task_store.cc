#include "scheduler/store/sqlite_task_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <limits>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "scheduler/store/record_codec.h"
#include "scheduler/store/sqlite_schema.h"

namespace taskwire::scheduler {
namespace {

// The log's size (in pages) past which a background checkpoint starts, and past which the
// committing thread checkpoints itself (64 MiB of 4 KiB pages, as journal_size_limit).
constexpr int kCheckpointFrames = 1000;
constexpr int kForceCheckpointFrames = 16384;

struct StatementDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

absl::StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {  // the primary result code
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
      return absl::StatusCode::kUnavailable;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::StatusCode::kFailedPrecondition;
    default:
      return absl::StatusCode::kInternal;
  }
}

// "sqlite <path>: <what>: <SQLite's message> (code N)"
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view path, absl::string_view what) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return absl::Status(CodeFor(rc), absl::StrCat("sqlite ", path, ": ", what, ": ", message,
                                                " (code ", rc, ")"));
}

int64_t AsInt64(uint64_t v) { return static_cast<int64_t>(v); }

absl::string_view ColumnText(sqlite3_stmt* s, int i) {
  const unsigned char* text = sqlite3_column_text(s, i);
  return text == nullptr ? absl::string_view()
                         : absl::string_view(reinterpret_cast<const char*>(text),
                                             static_cast<size_t>(sqlite3_column_bytes(s, i)));
}

absl::string_view ColumnBlob(sqlite3_stmt* s, int i) {
  const void* blob = sqlite3_column_blob(s, i);
  return blob == nullptr ? absl::string_view()
                         : absl::string_view(static_cast<const char*>(blob),
                                             static_cast<size_t>(sqlite3_column_bytes(s, i)));
}

// Writes a task's spec (Commit, and the upgrade that moved specs out of the records).
constexpr char kInsertSpec[] = "INSERT OR REPLACE INTO task_specs (seq, spec) VALUES (?1, ?2)";

// The spec's blob of a row that selects one as its third column (tasks; workflows have none).
absl::string_view SpecColumn(sqlite3_stmt* s) {
  return sqlite3_column_count(s) > 2 ? ColumnBlob(s, 2) : absl::string_view();
}

absl::StatusOr<WorkflowRecord> DecodeWorkflowRow(absl::string_view record,
                                                 absl::string_view /*spec*/) {
  return DecodeWorkflow(record);
}

void BindText(sqlite3_stmt* s, int i, absl::string_view text) {
  sqlite3_bind_text(s, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

void BindBlob(sqlite3_stmt* s, int i, absl::string_view blob) {
  sqlite3_bind_blob(s, i, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
}

// Empty text is stored as NULL, which the partial indexes leave out.
void BindOptionalText(sqlite3_stmt* s, int i, absl::string_view text) {
  if (text.empty()) {
    sqlite3_bind_null(s, i);
  } else {
    BindText(s, i, text);
  }
}

// A task's retain_until column: a workflow's nodes are deleted with it, never on their own.
absl::Time RetainUntilColumn(const TaskRecord& r) {
  return r.workflow_id.empty() ? absl::Time(r.retain_until) : absl::InfiniteFuture();
}

// The retain_until column: NULL until the record has finished (see sqlite_schema.cc).
void BindRetainUntil(sqlite3_stmt* s, int i, bool finished, absl::Time retain_until) {
  if (!finished) {
    sqlite3_bind_null(s, i);
  } else if (retain_until == absl::InfiniteFuture()) {
    sqlite3_bind_int64(s, i, std::numeric_limits<int64_t>::max());
  } else {
    sqlite3_bind_int64(s, i, absl::ToUnixMicros(retain_until));
  }
}

// Creates `path`'s directory and takes an exclusive lock on `<path>.lock`, so that two
// schedulers never write one store. Returns the lock's file descriptor.
absl::StatusOr<int> PrepareDirectoryAndLock(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create the data directory ", dir.string(), " for ", path, ": ", ec.message()));
    }
  }
  const std::string lock_path = path + ".lock";
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot write in the data directory: ", lock_path, ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is in use by another process (it holds ", lock_path, ")"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot lock ", lock_path, ": ", std::strerror(err)));
  }
  return fd;
}

}  // namespace

struct SqliteTaskStore::Db {
  explicit Db(std::string path) : path(std::move(path)) {}
  ~Db() { Close(); }

  void Close() {
    statements.clear();
    sqlite3_close_v2(conn);
    conn = nullptr;
  }

  absl::Status Error(int rc, absl::string_view what) const {
    return SqliteError(conn, rc, path, what);
  }

  absl::Status Exec(const char* sql, absl::string_view what) {
    if (int rc = sqlite3_exec(conn, sql, nullptr, nullptr, nullptr); rc != SQLITE_OK) {
      return Error(rc, what);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<sqlite3_stmt*> Prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    if (int rc = sqlite3_prepare_v3(conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        rc != SQLITE_OK) {
      return Error(rc, absl::StrCat("preparing ", sql));
    }
    statements.emplace_back(stmt);
    return stmt;
  }

  // Runs a statement that returns no rows, and resets it for the next use.
  absl::Status Run(sqlite3_stmt* stmt, absl::string_view what) {
    const int rc = sqlite3_step(stmt);
    absl::Status status = rc == SQLITE_DONE ? absl::OkStatus() : Error(rc, what);
    sqlite3_reset(stmt);
    return status;
  }

  // A single integer from a query; `fallback` if it returns no row.
  absl::StatusOr<int64_t> QueryInt(const char* sql, int64_t fallback) {
    sqlite3_stmt* stmt = nullptr;
    if (int rc = sqlite3_prepare_v2(conn, sql, -1, &stmt, nullptr); rc != SQLITE_OK) {
      return Error(rc, sql);
    }
    Statement owned(stmt);
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) return sqlite3_column_int64(stmt, 0);
    if (rc == SQLITE_DONE) return fallback;
    return Error(rc, sql);
  }

  // The first column of the first row as text (empty if no row).
  absl::StatusOr<std::string> QueryText(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    if (int rc = sqlite3_prepare_v2(conn, sql, -1, &stmt, nullptr); rc != SQLITE_OK) {
      return Error(rc, sql);
    }
    Statement owned(stmt);
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) return std::string(ColumnText(stmt, 0));
    if (rc == SQLITE_DONE) return std::string();
    return Error(rc, sql);
  }

  const std::string path;
  sqlite3* conn = nullptr;
  std::vector<Statement> statements;  // owns the prepared statements below
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* insert_task = nullptr;        // a task's first write (not its spec)
  sqlite3_stmt* insert_spec = nullptr;
  sqlite3_stmt* update_task = nullptr;        // the writes after, before the final one
  sqlite3_stmt* update_final_task = nullptr;  // a finished task: also sets retain_until
  sqlite3_stmt* upsert_workflow = nullptr;
  sqlite3_stmt* delete_task = nullptr;
  sqlite3_stmt* delete_workflow = nullptr;
  sqlite3_stmt* raise_max_seq = nullptr;
  sqlite3_stmt* max_seq = nullptr;
  sqlite3_stmt* load_unfinished_tasks = nullptr;
  sqlite3_stmt* load_running_workflow_nodes = nullptr;
  sqlite3_stmt* load_running_workflows = nullptr;
  // Retention.
  sqlite3_stmt* delete_expired_tasks = nullptr;
  sqlite3_stmt* expired_workflows = nullptr;
  sqlite3_stmt* delete_workflow_nodes = nullptr;
  sqlite3_stmt* next_task_due = nullptr;
  sqlite3_stmt* next_workflow_due = nullptr;
  // Reads, on the reading connection.
  sqlite3_stmt* find_task = nullptr;
  sqlite3_stmt* find_workflow = nullptr;
  sqlite3_stmt* find_task_by_key = nullptr;
  sqlite3_stmt* find_workflow_by_key = nullptr;
  sqlite3_stmt* list_finished = nullptr;
  sqlite3_stmt* list_finished_newest = nullptr;
};

absl::StatusOr<SqliteSynchronous> ParseSqliteSynchronous(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "normal") return SqliteSynchronous::kNormal;
  if (lower == "full") return SqliteSynchronous::kFull;
  return absl::InvalidArgumentError(
      absl::StrCat("sqlite synchronous mode '", name, "': expected normal or full"));
}

absl::string_view SqliteSynchronousName(SqliteSynchronous s) {
  return s == SqliteSynchronous::kFull ? "full" : "normal";
}

absl::StatusOr<std::unique_ptr<SqliteTaskStore>> SqliteTaskStore::Open(const std::string& path,
                                                                       SqliteOptions options) {
  if (path.empty()) return absl::InvalidArgumentError("sqlite store: empty database path");
  TW_ASSIGN_OR_RETURN(const int lock_fd, PrepareDirectoryAndLock(path));
  absl::StatusOr<std::unique_ptr<Db>> db = Connect(path, options.synchronous);
  absl::Status status = db.status();
  if (status.ok()) status = Migrate(**db);
  if (status.ok()) status = PrepareStatements(**db);
  absl::StatusOr<std::unique_ptr<Db>> checkpoint_db = absl::UnknownError("not connected");
  absl::StatusOr<std::unique_ptr<Db>> read_db = absl::UnknownError("not connected");
  if (status.ok()) {
    checkpoint_db = Connect(path, options.synchronous);
    status = checkpoint_db.status();
  }
  if (status.ok()) {
    read_db = Connect(path, options.synchronous);
    status = read_db.status();
  }
  if (status.ok()) status = PrepareReadStatements(**read_db);
  if (!status.ok()) {
    db = absl::CancelledError();  // closes the connections before the lock goes
    checkpoint_db = absl::CancelledError();
    read_db = absl::CancelledError();
    close(lock_fd);
    return status;
  }
  std::unique_ptr<SqliteTaskStore> store(
      new SqliteTaskStore(path, std::move(options), std::move(*db), std::move(*checkpoint_db),
                          std::move(*read_db), lock_fd));
  {
    absl::MutexLock lock(&store->db_mu_);
    sqlite3_wal_hook(store->db_->conn, &SqliteTaskStore::WalHook, store.get());
    store->MaybeUpdateSize();
  }
  store->checkpointer_ = std::thread([s = store.get()] { s->CheckpointLoop(); });
  return store;
}

SqliteTaskStore::SqliteTaskStore(std::string path, SqliteOptions options, std::unique_ptr<Db> db,
                                 std::unique_ptr<Db> checkpoint_db, std::unique_ptr<Db> read_db,
                                 int lock_fd)
    : path_(std::move(path)),
      options_(std::move(options)),
      lock_fd_(lock_fd),
      db_(std::move(db)),
      read_db_(std::move(read_db)),
      checkpoint_db_(std::move(checkpoint_db)) {}

SqliteTaskStore::~SqliteTaskStore() {
  {
    absl::MutexLock lock(&checkpoint_mu_);
    stopping_ = true;
  }
  if (checkpointer_.joinable()) checkpointer_.join();
  checkpoint_db_->Close();
  {
    absl::MutexLock lock(&read_mu_);
    read_db_.reset();
  }
  {
    absl::MutexLock lock(&db_mu_);
    db_.reset();  // the last connection: checkpoints the log and removes it
  }
  close(lock_fd_);  // only now may another process open the file
}

absl::StatusOr<std::unique_ptr<SqliteTaskStore::Db>> SqliteTaskStore::Connect(
    const std::string& path, SqliteSynchronous synchronous) {
  auto db = std::make_unique<Db>(path);
  if (int rc = sqlite3_open_v2(path.c_str(), &db->conn,
                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                               nullptr);
      rc != SQLITE_OK) {
    return db->Error(rc, "cannot open (is the data directory writable?)");
  }
  TW_RETURN_IF_ERROR(Configure(*db, synchronous));
  return db;
}

int SqliteTaskStore::WalHook(void* arg, sqlite3* conn, const char* /*db_name*/, int frames) {
  auto* self = static_cast<SqliteTaskStore*>(arg);
  if (frames >= kForceCheckpointFrames) {
    // The background checkpoints do not keep up (or never find the log idle enough to let
    // it restart): checkpoint here, in the commit, as SQLite would. Busy if one is running.
    sqlite3_wal_checkpoint_v2(conn, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (frames >= kCheckpointFrames) {
    absl::MutexLock lock(&self->checkpoint_mu_);
    self->checkpoint_wanted_ = true;
  }
  return SQLITE_OK;
}

void SqliteTaskStore::CheckpointLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&checkpoint_mu_);
      auto wanted = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(checkpoint_mu_) {
        return checkpoint_wanted_ || stopping_;
      };
      checkpoint_mu_.Await(absl::Condition(&wanted));
      if (stopping_) return;
      checkpoint_wanted_ = false;
    }
    // PASSIVE: copies what it can without blocking the writer; the writer restarts the log
    // from its beginning once a checkpoint has copied all of it.
    const int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_->conn, nullptr,
                                             SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) {
      spdlog::warn("{}", checkpoint_db_->Error(rc, "background checkpoint").ToString());
    }
  }
}

absl::Status SqliteTaskStore::Configure(Db& db, SqliteSynchronous synchronous) {
  sqlite3_extended_result_codes(db.conn, 1);
  sqlite3_busy_timeout(db.conn, 5000);  // an operator's `sqlite3 .backup` may hold a lock
  // WAL: readers (a backup) never block the writer, and a commit is one append to the log.
  TW_ASSIGN_OR_RETURN(const std::string mode, db.QueryText("PRAGMA journal_mode = WAL"));
  if (absl::AsciiStrToLower(mode) != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(
        "sqlite ", db.path, ": cannot switch to WAL mode (a file system without shared memory?)"));
  }
  TW_RETURN_IF_ERROR(db.Exec(synchronous == SqliteSynchronous::kFull ? "PRAGMA synchronous = FULL"
                                                                     : "PRAGMA synchronous = NORMAL",
                             "setting synchronous"));
  // Keeps the log file from staying large after a burst; 32 MiB of page cache.
  TW_RETURN_IF_ERROR(db.Exec("PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -32768",
                             "setting pragmas"));
  return absl::OkStatus();
}

absl::Status SqliteTaskStore::Migrate(Db& db) {
  TW_ASSIGN_OR_RETURN(
      const int64_t has_meta,
      db.QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'", 0));
  int64_t version = 0;
  if (has_meta == 0) {
    TW_ASSIGN_OR_RETURN(const int64_t objects,
                        db.QueryInt("SELECT count(*) FROM sqlite_master", 0));
    if (objects != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sqlite ", db.path, ": not a taskwire store (it holds tables but no meta table)"));
    }
  } else {
    TW_ASSIGN_OR_RETURN(version,
                        db.QueryInt("SELECT value FROM meta WHERE key = 'schema_version'", 0));
  }
  const int current = CurrentSqliteSchemaVersion();
  if (version > current) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sqlite ", db.path, ": the store has schema version ", version,
        ", newer than this binary knows (", current,
        "): it was written by a newer taskwire; run that version or restore a backup"));
  }
  const int64_t from = version;
  for (const SqliteMigration& m : SqliteMigrations()) {
    if (m.version <= version) continue;
    const std::string what = absl::StrCat("upgrading the schema to version ", m.version);
    absl::Status status = db.Exec("BEGIN IMMEDIATE", what);
    if (status.ok()) status = db.Exec(m.sql, what);
    if (status.ok() && m.version == kSqliteRecordColumnsVersion && from != 0) {
      status = FillRecordColumns(db);
    }
    if (status.ok() && m.version == kSqliteSpecTableVersion && from != 0) {
      status = MoveSpecsOut(db);
    }
    if (status.ok()) {
      status = db.Exec(absl::StrCat("INSERT OR REPLACE INTO meta (key, value) VALUES "
                                    "('schema_version', ", m.version, ")")
                           .c_str(),
                       what);
    }
    if (status.ok()) status = db.Exec("COMMIT", what);
    if (!status.ok()) {
      if (!sqlite3_get_autocommit(db.conn)) (void)db.Exec("ROLLBACK", what);
      return status;
    }
    version = m.version;
  }
  if (from != 0 && from != version) {
    spdlog::info("store {}: schema upgraded from version {} to {}", db.path, from, version);
  }
  return absl::OkStatus();
}

absl::Status SqliteTaskStore::PrepareStatements(Db& db) {
  TW_ASSIGN_OR_RETURN(db.begin, db.Prepare("BEGIN IMMEDIATE"));
  TW_ASSIGN_OR_RETURN(db.commit, db.Prepare("COMMIT"));
  TW_ASSIGN_OR_RETURN(db.rollback, db.Prepare("ROLLBACK"));
  // A task's first write inserts its row and its spec; the writes after update the row
  // alone, and only when their version is newer than the stored one (see task_store.h).
  // What never changes (seq, queue, type, key, workflow) is written once, and retain_until
  // only by the final write, so that the writes in between update no index
  // (sqlite_schema.cc).
  TW_ASSIGN_OR_RETURN(
      db.insert_task,
      db.Prepare("INSERT INTO tasks (id, seq, version, state, workflow_id, record, queue, type, "
                 "idempotency_key, retain_until, owner) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                 "ON CONFLICT (id) DO NOTHING"));
  TW_ASSIGN_OR_RETURN(db.insert_spec, db.Prepare(kInsertSpec));
  TW_ASSIGN_OR_RETURN(db.update_task,
                      db.Prepare("UPDATE tasks SET version = ?2, state = ?3, record = ?4 "
                                 "WHERE id = ?1 AND version < ?2"));
  TW_ASSIGN_OR_RETURN(db.update_final_task,
                      db.Prepare("UPDATE tasks SET version = ?2, state = ?3, record = ?4, "
                                 "retain_until = ?5 WHERE id = ?1 AND version < ?2"));
  TW_ASSIGN_OR_RETURN(
      db.upsert_workflow,
      db.Prepare("INSERT INTO workflows (id, seq, version, state, record, idempotency_key, "
                 "retain_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                 "ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
                 "state = excluded.state, record = excluded.record, "
                 "retain_until = excluded.retain_until "
                 "WHERE excluded.version > workflows.version"));
  TW_ASSIGN_OR_RETURN(db.delete_task, db.Prepare("DELETE FROM tasks WHERE id = ?1"));
  TW_ASSIGN_OR_RETURN(db.delete_workflow, db.Prepare("DELETE FROM workflows WHERE id = ?1"));
  TW_ASSIGN_OR_RETURN(
      db.raise_max_seq,
      db.Prepare("UPDATE meta SET value = max(value, ?1) WHERE key = 'max_seq'"));
  TW_ASSIGN_OR_RETURN(db.max_seq, db.Prepare("SELECT value FROM meta WHERE key = 'max_seq'"));
  // Recovery reads what is in flight through partial indexes (sqlite_schema.cc), so its
  // cost does not grow with the finished tasks retained.
  TW_ASSIGN_OR_RETURN(
      db.load_unfinished_tasks,
      db.Prepare("SELECT t.id, t.record, s.spec FROM tasks t LEFT JOIN task_specs s "
                 "ON s.seq = t.seq WHERE t.retain_until IS NULL"));
  TW_ASSIGN_OR_RETURN(
      db.load_running_workflow_nodes,
      db.Prepare("SELECT t.id, t.record, s.spec FROM workflows w JOIN tasks t "
                 "ON t.workflow_id = w.id LEFT JOIN task_specs s ON s.seq = t.seq "
                 "WHERE w.state = 1 AND t.workflow_id <> '' AND t.retain_until IS NOT NULL"));
  TW_ASSIGN_OR_RETURN(
      db.load_running_workflows,
      db.Prepare("SELECT id, record FROM workflows WHERE state = 1 ORDER BY seq"));
  TW_ASSIGN_OR_RETURN(
      db.delete_expired_tasks,
      db.Prepare("DELETE FROM tasks WHERE rowid IN (SELECT rowid FROM tasks "
                 "WHERE retain_until IS NOT NULL AND retain_until <= ?1 LIMIT ?2)"));
  TW_ASSIGN_OR_RETURN(
      db.expired_workflows,
      db.Prepare("SELECT id FROM workflows WHERE retain_until IS NOT NULL AND retain_until <= ?1 "
                 "LIMIT ?2"));
  TW_ASSIGN_OR_RETURN(db.delete_workflow_nodes,
                      db.Prepare("DELETE FROM tasks WHERE workflow_id = ?1 AND workflow_id <> ''"));
  TW_ASSIGN_OR_RETURN(
      db.next_task_due,
      db.Prepare("SELECT min(retain_until) FROM tasks WHERE retain_until IS NOT NULL"));
  TW_ASSIGN_OR_RETURN(
      db.next_workflow_due,
      db.Prepare("SELECT min(retain_until) FROM workflows WHERE retain_until IS NOT NULL"));
  return absl::OkStatus();
}

absl::Status SqliteTaskStore::PrepareReadStatements(Db& db) {
  TW_ASSIGN_OR_RETURN(db.find_task,
                      db.Prepare("SELECT t.id, t.record, s.spec FROM tasks t LEFT JOIN task_specs "
                                 "s ON s.seq = t.seq WHERE t.id = ?1"));
  TW_ASSIGN_OR_RETURN(db.find_workflow,
                      db.Prepare("SELECT id, record FROM workflows WHERE id = ?1"));
  TW_ASSIGN_OR_RETURN(
      db.find_task_by_key,
      db.Prepare("SELECT id FROM tasks WHERE idempotency_key = ?1 AND idempotency_key IS NOT NULL"));
  TW_ASSIGN_OR_RETURN(
      db.find_workflow_by_key,
      db.Prepare("SELECT id, record FROM workflows "
                 "WHERE idempotency_key = ?1 AND idempotency_key IS NOT NULL"));
  constexpr absl::string_view kListFinished =
      "SELECT t.id, t.record, s.spec FROM tasks t LEFT JOIN task_specs s "
      "ON s.seq = t.seq WHERE t.seq >= ?1 AND t.seq < ?2 AND t.state >= 5 "
      "AND (?3 = 0 OR t.state = ?3) AND (?4 = '' OR t.queue = ?4) "
      "AND (?5 = '' OR t.type = ?5) AND (?7 = '' OR t.owner = ?7) ";
  TW_ASSIGN_OR_RETURN(db.list_finished,
                      db.Prepare(absl::StrCat(kListFinished, "ORDER BY t.seq LIMIT ?6").c_str()));
  TW_ASSIGN_OR_RETURN(db.list_finished_newest,
                      db.Prepare(absl::StrCat(kListFinished, "ORDER BY t.seq DESC LIMIT ?6").c_str()));
  return absl::OkStatus();
}

// --- Commit

absl::Status SqliteTaskStore::Commit(const StoreBatch& batch) {
  return group_.Commit(batch, [this](absl::Span<const StoreBatch* const> group, size_t) {
    absl::MutexLock lock(&db_mu_);
    return WriteGroup(group);
  });
}

absl::Status SqliteTaskStore::WriteGroup(absl::Span<const StoreBatch* const> group) {
  const auto start = std::chrono::steady_clock::now();
  Db& db = *db_;
  uint64_t max_seq = 0;
  size_t records = 0;
  absl::Status status = db.Run(db.begin, "beginning a transaction");
  for (size_t i = 0; status.ok() && i < group.size(); ++i) {
    const StoreBatch& batch = *group[i];
    status = WriteBatch(batch, max_seq);
    records += batch.tasks.size() + batch.workflows.size() + batch.deleted_tasks.size() +
               batch.deleted_workflows.size();
  }
  if (status.ok() && max_seq > committed_max_seq_) {
    sqlite3_bind_int64(db.raise_max_seq, 1, AsInt64(max_seq));
    status = db.Run(db.raise_max_seq, "recording max_seq");
  }
  if (status.ok() && options_.before_commit) status = options_.before_commit();
  if (status.ok()) status = db.Run(db.commit, "committing");
  if (!status.ok()) {
    // SQLite may have rolled back already (e.g. after an I/O error during COMMIT).
    if (!sqlite3_get_autocommit(db.conn)) (void)db.Run(db.rollback, "rolling back");
    if (options_.metrics != nullptr) options_.metrics->CommitFailed();
    spdlog::error("store commit of {} records failed: {}", records, status.ToString());
    return status;
  }
  committed_max_seq_ = std::max(committed_max_seq_, max_seq);
  if (options_.metrics != nullptr) {
    options_.metrics->Committed(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), records);
  }
  MaybeUpdateSize();
  return absl::OkStatus();
}

absl::Status SqliteTaskStore::WriteBatch(const StoreBatch& batch, uint64_t& max_seq) {
  Db& db = *db_;
  std::string blob;
  for (const TaskRecord& r : batch.tasks) {
    blob = EncodeTask(r);
    TW_RETURN_IF_ERROR(WriteTask(r, blob));
    max_seq = std::max(max_seq, r.seq);
  }
  for (const WorkflowRecord& r : batch.workflows) {
    blob = EncodeWorkflow(r);
    sqlite3_stmt* s = db.upsert_workflow;
    BindText(s, 1, r.id);
    sqlite3_bind_int64(s, 2, AsInt64(r.seq));
    sqlite3_bind_int64(s, 3, AsInt64(r.version));
    sqlite3_bind_int(s, 4, StoredWorkflowStateNumber(r.state));
    BindBlob(s, 5, blob);
    BindOptionalText(s, 6, r.idempotency_key);
    BindRetainUntil(s, 7, r.state != WorkflowState::kRunning, r.retain_until);
    TW_RETURN_IF_ERROR(db.Run(s, absl::StrCat("writing workflow ", r.id)));
    max_seq = std::max(max_seq, r.seq);
  }
  for (const std::string& id : batch.deleted_tasks) {
    BindText(db.delete_task, 1, id);
    TW_RETURN_IF_ERROR(db.Run(db.delete_task, absl::StrCat("deleting task ", id)));
  }
  for (const std::string& id : batch.deleted_workflows) {
    BindText(db.delete_workflow, 1, id);
    TW_RETURN_IF_ERROR(db.Run(db.delete_workflow, absl::StrCat("deleting workflow ", id)));
  }
  return absl::OkStatus();
}

absl::Status SqliteTaskStore::WriteTask(const TaskRecord& r, absl::string_view record) {
  Db& db = *db_;
  const bool finished = IsTerminal(r.state);
  // A later version updates the row; a version 1, or a later one whose row was never
  // committed, inserts it with its spec. A row that exists with this version or a newer
  // one is left as it is.
  if (r.version > 1) {
    sqlite3_stmt* s = finished ? db.update_final_task : db.update_task;
    BindText(s, 1, r.id);
    sqlite3_bind_int64(s, 2, AsInt64(r.version));
    sqlite3_bind_int(s, 3, StoredTaskStateNumber(r.state));
    BindBlob(s, 4, record);
    if (finished) BindRetainUntil(s, 5, true, RetainUntilColumn(r));
    TW_RETURN_IF_ERROR(db.Run(s, absl::StrCat("writing task ", r.id)));
    if (sqlite3_changes(db.conn) > 0) return absl::OkStatus();
  }
  sqlite3_stmt* s = db.insert_task;
  BindText(s, 1, r.id);
  sqlite3_bind_int64(s, 2, AsInt64(r.seq));
  sqlite3_bind_int64(s, 3, AsInt64(r.version));
  sqlite3_bind_int(s, 4, StoredTaskStateNumber(r.state));
  BindText(s, 5, r.workflow_id);
  BindBlob(s, 6, record);
  BindText(s, 7, r.spec->queue);
  BindText(s, 8, r.spec->type);
  BindOptionalText(s, 9, r.spec->idempotency_key);
  BindRetainUntil(s, 10, finished, RetainUntilColumn(r));
  BindText(s, 11, r.spec->owner);
  TW_RETURN_IF_ERROR(db.Run(s, absl::StrCat("writing task ", r.id)));
  if (sqlite3_changes(db.conn) > 0) {
    const std::string spec = EncodeTaskSpec(*r.spec);
    sqlite3_bind_int64(db.insert_spec, 1, AsInt64(r.seq));
    BindBlob(db.insert_spec, 2, spec);
    return db.Run(db.insert_spec, absl::StrCat("writing the spec of task ", r.id));
  }
  return absl::OkStatus();
}

void SqliteTaskStore::MaybeUpdateSize() {
  if (options_.metrics == nullptr) return;
  const auto now = std::chrono::steady_clock::now();
  if (size_updated_ != std::chrono::steady_clock::time_point() &&
      now - size_updated_ < std::chrono::seconds(1)) {
    return;
  }
  size_updated_ = now;
  uintmax_t bytes = 0;
  for (const std::string& file : {path_, path_ + "-wal"}) {
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(file, ec);
    if (!ec) bytes += size;
  }
  options_.metrics->SizeBytes(static_cast<double>(bytes));
}

// --- Load

namespace {

// Decoding is most of Load()'s time (a million tasks: protobuf parsing and allocation), so
// this thread reads rows in chunks while worker threads decode the chunks.
constexpr size_t kRowsPerChunk = 4096;

struct Row {
  std::string id, record, spec;
};

template <typename Record>
struct Chunk {
  std::vector<Row> rows;
  std::vector<Record> records;
  absl::Status status;
};

template <typename Record, typename Decode>
void DecodeChunk(Chunk<Record>& chunk, const std::string& path, absl::string_view kind,
                 Decode decode) {
  chunk.records.reserve(chunk.rows.size());
  for (const auto& [id, bytes, spec] : chunk.rows) {
    absl::StatusOr<Record> record = decode(bytes, spec);
    if (!record.ok()) {
      chunk.status = absl::DataLossError(absl::StrCat("sqlite ", path, ": ", kind, " ", id,
                                                      " is corrupt: ", record.status().message()));
      return;
    }
    if (record->id != id) {
      chunk.status = absl::DataLossError(absl::StrCat("sqlite ", path, ": ", kind, " ", id,
                                                      " holds the record of ", record->id));
      return;
    }
    chunk.records.push_back(std::move(*record));
  }
  chunk.rows.clear();
  chunk.rows.shrink_to_fit();
}

// Decodes every row of `stmt` (id, record[, spec]) with `decode` into `out`, sorted by seq. The
// first row that does not decode fails it with DATA_LOSS naming the record.
template <typename Record, typename Decode>
absl::Status LoadTable(sqlite3_stmt* stmt, sqlite3* conn, const std::string& path,
                       absl::string_view kind, Decode decode, std::vector<Record>& out) {
  absl::Mutex mu;
  std::vector<std::unique_ptr<Chunk<Record>>> chunks;  // in row order
  size_t next = 0;             // the next chunk a worker takes
  bool reading_done = false;
  auto work = [&] {
    while (true) {
      Chunk<Record>* chunk;
      {
        absl::MutexLock lock(&mu);
        auto ready = [&] { return next < chunks.size() || reading_done; };
        mu.Await(absl::Condition(&ready));
        if (next == chunks.size()) return;
        chunk = chunks[next++].get();
      }
      DecodeChunk(*chunk, path, kind, decode);
    }
  };
  const unsigned workers = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < workers; ++i) threads.emplace_back(work);

  int rc;
  auto chunk = std::make_unique<Chunk<Record>>();
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    chunk->rows.push_back(Row{std::string(ColumnText(stmt, 0)), std::string(ColumnBlob(stmt, 1)),
                              std::string(SpecColumn(stmt))});
    if (chunk->rows.size() == kRowsPerChunk) {
      absl::MutexLock lock(&mu);
      chunks.push_back(std::move(chunk));
      chunk = std::make_unique<Chunk<Record>>();
    }
  }
  {
    absl::MutexLock lock(&mu);
    if (!chunk->rows.empty()) chunks.push_back(std::move(chunk));
    reading_done = true;
  }
  for (std::thread& t : threads) t.join();
  absl::Status status =
      rc == SQLITE_DONE ? absl::OkStatus()
                        : SqliteError(conn, rc, path, absl::StrCat("reading ", kind, "s"));
  sqlite3_reset(stmt);
  if (!status.ok()) return status;

  size_t total = 0;
  for (const auto& c : chunks) {
    if (!c->status.ok()) return c->status;
    total += c->records.size();
  }
  out.reserve(total);
  for (auto& c : chunks) {
    std::move(c->records.begin(), c->records.end(), std::back_inserter(out));
    c.reset();
  }
  auto by_seq = [](const Record& a, const Record& b) { return a.seq < b.seq; };
  if (!std::is_sorted(out.begin(), out.end(), by_seq)) {
    std::sort(out.begin(), out.end(), by_seq);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StoredState> SqliteTaskStore::Load() {
  absl::MutexLock lock(&db_mu_);
  Db& db = *db_;
  StoredState state;
  // One read transaction, so the three reads see the same commit.
  if (int rc = sqlite3_exec(db.conn, "BEGIN", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
    return db.Error(rc, "beginning a read");
  }
  absl::Status status;
  if (const int rc = sqlite3_step(db.max_seq); rc == SQLITE_ROW) {
    state.max_seq = static_cast<uint64_t>(sqlite3_column_int64(db.max_seq, 0));
  } else {
    status = rc == SQLITE_DONE
                 ? absl::DataLossError(absl::StrCat("sqlite ", path_, ": meta has no max_seq"))
                 : db.Error(rc, "reading max_seq");
  }
  sqlite3_reset(db.max_seq);
  if (status.ok()) {
    status =
        LoadTable(db.load_unfinished_tasks, db.conn, path_, "task", DecodeTask, state.tasks);
  }
  if (status.ok()) {
    status = LoadTable(db.load_running_workflow_nodes, db.conn, path_, "task", DecodeTask,
                       state.tasks);
  }
  if (status.ok()) {
    status = LoadTable(db.load_running_workflows, db.conn, path_, "workflow", DecodeWorkflowRow,
                       state.workflows);
  }
  (void)db.Exec("COMMIT", "ending a read");
  if (!status.ok()) return status;
  return state;
}

// --- Reads of finished work, on their own connection: WAL readers never wait for the writer.

namespace {

// One row (id, record[, spec]) of `stmt` decoded, or nullopt if it returns none; resets `stmt`.
template <typename Record, typename Decode>
absl::StatusOr<std::optional<Record>> ReadOne(sqlite3_stmt* stmt, sqlite3* conn,
                                              const std::string& path, absl::string_view kind,
                                              Decode decode) {
  const int rc = sqlite3_step(stmt);
  absl::StatusOr<std::optional<Record>> out = std::optional<Record>();
  if (rc == SQLITE_ROW) {
    absl::StatusOr<Record> record = decode(ColumnBlob(stmt, 1), SpecColumn(stmt));
    if (record.ok()) {
      out = std::optional<Record>(std::move(*record));
    } else {
      out = absl::DataLossError(absl::StrCat("sqlite ", path, ": ", kind, " ",
                                             ColumnText(stmt, 0), " is corrupt: ",
                                             record.status().message()));
    }
  } else if (rc != SQLITE_DONE) {
    out = SqliteError(conn, rc, path, absl::StrCat("reading a ", kind));
  }
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  return out;
}

}  // namespace

absl::StatusOr<std::optional<TaskRecord>> SqliteTaskStore::FindTask(absl::string_view id) {
  absl::MutexLock lock(&read_mu_);
  Db& db = *read_db_;
  BindText(db.find_task, 1, id);
  return ReadOne<TaskRecord>(db.find_task, db.conn, path_, "task", DecodeTask);
}

absl::StatusOr<std::optional<WorkflowRecord>> SqliteTaskStore::FindWorkflow(
    absl::string_view id) {
  absl::MutexLock lock(&read_mu_);
  Db& db = *read_db_;
  BindText(db.find_workflow, 1, id);
  return ReadOne<WorkflowRecord>(db.find_workflow, db.conn, path_, "workflow",
                                 DecodeWorkflowRow);
}

absl::StatusOr<std::optional<std::string>> SqliteTaskStore::FindTaskIdByKey(
    absl::string_view key) {
  absl::MutexLock lock(&read_mu_);
  Db& db = *read_db_;
  BindText(db.find_task_by_key, 1, key);
  const int rc = sqlite3_step(db.find_task_by_key);
  absl::StatusOr<std::optional<std::string>> out = std::optional<std::string>();
  if (rc == SQLITE_ROW) {
    out = std::optional<std::string>(ColumnText(db.find_task_by_key, 0));
  } else if (rc != SQLITE_DONE) {
    out = db.Error(rc, "looking up an idempotency key");
  }
  sqlite3_reset(db.find_task_by_key);
  return out;
}

absl::StatusOr<std::optional<WorkflowRecord>> SqliteTaskStore::FindWorkflowByKey(
    absl::string_view key) {
  absl::MutexLock lock(&read_mu_);
  Db& db = *read_db_;
  BindText(db.find_workflow_by_key, 1, key);
  return ReadOne<WorkflowRecord>(db.find_workflow_by_key, db.conn, path_, "workflow",
                                 DecodeWorkflowRow);
}

absl::StatusOr<std::vector<TaskRecord>> SqliteTaskStore::ListFinishedTasks(
    const FinishedTaskQuery& query) {
  constexpr uint64_t kMaxSeq = std::numeric_limits<int64_t>::max();
  absl::MutexLock lock(&read_mu_);
  Db& db = *read_db_;
  sqlite3_stmt* s = query.newest_first ? db.list_finished_newest : db.list_finished;
  sqlite3_bind_int64(s, 1, AsInt64(std::min(query.from_seq, kMaxSeq)));
  sqlite3_bind_int64(s, 2, AsInt64(std::min(query.to_seq, kMaxSeq)));
  sqlite3_bind_int(s, 3, query.state ? StoredTaskStateNumber(*query.state) : 0);
  BindText(s, 4, query.queue);
  BindText(s, 5, query.type);
  sqlite3_bind_int64(s, 6, static_cast<int64_t>(query.limit));
  BindText(s, 7, query.owner);
  std::vector<TaskRecord> out;
  absl::Status status;
  int rc;
  while (status.ok() && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    absl::StatusOr<TaskRecord> record = DecodeTask(ColumnBlob(s, 1), SpecColumn(s));
    if (record.ok()) {
      out.push_back(std::move(*record));
    } else {
      status = absl::DataLossError(absl::StrCat("sqlite ", path_, ": task ", ColumnText(s, 0),
                                                " is corrupt: ", record.status().message()));
    }
  }
  if (status.ok() && rc != SQLITE_DONE) status = db.Error(rc, "listing finished tasks");
  sqlite3_reset(s);
  if (!status.ok()) return status;
  return out;
}

// --- Retention

absl::StatusOr<RetentionSweep> SqliteTaskStore::DeleteExpired(absl::Time now, size_t limit) {
  absl::MutexLock lock(&db_mu_);
  Db& db = *db_;
  const int64_t now_us = absl::ToUnixMicros(now);
  RetentionSweep sweep;
  absl::Status status = db.Run(db.begin, "beginning a retention sweep");
  if (status.ok()) {
    sqlite3_bind_int64(db.delete_expired_tasks, 1, now_us);
    sqlite3_bind_int64(db.delete_expired_tasks, 2, static_cast<int64_t>(limit));
    status = db.Run(db.delete_expired_tasks, "deleting tasks past their retention");
    if (status.ok()) sweep.deleted = static_cast<size_t>(sqlite3_changes(db.conn));
  }
  std::vector<std::string> workflows;
  if (status.ok() && sweep.deleted < limit) {
    sqlite3_stmt* s = db.expired_workflows;
    sqlite3_bind_int64(s, 1, now_us);
    sqlite3_bind_int64(s, 2, static_cast<int64_t>(limit - sweep.deleted));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) workflows.emplace_back(ColumnText(s, 0));
    if (rc != SQLITE_DONE) status = db.Error(rc, "finding workflows past their retention");
    sqlite3_reset(s);
  }
  for (size_t i = 0; status.ok() && i < workflows.size(); ++i) {
    BindText(db.delete_workflow_nodes, 1, workflows[i]);
    status = db.Run(db.delete_workflow_nodes, "deleting a workflow's nodes");
    if (status.ok()) {
      BindText(db.delete_workflow, 1, workflows[i]);
      status = db.Run(db.delete_workflow, "deleting a workflow past its retention");
    }
  }
  sweep.deleted += workflows.size();
  for (sqlite3_stmt* s : {db.next_task_due, db.next_workflow_due}) {
    if (!status.ok()) break;
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
      const int64_t us = sqlite3_column_int64(s, 0);
      sweep.next_due = std::min(sweep.next_due, us == std::numeric_limits<int64_t>::max()
                                                    ? absl::InfiniteFuture()
                                                    : absl::FromUnixMicros(us));
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      status = db.Error(rc, "finding the next retention to end");
    }
    sqlite3_reset(s);
  }
  if (status.ok()) status = db.Run(db.commit, "committing a retention sweep");
  if (!status.ok()) {
    if (!sqlite3_get_autocommit(db.conn)) (void)db.Run(db.rollback, "rolling back");
    return status;
  }
  MaybeUpdateSize();
  return sweep;
}

// Upgrading to kSqliteRecordColumnsVersion: copies each record's queue, type, key and
// retention end into the new columns, inside the migration's transaction.
absl::Status SqliteTaskStore::FillRecordColumns(Db& db) {
  struct TaskColumns {
    std::string id, queue, type, key;
    bool finished;
    absl::Time retain_until;
  };
  std::vector<TaskColumns> tasks;
  std::vector<TaskColumns> workflows;
  {
    TW_ASSIGN_OR_RETURN(sqlite3_stmt* read, db.Prepare("SELECT id, record FROM tasks"));
    int rc;
    while ((rc = sqlite3_step(read)) == SQLITE_ROW) {
      absl::StatusOr<TaskRecord> r = DecodeTask(ColumnBlob(read, 1), {});  // holds its spec
      if (!r.ok() || r->spec == nullptr) continue;  // Load() reports it, naming the record
      tasks.push_back(TaskColumns{r->id, r->spec->queue, r->spec->type, r->spec->idempotency_key,
                                  IsTerminal(r->state), RetainUntilColumn(*r)});
    }
    if (rc != SQLITE_DONE) return db.Error(rc, "reading tasks to upgrade");
    TW_ASSIGN_OR_RETURN(read, db.Prepare("SELECT id, record FROM workflows"));
    while ((rc = sqlite3_step(read)) == SQLITE_ROW) {
      absl::StatusOr<WorkflowRecord> r = DecodeWorkflow(ColumnBlob(read, 1));
      if (!r.ok()) continue;
      workflows.push_back(TaskColumns{r->id, {}, {}, r->idempotency_key,
                                      r->state != WorkflowState::kRunning, r->retain_until});
    }
    if (rc != SQLITE_DONE) return db.Error(rc, "reading workflows to upgrade");
  }
  TW_ASSIGN_OR_RETURN(sqlite3_stmt* task_update,
                      db.Prepare("UPDATE tasks SET queue = ?2, type = ?3, idempotency_key = ?4, "
                                 "retain_until = ?5 WHERE id = ?1"));
  for (const TaskColumns& t : tasks) {
    BindText(task_update, 1, t.id);
    BindText(task_update, 2, t.queue);
    BindText(task_update, 3, t.type);
    BindOptionalText(task_update, 4, t.key);
    BindRetainUntil(task_update, 5, t.finished, t.retain_until);
    TW_RETURN_IF_ERROR(db.Run(task_update, "upgrading a task row"));
  }
  TW_ASSIGN_OR_RETURN(
      sqlite3_stmt* workflow_update,
      db.Prepare("UPDATE workflows SET idempotency_key = ?2, retain_until = ?3 WHERE id = ?1"));
  for (const TaskColumns& w : workflows) {
    BindText(workflow_update, 1, w.id);
    BindOptionalText(workflow_update, 2, w.key);
    BindRetainUntil(workflow_update, 3, w.finished, w.retain_until);
    TW_RETURN_IF_ERROR(db.Run(workflow_update, "upgrading a workflow row"));
  }
  spdlog::info("store {}: copied the columns of {} tasks and {} workflows for schema version {}",
               db.path, tasks.size(), workflows.size(), kSqliteRecordColumnsVersion);
  return absl::OkStatus();
}

// Upgrading to kSqliteSpecTableVersion: moves each task's spec out of its record into
// task_specs, inside the migration's transaction, a page of rows at a time (a store may hold
// millions of tasks with large payloads).
absl::Status SqliteTaskStore::MoveSpecsOut(Db& db) {
  constexpr int kPage = 1024;
  TW_ASSIGN_OR_RETURN(sqlite3_stmt* read,
                      db.Prepare("SELECT rowid, record FROM tasks WHERE rowid > ?1 "
                                 "ORDER BY rowid LIMIT ?2"));
  TW_ASSIGN_OR_RETURN(sqlite3_stmt* write_spec, db.Prepare(kInsertSpec));
  TW_ASSIGN_OR_RETURN(sqlite3_stmt* write_record,
                      db.Prepare("UPDATE tasks SET record = ?2 WHERE rowid = ?1"));
  struct Moved {
    int64_t rowid;
    uint64_t seq;
    std::string spec, record;
  };
  int64_t after = 0;
  size_t moved = 0;
  for (;;) {
    std::vector<Moved> page;
    sqlite3_bind_int64(read, 1, after);
    sqlite3_bind_int(read, 2, kPage);
    int rc;
    int rows = 0;
    while ((rc = sqlite3_step(read)) == SQLITE_ROW) {
      ++rows;
      after = sqlite3_column_int64(read, 0);
      absl::StatusOr<TaskRecord> r = DecodeTask(ColumnBlob(read, 1), {});
      if (!r.ok()) continue;  // Load() reports it, naming the record
      page.push_back(Moved{after, r->seq, EncodeTaskSpec(*r->spec), EncodeTask(*r)});
    }
    sqlite3_reset(read);
    if (rc != SQLITE_DONE) return db.Error(rc, "reading tasks to upgrade");
    for (const Moved& m : page) {
      sqlite3_bind_int64(write_spec, 1, AsInt64(m.seq));
      BindBlob(write_spec, 2, m.spec);
      TW_RETURN_IF_ERROR(db.Run(write_spec, "moving a task's spec"));
      sqlite3_bind_int64(write_record, 1, m.rowid);
      BindBlob(write_record, 2, m.record);
      TW_RETURN_IF_ERROR(db.Run(write_record, "rewriting a task's record"));
    }
    moved += page.size();
    if (rows < kPage) break;
  }
  spdlog::info("store {}: moved the specs of {} tasks to a table of their own (schema version {})",
               db.path, moved, kSqliteSpecTableVersion);
  return absl::OkStatus();
}

std::string SqliteTaskStore::Describe() const {
  return absl::StrCat("sqlite ", path_, " (WAL, synchronous=",
                      SqliteSynchronousName(options_.synchronous),
                      options_.synchronous == SqliteSynchronous::kFull
                          ? ": durable against process crashes and power loss)"
                          : ": durable against process crashes, not power loss)");
}

}  // namespace taskwire::scheduler
