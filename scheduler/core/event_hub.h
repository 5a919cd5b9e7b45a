// Fans task events out to watchers (WatchTasks streams). Publish() is called by the core
// after it releases its lock; each subscriber's callback gets the events its filter
// matches, in publish order per task. Callbacks run on the publishing thread and must not
// block. Thread-safe.
#ifndef TASKWIRE_SCHEDULER_CORE_EVENT_HUB_H_
#define TASKWIRE_SCHEDULER_CORE_EVENT_HUB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "scheduler/core/task_event.h"

namespace taskwire::scheduler {

class EventHub {
 public:
  using Callback = std::function<void(EventBatch)>;

  uint64_t Subscribe(EventFilter filter, Callback callback);
  // After it returns, a callback already running may still finish, but no new one starts.
  void Unsubscribe(uint64_t id);
  void Publish(const EventBatch& events);
  bool HasSubscribers() const { return count_.load(std::memory_order_relaxed) > 0; }

 private:
  struct Subscriber {
    uint64_t id;
    EventFilter filter;
    Callback callback;
  };
  using List = std::vector<std::shared_ptr<const Subscriber>>;

  mutable absl::Mutex mu_;
  std::shared_ptr<const List> subscribers_ ABSL_GUARDED_BY(mu_) = std::make_shared<List>();
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::atomic<size_t> count_{0};
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_EVENT_HUB_H_
