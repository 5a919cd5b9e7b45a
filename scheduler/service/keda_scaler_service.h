// gRPC adapter serving KEDA's external scaler interface (externalscaler.ExternalScaler,
// proto/externalscaler/externalscaler.proto) over SchedulerCore::LoadOfQueue, so that a
// KEDA ScaledObject scales one queue's executor Deployment between zero and N replicas.
//
// Each call names its queue in the trigger's metadata (ScaledObjectRef.scalerMetadata):
//   queue            required: the taskwire queue
//   tasksPerReplica  optional, a whole number >= 1: the tasks one replica carries (the HPA's
//                    target per replica). Default: the lower median of the slots of the
//                    executors serving the queue now (thread and process slots; event-loop
//                    slots only for an executor that serves the queue with nothing else), 1
//                    with none connected
//   activationTasks  optional, a whole number >= 0 (default 0): the queue is active, and
//                    KEDA scales up from zero, when waiting + running exceeds it
// The metric, "taskwire-<queue>" (lowercase, [a-z0-9-]; KEDA prefixes "s<N>-"), is the queue's
// waiting (QUEUED, whether or not a connected executor serves their type) plus running
// tasks. StreamIsActive sends the activity at once and then at each change, looking every
// poll_interval. A scheduler that is not the leader answers UNAVAILABLE to every call.
//
// Thread-safety: the RPCs run on gRPC's threads; one thread of the service's own polls the
// open StreamIsActive calls. Call Stop(), then shut its grpc::Server down, then destroy it.
#ifndef TASKWIRE_SCHEDULER_SERVICE_KEDA_SCALER_SERVICE_H_
#define TASKWIRE_SCHEDULER_SERVICE_KEDA_SCALER_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "externalscaler/externalscaler.grpc.pb.h"
#include "scheduler/core/scheduler_core.h"

namespace taskwire::scheduler {

struct KedaScalerOptions {
  // How often StreamIsActive looks at the load of the queues it reports on.
  absl::Duration poll_interval = absl::Seconds(1);
  // At most one warning per queue in this time about waiting tasks of a type that no
  // serving executor runs.
  absl::Duration warn_interval = absl::Minutes(5);
};

class KedaScalerService final : public externalscaler::ExternalScaler::CallbackService {
 public:
  // `is_leader` is asked on every call and poll; false: the call fails UNAVAILABLE.
  KedaScalerService(SchedulerCore& core, std::function<bool()> is_leader,
                    KedaScalerOptions options = {});
  ~KedaScalerService() override;
  KedaScalerService(const KedaScalerService&) = delete;
  KedaScalerService& operator=(const KedaScalerService&) = delete;

  // Ends the open StreamIsActive calls (UNAVAILABLE) and every later one, and stops polling:
  // call it before shutting the server down, which then need not wait for them. The
  // destructor calls it too.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  grpc::ServerUnaryReactor* IsActive(grpc::CallbackServerContext* ctx,
                                     const externalscaler::ScaledObjectRef* req,
                                     externalscaler::IsActiveResponse* resp) override;
  grpc::ServerWriteReactor<externalscaler::IsActiveResponse>* StreamIsActive(
      grpc::CallbackServerContext* ctx, const externalscaler::ScaledObjectRef* req) override;
  grpc::ServerUnaryReactor* GetMetricSpec(grpc::CallbackServerContext* ctx,
                                          const externalscaler::ScaledObjectRef* req,
                                          externalscaler::GetMetricSpecResponse* resp) override;
  grpc::ServerUnaryReactor* GetMetrics(grpc::CallbackServerContext* ctx,
                                       const externalscaler::GetMetricsRequest* req,
                                       externalscaler::GetMetricsResponse* resp) override;

 private:
  struct Trigger;        // a ScaledObject's metadata, read
  class ActivityFeed;    // what the poller shares with one StreamIsActive call
  class ActivityStream;  // the reactor of one StreamIsActive call

  // The trigger named by `ref`'s metadata, with its queue's load now; UNAVAILABLE on a
  // standby, INVALID_ARGUMENT for metadata that does not parse.
  absl::Status Read(const externalscaler::ScaledObjectRef& ref, Trigger& trigger,
                    QueueLoad& load);
  // Logs (rarely) that tasks wait for a type that the queue's executors do not run.
  void WarnIfUnserved(const std::string& queue, const QueueLoad& load)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Every poll_interval: each open stream's activity, or its end on a standby.
  void PollLoop() ABSL_LOCKS_EXCLUDED(mu_);
  bool StreamsOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  SchedulerCore& core_;
  const std::function<bool()> is_leader_;
  const KedaScalerOptions options_;

  absl::Mutex mu_;
  std::vector<std::shared_ptr<ActivityFeed>> feeds_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, absl::Time> warned_ ABSL_GUARDED_BY(mu_);
  std::thread poller_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_SERVICE_KEDA_SCALER_SERVICE_H_
