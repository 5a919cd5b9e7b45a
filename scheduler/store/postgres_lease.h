// PostgresLease: the leader lease as the one row of the table scheduler_lease
// (postgres_schema.cc), on a connection of its own. Expiry is judged by the database's
// clock (now()), so the schedulers' clocks need not agree. A takeover updates the row,
// which waits for the old leader's write in progress (it holds the row's share lock, see
// postgres_task_store.h): the new term starts after the old term's last commit.
#ifndef TASKWIRE_SCHEDULER_STORE_POSTGRES_LEASE_H_
#define TASKWIRE_SCHEDULER_STORE_POSTGRES_LEASE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/leader_lease.h"
#include "scheduler/store/postgres_util.h"

namespace taskwire::scheduler {

class PostgresLease final : public LeaderLease {
 public:
  // The schema must exist (PostgresTaskStore::Open creates it). A statement waits at most
  // `lock_timeout` for the row's lock (a write of the leader in progress).
  static absl::StatusOr<std::unique_ptr<PostgresLease>> Connect(const std::string& url,
                                                                absl::Duration lock_timeout);
  ~PostgresLease() override;

  absl::StatusOr<LeaseHolder> Read() override;
  absl::StatusOr<std::optional<uint64_t>> TryAcquire(const std::string& owner,
                                                     const std::string& advertise,
                                                     absl::Duration duration) override;
  absl::StatusOr<bool> Renew(const std::string& owner, uint64_t term,
                             absl::Duration duration) override;
  absl::StatusOr<bool> Release(const std::string& owner, uint64_t term) override;

 private:
  PostgresLease(PgConnection db, std::string where);

  const std::string where_;
  absl::Mutex mu_;
  PgConnection db_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_POSTGRES_LEASE_H_
