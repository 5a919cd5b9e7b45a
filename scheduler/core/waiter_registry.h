// Who waits for the end of what: callbacks by the id of the task or workflow they wait
// for, each under a token that lets its caller withdraw it (a WaitTask whose client went
// away). The core keeps one for tasks and one for workflows, under its lock; the callbacks
// taken out when something ends are run after the lock is released.
//
//   WaiterRegistry<WaitCallback> waiters;
//   uint64_t token = waiters.Add("t-1", done);   // never 0
//   waiters.Remove("t-1", token);                 // false if it was taken already
//   for (WaitCallback& cb : waiters.Take("t-1")) ...  // the task ended
#ifndef TASKWIRE_SCHEDULER_CORE_WAITER_REGISTRY_H_
#define TASKWIRE_SCHEDULER_CORE_WAITER_REGISTRY_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace taskwire::scheduler {

template <typename Callback>
class WaiterRegistry {
 public:
  uint64_t Add(absl::string_view id, Callback done) {
    const uint64_t token = next_token_++;
    by_id_[id].emplace(token, std::move(done));
    return token;
  }

  // False when no such waiter is registered (it was taken, or never added).
  bool Remove(absl::string_view id, uint64_t token) {
    auto it = by_id_.find(id);
    if (it == by_id_.end() || it->second.erase(token) == 0) return false;
    if (it->second.empty()) by_id_.erase(it);
    return true;
  }

  // Every callback waiting for `id`, removed from the registry.
  std::vector<Callback> Take(absl::string_view id) {
    std::vector<Callback> out;
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return out;
    out.reserve(it->second.size());
    for (auto& [token, callback] : it->second) out.push_back(std::move(callback));
    by_id_.erase(it);
    return out;
  }

 private:
  absl::flat_hash_map<std::string, absl::flat_hash_map<uint64_t, Callback>> by_id_;
  uint64_t next_token_ = 1;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_WAITER_REGISTRY_H_
