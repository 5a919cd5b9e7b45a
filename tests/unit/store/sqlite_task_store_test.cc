// SqliteTaskStore on a real file in a temporary directory: the TaskStore contract (the same
// behaviours as memory_task_store_test.cc), recovery after reopening, group commit from
// concurrent callers, failed transactions, errors that name their cause, and metrics.
#include "scheduler/store/sqlite_task_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/unit/status_matchers.h"
#include "tests/unit/store/store_test_util.h"
#include "tests/unit/store/task_store_contract.h"

namespace taskwire::scheduler {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using namespace ::taskwire::scheduler::testing;  // NOLINT: test helpers

std::unique_ptr<TaskStore> MakeSqlite(const TempDir& dir) {
  absl::StatusOr<std::unique_ptr<SqliteTaskStore>> store =
      SqliteTaskStore::Open(dir.File("taskwire.db"));
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}
INSTANTIATE_TEST_SUITE_P(Sqlite, TaskStoreContractTest, ::testing::Values(&MakeSqlite),
                         [](const auto&) { return std::string("sqlite"); });

class SqliteTaskStoreTest : public ::testing::Test {
 protected:
  std::string DbPath() const { return dir_.File("data/taskwire.db"); }

  std::unique_ptr<SqliteTaskStore> Open(SqliteOptions options = {}) {
    absl::StatusOr<std::unique_ptr<SqliteTaskStore>> store =
        SqliteTaskStore::Open(DbPath(), std::move(options));
    EXPECT_THAT(store, IsOk());
    return store.ok() ? std::move(*store) : nullptr;
  }

  // Closes `store` and opens the file again, as a restarted scheduler does.
  std::unique_ptr<SqliteTaskStore> Reopen(std::unique_ptr<SqliteTaskStore>& store) {
    store.reset();
    return Open();
  }

  // One integer from `sql`, read through a connection of its own as an operator would.
  int64_t Count(const std::string& sql) const {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    int64_t value = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }

  // Runs `sql` on the closed store's file.
  void Tamper(const std::string& sql) const {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql;
    sqlite3_close(db);
  }

  static TaskRecord WithPayload(TaskRecord r, std::string payload) {
    auto spec = std::make_shared<TaskSpec>(*r.spec);
    spec->payload = std::move(payload);
    r.spec = std::move(spec);
    return r;
  }

  static StoreBatch Tasks(std::vector<TaskRecord> tasks) {
    StoreBatch batch;
    batch.tasks = std::move(tasks);
    return batch;
  }

  TempDir dir_;
};

TEST_F(SqliteTaskStoreTest, StartsEmpty) {
  auto store = Open();
  ASSERT_NE(store, nullptr);

  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());

  EXPECT_THAT(state.tasks, IsEmpty());
  EXPECT_THAT(state.workflows, IsEmpty());
  EXPECT_EQ(state.max_seq, 0u);
  EXPECT_THAT(store->Describe(), AllOf(HasSubstr("sqlite"), HasSubstr(DbPath()),
                                       HasSubstr("synchronous=normal")));
}

TEST_F(SqliteTaskStoreTest, LoadsTheUnfinishedTasksAndListsTheFinishedOnesInSubmissionOrder) {
  auto store = Open();
  ASSERT_THAT(store->Commit(Tasks({Task("c", 3, 1, TaskState::kQueued),
                                   Task("a", 1, 1, TaskState::kRunning),
                                   Task("done", 2, 1, TaskState::kSucceeded),
                                   Task("failed", 4, 1, TaskState::kFailed),
                                   Task("cancelled", 5, 1, TaskState::kCancelled),
                                   Task("b", 6, 1, TaskState::kQueued)})),
              IsOk());

  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  ASSERT_OK_AND_ASSIGN(std::vector<TaskRecord> finished,
                       store->ListFinishedTasks(FinishedTaskQuery{}));

  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("a", "c", "b"));
  EXPECT_THAT(TaskIds(finished), ElementsAre("done", "failed", "cancelled"));
  EXPECT_EQ(state.max_seq, 6u);
}

