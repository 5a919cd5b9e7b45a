#include "scheduler/store/postgres_lease.h"

#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "scheduler/store/postgres_util.h"

namespace taskwire::scheduler {
namespace {

int64_t Micros(absl::Duration d) { return absl::ToInt64Microseconds(d); }

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresLease>> PostgresLease::Connect(
    const std::string& url, absl::Duration lock_timeout) {
  TW_ASSIGN_OR_RETURN(PgConnection db,
                      PgConnect(url, PgSession{.lock_timeout = lock_timeout}));
  std::string where = PgWhere(*db);
  try {
    db->prepare("read",
                "SELECT owner, advertise, term, "
                "(extract(epoch FROM expires_at - now()) * 1000000)::bigint "
                "FROM scheduler_lease WHERE id = 1");
    // The row's expiry is re-checked after waiting for its lock (READ COMMITTED re-reads
    // an updated row), so two standbys never both take one expired lease.
    db->prepare("acquire",
                "UPDATE scheduler_lease SET owner = $1, advertise = $2, term = term + 1, "
                "expires_at = now() + $3::bigint * interval '1 microsecond' "
                "WHERE id = 1 AND expires_at <= now() RETURNING term");
    db->prepare("renew",
                "UPDATE scheduler_lease SET expires_at = now() + "
                "$3::bigint * interval '1 microsecond' "
                "WHERE id = 1 AND owner = $1 AND term = $2 RETURNING term");
    db->prepare("release",
                "UPDATE scheduler_lease SET expires_at = now() "
                "WHERE id = 1 AND owner = $1 AND term = $2");
  } catch (const std::exception& e) {
    return PgError(e, where, "preparing the lease");
  }
  return std::unique_ptr<PostgresLease>(new PostgresLease(std::move(db), std::move(where)));
}

PostgresLease::PostgresLease(PgConnection db, std::string where)
    : where_(std::move(where)), db_(std::move(db)) {}

PostgresLease::~PostgresLease() = default;

absl::StatusOr<LeaseHolder> PostgresLease::Read() {
  absl::MutexLock lock(&mu_);
  try {
    pqxx::nontransaction tx(*db_);
    const pqxx::row row = tx.exec_prepared1("read");
    return LeaseHolder{
        .owner = row[0].as<std::string>(),
        .advertise = row[1].as<std::string>(),
        .term = row[2].as<uint64_t>(),
        .remaining = row[3].is_null() ? absl::ZeroDuration()
                                      : absl::Microseconds(row[3].as<int64_t>()),
    };
  } catch (const std::exception& e) {
    return PgError(e, where_, "reading the leader lease");
  }
}

absl::StatusOr<std::optional<uint64_t>> PostgresLease::TryAcquire(const std::string& owner,
                                                                  const std::string& advertise,
                                                                  absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  try {
    pqxx::nontransaction tx(*db_);
    const pqxx::result r = tx.exec_prepared("acquire", owner, advertise, Micros(duration));
    if (r.empty()) return std::nullopt;
    return r[0][0].as<uint64_t>();
  } catch (const std::exception& e) {
    return PgError(e, where_, "taking the leader lease");
  }
}

absl::StatusOr<bool> PostgresLease::Renew(const std::string& owner, uint64_t term,
                                          absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  try {
    pqxx::nontransaction tx(*db_);
    return !tx.exec_prepared("renew", owner, static_cast<int64_t>(term), Micros(duration))
                .empty();
  } catch (const std::exception& e) {
    return PgError(e, where_, "renewing the leader lease");
  }
}

absl::StatusOr<bool> PostgresLease::Release(const std::string& owner, uint64_t term) {
  absl::MutexLock lock(&mu_);
  try {
    pqxx::nontransaction tx(*db_);
    return tx.exec_prepared("release", owner, static_cast<int64_t>(term)).affected_rows() > 0;
  } catch (const std::exception& e) {
    return PgError(e, where_, "releasing the leader lease");
  }
}

}  // namespace taskwire::scheduler
