#include "scheduler/store/postgres_util.h"

#include <cstdlib>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace taskwire::scheduler {

void PgCloser::operator()(pqxx::connection_base* c) const {
  delete static_cast<pqxx::connection*>(c);
}

absl::StatusOr<PgConnection> PgConnect(const std::string& url,
                                                           const PgSession& session) {
  PgConnection c;
  try {
    c.reset(new pqxx::connection(url));
  } catch (const std::exception& e) {
    // libpq's message names the host and port; it never holds the password.
    return absl::UnavailableError(
        absl::StrCat("postgres: cannot connect (--postgres-url): ", e.what()));
  }
  try {
    // Named for operators (pg_stat_activity), unless the URL or PGAPPNAME names it.
    if (!absl::StrContains(url, "application_name") && std::getenv("PGAPPNAME") == nullptr) {
      c->set_variable("application_name", "'taskwire-scheduler'");
    }
    c->set_variable("synchronous_commit", session.synchronous_commit ? "on" : "off");
    // The statements take their rows as arrays: a plan made for one array (an empty table,
    // a handful of rows) can be very wrong for the next, and a generic plan fixed early
    // scanned the whole table for every update. Plan each execution for its parameters.
    c->set_variable("plan_cache_mode", "force_custom_plan");
    if (session.idle_in_transaction_timeout > absl::ZeroDuration()) {
      c->set_variable(
          "idle_in_transaction_session_timeout",
          absl::StrCat(absl::ToInt64Milliseconds(session.idle_in_transaction_timeout)));
    }
    if (session.lock_timeout > absl::ZeroDuration()) {
      c->set_variable("lock_timeout",
                      absl::StrCat(absl::ToInt64Milliseconds(session.lock_timeout)));
    }
  } catch (const std::exception& e) {
    return PgError(e, PgWhere(*c), "setting up the session");
  }
  return c;
}

std::string PgWhere(pqxx::connection_base& c) {
  const char* host = c.hostname();
  const char* port = c.port();
  const char* db = c.dbname();
  return absl::StrCat("postgres ", db ? db : "?", " on ", host ? host : "?", ":",
                      port ? port : "?");
}

absl::Status PgError(const std::exception& e, absl::string_view where, absl::string_view what) {
  const std::string message = absl::StrCat(where, ": ", what, ": ", e.what());
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnavailableError(message);
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql != nullptr) {
    const std::string& state = sql->sqlstate();
    const std::string with_state = absl::StrCat(message, " (SQLSTATE ", state, ")");
    // Class 08: connection; 57P0x: the server shuts down; 25P03: idle in transaction too
    // long; 55P03: lock timeout.
    if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57P") || state == "25P03" ||
        state == "55P03") {
      return absl::UnavailableError(with_state);
    }
    if (state == "40001" || state == "40P01") return absl::AbortedError(with_state);
    if (absl::StartsWith(state, "53")) return absl::ResourceExhaustedError(with_state);
    return absl::InternalError(with_state);
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) {
    return absl::AbortedError(message);
  }
  return absl::InternalError(message);
}

void PgArray::Separate() {
  if (text_.size() > 1) text_ += ',';
}

void PgArray::Add(absl::string_view text) {
  Separate();
  text_ += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') text_ += '\\';
    text_ += c;
  }
  text_ += '"';
}

void PgArray::Add(int64_t v) {
  Separate();
  absl::StrAppend(&text_, v);
}

void PgArray::AddNull() {
  Separate();
  text_.append("NULL", 4);
}

std::string PgArray::Done() {
  text_.push_back('}');
  std::string out;
  out.swap(text_);
  text_.push_back('{');
  return out;
}

std::pair<int32_t, int32_t> PgBlob::Append(absl::string_view bytes) {
  const auto offset = static_cast<int32_t>(bytes_.size() + 1);
  bytes_.append(bytes.data(), bytes.size());
  return {offset, static_cast<int32_t>(bytes.size())};
}

pqxx::binarystring PgBlob::Param() const { return pqxx::binarystring(bytes_.data(), bytes_.size()); }

}  // namespace taskwire::scheduler
