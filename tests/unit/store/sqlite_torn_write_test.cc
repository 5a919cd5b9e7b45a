// A torn write: a child process commits batches to a real file and is SIGKILLed at a
// random moment, most likely inside a transaction. The file must open clean, with every
// batch either whole or absent and every batch the child saw committed still there.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <set>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/store/sqlite_task_store.h"
#include "tests/unit/status_matchers.h"
#include "tests/unit/store/store_test_util.h"

namespace taskwire::scheduler {
namespace {

using namespace ::taskwire::scheduler::testing;  // NOLINT: test helpers

constexpr int kTasksPerBatch = 200;
constexpr int kKeepBatches = 3;  // batch i deletes the tasks of batch i - kKeepBatches

uint64_t SeqOf(uint64_t batch, int j) { return batch * 1000 + static_cast<uint64_t>(j); }

// Batch i (from 1): inserts kTasksPerBatch tasks b<i>-<j>, deletes those of batch i-3 and
// raises the "counter" task to version i. After batch M the store holds exactly the
// counter at version M and batches max(1, M-2)..M, whole.
StoreBatch MakeBatch(uint64_t i) {
  StoreBatch batch;
  const std::string payload(1024, static_cast<char>('a' + i % 26));
  for (int j = 0; j < kTasksPerBatch; ++j) {
    TaskRecord r = Task(absl::StrCat("b", i, "-", j), SeqOf(i, j), 1, TaskState::kQueued);
    auto spec = std::make_shared<TaskSpec>(*r.spec);
    spec->payload = payload;
    r.spec = spec;
    batch.tasks.push_back(std::move(r));
  }
  batch.tasks.push_back(Task("counter", 1, i, TaskState::kRunning, absl::StrCat(i)));
  if (i > kKeepBatches) {
    for (int j = 0; j < kTasksPerBatch; ++j) {
      batch.deleted_tasks.push_back(absl::StrCat("b", i - kKeepBatches, "-", j));
    }
  }
  return batch;
}

// The child: commits batches 1, 2, ... and writes one byte to `ack_fd` after each commit
// returns. Never returns.
[[noreturn]] void CommitForever(const std::string& path, int ack_fd) {
  auto store = SqliteTaskStore::Open(path);
  if (!store.ok()) _exit(2);
  for (uint64_t i = 1;; ++i) {
    if (!(*store)->Commit(MakeBatch(i)).ok()) _exit(3);
    const char ack = 'k';
    if (write(ack_fd, &ack, 1) != 1) _exit(4);
  }
}

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string result = "cannot open";
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return result;
}

// Scenario: five rounds, each on a fresh file; the parent waits for a random number of
// acknowledged commits (1..40), then SIGKILLs the child. It checks that the file is intact,
// that the state is exactly the one after some batch M, and that M covers every batch the
// child saw committed: nothing acknowledged was lost and nothing half-written is visible.
TEST(SqliteTornWriteTest, AKilledWriterLeavesWholeBatchesOnly) {
  std::random_device seed_source;
  const unsigned seed = seed_source();
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  std::mt19937 rng(seed);
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    TempDir dir;
    const std::string path = dir.File("taskwire.db");
    const int acks_before_kill = std::uniform_int_distribution<int>(1, 40)(rng);

    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(pipe_fds[0]);
      CommitForever(path, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    int acked = 0;
    char byte;
    while (acked < acks_before_kill && read(pipe_fds[0], &byte, 1) == 1) ++acked;
    kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    close(pipe_fds[0]);
    ASSERT_EQ(acked, acks_before_kill) << "the child stopped early, exit status " << status;
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    EXPECT_EQ(IntegrityCheck(path), "ok");
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteTaskStore> store, SqliteTaskStore::Open(path));
    ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());

    absl::flat_hash_map<uint64_t, int> tasks_of_batch;
    uint64_t last = 0;  // M: the counter's version
    for (const TaskRecord& r : state.tasks) {
      if (r.id == "counter") {
        last = r.version;
        EXPECT_EQ(r.output, absl::StrCat(r.version));
      } else {
        ++tasks_of_batch[r.seq / 1000];
      }
    }
    EXPECT_GE(last, static_cast<uint64_t>(acked)) << "an acknowledged commit was lost";
    std::set<uint64_t> expected_batches;
    for (uint64_t i = last > kKeepBatches - 1 ? last - (kKeepBatches - 1) : 1; i <= last; ++i) {
      expected_batches.insert(i);
    }
    std::set<uint64_t> batches;
    for (const auto& [batch, count] : tasks_of_batch) {
      batches.insert(batch);
      EXPECT_EQ(count, kTasksPerBatch) << "batch " << batch << " is torn";
    }
    EXPECT_EQ(batches, expected_batches) << "after batch " << last;
    EXPECT_EQ(state.max_seq, last == 0 ? 0 : SeqOf(last, kTasksPerBatch - 1));
  }
}

}  // namespace
}  // namespace taskwire::scheduler
