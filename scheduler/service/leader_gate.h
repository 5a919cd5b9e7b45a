// Whether this scheduler answers calls: always (one scheduler), or only while it leads
// (schedulers that share a PostgreSQL store). A standby's gate is closed: every call of
// the Scheduler and ExecutorLink services fails UNAVAILABLE naming the leader, so a client
// or executor with several addresses moves on to the next one.
#ifndef TASKWIRE_SCHEDULER_SERVICE_LEADER_GATE_H_
#define TASKWIRE_SCHEDULER_SERVICE_LEADER_GATE_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace taskwire::scheduler {

class LeaderGate {
 public:
  LeaderGate() = default;  // open

  absl::Status Check() const {
    if (open_.load(std::memory_order_acquire)) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    return absl::UnavailableError(why_ ? why_() : "this scheduler does not serve");
  }
  bool open() const { return open_.load(std::memory_order_acquire); }

  void Open() { open_.store(true, std::memory_order_release); }
  // `why` makes the message of each refusal, e.g. "this scheduler is a standby; the leader
  // is 10.0.0.7:7070 (term 4)".
  void Close(std::function<std::string()> why) {
    absl::MutexLock lock(&mu_);
    why_ = std::move(why);
    open_.store(false, std::memory_order_release);
  }

 private:
  std::atomic<bool> open_{true};
  mutable absl::Mutex mu_;
  std::function<std::string()> why_ ABSL_GUARDED_BY(mu_);
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_SERVICE_LEADER_GATE_H_
