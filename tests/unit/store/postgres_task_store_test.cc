// PostgresTaskStore and PostgresLease on a real PostgreSQL 15, started once for this binary
// in a temporary directory (tests/support/postgres_server.h); each test has a database of
// its own. The TaskStore contract (the same behaviours as the SQLite and memory stores),
// versioned writes merged within a group, recovery after reopening, group commit, failed
// transactions, schema migration, the leader lease, and fencing by term. Skipped, with the
// reason, where PostgreSQL 15 is not installed.
#include "scheduler/store/postgres_task_store.h"

#include <atomic>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "scheduler/store/postgres_lease.h"
#include "scheduler/store/postgres_schema.h"
#include "tests/support/postgres_server.h"
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
using ::testing::SizeIs;
using namespace ::taskwire::scheduler::testing;  // NOLINT: test helpers

// One server for the whole binary: starting one costs a second or more.
class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<::taskwire::testing::PostgresServer>> pg =
        ::taskwire::testing::PostgresServer::Start(dir_.path());
    if (pg.ok()) {
      server_ = std::move(*pg);
    } else {
      why_not_ = pg.status().ToString();
    }
  }
  void TearDown() override { server_.reset(); }

  // A new, empty database's URL; empty (and the test skipped) without PostgreSQL.
  static std::string NewDatabase() {
    if (instance_->server_ == nullptr) return "";
    absl::StatusOr<std::string> url =
        instance_->server_->CreateDatabase(absl::StrCat("t", ++instance_->databases_));
    EXPECT_TRUE(url.ok()) << url.status();
    return url.ok() ? *url : "";
  }
  static const std::string& why_not() { return instance_->why_not_; }

  static PostgresEnvironment* instance_;

 private:
  TempDir dir_;
  std::unique_ptr<::taskwire::testing::PostgresServer> server_;
  std::string why_not_;
  int databases_ = 0;
};
PostgresEnvironment* PostgresEnvironment::instance_ = static_cast<PostgresEnvironment*>(
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment));

#define SKIP_WITHOUT_POSTGRES(url)                                                 \
  if ((url).empty()) {                                                              \
    GTEST_SKIP() << "no PostgreSQL 15 to test against: " << PostgresEnvironment::why_not(); \
  }

std::unique_ptr<TaskStore> MakePostgres(const TempDir& /*dir*/) {
  const std::string url = PostgresEnvironment::NewDatabase();
  if (url.empty()) {
    ADD_FAILURE() << "no PostgreSQL 15 to test against: " << PostgresEnvironment::why_not();
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<PostgresTaskStore>> store = PostgresTaskStore::Open(url);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}
INSTANTIATE_TEST_SUITE_P(Postgres, TaskStoreContractTest, ::testing::Values(&MakePostgres),
                         [](const auto&) { return std::string("postgres"); });

class PostgresTaskStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { url_ = PostgresEnvironment::NewDatabase(); }

  std::unique_ptr<PostgresTaskStore> Open(PostgresOptions options = {}) {
    absl::StatusOr<std::unique_ptr<PostgresTaskStore>> store =
        PostgresTaskStore::Open(url_, std::move(options));
    EXPECT_THAT(store, IsOk());
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::unique_ptr<PostgresLease> Lease() {
    absl::StatusOr<std::unique_ptr<PostgresLease>> lease =
        PostgresLease::Connect(url_, absl::Seconds(2));
    EXPECT_THAT(lease, IsOk());
    return lease.ok() ? std::move(*lease) : nullptr;
  }

  // Runs `sql` as an operator would, on a connection of its own; the first column of the
  // first row as text ("" if none).
  std::string Sql(const std::string& sql) const {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
  }

  static StoreBatch Tasks(std::vector<TaskRecord> tasks) {
    StoreBatch batch;
    batch.tasks = std::move(tasks);
    return batch;
  }

  static TaskRecord WithPayload(TaskRecord r, std::string payload) {
    auto spec = std::make_shared<TaskSpec>(*r.spec);
    spec->payload = std::move(payload);
    r.spec = std::move(spec);
    return r;
  }

  std::string url_;
};

TEST_F(PostgresTaskStoreTest, RecoversTasksAndWorkflowsAfterReopening) {
  SKIP_WITHOUT_POSTGRES(url_);
  const TaskRecord full = FullTask();
  const WorkflowRecord workflow = FullWorkflow();
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    StoreBatch batch = Tasks({Task("a", 1, 1, TaskState::kQueued), full});
    batch.workflows = {Workflow("w", 3, 1), workflow};
    ASSERT_THAT(store->Commit(batch), IsOk());
  }
  auto store = Open();
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  ASSERT_THAT(state.tasks, SizeIs(2));
  EXPECT_EQ(state.tasks[0].id, "a");
  EXPECT_EQ(state.max_seq, std::max<uint64_t>({3, full.seq, workflow.seq}));
  ASSERT_OK_AND_ASSIGN(std::optional<TaskRecord> back, store->FindTask(full.id));
  ASSERT_TRUE(back.has_value());
  ExpectSameTask(*back, full);
  ExpectSameWorkflow(StoredWorkflow(*store, workflow.id), workflow);
}