TEST_F(SqliteTaskStoreTest, ReplacesARecordWithANewerVersion) {
  auto store = Open();
  ASSERT_THAT(store->Commit(Tasks({Task("a", 1, 1, TaskState::kQueued)})), IsOk());

  ASSERT_THAT(store->Commit(Tasks({Task("a", 1, 2, TaskState::kRunning)})), IsOk());

  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  ASSERT_THAT(state.tasks, SizeIs(1));
  EXPECT_EQ(state.tasks[0].state, TaskState::kRunning);
  EXPECT_EQ(state.tasks[0].version, 2u);
}

TEST_F(SqliteTaskStoreTest, WritesASpecOnceAndKeepsItThroughTheTasksChanges) {
  auto store = Open();
  const std::string payload(256 * 1024, 'p');
  ASSERT_THAT(store->Commit(Tasks({WithPayload(Task("a", 1, 1, TaskState::kQueued), payload)})),
              IsOk());

  // A spec never changes once submitted: later writes carry the record's new state only.
  for (uint64_t version = 2; version <= 20; ++version) {
    ASSERT_THAT(store->Commit(Tasks({WithPayload(Task("a", 1, version, TaskState::kRunning),
                                                 "not written")})),
                IsOk());
  }
  ASSERT_THAT(store->Commit(Tasks({Task("a", 1, 21, TaskState::kSucceeded, "out")})), IsOk());

  const std::vector<TaskRecord> tasks = AllTasks(*store);
  ASSERT_THAT(tasks, SizeIs(1));
  EXPECT_EQ(tasks[0].spec->payload, payload);
  EXPECT_EQ(tasks[0].output, "out");
  EXPECT_EQ(Count("SELECT count(*) FROM task_specs"), 1);
  EXPECT_LT(Count("SELECT max(length(record)) FROM tasks"), 1024);  // the row holds no payload
}

TEST_F(SqliteTaskStoreTest, StoresTheSpecOfATaskWhoseFirstCommittedWriteIsALaterVersion) {
  auto store = Open();

  ASSERT_THAT(store->Commit(Tasks({WithPayload(Task("a", 1, 3, TaskState::kRunning), "x")})),
              IsOk());
  store = Reopen(store);

  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  ASSERT_THAT(state.tasks, SizeIs(1));
  EXPECT_EQ(state.tasks[0].spec->payload, "x");
  EXPECT_EQ(state.tasks[0].version, 3u);
}

TEST_F(SqliteTaskStoreTest, DeletesASpecWithItsTask) {
  auto store = Open();
  TaskRecord due = Task("due", 2, 1, TaskState::kSucceeded);
  due.retain_until = absl::FromUnixSeconds(1000);
  ASSERT_THAT(store->Commit(Tasks({Task("deleted", 1, 1, TaskState::kSucceeded), due,
                                   Task("kept", 3, 1, TaskState::kQueued)})),
              IsOk());
  StoreBatch del;
  del.deleted_tasks = {"deleted"};
  ASSERT_THAT(store->Commit(del), IsOk());
  ASSERT_THAT(store->DeleteExpired(absl::FromUnixSeconds(2000), 10), IsOk());

  EXPECT_EQ(Count("SELECT count(*) FROM task_specs"), 1);
  EXPECT_EQ(Count("SELECT seq FROM task_specs"), 3);
}

TEST_F(SqliteTaskStoreTest, ReportsAMissingOrCorruptSpecAsDataLossNamingTheTask) {
  {
    auto store = Open();
    ASSERT_THAT(store->Commit(Tasks({Task("no-spec", 1, 1, TaskState::kQueued),
                                     Task("bad-spec", 2, 1, TaskState::kSucceeded)})),
                IsOk());
  }
  Tamper("DELETE FROM task_specs WHERE seq = 1");
  Tamper("UPDATE task_specs SET spec = x'ffff' WHERE seq = 2");

  auto store = Open();
  EXPECT_THAT(store->Load(), StatusIs(absl::StatusCode::kDataLoss,
                                      AllOf(HasSubstr("no-spec"), HasSubstr("has no spec"))));
  EXPECT_THAT(store->FindTask("bad-spec"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("bad-spec")));
}

