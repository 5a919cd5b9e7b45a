// The port through which schedulers that share one store elect their leader: one lease,
// held by one scheduler at a time until it expires, with a term that grows by one at every
// takeover. The store fences every write of the leader by its term (postgres_task_store.h),
// so a deposed leader that wakes up cannot overwrite its successor's state.
// Implementation: PostgresLease (store/postgres_lease.h), a row in the shared database.
#ifndef TASKWIRE_SCHEDULER_LEADER_LEASE_H_
#define TASKWIRE_SCHEDULER_LEADER_LEASE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace taskwire::scheduler {

struct LeaseHolder {
  std::string owner;      // empty: never held
  std::string advertise;  // the holder's address, for clients and logs
  uint64_t term = 0;
  absl::Duration remaining = absl::ZeroDuration();  // by the lease's clock; <= 0: expired
};

class LeaderLease {
 public:
  virtual ~LeaderLease() = default;

  virtual absl::StatusOr<LeaseHolder> Read() = 0;
  // Takes the lease for `duration` when it has expired: the new term, or nullopt while
  // another holds it.
  virtual absl::StatusOr<std::optional<uint64_t>> TryAcquire(const std::string& owner,
                                                             const std::string& advertise,
                                                             absl::Duration duration) = 0;
  // Extends the lease by `duration` from now; false when `owner` no longer holds `term`.
  virtual absl::StatusOr<bool> Renew(const std::string& owner, uint64_t term,
                                     absl::Duration duration) = 0;
  // Ends the lease at once (a clean shutdown), so that a standby need not wait it out;
  // false when `owner` no longer held `term`.
  virtual absl::StatusOr<bool> Release(const std::string& owner, uint64_t term) = 0;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_LEADER_LEASE_H_
