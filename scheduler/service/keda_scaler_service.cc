#include "scheduler/service/keda_scaler_service.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/one_write_in_flight.h"
#include "common/quote.h"
#include "scheduler/core/task_validation.h"

namespace taskwire::scheduler {

using externalscaler::GetMetricSpecResponse;
using externalscaler::GetMetricsRequest;
using externalscaler::GetMetricsResponse;
using externalscaler::IsActiveResponse;
using externalscaler::ScaledObjectRef;

struct KedaScalerService::Trigger {
  std::string queue;
  std::optional<int64_t> tasks_per_replica;  // none: it follows the serving executors
  int64_t activation_tasks = 0;
};

namespace {

constexpr absl::string_view kQueueKey = "queue";
constexpr absl::string_view kTasksPerReplicaKey = "tasksPerReplica";
constexpr absl::string_view kActivationTasksKey = "activationTasks";

using Metadata = google::protobuf::Map<std::string, std::string>;

grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status Standby() {
  return absl::UnavailableError(
      "this scheduler is a standby: only the leader reports queue load; point KEDA's "
      "scalerAddress at the Service that routes to the leader");
}

// The whole number under `key` (none when absent), at least `min`.
absl::StatusOr<std::optional<int64_t>> NumberIn(const Metadata& metadata, absl::string_view key,
                                                int64_t min, absl::string_view meaning) {
  auto it = metadata.find(std::string(key));
  if (it == metadata.end()) return std::nullopt;
  int64_t n = 0;
  if (!absl::SimpleAtoi(it->second, &n) || n < min) {
    return absl::InvalidArgumentError(absl::StrCat("scalerMetadata ", key, " is ",
                                                   Quote(it->second), ": want ", meaning));
  }
  return n;
}

// KEDA's metric name for `queue`: Kubernetes takes it in URL paths and lowercases it, so
// only [a-z0-9-] (a queue name may also hold upper case, '_', '.' and ':').
std::string MetricName(absl::string_view queue) {
  std::string name = "taskwire-";
  for (char c : queue) {
    const char lower = absl::ascii_tolower(static_cast<unsigned char>(c));
    name.push_back(absl::ascii_isalnum(static_cast<unsigned char>(lower)) ? lower : '-');
  }
  return name;
}

// What the queue's executors have to carry: the HPA divides it by the target per replica.
int64_t Value(const QueueLoad& load) { return static_cast<int64_t>(load.waiting + load.running); }

// One replica's tasks at once, as the executors serving the queue now announce them: the
// lower median (a mixed fleet errs toward more replicas). An executor's thread and process
// slots are what fill first; thousands of event-loop slots count only for an executor that
// serves the queue with nothing else. With none connected (scaled to zero): 1.
int64_t DefaultTasksPerReplica(const QueueLoad& load) {
  std::vector<uint32_t> slots;
  for (const QueueLoad::Executor& e : load.executors) {
    const uint32_t s = e.slots > 0 ? e.slots : e.event_loop_slots;
    if (s > 0) slots.push_back(s);
  }
  if (slots.empty()) return 1;
  std::sort(slots.begin(), slots.end());
  return slots[(slots.size() - 1) / 2];
}

// Answers a StreamIsActive call that cannot start.
class RejectedStream final : public grpc::ServerWriteReactor<IsActiveResponse> {
 public:
  explicit RejectedStream(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

// One StreamIsActive call as the poller sees it: the queue, the threshold and the activity
// to send. It outlives its reactor (the poller may hold it after the call ended); after
// OnDone nothing reaches the reactor. One write in flight; a change during a write goes
// out after it, and only if it still differs from what the client last got.
class KedaScalerService::ActivityFeed {
 public:
  ActivityFeed(grpc::ServerWriteReactor<IsActiveResponse>* reactor, std::string queue,
               int64_t activation_tasks)
      : reactor_(reactor), queue_(std::move(queue)), activation_tasks_(activation_tasks) {}

  const std::string& queue() const { return queue_; }
  bool ActiveAt(const QueueLoad& load) const { return Value(load) > activation_tasks_; }

  void Update(bool active) {
    absl::MutexLock lock(&mu_);
    if (!writer_.accepting()) return;
    wanted_ = active;
    writer_.Kick();
  }
  // Ends the call with `status` after the write in flight.
  void End(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    if (writer_.ending()) return;  // the first reason stands
    final_status_ = std::move(status);
    writer_.End();
  }
  void WriteDone(bool ok) {
    absl::MutexLock lock(&mu_);
    if (!ok) final_status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "KEDA went away");
    writer_.WriteDone(ok);
  }
  // From OnDone: the reactor is gone.
  void Detach() {
    absl::MutexLock lock(&mu_);
    writer_.Stop();
    detached_ = true;
  }
  bool detached() {
    absl::MutexLock lock(&mu_);
    return detached_;
  }

  // For writer_, with mu_ held.
  bool FillNext() {
    mu_.AssertHeld();
    if (!wanted_.has_value() || wanted_ == written_) return false;
    written_ = wanted_;
    response_.set_result(*wanted_);
    return true;
  }
  void WriteNext() {
    mu_.AssertHeld();
    reactor_->StartWrite(&response_);
  }
  void EndStream() {
    mu_.AssertHeld();
    reactor_->Finish(final_status_);
  }

 private:
  absl::Mutex mu_;
  grpc::ServerWriteReactor<IsActiveResponse>* const reactor_;  // only through writer_
  const std::string queue_;
  const int64_t activation_tasks_;
  std::optional<bool> wanted_ ABSL_GUARDED_BY(mu_);   // the activity now
  std::optional<bool> written_ ABSL_GUARDED_BY(mu_);  // the last one written
  IsActiveResponse response_ ABSL_GUARDED_BY(mu_);
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  bool detached_ ABSL_GUARDED_BY(mu_) = false;
  OneWriteInFlight<ActivityFeed> writer_ ABSL_GUARDED_BY(mu_){*this};
};

// The reactor of one StreamIsActive call: it hands its events to its feed.
class KedaScalerService::ActivityStream final
    : public grpc::ServerWriteReactor<IsActiveResponse> {
 public:
  ActivityStream(std::string queue, int64_t activation_tasks)
      : feed_(std::make_shared<ActivityFeed>(this, std::move(queue), activation_tasks)) {}

  const std::shared_ptr<ActivityFeed>& feed() const { return feed_; }

  void OnWriteDone(bool ok) override {
    std::shared_ptr<ActivityFeed> feed = feed_;  // Finish inside may let OnDone free us
    feed->WriteDone(ok);
  }
  void OnCancel() override {
    std::shared_ptr<ActivityFeed> feed = feed_;
    feed->End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }
  void OnDone() override {
    feed_->Detach();
    delete this;
  }

 private:
  const std::shared_ptr<ActivityFeed> feed_;
};

KedaScalerService::KedaScalerService(SchedulerCore& core, std::function<bool()> is_leader,
                                     KedaScalerOptions options)
    : core_(core), is_leader_(std::move(is_leader)), options_(options) {
  poller_ = std::thread([this] { PollLoop(); });
}

KedaScalerService::~KedaScalerService() { Stop(); }

void KedaScalerService::Stop() {
  std::vector<std::shared_ptr<ActivityFeed>> feeds;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    feeds.swap(feeds_);
  }
  if (poller_.joinable()) poller_.join();
  for (const auto& feed : feeds) {
    feed->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the scheduler is stopping"));
  }
}

absl::Status KedaScalerService::Read(const ScaledObjectRef& ref, Trigger& trigger,
                                     QueueLoad& load) {
  if (!is_leader_()) return Standby();
  const Metadata& metadata = ref.scalermetadata();
  auto queue = metadata.find(std::string(kQueueKey));
  if (queue == metadata.end() || queue->second.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scalerMetadata has no ", kQueueKey, ": name the taskwire queue whose executors this "
        "ScaledObject scales (in the trigger's metadata, e.g. queue: default)"));
  }
  if (absl::Status s = ValidateName(absl::StrCat("scalerMetadata ", kQueueKey), queue->second,
                                    core_.options().limits.max_name_bytes);
      !s.ok()) {
    return s;
  }
  trigger.queue = queue->second;
  absl::StatusOr<std::optional<int64_t>> per_replica =
      NumberIn(metadata, kTasksPerReplicaKey, 1, "a whole number of tasks per replica, 1 or more");
  if (!per_replica.ok()) return per_replica.status();
  trigger.tasks_per_replica = *per_replica;
  absl::StatusOr<std::optional<int64_t>> activation = NumberIn(
      metadata, kActivationTasksKey, 0, "a whole number of tasks, 0 or more");
  if (!activation.ok()) return activation.status();
  trigger.activation_tasks = activation->value_or(0);
  load = core_.LoadOfQueue(trigger.queue);
  WarnIfUnserved(trigger.queue, load);
  return absl::OkStatus();
}

