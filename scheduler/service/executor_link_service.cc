#include "scheduler/service/executor_link_service.h"

#include <deque>
#include <memory>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/one_write_in_flight.h"
#include "scheduler/scheduler_metrics.h"
#include "scheduler/service/proto_convert.h"

namespace taskwire::scheduler {
namespace {

// Assignments per message at most; the credit window already bounds the total.
constexpr int kMaxAssignmentsPerMessage = 1024;

// One executor's stream. It is also the core's ExecutorChannel for that executor: the core
// queues assignments and cancels, and one write at a time carries whatever is queued.
// Reads and writes run concurrently on gRPC's threads, so the outgoing side is guarded by
// a mutex; the reading side is only touched by the one read in flight.
class LinkReactor final : public grpc::ServerBidiReactor<v1::ExecutorMessage, v1::SchedulerMessage> {
 public:
  LinkReactor(SchedulerCore& core, SchedulerMetrics* metrics, grpc::CallbackServerContext* ctx,
              Authorizer& auth, Caller caller)
      : core_(core), metrics_(metrics), peer_(ctx->peer()), ctx_(ctx), auth_(auth),
        caller_(std::move(caller)), outgoing_(std::make_shared<Outgoing>(this)) {
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the executor closed its side, or the stream broke
      Disconnect("stream closed");
      outgoing_->End(grpc::Status::OK);
      return;
    }
    if (metrics_) metrics_->LinkMessage(/*inbound=*/true);
    if (absl::Status s = Handle(); !s.ok()) {
      spdlog::warn("executor link from {}: {}", peer_, s.ToString());
      Disconnect(s.message());
      outgoing_->End(ToGrpcStatus(s));
      return;
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::shared_ptr<Outgoing> out = outgoing_;  // Finish inside may let OnDone free us
    out->WriteDone(ok);
  }

