// The executors connected now, in connection order, and their credit: the slots each
// announced against the attempts it holds, in one window per run mode when the executor
// announced its modes' slots apart (a thread task must not wait behind 10,000 event-loop
// slots, nor fill them). It keeps the executor gauges (connected,
// slots free and used, executors per queue) as executors come and go and slots are taken
// and freed, and gives dispatch its round-robin turn. Not thread-safe: the core guards it
// with its lock.
#ifndef TASKWIRE_SCHEDULER_CORE_EXECUTOR_REGISTRY_H_
#define TASKWIRE_SCHEDULER_CORE_EXECUTOR_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "scheduler/core/core_metrics.h"
#include "scheduler/core/executor_channel.h"
#include "scheduler/core/ready_queues.h"

namespace taskwire::scheduler {

enum class RunMode { kThread, kProcess, kEventLoop };

struct TaskTypeInfo {
  std::string name;
  RunMode mode = RunMode::kThread;
};

struct ModeSlots {
  RunMode mode = RunMode::kThread;
  uint32_t slots = 0;
};

struct ExecutorHello {
  std::string executor_id;  // empty: the core picks one
  std::string peer;
  std::string version;
  std::vector<TaskTypeInfo> task_types;
  std::vector<std::string> queues;  // empty: {"default"}
  uint32_t slots = 0;
  // Slots per run mode; empty: one window of `slots` for every type.
  std::vector<ModeSlots> mode_slots;
  // Chosen once per executor process: tells the same process reconnecting (it replaces
  // its old session) from a second process with the same id (refused).
  std::string incarnation;
  // What the executor still owes from an earlier connection: attempts it runs, and
  // attempts that ended whose results follow. Every other attempt the core counts on
  // this executor id is settled (lost) when the Hello arrives.
  std::vector<AttemptRef> running;
  std::vector<AttemptRef> unreported;
};

// One credit window: the slots of one run mode (or of all, for one window) and the lanes
// of the types that run in it.
struct SlotPool {
  SlotWindow window = SlotWindow::kShared;
  uint32_t slots = 0;
  uint32_t used = 0;
  std::vector<LaneKey> lanes;
  uint32_t free() const { return slots > used ? slots - used : 0; }
};

struct ConnectedExecutor {
  ExecutorHello hello;
  uint64_t session_id = 0;
  std::shared_ptr<ExecutorChannel> channel;
  std::vector<LaneKey> lanes;  // every (queue, type) it serves
  std::vector<SlotPool> pools;  // at least one
  absl::flat_hash_map<std::string, uint32_t> pool_of_type;
  // Attempts sent (or claimed in the Hello) and not yet answered, with the pool whose slot
  // each takes. Keyed by attempt, not task: after a reconnect the executor may still run
  // attempt 1 of a task (told to cancel it) when attempt 2 of the same task is assigned to
  // it. A cancelled attempt keeps its slot until the executor reports back.
  absl::flat_hash_map<AttemptRef, uint32_t> outstanding;
  bool draining = false;
  absl::Time connected_at;
  absl::Time last_seen;
  uint32_t free_slots() const {
    uint32_t free = 0;
    for (const SlotPool& pool : pools) free += pool.free();
    return free;
  }
  // The pool of `type`'s mode; a type it does not announce: the first.
  uint32_t PoolOf(absl::string_view type) const {
    if (pools.size() == 1) return 0;  // one window: no lookup on the assignment path
    auto it = pool_of_type.find(type);
    return it == pool_of_type.end() ? 0 : it->second;
  }
};

class ExecutorRegistry {
 public:
  explicit ExecutorRegistry(CoreMetrics& metrics) : metrics_(metrics) {}

  // An id that no connected executor uses, for a Hello that names none.
  std::string UnusedId() const;
  // Registers a new session of `hello`'s executor (its id must be free).
  ConnectedExecutor& Add(ExecutorHello hello, std::shared_ptr<ExecutorChannel> channel,
                         absl::Time now);
  // Unregisters an executor; the caller settles the attempts it held.
  std::unique_ptr<ConnectedExecutor> Remove(absl::string_view executor_id);
  ConnectedExecutor* Find(absl::string_view executor_id) const;
  ConnectedExecutor* FindSession(uint64_t session_id) const;

  // The credit: an attempt takes a slot of the executor's pool for `type` until it is
  // freed. Each returns false when it changed nothing (already held; not held).
  bool Take(ConnectedExecutor& executor, AttemptRef attempt, absl::string_view type);
  bool Free(ConnectedExecutor& executor, const AttemptRef& attempt);

  // Dispatch's order: executor `i` of this turn, starting at an offset that moves on at
  // every NextTurn, so that work spreads across executors.
  ConnectedExecutor& InTurn(size_t i) const {
    return *executors_[(turn_ + i) % executors_.size()];
  }
  void NextTurn() { turn_ = executors_.empty() ? 0 : (turn_ + 1) % executors_.size(); }

  const std::vector<std::unique_ptr<ConnectedExecutor>>& all() const { return executors_; }
  size_t size() const { return executors_.size(); }
  bool empty() const { return executors_.empty(); }

 private:
  CoreMetrics& metrics_;
  std::vector<std::unique_ptr<ConnectedExecutor>> executors_;
  size_t turn_ = 0;
  uint64_t next_session_ = 1;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_EXECUTOR_REGISTRY_H_
