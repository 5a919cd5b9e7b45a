// Shutdown signals for the service binaries: BlockShutdownSignals() must run first in
// main(), before any thread starts, so that SIGINT/SIGTERM reach only WaitForShutdownSignal.
#ifndef TASKWIRE_COMMON_PROCESS_SIGNALS_H_
#define TASKWIRE_COMMON_PROCESS_SIGNALS_H_

#include <string>

#include "absl/status/status.h"

namespace taskwire {

void BlockShutdownSignals();

// Debian's Abseil checks every mutex acquisition for lock-order cycles, which costs a
// global lock and a graph update per Lock (a third of the scheduler's CPU per task).
// Services turn it off; tests keep it on.
void DisableMutexDeadlockDetection();
// Blocks until SIGINT or SIGTERM; returns the signal number.
int WaitForShutdownSignal();

// Writes `json` to `path` atomically (temp file + rename), for scripts that wait on it.
absl::Status WriteReadyFile(const std::string& path, const std::string& json);

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_PROCESS_SIGNALS_H_
