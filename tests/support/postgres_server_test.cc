// The PostgreSQL harness itself: it starts (as "nobody" when the test runs as root), answers
// through libpq, creates databases, restarts on its data, and its PID is gone after Stop.
// Skipped when PostgreSQL 15 is not installed.
#include "tests/support/postgres_server.h"

#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace taskwire::testing {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "taskwire-pg-test-XXXXXX";
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

 private:
  std::string path_;
};

// The first column of the first row of `sql` on `url`, or "error: ...".
std::string QueryOne(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  std::string out;
  if (PQstatus(conn) != CONNECTION_OK) {
    out = std::string("error: ") + PQerrorMessage(conn);
  } else {
    PGresult* result = PQexec(conn, sql.c_str());
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0) {
      out = PQgetvalue(result, 0, 0);
    } else {
      out = std::string("error: ") + PQerrorMessage(conn);
    }
    PQclear(result);
  }
  PQfinish(conn);
  return out;
}

bool Running(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

// Starts a server in `dir` as `var` (a PostgresServer&); skips the test without PostgreSQL.
#define START_OR_SKIP(var, dir)                                        \
  absl::StatusOr<std::unique_ptr<PostgresServer>> var##_or =           \
      PostgresServer::Start(dir);                                      \
  if (absl::IsFailedPrecondition(var##_or.status())) {                 \
    GTEST_SKIP() << var##_or.status();                                 \
  }                                                                    \
  ASSERT_TRUE(var##_or.ok()) << var##_or.status();                     \
  PostgresServer& var = **var##_or

TEST(PostgresServerTest, StartsCreatesDatabasesAndStopsByPid) {
  TempDir dir;
  START_OR_SKIP(pg, dir.path());
  const pid_t pid = pg.pid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(Running(pid));
  EXPECT_EQ(pg.url(), "postgresql:///taskwire?host=" + pg.socket_dir() +
                          "&port=5432&user=taskwire");
  EXPECT_TRUE(std::filesystem::exists(pg.socket_dir() + "/.s.PGSQL.5432"));

  EXPECT_EQ(QueryOne(pg.url(), "SELECT 1"), "1");
  EXPECT_EQ(QueryOne(pg.url(), "SELECT current_user"), "taskwire");
  EXPECT_EQ(QueryOne(pg.url(), "SHOW listen_addresses"), "");
  EXPECT_EQ(QueryOne(pg.url(), "SHOW synchronous_commit"), "on");

  absl::StatusOr<std::string> other = pg.CreateDatabase("other db");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(*other, pg.url("other db"));
  EXPECT_EQ(QueryOne(*other, "SELECT current_database()"), "other db");
  EXPECT_FALSE(pg.CreateDatabase("other db").ok()) << "it exists already";

  ASSERT_TRUE(pg.Stop().ok());
  EXPECT_EQ(pg.pid(), -1);
  EXPECT_FALSE(Running(pid)) << "postgres " << pid << " still runs after Stop";
  EXPECT_TRUE(pg.Stop().ok()) << "a second Stop is a no-op";
}

TEST(PostgresServerTest, TwoServersSideBySide) {
  TempDir dir_a;
  TempDir dir_b;
  START_OR_SKIP(a, dir_a.path());
  START_OR_SKIP(b, dir_b.path());
  EXPECT_NE(a.url(), b.url());
  ASSERT_TRUE(a.CreateDatabase("only_in_a").ok());
  EXPECT_EQ(QueryOne(a.url(), "SELECT count(*) FROM pg_database WHERE datname = 'only_in_a'"),
            "1");
  EXPECT_EQ(QueryOne(b.url(), "SELECT count(*) FROM pg_database WHERE datname = 'only_in_a'"),
            "0");
}

TEST(PostgresServerTest, RestartKeepsTheData) {
  TempDir dir;
  START_OR_SKIP(pg, dir.path());
  ASSERT_EQ(QueryOne(pg.url(), "CREATE TABLE t AS SELECT 42 AS v; SELECT v FROM t"), "42");

  // A crash (SIGKILL of the postmaster and its backends), then a start on the same data.
  const pid_t crashed = pg.pid();
  pg.Kill();
  EXPECT_FALSE(Running(crashed));
  ASSERT_TRUE(pg.Restart().ok());
  EXPECT_EQ(QueryOne(pg.url(), "SELECT v FROM t"), "42");

  // A clean restart.
  ASSERT_TRUE(pg.Restart().ok());
  EXPECT_EQ(QueryOne(pg.url(), "SELECT v FROM t"), "42");
  const pid_t pid = pg.pid();
  ASSERT_TRUE(pg.Stop().ok());

  // A new server on the same dir reuses the data (no initdb); not when the data had to go to
  // a /tmp directory of the first server's own (a TEST_TMPDIR too long for a socket path).
  if (pg.socket_dir() != dir.path()) return;
  START_OR_SKIP(again, dir.path());
  EXPECT_NE(again.pid(), pid);
  EXPECT_EQ(QueryOne(again.url(), "SELECT v FROM t"), "42");
}

TEST(PostgresServerTest, SynchronousCommitOff) {
  TempDir dir;
  PostgresServer::Options options;
  options.synchronous_commit = "off";
  absl::StatusOr<std::unique_ptr<PostgresServer>> pg = PostgresServer::Start(dir.path(), options);
  if (absl::IsFailedPrecondition(pg.status())) GTEST_SKIP() << pg.status();
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_EQ(QueryOne((*pg)->url(), "SHOW synchronous_commit"), "off");
}

}  // namespace
}  // namespace taskwire::testing
