#include "scheduler/core/event_hub.h"

#include <algorithm>

namespace taskwire::scheduler {

bool EventFilter::Matches(const TaskEvent& e) const {
  if (!queue.empty() && queue != e.queue) return false;
  if (!type.empty() && type != e.type) return false;
  if (!owner.empty() && owner != e.owner) return false;
  return states.empty() || std::find(states.begin(), states.end(), e.state) != states.end();
}

bool EventFilter::Matches(const WorkflowEvent& e) const {
  return states.empty() && queue.empty() && type.empty() && (owner.empty() || owner == e.owner);
}

uint64_t EventHub::Subscribe(EventFilter filter, Callback callback) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  auto list = std::make_shared<List>(*subscribers_);
  list->push_back(std::make_shared<const Subscriber>(
      Subscriber{id, std::move(filter), std::move(callback)}));
  count_.store(list->size(), std::memory_order_relaxed);
  subscribers_ = std::move(list);
  return id;
}

void EventHub::Unsubscribe(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto list = std::make_shared<List>(*subscribers_);
  std::erase_if(*list, [id](const auto& s) { return s->id == id; });
  count_.store(list->size(), std::memory_order_relaxed);
  subscribers_ = std::move(list);
}

void EventHub::Publish(const EventBatch& events) {
  if (events.empty() || !HasSubscribers()) return;
  std::shared_ptr<const List> list;
  {
    absl::MutexLock lock(&mu_);
    list = subscribers_;
  }
  for (const auto& sub : *list) {
    EventBatch matched;
    for (const TaskEvent& e : events.tasks) {
      if (sub->filter.Matches(e)) matched.tasks.push_back(e);
    }
    for (const WorkflowEvent& e : events.workflows) {
      if (sub->filter.Matches(e)) matched.workflows.push_back(e);
    }
    if (!matched.empty()) sub->callback(std::move(matched));
  }
}

}  // namespace taskwire::scheduler
