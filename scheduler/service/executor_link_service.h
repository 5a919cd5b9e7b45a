// gRPC adapter for taskwire.v1.ExecutorLink: one bidirectional stream per executor. The
// first message must be a Hello; after it the stream carries batches of results one way
// and batches of assignments and cancels the other.
#ifndef TASKWIRE_SCHEDULER_SERVICE_EXECUTOR_LINK_SERVICE_H_
#define TASKWIRE_SCHEDULER_SERVICE_EXECUTOR_LINK_SERVICE_H_

#include "scheduler/auth/authorizer.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/service/leader_gate.h"
#include "taskwire/v1/executor_link.grpc.pb.h"

namespace taskwire::scheduler {

class SchedulerMetrics;

class ExecutorLinkService final : public v1::ExecutorLink::CallbackService {
 public:
  // `gate`: closed on a standby scheduler (every link is refused UNAVAILABLE); nullptr:
  // always open.
  ExecutorLinkService(SchedulerCore& core, Authorizer& auth, SchedulerMetrics* metrics,
                      const LeaderGate* gate = nullptr)
      : core_(core), auth_(auth), metrics_(metrics), gate_(gate) {}

  grpc::ServerBidiReactor<v1::ExecutorMessage, v1::SchedulerMessage>* Connect(
      grpc::CallbackServerContext* ctx) override;

 private:
  SchedulerCore& core_;
  Authorizer& auth_;
  SchedulerMetrics* const metrics_;
  const LeaderGate* const gate_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_SERVICE_EXECUTOR_LINK_SERVICE_H_
