// What the PostgreSQL store and the leader lease share: connecting with the session's
// settings, naming the database in messages, turning libpqxx's exceptions into statuses,
// and the array and byte parameters that carry many rows in one statement.
#ifndef TASKWIRE_SCHEDULER_STORE_POSTGRES_UTIL_H_
#define TASKWIRE_SCHEDULER_STORE_POSTGRES_UTIL_H_

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pqxx/binarystring"

namespace pqxx {
class connection_base;
}

namespace taskwire::scheduler {

// A connection; pqxx::connection is a typedef, which a header cannot declare ahead.
struct PgCloser {
  void operator()(pqxx::connection_base* c) const;
};
using PgConnection = std::unique_ptr<pqxx::connection_base, PgCloser>;

struct PgSession {
  bool synchronous_commit = true;
  absl::Duration idle_in_transaction_timeout = absl::ZeroDuration();  // 0: the server's
  absl::Duration lock_timeout = absl::ZeroDuration();                 // 0: the server's
};

// Connects and sets the session (kept by libpqxx across a reconnect). UNAVAILABLE naming
// the server when it cannot be reached; the password is never in a message.
absl::StatusOr<PgConnection> PgConnect(const std::string& url, const PgSession& session);

// "postgres <database> on <host>:<port>", for messages.
std::string PgWhere(pqxx::connection_base& c);

// UNAVAILABLE for a lost connection or a server shutting down, ABORTED for a serialization
// failure or deadlock, RESOURCE_EXHAUSTED for a full disk or too many connections,
// INTERNAL otherwise: "<where>: <what>: <the server's message> (SQLSTATE xxxxx)".
absl::Status PgError(const std::exception& e, absl::string_view where, absl::string_view what);

// A text-format array parameter: {"a","b",NULL} or {1,2,NULL}.
class PgArray {
 public:
  void Add(absl::string_view text);
  void Add(std::optional<absl::string_view> text) {
    text ? Add(*text) : AddNull();
  }
  void Add(const std::string& text) { Add(absl::string_view(text)); }
  void Add(int64_t v);
  void Add(int32_t v) { Add(static_cast<int64_t>(v)); }
  void Add(std::optional<int64_t> v) {
    v ? Add(*v) : AddNull();
  }
  void AddNull();
  // The parameter's text; the array is empty again afterwards.
  std::string Done();

 private:
  void Separate();
  std::string text_ = "{";
};

// Records' bytes concatenated into one binary parameter; SQL slices it with
// substr(bytes, offset, length) (1-based).
class PgBlob {
 public:
  // The slice of `bytes`: (offset, length).
  std::pair<int32_t, int32_t> Append(absl::string_view bytes);
  pqxx::binarystring Param() const;

 private:
  std::string bytes_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_POSTGRES_UTIL_H_
