// The task types an executor runs in-process, by name: thread handlers (Register), which
// hold a thread while they run, and event-loop handlers (RegisterAsync), which start their
// work on an event loop and complete it later (event_loop/async_task.h). A user's own
// executor program fills one with its handlers (as a Celery user decorates functions); the
// stock taskwire-executor registers the built-ins. Fill it before the executor starts; it
// is read-only afterwards.
#ifndef TASKWIRE_EXECUTOR_HANDLER_REGISTRY_H_
#define TASKWIRE_EXECUTOR_HANDLER_REGISTRY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "executor/event_loop/async_task.h"
#include "executor/task_context.h"

namespace taskwire::executor {

class HandlerRegistry {
 public:
  // Each fails on a bad name, or one registered already (in either mode).
  absl::Status Register(const std::string& type, Handler handler);
  absl::Status RegisterAsync(const std::string& type, AsyncHandler handler);
  const Handler* Find(const std::string& type) const;
  const AsyncHandler* FindAsync(const std::string& type) const;
  std::vector<std::string> Types() const;       // thread handlers, sorted
  std::vector<std::string> AsyncTypes() const;  // event-loop handlers, sorted

 private:
  absl::Status CheckNewName(const std::string& type) const;

  absl::flat_hash_map<std::string, Handler> handlers_;
  absl::flat_hash_map<std::string, AsyncHandler> async_handlers_;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_HANDLER_REGISTRY_H_
