// The schema's upgrade path: a file built by the first migration alone, with rows in it,
// is upgraded in place by Open() with its rows intact; a file from a newer taskwire is
// refused.
#include "scheduler/store/sqlite_schema.h"

#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/store/record_codec.h"
#include "scheduler/store/sqlite_task_store.h"
#include "tests/unit/status_matchers.h"
#include "tests/unit/store/legacy_record.h"
#include "tests/unit/store/store_test_util.h"

namespace taskwire::scheduler {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::IsOkAndHolds;
using ::taskwire::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using namespace ::taskwire::scheduler::testing;  // NOLINT: test helpers

// A raw connection for building and inspecting files the way an older binary left them.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
  }
  ~RawDb() { sqlite3_close(db_); }

  void Exec(const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << sql << ": " << (error ? error : "");
    sqlite3_free(error);
  }

  int64_t Int(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    int64_t value = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }

  std::string Blob(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    std::string value;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      value.assign(static_cast<const char*>(sqlite3_column_blob(stmt, 0)),
                   static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
    }
    sqlite3_finalize(stmt);
    return value;
  }

  // A task row as schema version 1 has it (no workflow_id column, the spec in the record).
  void InsertV1Task(const TaskRecord& r) {
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(
                  db_, "INSERT INTO tasks (id, seq, version, state, record) VALUES (?,?,?,?,?)",
                  -1, &stmt, nullptr),
              SQLITE_OK);
    const std::string blob = LegacyTaskBlob(r);
    sqlite3_bind_text(stmt, 1, r.id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, static_cast<int64_t>(r.seq));
    sqlite3_bind_int64(stmt, 3, static_cast<int64_t>(r.version));
    sqlite3_bind_int(stmt, 4, StoredTaskStateNumber(r.state));
    sqlite3_bind_blob(stmt, 5, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST(SqliteSchemaTest, MigrationsAreNumberedOneUpWithoutGaps) {
  const auto& migrations = SqliteMigrations();
  ASSERT_GE(migrations.size(), 2u);
  for (size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].version, static_cast<int>(i + 1));
  }
  EXPECT_EQ(CurrentSqliteSchemaVersion(), migrations.back().version);
}

