// LeaderElection: one scheduler's part in electing the leader among schedulers that share
// a store (LeaderLease). A thread of its own campaigns while the scheduler is a standby
// (it takes the lease once it expires, checking as often as lease/3 and right at the
// expiry it read) and, once leader, renews the lease every lease/3.
//
// Leadership ends for good: when a renewal finds the lease taken, or when the lease could
// not be renewed for a whole lease duration (the process was paused, or the database was
// out of reach), on_lost runs and the election stops. The scheduler then steps down by
// exiting (its in-memory state may be stale; its supervisor restarts it as a standby),
// as Kubernetes' own controllers do. Until it exits, its writes are fenced by its term.
//
//   LeaderElection election(lease, {.owner = id, .advertise = "10.0.0.7:7070",
//                                   .lease = absl::Seconds(10)},
//                           /*on_elected=*/[](uint64_t term) { /* load, serve */ return absl::OkStatus(); },
//                           /*on_lost=*/[](const std::string& why) { /* exit */ });
//   election.Start();
#ifndef TASKWIRE_SCHEDULER_LEADER_ELECTION_H_
#define TASKWIRE_SCHEDULER_LEADER_ELECTION_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "scheduler/leader_lease.h"

namespace taskwire::scheduler {

struct ElectionOptions {
  std::string owner;      // unique per process: who holds the lease
  std::string advertise;  // this scheduler's address, shown by standbys
  absl::Duration lease = absl::Seconds(10);
};

class LeaderElection {
 public:
  using OnElected = std::function<absl::Status(uint64_t term)>;
  using OnLost = std::function<void(const std::string& reason)>;
  // Both callbacks run on the election's thread. on_elected runs before the first renewal:
  // it must finish well within the lease (loading the state counts); an error from it ends
  // the leadership (on_lost).
  LeaderElection(LeaderLease& lease, ElectionOptions options, OnElected on_elected,
                 OnLost on_lost);
  ~LeaderElection();  // Stop()

  void Start();
  // Stops campaigning or renewing and joins; the lease is kept (see Release).
  void Stop();
  // Ends the lease at once if this scheduler holds it, so that a standby need not wait it
  // out: call after the last write (a clean shutdown).
  void Release();

  bool leader() const;
  // The holder as last read (a standby's view of the leader; the leader's own term).
  LeaseHolder holder() const;

 private:
  void Run();
  // Returns true once elected and taken over; false when stopping or the takeover failed.
  bool Campaign();
  void Lead();      // returns once leadership is lost (or stopping)
  // Waits for `d` or Stop(); false when stopping.
  bool Wait(absl::Duration d);
  bool stopping() const;

  LeaderLease& lease_;
  const ElectionOptions options_;
  const OnElected on_elected_;
  const OnLost on_lost_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  LeaseHolder holder_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_LEADER_ELECTION_H_
