// What the executor tests against a fake scheduler share: the fake (a sync ExecutorLink
// service of the test's own) served on 127.0.0.1:0, and options for an executor "e1" that
// dials it with no health or metrics server of its own.
#ifndef TASKWIRE_TESTS_UNIT_EXECUTOR_FAKE_SCHEDULER_SERVER_H_
#define TASKWIRE_TESTS_UNIT_EXECUTOR_FAKE_SCHEDULER_SERVER_H_

#include <memory>
#include <string>

#include "executor/executor.h"
#include "grpcpp/grpcpp.h"

namespace taskwire::executor {

// Serves `fake` on 127.0.0.1:0 and sets `port`; null if the server did not start. Messages
// up to the scheduler's limit (results come in batches).
inline std::unique_ptr<grpc::Server> ServeOnLoopback(grpc::Service& fake, int& port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&fake);
  builder.SetMaxReceiveMessageSize(64 << 20);
  return builder.BuildAndStart();
}

inline ExecutorOptions OptionsForFakeScheduler(int port, uint32_t thread_slots) {
  ExecutorOptions options;
  options.scheduler = "127.0.0.1:" + std::to_string(port);
  options.executor_id = "e1";
  options.thread_slots = thread_slots;
  options.health_listen = "";
  options.metrics_listen = "";
  return options;
}

}  // namespace taskwire::executor

#endif  // TASKWIRE_TESTS_UNIT_EXECUTOR_FAKE_SCHEDULER_SERVER_H_