// One group may hold several versions of a task (concurrent commits) and later versions
// whose first write was never committed: the newest version wins, and a task's spec is
// stored whichever write comes first.
TEST_F(PostgresTaskStoreTest, WritesTheNewestVersionOfEachTaskAndItsSpecOnce) {
  SKIP_WITHOUT_POSTGRES(url_);
  auto store = Open();
  ASSERT_THAT(store->Commit(Tasks({WithPayload(Task("a", 1, 1, TaskState::kQueued), "pay-a")})),
              IsOk());
  StoreBatch merged = Tasks({Task("a", 1, 3, TaskState::kRunning),
                             Task("a", 1, 2, TaskState::kQueued),
                             WithPayload(Task("late", 2, 4, TaskState::kRunning), "pay-late")});
  ASSERT_THAT(store->Commit(merged), IsOk());
  // A stale version is ignored.
  ASSERT_THAT(store->Commit(Tasks({Task("a", 1, 2, TaskState::kQueued)})), IsOk());
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  ASSERT_THAT(state.tasks, SizeIs(2));
  EXPECT_EQ(state.tasks[0].version, 3u);
  EXPECT_EQ(state.tasks[0].state, TaskState::kRunning);
  EXPECT_EQ(state.tasks[0].spec->payload, "pay-a");
  EXPECT_EQ(state.tasks[1].id, "late");
  EXPECT_EQ(state.tasks[1].spec->payload, "pay-late");
  EXPECT_EQ(Sql("SELECT count(*) FROM tasks"), "2");
}

// Ids, queues and types travel in array literals: quotes, backslashes, braces, commas and
// non-ASCII text must come back as they went.
TEST_F(PostgresTaskStoreTest, KeepsTextWithCharactersThatArrayLiteralsEscape) {
  SKIP_WITHOUT_POSTGRES(url_);
  auto store = Open();
  const std::string odd = R"(q"u\o{t,e} NULL é)";
  TaskRecord r = Task(odd, 1, 1, TaskState::kQueued);
  auto spec = std::make_shared<TaskSpec>(*r.spec);
  spec->queue = odd;
  spec->type = "NULL";
  spec->idempotency_key = odd;
  r.spec = std::move(spec);
  ASSERT_THAT(store->Commit(Tasks({r})), IsOk());
  ASSERT_OK_AND_ASSIGN(std::optional<TaskRecord> back, store->FindTask(odd));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->spec->queue, odd);
  EXPECT_EQ(back->spec->type, "NULL");
  EXPECT_THAT(store->FindTaskIdByKey(odd), ::taskwire::testing::IsOkAndHolds(odd));
  EXPECT_EQ(Sql("SELECT queue FROM tasks"), odd);
}

TEST_F(PostgresTaskStoreTest, DeletesWrittenEarlierInTheSameGroupAreAppliedInOrder) {
  SKIP_WITHOUT_POSTGRES(url_);
  auto store = Open();
  ASSERT_THAT(store->Commit(Tasks({Task("x", 1, 1, TaskState::kQueued)})), IsOk());
  StoreBatch write_then_delete = Tasks({Task("x", 1, 2, TaskState::kRunning),
                                        Task("y", 2, 1, TaskState::kQueued)});
  write_then_delete.deleted_tasks = {"x"};
  ASSERT_THAT(store->Commit(write_then_delete), IsOk());
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("y"));
}

