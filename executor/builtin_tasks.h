// The task types every stock executor serves, useful out of the box and for tests.
// "input" is TaskContext::input(): the payload, preceded by the upstream results of a
// workflow node, so that chains just work (sha256 of echo of echo "hello" = sha256("hello")).
//   echo      returns its input
//   sleep     (event loop) waits for the payload's milliseconds on a timer, holding no
//             thread; returns "slept N ms"
//   thread.sleep  the same on a thread: holds a thread slot while it sleeps (cancellable)
//   fail      fails with the payload as the error message; directives in the payload:
//               permanent:MSG     fails with MSG, not retryable (no retry follows)
//               flaky:N[:OUTPUT]  attempts 1..N fail (retryable); later attempts succeed
//                                 with OUTPUT (default "succeeded on attempt K")
//   primes    counts primes below N (the input), CPU-bound
//   sha256    hex SHA-256 of the input
//   collect   its upstream results as a JSON array of strings, in dependency order
//             (AppendJsonString below); the payload is ignored
//   http.get  (event loop) fetches the input URL (http/https, 10 s limit, no proxy) where
//             the fetch policy allows it (fetch_policy.h); the result is
//             "status <code>\nsize <bytes>\n\n<body>" (http_fetch.h); connections are
//             reused across the loop's transfers
//   http.request  (event loop) the same for a JSON payload with the method, headers, body
//             and timeout (taskwire.v1.HttpRequest)
//   thread.http.get  http.get on a thread, one connection per fetch
// Input that cannot parse (a bad number, not a URL) fails not retryable, and so does a
// fetch the policy refuses (on the first address or any redirect).
// Which of them an executor serves is the operator's choice (BuiltinOptions::types,
// --builtins): clients name task types, so every type served is a capability handed out.
#ifndef TASKWIRE_EXECUTOR_BUILTIN_TASKS_H_
#define TASKWIRE_EXECUTOR_BUILTIN_TASKS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executor/fetch_policy.h"
#include "executor/handler_registry.h"

namespace taskwire::executor {

// The names of every built-in type, sorted.
const std::vector<std::string>& BuiltinTaskTypes();

// A --builtins value: "all", "none", or comma-separated names from BuiltinTaskTypes().
// An unknown name is INVALID_ARGUMENT listing the known ones.
absl::StatusOr<std::vector<std::string>> ParseBuiltinList(absl::string_view list);

struct BuiltinOptions {
  std::vector<std::string> types = BuiltinTaskTypes();  // each from BuiltinTaskTypes()
  FetchPolicy fetch_policy;                              // for the http.* types
  size_t http_max_response_bytes = 16 << 20;             // --http-max-response-bytes
};

// Registers `options.types`; INVALID_ARGUMENT for a name that is not a built-in.
absl::Status RegisterBuiltinTasks(HandlerRegistry& registry, const BuiltinOptions& options);
// Every built-in, with the default fetch policy (no loopback, link-local, metadata).
absl::Status RegisterBuiltinTasks(HandlerRegistry& registry);

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_BUILTIN_TASKS_H_
