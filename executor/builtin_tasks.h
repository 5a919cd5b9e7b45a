// The task types every stock executor serves, useful out of the box and for tests.
// "input" is TaskContext::input(): the payload, preceded by the upstream results of a
// workflow node, so that chains just work (sha256 of echo of echo "hello" = sha256("hello")).
//   echo      returns its input
//   sleep     sleeps for the payload's milliseconds (cancellable), returns "slept N ms"
//   fail      fails with the payload as the error message; directives in the payload:
//               permanent:MSG     fails with MSG, not retryable (no retry follows)
//               flaky:N[:OUTPUT]  attempts 1..N fail (retryable); later attempts succeed
//                                 with OUTPUT (default "succeeded on attempt K")
//   primes    counts primes below N (the input), CPU-bound
//   sha256    hex SHA-256 of the input
//   collect   its upstream results as a JSON array of strings, in dependency order
//             (AppendJsonString below); the payload is ignored
//   http.get  fetches the input URL (http/https, 10 s limit); the result is
//             "status <code>\nsize <bytes>\n\n<body>" (body truncated at 1 MiB)
// Input that cannot parse (a bad number, not a URL) fails not retryable.
#ifndef TASKWIRE_EXECUTOR_BUILTIN_TASKS_H_
#define TASKWIRE_EXECUTOR_BUILTIN_TASKS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "executor/handler_registry.h"

namespace taskwire::executor {

absl::Status RegisterBuiltinTasks(HandlerRegistry& registry);

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_BUILTIN_TASKS_H_
