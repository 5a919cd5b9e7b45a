// The task types an executor can run on its threads, by name. A user's own executor
// program fills one with its handlers (as a Celery user decorates functions); the stock
// taskwire-executor registers the built-ins. Fill it before the executor starts; it is
// read-only afterwards.
#ifndef TASKWIRE_EXECUTOR_HANDLER_REGISTRY_H_
#define TASKWIRE_EXECUTOR_HANDLER_REGISTRY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "executor/task_context.h"

namespace taskwire::executor {

class HandlerRegistry {
 public:
  // Fails on a bad or duplicate name.
  absl::Status Register(const std::string& type, Handler handler);
  const Handler* Find(const std::string& type) const;
  std::vector<std::string> Types() const;  // sorted

 private:
  absl::flat_hash_map<std::string, Handler> handlers_;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_HANDLER_REGISTRY_H_