  void OnCancel() override {
    Disconnect("stream cancelled");
    std::shared_ptr<Outgoing> out = outgoing_;
    out->End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  void OnDone() override {
    outgoing_->Detach();
    delete this;
  }

 private:
  // The core's handle on this stream. It may outlive the reactor (the core holds it until
  // it drops the executor), so after OnDone it turns into a no-op.
  class Outgoing final : public ExecutorChannel {
   public:
    explicit Outgoing(LinkReactor* r) : reactor_(r) {}

    void Send(std::vector<AssignmentOut> assignments, std::vector<AttemptRef> cancels) override {
      absl::MutexLock lock(&mu_);
      if (!writer_.accepting()) return;
      for (auto& a : assignments) assignments_.push_back(std::move(a));
      for (auto& c : cancels) cancels_.push_back(std::move(c));
      writer_.Kick();
    }

    void Close(absl::Status reason) override { End(ToGrpcStatus(reason)); }

    void SendWelcome(v1::Welcome welcome) {
      absl::MutexLock lock(&mu_);
      welcome_ = std::move(welcome);
      writer_.Open();
    }

    // Answers a heartbeat, so that the executor can tell a silent scheduler (a black-holed
    // connection) from a quiet one.
    void SendHeartbeatAck() {
      absl::MutexLock lock(&mu_);
      if (!writer_.accepting() || !writer_.open()) return;
      heartbeat_ack_ = true;
      writer_.Kick();
    }

    void WriteDone(bool ok) {
      absl::MutexLock lock(&mu_);
      if (!ok) status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed");
      writer_.WriteDone(ok);
    }

    void End(grpc::Status status) {
      absl::MutexLock lock(&mu_);
      if (writer_.ending()) return;  // the first reason stands
      status_ = std::move(status);
      writer_.End();
    }

    void Detach() {
      absl::MutexLock lock(&mu_);
      writer_.Stop();
    }

   private:
    friend class OneWriteInFlight<Outgoing>;

    // For writer_, with mu_ held.
    bool FillNext() {
      mu_.AssertHeld();
      if (!welcome_ && !heartbeat_ack_ && assignments_.empty() && cancels_.empty()) {
        return false;
      }
      message_.Clear();
      if (welcome_) {
        *message_.mutable_welcome() = std::move(*welcome_);
        welcome_.reset();
      }
      if (heartbeat_ack_) {
        message_.mutable_heartbeat_ack();
        heartbeat_ack_ = false;
      }
      int n = 0;
      while (!assignments_.empty() && n++ < kMaxAssignmentsPerMessage) {
        ToProto(assignments_.front(), message_.add_assignments());
        assignments_.pop_front();
      }
      for (AttemptRef& c : cancels_) {
        v1::AttemptRef* ref = message_.add_cancels();
        ref->set_task_id(std::move(c.task_id));
        ref->set_attempt(c.attempt);
      }
      cancels_.clear();
      return true;
    }
    void WriteNext() {
      mu_.AssertHeld();
      reactor_->StartWrite(&message_);
    }
    void EndStream() {
      mu_.AssertHeld();
      reactor_->Finish(status_);
    }

    absl::Mutex mu_;
    LinkReactor* const reactor_;  // touched only through writer_, which stops at OnDone
    std::optional<v1::Welcome> welcome_ ABSL_GUARDED_BY(mu_);
    bool heartbeat_ack_ ABSL_GUARDED_BY(mu_) = false;
    std::deque<AssignmentOut> assignments_ ABSL_GUARDED_BY(mu_);
    std::vector<AttemptRef> cancels_ ABSL_GUARDED_BY(mu_);
    v1::SchedulerMessage message_ ABSL_GUARDED_BY(mu_);
    grpc::Status status_ ABSL_GUARDED_BY(mu_);
    // Nothing goes out before the Welcome, though the core may assign work while the
    // executor is still being registered. An end before it (a refused Hello) comes at once.
    OneWriteInFlight<Outgoing> writer_ ABSL_GUARDED_BY(mu_){*this, WriteGate::kHoldWrites};
  };

  absl::Status Handle() {
    std::optional<ExecutorSession> session = CurrentSession();
    if (!session) {
      if (!in_.has_hello()) {
        return absl::FailedPreconditionError("the first message on the link must be a hello");
      }
      absl::StatusOr<ExecutorHello> parsed = FromProto(in_.hello(), peer_);
      if (!parsed.ok()) return parsed.status();
      ExecutorHello hello = *std::move(parsed);
      std::vector<std::string> types;
      for (const TaskTypeInfo& t : hello.task_types) types.push_back(t.name);
      if (absl::Status s = auth_.CheckExecutorScope(
              caller_, hello.queues.empty() ? std::vector<std::string>{std::string(kDefaultQueue)}
                                            : hello.queues,
              types, *ctx_);
          !s.ok()) {
        return s;
      }
      absl::StatusOr<ExecutorSession> connected =
          core_.ConnectExecutor(std::move(hello), outgoing_);
      if (!connected.ok()) return connected.status();
      {
        absl::MutexLock lock(&session_mu_);
        session_ = *connected;
      }
      v1::Welcome welcome;
      welcome.set_executor_id(connected->executor_id);
      taskwire::ToProto(core_.options().heartbeat_interval, welcome.mutable_heartbeat_interval());
      taskwire::ToProto(core_.options().executor_timeout, welcome.mutable_lease());
      outgoing_->SendWelcome(std::move(welcome));
      return absl::OkStatus();
    }
    if (in_.has_hello()) return absl::FailedPreconditionError("hello sent twice");
    if (in_.results_size() > 0) {
      std::vector<AttemptResult> results;
      results.reserve(in_.results_size());
      for (v1::AttemptResult& r : *in_.mutable_results()) {
        AttemptResult& result = results.emplace_back();
        result.task_id = std::move(*r.mutable_task_id());
        result.attempt = r.attempt();
        result.outcome = FromProto(r.outcome());
        result.output = std::move(*r.mutable_output());
        result.error = std::move(*r.mutable_error());
        result.run_time = taskwire::FromProto(r.run_time());
        result.not_retryable = r.not_retryable();
        if (r.has_process()) {
          if (r.process().term_signal() == 0) result.exit_code = r.process().exit_code();
          result.term_signal = r.process().term_signal();
        }
      }
      core_.OnResults(*session, std::move(results));
    }
    if (in_.has_heartbeat()) {
      core_.OnHeartbeat(*session);
      outgoing_->SendHeartbeatAck();
    }
    if (in_.has_drain()) core_.OnDrain(*session);
    return absl::OkStatus();
  }

  std::optional<ExecutorSession> CurrentSession() {
    absl::MutexLock lock(&session_mu_);
    return session_;
  }

  // OnReadDone and OnCancel may both get here; the core ignores a session it already dropped.
  void Disconnect(absl::string_view reason) {
    if (std::optional<ExecutorSession> session = CurrentSession()) {
      core_.DisconnectExecutor(*session, reason);
    }
  }

  SchedulerCore& core_;
  SchedulerMetrics* const metrics_;
  const std::string peer_;
  grpc::CallbackServerContext* const ctx_;  // lives as long as the call
  Authorizer& auth_;
  const Caller caller_;
  const std::shared_ptr<Outgoing> outgoing_;
  v1::ExecutorMessage in_;  // reused by every read, so protobuf keeps its allocations
  absl::Mutex session_mu_;
  std::optional<ExecutorSession> session_ ABSL_GUARDED_BY(session_mu_);  // after the hello
};

// Answers a Connect whose credentials were refused.
class RejectedLink final
    : public grpc::ServerBidiReactor<v1::ExecutorMessage, v1::SchedulerMessage> {
 public:
  explicit RejectedLink(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerBidiReactor<v1::ExecutorMessage, v1::SchedulerMessage>* ExecutorLinkService::Connect(
    grpc::CallbackServerContext* ctx) {
  if (gate_ != nullptr) {
    if (absl::Status s = gate_->Check(); !s.ok()) return new RejectedLink(ToGrpcStatus(s));
  }
  absl::StatusOr<Caller> caller = auth_.Check(*ctx, "ExecutorLink", Access::kExecutor);
  if (!caller.ok()) return new RejectedLink(ToGrpcStatus(caller.status()));
  return new LinkReactor(core_, metrics_, ctx, auth_, std::move(*caller));
}

}  // namespace taskwire::scheduler
