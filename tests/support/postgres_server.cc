#include "tests/support/postgres_server.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

extern char** environ;

namespace taskwire::testing {
namespace {

constexpr char kBinDir[] = "/usr/lib/postgresql/15/bin";
constexpr char kPackage[] = "postgresql-15";
constexpr int kPort = 5432;
constexpr char kSuperuser[] = "taskwire";
constexpr char kDefaultDatabase[] = "taskwire";
constexpr char kRunAsWhenRoot[] = "nobody";  // an existing unprivileged user
constexpr char kSocketName[] = "/.s.PGSQL.5432";
constexpr size_t kMaxSocketPath = 107;  // sun_path holds 108 bytes, the last one a NUL

constexpr std::chrono::seconds kInitDbTimeout(120);
constexpr std::chrono::seconds kStartTimeout(60);
constexpr std::chrono::seconds kStopTimeout(30);
constexpr std::chrono::seconds kKillTimeout(10);
constexpr std::chrono::milliseconds kPollInterval(10);

using Clock = std::chrono::steady_clock;

std::string Tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::StrCat("(no ", path, ")");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > max_bytes) text.erase(0, text.size() - max_bytes);
  return text;
}

// The environment of the children, without PG* variables (PGHOST, PGOPTIONS, PGDATA...): every
// setting comes from the command line.
std::vector<std::string> ChildEnv() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "PG")) env.emplace_back(*e);
  }
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Spawns argv (argv[0] an absolute path) in `cwd`, stdin from /dev/null, stdout and stderr
// to `log_path` (appended, or truncated first), default signal dispositions and an empty
// signal mask.
absl::StatusOr<pid_t> Spawn(std::vector<std::string> argv, const std::string& cwd,
                            const std::string& log_path, bool truncate) {
  std::vector<std::string> env = ChildEnv();
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | (truncate ? O_TRUNC : O_APPEND), 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = -1;
  const int rc = posix_spawn(&pid, c_argv[0], &actions, &attr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": ", strerror(rc)));
  }
  return pid;
}

// The wait status of `pid` once it has exited, or nullopt if it still runs at `deadline`.
std::optional<int> WaitExit(pid_t pid, Clock::time_point deadline) {
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return 0;  // not our child (reaped elsewhere): it is gone
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);  // polling: there is no event to block on
  }
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("signal ", WTERMSIG(status));
  return absl::StrCat("wait status ", status);
}

// The PIDs whose parent is `parent` (postgres' backends and auxiliary processes).
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;  // gone meanwhile
    std::istringstream fields(stat.substr(paren + 1));
    std::string state;
    long ppid = 0;
    if (fields >> state >> ppid && ppid == parent) out.push_back(std::stoi(name));
  }
  return out;
}

// Whether `pid` has exited (gone, or a zombie: its memory, and so its attachment to the
// shared memory a new postmaster checks, is released).
bool Exited(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (!in || paren == std::string::npos) return true;
  std::istringstream fields(stat.substr(paren + 1));
  std::string state;
  return !(fields >> state) || state == "Z" || state == "X";
}

// SIGKILL to `pid` and its children; reaps `pid` and waits (bounded) until the children have
// exited too, so that a postgres started next on the same data finds no old backend.
void KillTree(pid_t pid) {
  const std::vector<pid_t> children = ChildrenOf(pid);
  kill(pid, SIGKILL);
  for (pid_t child : children) kill(child, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const Clock::time_point deadline = Clock::now() + kKillTimeout;
  for (pid_t child : children) {
    while (!Exited(child) && Clock::now() < deadline) {
      std::this_thread::sleep_for(kPollInterval);  // polling: not our child, no wait()
    }
  }
}

// The command line that runs `program` of kBinDir with `args`, as uid:gid through `setpriv`
// unless that is empty (not root).
std::vector<std::string> Argv(const std::string& setpriv, uid_t uid, gid_t gid,
                              const std::string& program, std::vector<std::string> args) {
  std::vector<std::string> argv;
  if (!setpriv.empty()) {
    argv = {setpriv, absl::StrCat("--reuid=", uid), absl::StrCat("--regid=", gid),
            "--clear-groups", "--"};
  }
  argv.push_back(absl::StrCat(kBinDir, "/", program));
  for (std::string& a : args) argv.push_back(std::move(a));
  return argv;
}

// Whether a user (uid, gid, no supplementary groups) can search every ancestor of `path`.
bool Traversable(const std::string& path, uid_t uid, gid_t gid) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::weakly_canonical(path, ec).parent_path();
  if (ec) return false;
  while (true) {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0) return false;
    const mode_t bit = st.st_uid == uid ? S_IXUSR : st.st_gid == gid ? S_IXGRP : S_IXOTH;
    if ((st.st_mode & bit) == 0) return false;
    if (p == p.root_path() || p.parent_path() == p) return true;
    p = p.parent_path();
  }
}