TEST_F(SqliteTaskStoreTest, IgnoresAStaleOrRepeatedVersion) {
  auto store = Open();
  ASSERT_THAT(store->Commit(Tasks({Task("a", 1, 5, TaskState::kSucceeded, "final")})), IsOk());

  // Writes that raced outside the core's lock and arrive late must not roll it back, in
  // a later transaction or in the same one.
  ASSERT_THAT(store->Commit(Tasks({Task("a", 1, 4, TaskState::kRunning)})), IsOk());
  ASSERT_THAT(store->Commit(Tasks({Task("a", 1, 5, TaskState::kQueued),
                                   Task("a", 1, 3, TaskState::kPending)})),
              IsOk());

  const std::vector<TaskRecord> tasks = AllTasks(*store);
  ASSERT_THAT(tasks, SizeIs(1));
  EXPECT_EQ(tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(tasks[0].output, "final");
  EXPECT_EQ(tasks[0].version, 5u);
}

TEST_F(SqliteTaskStoreTest, RemembersTheHighestSeqEverCommitted) {
  auto store = Open();
  ASSERT_THAT(store->Commit(Tasks({Task("a", 7, 1, TaskState::kSucceeded)})), IsOk());
  ASSERT_THAT(store->Commit(Tasks({Task("b", 3, 1, TaskState::kQueued)})), IsOk());
  StoreBatch workflow;
  workflow.workflows = {Workflow("w", 9, 1)};
  ASSERT_THAT(store->Commit(workflow), IsOk());

  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  EXPECT_EQ(state.max_seq, 9u);
}

TEST_F(SqliteTaskStoreTest, MaxSeqSurvivesDeletingEveryRecordAndReopening) {
  auto store = Open();
  StoreBatch put = Tasks({Task("a", 1, 1, TaskState::kSucceeded),
                          Task("b", 12, 1, TaskState::kFailed)});
  put.workflows = {Workflow("w", 11, 1, WorkflowState::kSucceeded)};
  ASSERT_THAT(store->Commit(put), IsOk());
  StoreBatch del;
  del.deleted_tasks = {"a", "b"};
  del.deleted_workflows = {"w"};
  ASSERT_THAT(store->Commit(del), IsOk());

  store = Reopen(store);
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());

  EXPECT_THAT(state.tasks, IsEmpty());
  EXPECT_THAT(state.workflows, IsEmpty());
  EXPECT_EQ(state.max_seq, 12u);
}

TEST_F(SqliteTaskStoreTest, DeletesOnlyTheNamedRecords) {
  auto store = Open();
  StoreBatch put = Tasks({Task("a", 1, 1, TaskState::kSucceeded),
                          Task("b", 2, 1, TaskState::kQueued),
                          Task("c", 3, 1, TaskState::kExpired)});
  put.workflows = {Workflow("w1", 4, 1), Workflow("w2", 5, 1)};
  ASSERT_THAT(store->Commit(put), IsOk());

  StoreBatch del;
  del.deleted_tasks = {"a", "c", "never-existed"};
  del.deleted_workflows = {"w2"};
  ASSERT_THAT(store->Commit(del), IsOk());

  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("b"));
  ASSERT_THAT(state.workflows, SizeIs(1));
  EXPECT_EQ(state.workflows[0].id, "w1");
}

TEST_F(SqliteTaskStoreTest, AnEmptyBatchWritesNoTransaction) {
  auto store = Open();
  ASSERT_THAT(store->Commit(StoreBatch{}), IsOk());
  EXPECT_EQ(store->transactions(), 0u);
  EXPECT_EQ(store->commit_calls(), 0u);
}

TEST_F(SqliteTaskStoreTest, RecoversTasksInEveryStateAfterReopening) {
  const std::vector<TaskState> states = {
      TaskState::kPending,   TaskState::kScheduled, TaskState::kQueued,
      TaskState::kRunning,   TaskState::kSucceeded, TaskState::kFailed,
      TaskState::kCancelled, TaskState::kExpired};
  std::vector<TaskRecord> tasks;
  for (size_t i = 0; i < states.size(); ++i) {
    TaskRecord r = FullTask();
    r.id = absl::StrCat("t", i);
    r.seq = i + 1;
    r.state = states[i];
    tasks.push_back(r);
  }
  auto store = Open();
  ASSERT_THAT(store->Commit(Tasks(tasks)), IsOk());

  store = Reopen(store);
  const std::vector<TaskRecord> stored = AllTasks(*store);

  ASSERT_THAT(stored, SizeIs(tasks.size()));
  for (size_t i = 0; i < tasks.size(); ++i) ExpectSameTask(stored[i], tasks[i]);
}

