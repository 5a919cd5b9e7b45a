// gRPC adapter for the client API (taskwire.v1.Scheduler) over SchedulerCore. Unary calls
// answer on the callback API's default reactor; WaitTask and WatchTasks hold their call
// open on a reactor that the core wakes, so nothing polls; WaitWorkflow likewise.
#ifndef TASKWIRE_SCHEDULER_SERVICE_SCHEDULER_SERVICE_H_
#define TASKWIRE_SCHEDULER_SERVICE_SCHEDULER_SERVICE_H_

#include "scheduler/auth/authorizer.h"
#include "scheduler/core/event_hub.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/service/leader_gate.h"
#include "taskwire/v1/scheduler.grpc.pb.h"

namespace taskwire::scheduler {

struct ServiceOptions {
  // A watcher whose stream falls this far behind is ended with RESOURCE_EXHAUSTED rather
  // than letting the scheduler's memory grow.
  size_t max_watch_backlog = 100'000;
  // Events per WatchTasks message at most.
  size_t max_watch_batch = 1'000;
  // Closed on a standby scheduler: every call fails UNAVAILABLE. nullptr: always open.
  const LeaderGate* gate = nullptr;
};

class SchedulerService final : public v1::Scheduler::CallbackService {
 public:
  SchedulerService(SchedulerCore& core, EventHub& events, Authorizer& auth,
                   ServiceOptions options = {})
      : core_(core), events_(events), auth_(auth), options_(options) {}

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* ctx, const v1::SubmitRequest* req,
                                   v1::SubmitResponse* resp) override;
  grpc::ServerUnaryReactor* SubmitBatch(grpc::CallbackServerContext* ctx,
                                        const v1::SubmitBatchRequest* req,
                                        v1::SubmitBatchResponse* resp) override;
  grpc::ServerUnaryReactor* GetTask(grpc::CallbackServerContext* ctx,
                                    const v1::GetTaskRequest* req, v1::Task* resp) override;
  grpc::ServerUnaryReactor* WaitTask(grpc::CallbackServerContext* ctx,
                                     const v1::WaitTaskRequest* req, v1::Task* resp) override;
  grpc::ServerUnaryReactor* CancelTask(grpc::CallbackServerContext* ctx,
                                       const v1::CancelTaskRequest* req,
                                       v1::CancelTaskResponse* resp) override;
  grpc::ServerUnaryReactor* ListTasks(grpc::CallbackServerContext* ctx,
                                      const v1::ListTasksRequest* req,
                                      v1::ListTasksResponse* resp) override;
  grpc::ServerWriteReactor<v1::WatchTasksResponse>* WatchTasks(
      grpc::CallbackServerContext* ctx, const v1::WatchTasksRequest* req) override;
  grpc::ServerUnaryReactor* ListExecutors(grpc::CallbackServerContext* ctx,
                                          const v1::ListExecutorsRequest* req,
                                          v1::ListExecutorsResponse* resp) override;
  grpc::ServerUnaryReactor* SubmitWorkflow(grpc::CallbackServerContext* ctx,
                                           const v1::SubmitWorkflowRequest* req,
                                           v1::SubmitWorkflowResponse* resp) override;
  grpc::ServerUnaryReactor* GetWorkflow(grpc::CallbackServerContext* ctx,
                                        const v1::GetWorkflowRequest* req,
                                        v1::Workflow* resp) override;
  grpc::ServerUnaryReactor* WaitWorkflow(grpc::CallbackServerContext* ctx,
                                         const v1::WaitWorkflowRequest* req,
                                         v1::Workflow* resp) override;
  grpc::ServerUnaryReactor* CancelWorkflow(grpc::CallbackServerContext* ctx,
                                           const v1::CancelWorkflowRequest* req,
                                           v1::CancelWorkflowResponse* resp) override;

 private:
  // The caller, if it may call a method that needs `access`.
  absl::StatusOr<Caller> Authorize(grpc::CallbackServerContext* ctx, Access access);
  // OK if the caller may touch this task or workflow (submitters: only their own).
  absl::Status MayTouchTask(const Caller& caller, grpc::CallbackServerContext* ctx,
                            const std::string& id);
  absl::Status MayTouchWorkflow(const Caller& caller, grpc::CallbackServerContext* ctx,
                                const std::string& id);

  SchedulerCore& core_;
  EventHub& events_;
  Authorizer& auth_;
  const ServiceOptions options_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_SERVICE_SCHEDULER_SERVICE_H_
