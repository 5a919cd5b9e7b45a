// What the executor's core sends to the scheduler, in plain C++ types, and the narrow
// interface it sends through. The gRPC SchedulerLink implements it (converting to
// taskwire.v1 messages); unit tests use a fake that records every message.
#ifndef TASKWIRE_EXECUTOR_LINK_INTERFACE_H_
#define TASKWIRE_EXECUTOR_LINK_INTERFACE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "executor/runner.h"

namespace taskwire::executor {

// Names one attempt: (task id, attempt number). The attempt number fences: two attempts of
// one task are two keys, even while both run here.
using AttemptKey = std::pair<std::string, uint32_t>;

// The outcome of one attempt, on its way to the scheduler (an AttemptResult on the wire).
struct AttemptReport {
  std::string task_id;
  uint32_t attempt = 0;
  RunResult result;

  AttemptKey key() const { return {task_id, attempt}; }
};

// One message to the scheduler; the link may merge it with others or split its results.
struct LinkMessage {
  std::vector<AttemptReport> results;
  bool heartbeat = false;            // "still here"
  std::optional<std::string> drain;  // the reason
};

// Thread-safe. Neither method calls back into the caller, so the core may call Send while
// holding its own lock (which keeps "sent or kept for later" atomic with Welcome and
// disconnect).
class LinkInterface {
 public:
  virtual ~LinkInterface() = default;
  // Queues `message` on the current stream. Returns false when no stream is up (or it is
  // closing or broken), leaving `message` untouched so the caller can keep its results;
  // true (the contents may have been moved out) does not promise delivery.
  virtual bool Send(LinkMessage& message) = 0;
  // Abandons the current stream (the scheduler went silent) and dials again.
  virtual void Redial(const std::string& reason) = 0;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_LINK_INTERFACE_H_
