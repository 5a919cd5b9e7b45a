// The task types every stock executor serves, useful out of the box and for tests:
//   echo      returns its payload
//   sleep     sleeps for the payload's milliseconds (cancellable), returns "slept N ms"
//   fail      fails with the payload as the error message
//   primes    counts primes below N (the payload), CPU-bound
//   sha256    hex SHA-256 of the payload
//   http.get  fetches the payload URL (http/https, 10 s limit); the result is
//             "status <code>\nsize <bytes>\n\n<body>" (body truncated at 1 MiB)
#ifndef TASKWIRE_EXECUTOR_BUILTIN_TASKS_H_
#define TASKWIRE_EXECUTOR_BUILTIN_TASKS_H_

#include "absl/status/status.h"
#include "executor/handler_registry.h"

namespace taskwire::executor {

absl::Status RegisterBuiltinTasks(HandlerRegistry& registry);

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_BUILTIN_TASKS_H_