// Percent-encodes all but unreserved characters (and '/' when `keep_slash`).
std::string UrlEscape(const std::string& s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[4];
      snprintf(hex, sizeof(hex), "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

struct ConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
using Result = std::unique_ptr<PGresult, ResultDeleter>;

absl::StatusOr<Conn> Connect(const std::string& url) {
  Conn conn(PQconnectdb(url.c_str()));
  if (conn == nullptr) return absl::InternalError("PQconnectdb: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::InternalError(
        absl::StrCat("cannot connect to ", url, ": ", PQerrorMessage(conn.get())));
  }
  return conn;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(const std::string& dir) {
  return Start(dir, Options{});
}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(const std::string& dir,
                                                                      const Options& options) {
  for (const char* program : {"initdb", "postgres"}) {
    const std::string path = absl::StrCat(kBinDir, "/", program);
    if (access(path.c_str(), X_OK) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("PostgreSQL 15 is not installed (", path, " is missing): install the ",
                       "Debian package ", kPackage, " (scripts/install-deps.sh does)"));
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const std::filesystem::path absolute = std::filesystem::absolute(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("bad dir ", dir, ": ", ec.message()));

  std::unique_ptr<PostgresServer> server(
      new PostgresServer(absolute.lexically_normal().string(), options));
  TW_RETURN_IF_ERROR(server->ChooseRunDir());
  if (access((server->data_dir() + "/PG_VERSION").c_str(), F_OK) != 0) {
    TW_RETURN_IF_ERROR(server->InitDb());
  }
  TW_RETURN_IF_ERROR(server->Launch());
  TW_RETURN_IF_ERROR(server->EnsureDatabase(kDefaultDatabase));
  return server;
}

PostgresServer::PostgresServer(std::string dir, Options options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

PostgresServer::~PostgresServer() {
  if (absl::Status stopped = Stop(); !stopped.ok()) {
    fprintf(stderr, "PostgresServer: %s\n", stopped.ToString().c_str());
  }
  if (own_run_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(run_dir_, ec);
  }
}

absl::Status PostgresServer::ChooseRunDir() {
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (uid == 0) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (getpwnam_r(kRunAsWhenRoot, &pw, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "running as root, and there is no user '", kRunAsWhenRoot, "' to run postgres as"));
    }
    for (const char* path : {"/usr/bin/setpriv", "/bin/setpriv"}) {
      if (setpriv_.empty() && access(path, X_OK) == 0) setpriv_ = path;
    }
    if (setpriv_.empty()) {
      return absl::FailedPreconditionError(
          "running as root needs setpriv (package util-linux) to run postgres as an "
          "unprivileged user");
    }
    run_uid_ = uid = pw.pw_uid;
    run_gid_ = gid = pw.pw_gid;
  }
  if (Traversable(dir_, uid, gid) && dir_.size() + strlen(kSocketName) <= kMaxSocketPath) {
    run_dir_ = dir_;
  } else {
    std::string pattern = "/tmp/taskwire-pg-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp ", pattern, ": ", strerror(errno)));
    }
    run_dir_ = pattern;
    own_run_dir_ = true;
  }
  if (!setpriv_.empty() && chown(run_dir_.c_str(), run_uid_, run_gid_) != 0) {
    return absl::InternalError(absl::StrCat("chown ", run_dir_, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status PostgresServer::InitDb() {
  // A half-made data dir from an interrupted initdb would make initdb fail: start over.
  std::error_code ec;
  std::filesystem::remove_all(data_dir(), ec);
  const std::string log = dir_ + "/initdb.log";
  TW_ASSIGN_OR_RETURN(
      const pid_t pid,
      Spawn(Argv(setpriv_, run_uid_, run_gid_, "initdb",
                 {"-D", data_dir(), "-U", kSuperuser, "--auth=trust", "--encoding=UTF8",
                  "--locale=C", "--no-sync", "--no-instructions"}),
            run_dir_, log, /*truncate=*/true));
  const std::optional<int> status = WaitExit(pid, Clock::now() + kInitDbTimeout);
  if (!status.has_value()) {
    KillTree(pid);
    return absl::InternalError(absl::StrCat("initdb took more than ", kInitDbTimeout.count(),
                                            " s\n", Tail(log, 4000)));
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(
        absl::StrCat("initdb failed (", DescribeStatus(*status), ")\n", Tail(log, 4000)));
  }
  return absl::OkStatus();
}

absl::Status PostgresServer::Launch() {
  std::vector<std::string> args = {"-D", data_dir()};
  const std::pair<std::string, std::string> settings[] = {
      {"listen_addresses", ""},
      {"port", std::to_string(kPort)},
      {"unix_socket_directories", run_dir_},
      {"unix_socket_permissions", "0777"},
      {"shared_buffers", "128MB"},
      {"max_connections", "200"},
      {"logging_collector", "off"},
      {"log_destination", "stderr"},
      // Parallel query would use /dev/shm, which containers often keep small (64 MB).
      {"max_parallel_workers_per_gather", "0"},
      {"synchronous_commit", options_.synchronous_commit},
  };
  for (const auto& [key, value] : settings) {
    args.push_back("-c");
    args.push_back(absl::StrCat(key, "=", value));
  }
  TW_ASSIGN_OR_RETURN(pid_, Spawn(Argv(setpriv_, run_uid_, run_gid_, "postgres",
                                       std::move(args)),
                                  run_dir_, log_path(), /*truncate=*/false));

  // Ready once PQping says it accepts connections (it answers "starting up" before).
  const Clock::time_point deadline = Clock::now() + kStartTimeout;
  const std::string ping_url = url("postgres");
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("postgres exited (", DescribeStatus(status),
                                              ") before it was ready\n", LogTail()));
    }
    if (PQping(ping_url.c_str()) == PQPING_OK) return absl::OkStatus();
    if (Clock::now() >= deadline) {
      KillTree(pid_);
      pid_ = -1;
      return absl::InternalError(absl::StrCat("postgres did not accept connections within ",
                                              kStartTimeout.count(), " s\n", LogTail()));
    }
    std::this_thread::sleep_for(kPollInterval);  // polling: there is no event to block on
  }
}