// 8 threads commit at once while the first transaction waits for all 8 calls: every batch
// is stored, every caller answered, and the 7 behind the first share one transaction.
TEST_F(PostgresTaskStoreTest, GroupsConcurrentCommitsAndLosesNone) {
  SKIP_WITHOUT_POSTGRES(url_);
  constexpr int kThreads = 8;
  constexpr int kTasksPerBatch = 25;
  PostgresTaskStore* raw = nullptr;
  std::atomic<bool> first{true};
  PostgresOptions options;
  options.writers = 1;  // the callers behind the first transaction share the second
  options.before_commit = [&raw, &first]() {
    if (first.exchange(false)) raw->WaitForCommitCalls(kThreads);
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
  EXPECT_LE(store->transactions(), 2u);
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  EXPECT_THAT(state.tasks, SizeIs(kThreads * kTasksPerBatch));
  EXPECT_EQ(state.max_seq, static_cast<uint64_t>(kThreads * kTasksPerBatch));
}

// With two writers two transactions are in flight at once: 4 threads commit 50 batches
// each, every batch a new task and a newer version of two rows all threads share (in
// opposite orders, so that the rows' locks are taken in id order or not at all): nothing
// is lost, no deadlock fails a commit, and the shared rows end at their newest versions.
TEST_F(PostgresTaskStoreTest, TransactionsInFlightAtOnceLoseNothingAndNeverDeadlock) {
  SKIP_WITHOUT_POSTGRES(url_);
  PostgresOptions options;
  options.writers = 2;
  auto store = Open(std::move(options));
  ASSERT_THAT(store->Commit(Tasks({Task("shared-a", 1, 1, TaskState::kQueued),
                                   Task("shared-b", 2, 1, TaskState::kQueued)})),
              IsOk());
  constexpr int kThreads = 4;
  constexpr int kBatches = 50;
  std::atomic<uint64_t> version{1};
  std::vector<std::thread> threads;
  std::vector<absl::Status> failures;
  absl::Mutex mu;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBatches; ++i) {
        const uint64_t v = ++version;
        const uint64_t seq = static_cast<uint64_t>(10 + t * kBatches + i);
        std::vector<TaskRecord> tasks = {Task(absl::StrCat("t", t, "-", i), seq, 1,
                                              TaskState::kQueued),
                                         Task("shared-a", 1, v, TaskState::kRunning),
                                         Task("shared-b", 2, v, TaskState::kRunning)};
        if (t % 2 == 1) std::swap(tasks[1], tasks[2]);
        if (absl::Status s = store->Commit(Tasks(std::move(tasks))); !s.ok()) {
          absl::MutexLock lock(&mu);
          failures.push_back(s);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(failures, ::testing::IsEmpty());
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  EXPECT_THAT(state.tasks, SizeIs(2 + kThreads * kBatches));
  EXPECT_EQ(state.tasks[0].version, version.load());
  EXPECT_EQ(state.tasks[1].version, version.load());
}

TEST_F(PostgresTaskStoreTest, AFailedTransactionFailsItsCallersAndLeavesNothingOfIt) {
  SKIP_WITHOUT_POSTGRES(url_);
  std::atomic<bool> fail{false};
  PostgresOptions options;
  options.before_commit = [&fail]() {
    return fail.load() ? absl::UnavailableError("disk said no") : absl::OkStatus();
  };
  prometheus::Registry registry;
  StoreMetrics metrics(registry);
  options.metrics = &metrics;
  auto store = Open(std::move(options));
  ASSERT_THAT(store->Commit(Tasks({Task("first", 1, 1, TaskState::kQueued)})), IsOk());
  fail = true;
  StoreBatch batch = Tasks({Task("late", 2, 1, TaskState::kQueued)});
  batch.deleted_tasks = {"first"};
  EXPECT_THAT(store->Commit(batch), StatusIs(absl::StatusCode::kUnavailable,
                                             HasSubstr("disk said no")));
  fail = false;
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("first"));
  EXPECT_EQ(state.max_seq, 1u);
  EXPECT_THAT(store->Commit(Tasks({Task("after", 3, 1, TaskState::kQueued)})), IsOk());
}

TEST_F(PostgresTaskStoreTest, MigratesOnceWhenTwoSchedulersOpenAnEmptyDatabaseTogether) {
  SKIP_WITHOUT_POSTGRES(url_);
  std::vector<absl::Status> results(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] { results[i] = PostgresTaskStore::Open(url_).status(); });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(results[0], IsOk());
  EXPECT_THAT(results[1], IsOk());
  EXPECT_EQ(Sql("SELECT string_agg(version::text, ',') FROM taskwire_schema_version"),
            absl::StrCat(CurrentPostgresSchemaVersion()));
}

TEST_F(PostgresTaskStoreTest, RefusesADatabaseOfANewerSchemaNamingBothVersions) {
  SKIP_WITHOUT_POSTGRES(url_);
  ASSERT_NE(Open(), nullptr);
  Sql("INSERT INTO taskwire_schema_version (version) VALUES (999)");
  EXPECT_THAT(PostgresTaskStore::Open(url_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("schema version 999"), HasSubstr("newer taskwire"))));
}