TEST_F(SqliteTaskStoreTest, RoundTripsEveryFieldOfBothRecordTypesThroughTheFile) {
  const TaskRecord task = FullTask();
  const WorkflowRecord workflow = FullWorkflow();
  auto store = Open();
  StoreBatch batch = Tasks({task});
  batch.workflows = {workflow};
  ASSERT_THAT(store->Commit(batch), IsOk());

  store = Reopen(store);
  const std::vector<TaskRecord> tasks = AllTasks(*store);

  ASSERT_THAT(tasks, SizeIs(1));
  ExpectSameTask(tasks[0], task);
  ExpectSameWorkflow(StoredWorkflow(*store, workflow.id), workflow);
}

TEST_F(SqliteTaskStoreTest, KeepsWorkflowsInSeqOrderAndUpsertsThemByVersion) {
  auto store = Open();
  StoreBatch first;
  first.workflows = {Workflow("w3", 30, 1), Workflow("w1", 10, 1), Workflow("w2", 20, 1)};
  ASSERT_THAT(store->Commit(first), IsOk());
  StoreBatch update;
  update.workflows = {Workflow("w1", 10, 2, WorkflowState::kSucceeded),
                      Workflow("w2", 20, 1, WorkflowState::kCancelled)};  // stale
  ASSERT_THAT(store->Commit(update), IsOk());

  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());

  // Load() holds the running ones only, in seq order.
  ASSERT_THAT(state.workflows, SizeIs(2));
  EXPECT_EQ(state.workflows[0].id, "w2");
  EXPECT_EQ(state.workflows[0].state, WorkflowState::kRunning);
  EXPECT_EQ(state.workflows[1].id, "w3");
  EXPECT_EQ(StoredWorkflow(*store, "w1").state, WorkflowState::kSucceeded);
}

TEST_F(SqliteTaskStoreTest, SortsBySeqEvenWhenRowsWereWrittenOutOfOrder) {
  auto store = Open();
  for (uint64_t seq : {5, 2, 9, 1, 7}) {
    ASSERT_THAT(store->Commit(Tasks({Task(absl::StrCat("s", seq), seq, 1, TaskState::kQueued)})),
                IsOk());
  }
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("s1", "s2", "s5", "s7", "s9"));
}

// Load() decodes in chunks of a few thousand rows on worker threads: many rows, written
// out of seq order, come back complete and sorted, and a bad row deep in a later chunk is
// still reported by its id.
TEST_F(SqliteTaskStoreTest, LoadsManyRecordsAcrossDecodeChunksInSeqOrder) {
  constexpr uint64_t kTasks = 10'000;
  auto store = Open();
  std::vector<TaskRecord> tasks;
  for (uint64_t i = 0; i < kTasks; ++i) {
    const uint64_t seq = (i * 7919) % kTasks + 1;  // a permutation of 1..kTasks
    tasks.push_back(Task(absl::StrCat("t", seq), seq, 1, TaskState::kQueued));
  }
  ASSERT_THAT(store->Commit(Tasks(tasks)), IsOk());

  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  ASSERT_THAT(state.tasks, SizeIs(kTasks));
  for (uint64_t i = 0; i < kTasks; ++i) {
    ASSERT_EQ(state.tasks[i].seq, i + 1);
    ASSERT_EQ(state.tasks[i].id, absl::StrCat("t", i + 1));
  }
  store.reset();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE tasks SET record = x'0a' WHERE id = 't9001'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  store = Open();
  EXPECT_THAT(store->Load(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("task t9001")));
}