absl::Status PostgresServer::EnsureDatabase(const std::string& name) {
  TW_ASSIGN_OR_RETURN(Conn conn, Connect(url("postgres")));
  const char* params[] = {name.c_str()};
  Result exists(PQexecParams(conn.get(), "SELECT 1 FROM pg_database WHERE datname = $1", 1,
                             nullptr, params, nullptr, nullptr, 0));
  if (PQresultStatus(exists.get()) != PGRES_TUPLES_OK) {
    return absl::InternalError(
        absl::StrCat("looking for database ", name, ": ", PQerrorMessage(conn.get())));
  }
  if (PQntuples(exists.get()) > 0) return absl::OkStatus();
  return CreateDatabase(name).status();
}

std::string PostgresServer::url(const std::string& database) const {
  return absl::StrCat("postgresql:///", UrlEscape(database, /*keep_slash=*/false),
                      "?host=", UrlEscape(run_dir_, /*keep_slash=*/true), "&port=", kPort,
                      "&user=", kSuperuser);
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase(const std::string& name) {
  TW_ASSIGN_OR_RETURN(Conn conn, Connect(url("postgres")));
  char* quoted = PQescapeIdentifier(conn.get(), name.c_str(), name.size());
  if (quoted == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad database name '", name, "': ", PQerrorMessage(conn.get())));
  }
  const std::string sql = absl::StrCat("CREATE DATABASE ", quoted);
  PQfreemem(quoted);
  Result result(PQexec(conn.get(), sql.c_str()));
  if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    return absl::InternalError(absl::StrCat(sql, ": ", PQerrorMessage(conn.get())));
  }
  return url(name);
}

absl::Status PostgresServer::Stop() {
  if (pid_ <= 0) return absl::OkStatus();
  const pid_t pid = pid_;
  pid_ = -1;
  kill(pid, SIGINT);  // fast shutdown: active transactions are rolled back, then a checkpoint
  const std::optional<int> status = WaitExit(pid, Clock::now() + kStopTimeout);
  if (!status.has_value()) {
    KillTree(pid);
    return absl::InternalError(absl::StrCat("postgres (pid ", pid, ") ignored SIGINT for ",
                                            kStopTimeout.count(), " s and was killed\n",
                                            LogTail()));
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(absl::StrCat("postgres (pid ", pid, ") ended with ",
                                            DescribeStatus(*status), "\n", LogTail()));
  }
  return absl::OkStatus();
}

void PostgresServer::Kill() {
  if (pid_ <= 0) return;
  KillTree(pid_);
  pid_ = -1;
}

absl::Status PostgresServer::Restart() {
  TW_RETURN_IF_ERROR(Stop());
  return Launch();
}

std::string PostgresServer::LogTail(size_t max_bytes) const {
  return Tail(log_path(), max_bytes);
}

}  // namespace taskwire::testing
