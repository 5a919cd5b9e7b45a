// The executor's half of the link protocol, free of gRPC and of real time: the attempts
// running here, the results not yet reported, whether the link is welcomed, draining, and
// when the scheduler was last heard. The Executor feeds it the link's events (a dial's
// Hello, Welcome, assignments, cancels, any message, disconnect) and the runners' results;
// it answers with what to start and sends what the scheduler must hear through a
// LinkInterface. Unit tests drive it with a FakeClock and a fake link.
//
// The contract it keeps (docs/architecture.md, "link invariants"):
//  - Attempts are keyed by (task id, attempt number): a cancel or a duplicate assignment
//    touches only its own attempt; an attempt assigned twice runs once; a newer attempt
//    of a task runs beside an older one still here until that one is cancelled.
//  - Each result is handed to the link exactly once: sent at once when welcomed,
//    otherwise kept (oldest first, bounded: past the bound the oldest is dropped and the
//    scheduler settles that attempt as lost) and sent right after the next Welcome.
//  - A dial's Hello lists what this executor still owes: `running` (still running) and
//    `unreported` (ended, result kept). Anything not listed is no longer here.
//  - A result too large for one message fails its own attempt (oversized_result.h).
//  - A scheduler silent for a lease (Welcome.lease; 15 s when unset) is given up on: the
//    link redials. A dial not welcomed within a lease is given up on too.
//
// Thread-safe. Results go out through one sender at a time, outside the lock, in whatever
// batch has formed (SendOutbox); a dial's Hello and a disconnect wait for that sender, so
// "sent or kept" stays atomic with them. Welcome's flush, heartbeats and the drain call
// LinkInterface::Send under the lock (the link never calls back into it); Redial is
// called with the lock released.
#ifndef TASKWIRE_EXECUTOR_CORE_ATTEMPT_TABLE_H_
#define TASKWIRE_EXECUTOR_CORE_ATTEMPT_TABLE_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "executor/link_interface.h"
#include "executor/runner.h"

namespace taskwire::executor {

struct AttemptTableOptions {
  size_t max_message_bytes = 64 << 20;  // the link's limit (--max-message-bytes)
  // Bounds of the results kept while disconnected: enough for every slot's results over a
  // long outage, small beside the executor's own memory.
  size_t max_unreported = 10'000;
  size_t max_unreported_bytes = 64 << 20;
  // How long a silent scheduler is trusted when its Welcome gives no lease.
  absl::Duration default_lease = absl::Seconds(15);
};

// What a Hello lists (Hello.running, Hello.unreported).
struct HelloLists {
  std::vector<AttemptKey> running;
  std::vector<AttemptKey> unreported;
};

struct WelcomeInfo {
  absl::Duration heartbeat_interval = absl::ZeroDuration();  // zero: unchanged
  absl::Duration lease = absl::ZeroDuration();               // zero: the default lease
};

class AttemptTable {
 public:
  AttemptTable(const Clock& clock, LinkInterface& link, AttemptTableOptions options);

  // --- the link's events ---
  // A dial is about to say Hello: what it must list.
  HelloLists OnHello();
  // Linked: sends the kept results.
  void OnWelcome(const WelcomeInfo& welcome);
  // Any message from the scheduler (its lease clock restarts).
  void OnHeard();
  // The welcomed stream ended: results are kept until the next Welcome.
  void OnDisconnected();

  // New assignments; returns those to start. While draining each is refused with a
  // NotRun result; an attempt already running here is ignored (run once).
  std::vector<std::shared_ptr<Attempt>> OnAssignments(
      std::vector<std::shared_ptr<Attempt>> attempts);
  // Cancels the listed attempts that run here; returns how many it cancelled.
  size_t OnCancels(const std::vector<AttemptKey>& cancels);
  // A runner ended `attempt`: reports its result (see the contract above).
  void OnFinished(const std::shared_ptr<Attempt>& attempt, RunResult result);

  // Periodic (every heartbeat interval): sends a heartbeat when linked, and redials if the
  // scheduler has been silent for a lease.
  void Tick();

  // --- draining and stopping ---
  // Refuses new assignments from now on and tells the scheduler; returns how many run.
  size_t StartDrain(const std::string& reason);
  // Cancels every running attempt's token; returns how many.
  size_t CancelAll();
  // Waits (real time, bounded) until nothing runs here and every result is handed over.
  bool AwaitIdle(absl::Duration timeout);
  // Waits (real time, bounded) until a Welcome.
  bool AwaitLinked(absl::Duration timeout);

  bool linked() const;
  bool draining() const;
  size_t running() const;
  size_t unreported() const;
  absl::Duration heartbeat_interval() const;

 private:
  // Queues `report` for SendOutbox() if welcomed, else keeps it.
  void ReportLocked(AttemptReport report) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendOutbox() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until no Send is under way and keeps what the outbox still holds.
  void AwaitNoSenderLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void KeepLocked(AttemptReport report) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Duration LeaseLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  LinkInterface& link_;
  const AttemptTableOptions options_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<AttemptKey, std::shared_ptr<Attempt>> running_ ABSL_GUARDED_BY(mu_);
  // Results the link could not take, oldest first, with their total encoded size.
  std::deque<AttemptReport> unreported_ ABSL_GUARDED_BY(mu_);
  // Results for the welcomed stream, waiting for the one thread that sends.
  std::vector<AttemptReport> outbox_ ABSL_GUARDED_BY(mu_);
  bool sending_ ABSL_GUARDED_BY(mu_) = false;
  size_t unreported_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool linked_ ABSL_GUARDED_BY(mu_) = false;
  bool dialling_ ABSL_GUARDED_BY(mu_) = false;  // a Hello went out, no Welcome yet
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_heard_ ABSL_GUARDED_BY(mu_);  // or the dial's start, before a Welcome
  absl::Duration lease_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(3);
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_CORE_ATTEMPT_TABLE_H_