// Scenario: 8 threads commit at once, while the first transaction is held open until all 8
// calls have entered the store. Every batch must be visible, every caller answered OK, and
// the 7 that queued behind the first must have shared one transaction.
TEST_F(SqliteTaskStoreTest, GroupsConcurrentCommitsAndLosesNone) {
  constexpr int kThreads = 8;
  constexpr int kTasksPerBatch = 25;
  SqliteTaskStore* raw = nullptr;
  bool first = true;  // only the first transaction's leader runs the hook's wait
  SqliteOptions options;
  options.before_commit = [&raw, &first]() {
    if (first) {
      first = false;
      raw->WaitForCommitCalls(kThreads);
    }
    return absl::OkStatus();
  };
  auto store = Open(std::move(options));
  raw = store.get();

  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<TaskRecord> tasks;
      for (int i = 0; i < kTasksPerBatch; ++i) {
        const uint64_t seq = static_cast<uint64_t>(t * kTasksPerBatch + i + 1);
        tasks.push_back(Task(absl::StrCat("t", t, "-", i), seq, 1, TaskState::kQueued));
      }
      results[t] = store->Commit(Tasks(std::move(tasks)));
    });
  }
  for (std::thread& t : threads) t.join();

  for (const absl::Status& s : results) EXPECT_THAT(s, IsOk());
  EXPECT_EQ(store->commit_calls(), static_cast<uint64_t>(kThreads));
  // The first leader took whatever was queued when it began (at least its own batch);
  // every later caller waited behind it and went into the second transaction.
  EXPECT_LE(store->transactions(), 2u);
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  EXPECT_THAT(state.tasks, SizeIs(kThreads * kTasksPerBatch));
  EXPECT_EQ(state.max_seq, static_cast<uint64_t>(kThreads * kTasksPerBatch));
}

// Scenario: the first transaction is held open until 4 more callers queue behind it; the
// second transaction (those 4 callers together) fails before COMMIT. Each of the 4 gets the
// error, none of their records is visible, and the first caller's batch is intact.
TEST_F(SqliteTaskStoreTest, AFailedTransactionFailsEveryCallerAndLeavesNothingOfIt) {
  SqliteTaskStore* raw = nullptr;
  int transaction = 0;  // touched only by leaders, one at a time
  SqliteOptions options;
  options.before_commit = [&raw, &transaction]() {
    ++transaction;
    if (transaction == 1) raw->WaitForCommitCalls(5);
    if (transaction == 2) return absl::UnavailableError("disk said no");
    return absl::OkStatus();
  };
  prometheus::Registry registry;
  StoreMetrics metrics(registry);
  options.metrics = &metrics;
  auto store = Open(std::move(options));
  raw = store.get();

  absl::Status first_result;
  std::thread first([&] {
    first_result = store->Commit(Tasks({Task("first", 1, 1, TaskState::kQueued)}));
  });
  raw->WaitForCommitCalls(1);
  std::vector<std::thread> rest;
  std::vector<absl::Status> results(4);
  for (int t = 0; t < 4; ++t) {
    rest.emplace_back([&, t] {
      StoreBatch batch = Tasks({Task(absl::StrCat("late", t), 10 + t, 1, TaskState::kQueued)});
      batch.deleted_tasks = {"first"};  // would remove the first batch's task
      results[t] = store->Commit(batch);
    });
  }
  first.join();
  for (std::thread& t : rest) t.join();

  EXPECT_THAT(first_result, IsOk());
  for (const absl::Status& s : results) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("disk said no")));
  }
  EXPECT_EQ(store->transactions(), 2u);
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("first"));
  EXPECT_EQ(state.max_seq, 1u);

  // The store stays usable after a failed transaction.
  EXPECT_THAT(store->Commit(Tasks({Task("after", 20, 1, TaskState::kQueued)})), IsOk());
  ASSERT_OK_AND_ASSIGN(state, store->Load());
  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("first", "after"));
}

TEST_F(SqliteTaskStoreTest, ReportsACorruptRecordAsDataLossNamingTheTask) {
  {
    auto store = Open();
    ASSERT_THAT(store->Commit(Tasks({Task("good", 1, 1, TaskState::kQueued),
                                     Task("mangled", 2, 1, TaskState::kQueued)})),
                IsOk());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE tasks SET record = x'ffffffff0102' WHERE id = 'mangled'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  auto store = Open();
  EXPECT_THAT(store->Load(),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("mangled"), HasSubstr(DbPath()))));
}

TEST_F(SqliteTaskStoreTest, ReportsARecordUnderAnotherIdAsDataLoss) {
  {
    auto store = Open();
    ASSERT_THAT(store->Commit(Tasks({Task("a", 1, 1, TaskState::kQueued),
                                     Task("b", 2, 1, TaskState::kQueued)})),
                IsOk());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE tasks SET record = (SELECT record FROM tasks WHERE id = 'a') "
                             "WHERE id = 'b'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  auto store = Open();
  EXPECT_THAT(store->Load(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("task b")));
}

TEST_F(SqliteTaskStoreTest, RefusesADataDirectoryThatCannotBeCreatedNamingIt) {
  const std::string file = dir_.File("not-a-dir");
  std::ofstream(file) << "a file where the data directory should be";
  const std::string path = file + "/data/taskwire.db";

  auto store = SqliteTaskStore::Open(path);

  EXPECT_THAT(store, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(file)));
}

