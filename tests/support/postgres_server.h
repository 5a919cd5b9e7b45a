// A throwaway PostgreSQL 15 for the tests: initdb and postgres from Debian's postgresql-15
// package (/usr/lib/postgresql/15/bin), the data in <dir>/data, the log in
// <dir>/postgres.log (initdb's in <dir>/initdb.log). It listens on no TCP port
// (listen_addresses='') but on a unix socket in <dir> (<dir>/.s.PGSQL.5432: the directory is
// private, so two servers never clash). The superuser is the role "taskwire" (trust
// authentication on the socket); the database "taskwire" is created at the first start.
//
//   absl::StatusOr<std::unique_ptr<PostgresServer>> pg = PostgresServer::Start(dir);
//   if (absl::IsFailedPrecondition(pg.status())) GTEST_SKIP() << pg.status();
//   ASSERT_TRUE(pg.ok()) << pg.status();
//   std::string url = (*pg)->url();  // postgresql:///taskwire?host=<dir>&port=5432&user=taskwire
//
// PostgreSQL refuses to run as root: when the test runs as root, initdb and postgres run as
// the user "nobody" through setpriv (util-linux), and <dir> is handed to that user (chown).
// When <dir> cannot be reached by that user (a dir under /root), or its socket path would be
// too long for a unix socket, the data and the socket go to a private directory under /tmp
// instead (removed by the destructor; the logs stay in <dir>). A dir that already holds data
// in <dir>/data is reused (no initdb); Restart() starts the same server again.
//
// The server is stopped by its PID: SIGINT (fast shutdown), SIGKILL after a bound. Every wait
// (initdb, readiness, shutdown) polls for its event with a deadline. The same code is in
// tests/e2e/postgres_server.py for the Python tests and the benchmarks.
#ifndef TASKWIRE_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define TASKWIRE_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace taskwire::testing {

class PostgresServer {
 public:
  struct Options {
    // The server's synchronous_commit: "on" (the default: a commit waits for its WAL flush)
    // or "off".
    std::string synchronous_commit = "on";
  };

  // initdb (unless <dir>/data holds a cluster), start postgres, wait until it accepts
  // connections, create the database "taskwire" if missing. FAILED_PRECONDITION (naming the
  // package postgresql-15) when PostgreSQL 15 is not installed; INTERNAL when it would not
  // start (with the tail of its log).
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(const std::string& dir);
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(const std::string& dir,
                                                               const Options& options);

  // Stops the server (by PID) if it runs; removes the /tmp directory it may have used.
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // The libpq URL of `database`, e.g. for --postgres-url:
  // postgresql:///<database>?host=<socket dir>&port=5432&user=taskwire
  std::string url(const std::string& database = "taskwire") const;

  // CREATE DATABASE `name` (through libpq); returns its url.
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);

  // The postmaster's PID; -1 when it does not run.
  pid_t pid() const { return pid_; }

  // Fast shutdown: SIGINT to the postmaster's PID, waits (bounded) for it to exit, then
  // SIGKILL (it and its children) and INTERNAL. OK when it was not running.
  absl::Status Stop();

  // A crash: SIGKILL to the postmaster and its children, reaped at once. The data stays.
  void Kill();

  // Starts postgres again on the same data and socket (stops it first if it runs); the urls
  // do not change.
  absl::Status Restart();

  // Where the socket and data/ are (the urls' host): `dir`, or the /tmp fallback.
  const std::string& socket_dir() const { return run_dir_; }
  std::string log_path() const { return dir_ + "/postgres.log"; }
  // The last `max_bytes` of postgres.log, for failure messages.
  std::string LogTail(size_t max_bytes = 4000) const;

 private:
  PostgresServer(std::string dir, Options options);

  absl::Status ChooseRunDir();
  absl::Status InitDb();
  absl::Status Launch();  // spawns the postmaster and waits until it accepts connections
  absl::Status EnsureDatabase(const std::string& name);
  std::string data_dir() const { return run_dir_ + "/data"; }

  std::string dir_;
  Options options_;
  std::string run_dir_;
  bool own_run_dir_ = false;
  std::string setpriv_;  // as root: postgres runs as run_uid_/run_gid_ through this setpriv
  uid_t run_uid_ = 0;
  gid_t run_gid_ = 0;
  pid_t pid_ = -1;
};

}  // namespace taskwire::testing

#endif  // TASKWIRE_TESTS_SUPPORT_POSTGRES_SERVER_H_