TEST(SqliteSchemaTest, ANewFileIsAtTheCurrentVersion) {
  TempDir dir;
  const std::string path = dir.File("taskwire.db");
  { ASSERT_THAT(SqliteTaskStore::Open(path), IsOk()); }

  RawDb db(path);
  EXPECT_EQ(db.Int("SELECT value FROM meta WHERE key = 'schema_version'"),
            CurrentSqliteSchemaVersion());
  EXPECT_EQ(db.Int("SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
}

TEST(SqliteSchemaTest, UpgradesAVersion1FileInPlaceKeepingItsRows) {
  TempDir dir;
  const std::string path = dir.File("taskwire.db");
  TaskRecord queued = FullTask();
  queued.id = "old-queued";
  queued.seq = 41;
  queued.state = TaskState::kQueued;
  queued.workflow_id.clear();  // version 1 had no workflows
  TaskRecord done = Task("old-done", 40, 3, TaskState::kSucceeded, "result");
  done.retain_until = absl::FromUnixSeconds(1'800'000'000);
  {
    // What a version-1 binary left behind: its migration only, two tasks, max_seq 41.
    RawDb db(path);
    db.Exec("BEGIN");
    db.Exec(SqliteMigrations()[0].sql);
    db.Exec("INSERT INTO meta (key, value) VALUES ('schema_version', 1)");
    db.InsertV1Task(queued);
    db.InsertV1Task(done);
    db.Exec("UPDATE meta SET value = 41 WHERE key = 'max_seq'");
    db.Exec("COMMIT");
    EXPECT_EQ(db.Int("SELECT count(*) FROM sqlite_master WHERE name = 'workflows'"), 0);
  }

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteTaskStore> store, SqliteTaskStore::Open(path));
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());

  // The upgrade to version 3 filled the new columns from the records: recovery reads the
  // unfinished task, the finished one is found by id, key and listing, and retention
  // deletes it when it is due.
  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("old-queued"));
  ExpectSameTask(state.tasks[0], queued);
  const std::vector<TaskRecord> all = AllTasks(*store);
  EXPECT_THAT(TaskIds(all), ElementsAre("old-done", "old-queued"));
  ExpectSameTask(all[0], done);
  EXPECT_EQ(state.max_seq, 41u);
  FinishedTaskQuery by_type;
  by_type.type = done.spec->type;
  EXPECT_THAT(store->ListFinishedTasks(by_type), IsOkAndHolds(SizeIs(1)));
  if (!queued.spec->idempotency_key.empty()) {
    EXPECT_THAT(store->FindTaskIdByKey(queued.spec->idempotency_key),
                IsOkAndHolds(std::optional<std::string>("old-queued")));
  }
  // What version 2 added works: workflows, and the versioned upsert over old rows.
  StoreBatch batch;
  batch.workflows = {Workflow("wf", 42, 1)};
  TaskRecord node = Task("new-node", 43, 1, TaskState::kRunning);
  node.workflow_id = "wf";
  batch.tasks = {node, Task("old-queued", 41, queued.version + 1, TaskState::kRunning)};
  ASSERT_THAT(store->Commit(batch), IsOk());
  ASSERT_OK_AND_ASSIGN(state, store->Load());
  ASSERT_THAT(state.workflows, SizeIs(1));
  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("old-queued", "new-node"));
  EXPECT_EQ(state.tasks[0].state, TaskState::kRunning);
  EXPECT_EQ(state.max_seq, 43u);
  ASSERT_OK_AND_ASSIGN(RetentionSweep sweep,
                       store->DeleteExpired(done.retain_until + absl::Seconds(1), 100));
  EXPECT_EQ(sweep.deleted, 1u);
  EXPECT_THAT(store->FindTask("old-done"), IsOkAndHolds(::testing::Eq(std::nullopt)));
  store.reset();

  RawDb db(path);
  EXPECT_EQ(db.Int("SELECT value FROM meta WHERE key = 'schema_version'"),
            CurrentSqliteSchemaVersion());
  EXPECT_EQ(db.Int("SELECT count(*) FROM tasks WHERE workflow_id = 'wf'"), 1);
  EXPECT_EQ(db.Int("SELECT count(*) FROM tasks WHERE workflow_id = ''"), 1);
  // The upgrade to version 4 moved the specs out of the records; the deleted task's went
  // with it.
  EXPECT_EQ(db.Int("SELECT count(*) FROM task_specs"), 2);
  EXPECT_EQ(db.Int("SELECT count(*) FROM tasks t JOIN task_specs s ON s.seq = t.seq"), 2);
  store::v1::StoredTask stored;
  ASSERT_TRUE(stored.ParseFromString(db.Blob("SELECT record FROM tasks WHERE id = 'old-queued'")));
  EXPECT_FALSE(stored.has_spec());
}

TEST(SqliteSchemaTest, RefusesAFileFromANewerVersionAndLeavesItAlone) {
  TempDir dir;
  const std::string path = dir.File("taskwire.db");
  { ASSERT_THAT(SqliteTaskStore::Open(path), IsOk()); }
  const int newer = CurrentSqliteSchemaVersion() + 1;
  {
    RawDb db(path);
    db.Exec(absl::StrCat("UPDATE meta SET value = ", newer, " WHERE key = 'schema_version'"));
  }

  EXPECT_THAT(SqliteTaskStore::Open(path),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(path), HasSubstr(absl::StrCat("version ", newer)),
                             HasSubstr("newer"))));

  RawDb db(path);
  EXPECT_EQ(db.Int("SELECT value FROM meta WHERE key = 'schema_version'"), newer);
}

}  // namespace
}  // namespace taskwire::scheduler