// Tasks of a type that none of the queue's executors runs keep the queue active and
// count in its metric, so KEDA keeps (at least one) replica that cannot run them. With no
// executor connected every waiting task is "unserved": that is scale-from-zero, not news.
void KedaScalerService::WarnIfUnserved(const std::string& queue, const QueueLoad& load) {
  if (load.waiting_unserved == 0 || load.executors.empty()) return;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    auto [it, first] = warned_.try_emplace(queue, now);
    if (!first && now - it->second < options_.warn_interval) return;
    it->second = now;
  }
  spdlog::warn("keda: queue '{}' has {} waiting tasks of types that none of its {} executors "
               "serves; they keep the queue active and count toward its replicas. Their "
               "waiting reasons: taskwire list --state queued --queue {}",
               queue, load.waiting_unserved, load.executors.size(), queue);
}

grpc::ServerUnaryReactor* KedaScalerService::IsActive(grpc::CallbackServerContext* ctx,
                                                      const ScaledObjectRef* req,
                                                      IsActiveResponse* resp) {
  Trigger trigger;
  QueueLoad load;
  if (absl::Status s = Read(*req, trigger, load); !s.ok()) return Answer(ctx, s);
  resp->set_result(Value(load) > trigger.activation_tasks);
  return Answer(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<IsActiveResponse>* KedaScalerService::StreamIsActive(
    grpc::CallbackServerContext* ctx, const ScaledObjectRef* req) {
  Trigger trigger;
  QueueLoad load;
  if (absl::Status s = Read(*req, trigger, load); !s.ok()) {
    return new RejectedStream(ToGrpcStatus(s));
  }
  auto* stream = new ActivityStream(trigger.queue, trigger.activation_tasks);
  std::shared_ptr<ActivityFeed> feed = stream->feed();
  feed->Update(feed->ActiveAt(load));  // the first value at once
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    feed->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the scheduler is stopping"));
  } else {
    feeds_.push_back(std::move(feed));
  }
  return stream;
}

grpc::ServerUnaryReactor* KedaScalerService::GetMetricSpec(grpc::CallbackServerContext* ctx,
                                                           const ScaledObjectRef* req,
                                                           GetMetricSpecResponse* resp) {
  Trigger trigger;
  QueueLoad load;
  if (absl::Status s = Read(*req, trigger, load); !s.ok()) return Answer(ctx, s);
  const int64_t target = trigger.tasks_per_replica.value_or(DefaultTasksPerReplica(load));
  externalscaler::MetricSpec* spec = resp->add_metricspecs();
  spec->set_metricname(MetricName(trigger.queue));
  spec->set_targetsize(target);
  spec->set_targetsizefloat(static_cast<double>(target));
  return Answer(ctx, absl::OkStatus());
}

// KEDA names the metric it wants (GetMetricSpec's name, less its "s<N>-" prefix); the
// metadata decides what is measured, so the answer carries this scaler's own name.
grpc::ServerUnaryReactor* KedaScalerService::GetMetrics(grpc::CallbackServerContext* ctx,
                                                        const GetMetricsRequest* req,
                                                        GetMetricsResponse* resp) {
  Trigger trigger;
  QueueLoad load;
  if (absl::Status s = Read(req->scaledobjectref(), trigger, load); !s.ok()) {
    return Answer(ctx, s);
  }
  externalscaler::MetricValue* value = resp->add_metricvalues();
  value->set_metricname(MetricName(trigger.queue));
  value->set_metricvalue(Value(load));
  value->set_metricvaluefloat(static_cast<double>(Value(load)));
  return Answer(ctx, absl::OkStatus());
}

bool KedaScalerService::StreamsOrStopping() const { return stopping_ || !feeds_.empty(); }

void KedaScalerService::PollLoop() {
  for (;;) {
    std::vector<std::shared_ptr<ActivityFeed>> feeds;
    {
      absl::MutexLock lock(&mu_);
      if (feeds_.empty()) {
        mu_.Await(absl::Condition(this, &KedaScalerService::StreamsOrStopping));
      } else {
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.poll_interval);
      }
      if (stopping_) return;
      feeds_.erase(std::remove_if(feeds_.begin(), feeds_.end(),
                                  [](const auto& feed) { return feed->detached(); }),
                   feeds_.end());
      feeds = feeds_;
    }
    const bool leader = is_leader_();
    absl::flat_hash_map<std::string, QueueLoad> loads;  // one look per queue
    for (const auto& feed : feeds) {
      if (!leader) {
        feed->End(ToGrpcStatus(Standby()));
        continue;
      }
      auto [it, first] = loads.try_emplace(feed->queue());
      if (first) {
        it->second = core_.LoadOfQueue(feed->queue());
        WarnIfUnserved(feed->queue(), it->second);
      }
      feed->Update(feed->ActiveAt(it->second));
    }
  }
}

}  // namespace taskwire::scheduler
