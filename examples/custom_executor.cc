// An executor program of your own: it serves the built-in task types plus `wordcount`, a
// C++ function registered under a name (as a Celery user decorates a function), and
// `remind`, an event-loop handler that answers after a delay without holding a thread.
//
//   build/examples/custom_executor --scheduler 127.0.0.1:7070
//   build/cli/taskwire submit wordcount --payload "to be or not to be" --wait
//   build/cli/taskwire submit remind --payload "tea is ready" --wait   # after 100 ms
//   build/cli/taskwire chain http.get:https://example.com wordcount --wait   # in a workflow
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/process_signals.h"
#include "executor/builtin_tasks.h"
#include "executor/event_loop/event_loop.h"
#include "executor/executor.h"

namespace {

// Counts the words of its input (the payload, or in a workflow the upstream results first).
// Long inputs check the cancel token now and then.
absl::StatusOr<std::string> WordCount(const taskwire::executor::TaskContext& task) {
  std::istringstream in(task.input());
  std::string word;
  size_t words = 0;
  while (in >> word) {
    if (++words % 100'000 == 0 && task.stop_requested()) {
      return absl::CancelledError("wordcount stopped");
    }
  }
  return absl::StrCat(words);
}

// Answers with its payload 100 ms later. It runs on the executor's event loop: the handler
// sets a timer and returns; the timer completes the task. A cancel or the task's timeout
// calls the OnAbort function, which removes the timer.
void Remind(taskwire::executor::AsyncTask task) {
  taskwire::executor::EventLoop& loop = task.loop();
  const auto timer = loop.AddTimer(absl::Now() + absl::Milliseconds(100), [task] {
    task.Complete(absl::StrCat("reminder: ", task.context().payload));
  });
  task.OnAbort([&loop, timer] { loop.CancelTimer(timer); });
}

}  // namespace

int main(int argc, char** argv) {
  taskwire::BlockShutdownSignals();
  taskwire::DisableMutexDeadlockDetection();
  taskwire::executor::ExecutorOptions options;
  options.health_listen = "";
  options.metrics_listen = "";
  CLI::App app{"custom_executor: the built-in tasks plus wordcount and remind of its own"};
  app.add_option("--scheduler", options.scheduler, "scheduler address")->capture_default_str();
  app.add_option("--slots", options.thread_slots, "tasks run at once")->capture_default_str();
  std::string ready_file;
  app.add_option("--ready-file", ready_file, "write {} here once started (for scripts)");
  CLI11_PARSE(app, argc, argv);
  if (!taskwire::InitLogging({.service = "custom-executor"}).ok()) return 1;

  taskwire::executor::HandlerRegistry registry;
  if (absl::Status s = taskwire::executor::RegisterBuiltinTasks(registry); !s.ok()) return 1;
  if (absl::Status s = registry.Register("wordcount", WordCount); !s.ok()) return 1;
  if (absl::Status s = registry.RegisterAsync("remind", Remind); !s.ok()) return 1;

  auto executor = taskwire::executor::Executor::Start(options, registry);
  if (!executor.ok()) {
    spdlog::critical("{}", executor.status().ToString());
    return 1;
  }
  if (!ready_file.empty() && !taskwire::WriteReadyFile(ready_file, "{}").ok()) return 1;
  taskwire::WaitForShutdownSignal();
  (*executor)->Drain();
  return 0;
}