TEST_F(SqliteTaskStoreTest, RefusesASecondOpenOfTheSameFile) {
  auto store = Open();

  auto second = SqliteTaskStore::Open(DbPath());

  EXPECT_THAT(second, StatusIs(absl::StatusCode::kFailedPrecondition,
                               AllOf(HasSubstr(DbPath()), HasSubstr("in use"))));
  store.reset();
  EXPECT_THAT(SqliteTaskStore::Open(DbPath()), IsOk());  // free once the first is closed
}

TEST_F(SqliteTaskStoreTest, RefusesAFileThatIsNotATaskwireStore) {
  std::filesystem::create_directories(dir_.File("data"));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE invoices (id INTEGER)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  EXPECT_THAT(SqliteTaskStore::Open(DbPath()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a taskwire store")));
}

TEST_F(SqliteTaskStoreTest, RefusesAFileThatIsNotSqlite) {
  std::filesystem::create_directories(dir_.File("data"));
  std::ofstream(DbPath()) << std::string(4096, 'x');

  auto store = SqliteTaskStore::Open(DbPath());

  EXPECT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(DbPath()));
}

TEST_F(SqliteTaskStoreTest, FullSynchronousModeStoresTheSame) {
  SqliteOptions options;
  options.synchronous = SqliteSynchronous::kFull;
  auto store = Open(options);
  ASSERT_THAT(store->Commit(Tasks({FullTask()})), IsOk());
  EXPECT_THAT(store->Describe(), HasSubstr("synchronous=full"));

  store = Reopen(store);
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  ASSERT_THAT(state.tasks, SizeIs(1));
  ExpectSameTask(state.tasks[0], FullTask());
}

TEST(SqliteSynchronousTest, ParsesNormalAndFullInAnyCase) {
  EXPECT_THAT(ParseSqliteSynchronous("normal"),
              ::taskwire::testing::IsOkAndHolds(SqliteSynchronous::kNormal));
  EXPECT_THAT(ParseSqliteSynchronous("FULL"),
              ::taskwire::testing::IsOkAndHolds(SqliteSynchronous::kFull));
  EXPECT_THAT(ParseSqliteSynchronous("off"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("normal or full")));
}

double MetricValue(prometheus::Registry& registry, const std::string& name) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name || family.metric.empty()) continue;
    const prometheus::ClientMetric& m = family.metric[0];
    switch (family.type) {
      case prometheus::MetricType::Counter: return m.counter.value;
      case prometheus::MetricType::Gauge: return m.gauge.value;
      case prometheus::MetricType::Histogram:
        return static_cast<double>(m.histogram.sample_count);
      default: return -1;
    }
  }
  return -1;
}

double HistogramSum(prometheus::Registry& registry, const std::string& name) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name == name && !family.metric.empty()) return family.metric[0].histogram.sample_sum;
  }
  return -1;
}

TEST_F(SqliteTaskStoreTest, RecordsCommitLatencyBatchSizeAndFileSize) {
  prometheus::Registry registry;
  StoreMetrics metrics(registry);
  SqliteOptions options;
  options.metrics = &metrics;
  auto store = Open(options);

  StoreBatch batch = Tasks({Task("a", 1, 1, TaskState::kQueued), Task("b", 2, 1, TaskState::kQueued)});
  batch.deleted_tasks = {"zzz"};
  ASSERT_THAT(store->Commit(batch), IsOk());

  EXPECT_EQ(MetricValue(registry, "taskwire_store_commit_seconds"), 1);
  EXPECT_EQ(MetricValue(registry, "taskwire_store_commit_batch_size"), 1);
  EXPECT_EQ(HistogramSum(registry, "taskwire_store_commit_batch_size"), 3);  // records
  EXPECT_GT(MetricValue(registry, "taskwire_store_size_bytes"), 0);
  EXPECT_EQ(MetricValue(registry, "taskwire_store_commit_errors_total"), 0);
}

}  // namespace
}  // namespace taskwire::scheduler