TEST_F(PostgresTaskStoreTest, RefusesADatabaseThatHoldsAnotherProgramsTasksTable) {
  SKIP_WITHOUT_POSTGRES(url_);
  Sql("CREATE TABLE tasks (x integer)");
  EXPECT_THAT(PostgresTaskStore::Open(url_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a taskwire store")));
}

TEST(PostgresOpenTest, AServerThatCannotBeReachedIsUnavailable) {
  EXPECT_THAT(
      PostgresTaskStore::Open("postgresql:///taskwire?host=/nonexistent-dir&port=5&connect_timeout=2"),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot connect")));
  EXPECT_THAT(PostgresTaskStore::Open(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

// --- The leader lease

TEST_F(PostgresTaskStoreTest, OneSchedulerAtATimeHoldsTheLeaseAndEachTakeoverRaisesTheTerm) {
  SKIP_WITHOUT_POSTGRES(url_);
  ASSERT_NE(Open(), nullptr);  // creates the schema
  auto lease = Lease();
  ASSERT_OK_AND_ASSIGN(std::optional<uint64_t> a, lease->TryAcquire("a", "10.0.0.1:7070",
                                                                    absl::Seconds(30)));
  ASSERT_EQ(a, std::optional<uint64_t>(1));
  EXPECT_THAT(lease->TryAcquire("b", "10.0.0.2:7070", absl::Seconds(30)),
              ::taskwire::testing::IsOkAndHolds(std::nullopt));
  ASSERT_OK_AND_ASSIGN(LeaseHolder holder, lease->Read());
  EXPECT_EQ(holder.owner, "a");
  EXPECT_EQ(holder.advertise, "10.0.0.1:7070");
  EXPECT_GT(holder.remaining, absl::Seconds(20));
  EXPECT_THAT(lease->Renew("a", 1, absl::Seconds(30)), ::taskwire::testing::IsOkAndHolds(true));
  EXPECT_THAT(lease->Renew("b", 1, absl::Seconds(30)), ::taskwire::testing::IsOkAndHolds(false));

  // A released lease is free at once; the next holder has the next term, and the old
  // holder's renewals fail from then on.
  ASSERT_THAT(lease->Release("a", 1), ::taskwire::testing::IsOkAndHolds(true));
  EXPECT_THAT(lease->TryAcquire("b", "10.0.0.2:7070", absl::Seconds(30)),
              ::taskwire::testing::IsOkAndHolds(std::optional<uint64_t>(2)));
  EXPECT_THAT(lease->Renew("a", 1, absl::Seconds(30)), ::taskwire::testing::IsOkAndHolds(false));
}

TEST_F(PostgresTaskStoreTest, AnExpiredLeaseIsTakenByTheNextCandidate) {
  SKIP_WITHOUT_POSTGRES(url_);
  ASSERT_NE(Open(), nullptr);
  auto lease = Lease();
  ASSERT_THAT(lease->TryAcquire("a", "a:1", absl::Milliseconds(200)),
              ::taskwire::testing::IsOkAndHolds(std::optional<uint64_t>(1)));
  // Waits for the expiry itself (the event under test), bounded.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::optional<uint64_t> taken;
  while (!taken && absl::Now() < deadline) {
    ASSERT_OK_AND_ASSIGN(taken, lease->TryAcquire("b", "b:1", absl::Seconds(30)));
  }
  EXPECT_EQ(taken, std::optional<uint64_t>(2));
}

// A leader that was paused past its lease wakes up after another took over: its writes
// are refused (nothing of them stored), while the new leader's go through.
TEST_F(PostgresTaskStoreTest, FencesTheWritesOfADeposedLeader) {
  SKIP_WITHOUT_POSTGRES(url_);
  auto old_leader = Open();
  auto lease = Lease();
  ASSERT_THAT(lease->TryAcquire("old", "old:1", absl::Seconds(30)),
              ::taskwire::testing::IsOkAndHolds(std::optional<uint64_t>(1)));
  old_leader->FenceWithTerm(1);
  ASSERT_THAT(old_leader->Commit(Tasks({Task("before", 1, 1, TaskState::kQueued)})), IsOk());

  ASSERT_THAT(lease->Release("old", 1), ::taskwire::testing::IsOkAndHolds(true));  // as if it had expired
  ASSERT_THAT(lease->TryAcquire("new", "new:1", absl::Seconds(30)),
              ::taskwire::testing::IsOkAndHolds(std::optional<uint64_t>(2)));
  auto new_leader = Open();
  new_leader->FenceWithTerm(2);

  StoreBatch stale = Tasks({Task("before", 1, 2, TaskState::kFailed), Task("ghost", 2, 1,
                                                                           TaskState::kQueued)});
  EXPECT_THAT(old_leader->Commit(stale),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("fenced"), HasSubstr("term 1"), HasSubstr("term 2"))));
  EXPECT_THAT(old_leader->DeleteExpired(absl::InfiniteFuture(), 100),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("fenced")));
  EXPECT_THAT(new_leader->Commit(Tasks({Task("after", 3, 1, TaskState::kQueued)})), IsOk());
  ASSERT_OK_AND_ASSIGN(StoredState state, new_leader->Load());
  EXPECT_THAT(TaskIds(state.tasks), ElementsAre("before", "after"));
  EXPECT_EQ(state.tasks[0].state, TaskState::kQueued);
}

}  // namespace
}  // namespace taskwire::scheduler
