#include "executor/scheduler_link.h"

#include <random>
#include <utility>

#include "common/logging.h"
#include "common/one_write_in_flight.h"
#include "common/scheduler_target.h"
#include "executor/link_proto.h"
#include "grpcpp/grpcpp.h"

namespace taskwire::executor {
namespace {

// Results are split across messages above this size, below the scheduler's message limit.
constexpr size_t kMaxBatchBytes = 8 << 20;

// A refusal that a redial cannot fix: INVALID_ARGUMENT of a Hello (after a Welcome it is
// about some later message, not about who we are), and ALREADY_EXISTS once it outlasts
// `refused_since + grace` (until then the refused session may be this id's previous
// process, whose half-open stream the scheduler drops when its lease runs out).
bool IsFatal(const grpc::Status& status, bool was_welcomed, absl::Time refused_since,
             absl::Duration grace) {
  if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    return absl::Now() - refused_since >= grace;
  }
  return status.error_code() == grpc::StatusCode::INVALID_ARGUMENT && !was_welcomed;
}

// The longest wait between dials of a list of schedulers (see Loop).
constexpr absl::Duration kFollowLeaderMaxBackoff = absl::Milliseconds(500);

}  // namespace

// One Connect call. Holds the call open (AddHold) until the read side has ended, so that
// OnDone never runs while a read could still start (GRPC-LIMITS.md, trap 2).
class LinkStream final : public grpc::ClientBidiReactor<v1::ExecutorMessage, v1::SchedulerMessage> {
 public:
  explicit LinkStream(const LinkCallbacks& callbacks) : callbacks_(callbacks) {}

  void Begin(v1::ExecutorLink::Stub& stub, const v1::Hello& hello) {
    stub.async()->Connect(&context_, this);
    AddHold();
    StartRead(&in_);
    Send([&hello](v1::ExecutorMessage& m) { *m.mutable_hello() = hello; });
    StartCall();
  }

  bool Send(const std::function<void(v1::ExecutorMessage&)>& fill) {
    absl::MutexLock lock(&mu_);
    if (!writer_.accepting()) return false;
    fill(pending_);
    has_pending_ = true;
    writer_.Kick();
    return true;
  }

  void CloseWhenFlushed() {
    absl::MutexLock lock(&mu_);
    writer_.EndWhenFlushed();
  }

  void Cancel() { context_.TryCancel(); }

  bool welcomed() const {
    absl::MutexLock lock(&mu_);
    return welcomed_;
  }

  // Waits for OnDone; returns false if `timeout` passed first.
  bool AwaitDone(absl::Duration timeout, grpc::Status* status) {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(&done_), timeout)) return false;
    *status = status_;
    return true;
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      {
        absl::MutexLock lock(&mu_);
        writer_.Stop();  // no write may start once the call can end
      }
      RemoveHold();
      return;
    }
    if (in_.has_welcome()) {
      {
        absl::MutexLock lock(&mu_);
        welcomed_ = true;
      }
      callbacks_.on_welcome(in_.welcome());
    }
    // Also a bare HeartbeatAck: the core only needs to hear that the scheduler is alive.
    if (!in_.has_welcome() || in_.assignments_size() > 0 || in_.cancels_size() > 0) {
      callbacks_.on_work(in_);
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    if (!ok) writer_.Stop();  // the read side fails too and ends the call
    writer_.WriteDone(ok);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    writer_.Stop();
    done_ = true;
  }

 private:
  friend class OneWriteInFlight<LinkStream>;

  // For writer_, with mu_ held.
  bool FillNext() {
    mu_.AssertHeld();
    if (!has_pending_) return false;
    out_.Clear();
    if (pending_.ByteSizeLong() <= kMaxBatchBytes || pending_.results_size() == 0) {
      out_.Swap(&pending_);
      has_pending_ = false;
    } else {
      // Send a prefix of the results alone now, the rest (and the heartbeat, started and
      // drain) after this write: a result near the limit plus a heartbeat listing
      // thousands of attempts must not make one message over the limit.
      size_t bytes = 0;
      int n = 0;
      while (n < pending_.results_size() &&
             (n == 0 || bytes + pending_.results(n).ByteSizeLong() <= kMaxBatchBytes)) {
        bytes += pending_.results(n).ByteSizeLong();
        out_.add_results()->Swap(pending_.mutable_results(n));
        ++n;
      }
      pending_.mutable_results()->DeleteSubrange(0, n);
      has_pending_ = pending_.ByteSizeLong() > 0;
    }
    return true;
  }
  void WriteNext() {
    mu_.AssertHeld();
    StartWrite(&out_);
  }
  void EndStream() { StartWritesDone(); }

  const LinkCallbacks& callbacks_;
  grpc::ClientContext context_;
  v1::SchedulerMessage in_;  // reused by every read
  mutable absl::Mutex mu_;
  v1::ExecutorMessage pending_ ABSL_GUARDED_BY(mu_);
  v1::ExecutorMessage out_ ABSL_GUARDED_BY(mu_);
  bool has_pending_ ABSL_GUARDED_BY(mu_) = false;
  // Always open: writes queue behind StartCall. Ends with StartWritesDone once flushed.
  OneWriteInFlight<LinkStream> writer_ ABSL_GUARDED_BY(mu_){*this};
  bool welcomed_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

SchedulerLink::SchedulerLink(LinkOptions options, LinkCallbacks callbacks)
    : options_(std::move(options)), callbacks_(std::move(callbacks)) {
  stub_ = NewStub();
}

std::unique_ptr<v1::ExecutorLink::Stub> SchedulerLink::NewStub() {
  grpc::ChannelArguments args;
  // A channel of its own connections: after a redial for silence, a new channel must
  // open a new TCP connection, not share the silent one through gRPC's global pool.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(options_.max_message_bytes);
  args.SetMaxSendMessageSize(options_.max_message_bytes);
  // Notice a scheduler that vanished without closing the connection.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  // Our own backoff paces reconnects; gRPC's would add its own delay on top.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (!options_.tls_server_name.empty()) args.SetSslTargetNameOverride(options_.tls_server_name);
  // Several scheduler addresses follow the leader; their names are resolved again at every
  // redial. A name that no longer resolves keeps the list as it was given, to fail and retry.
  absl::StatusOr<SchedulerTarget> target = ParseSchedulerTarget(options_.target);
  if (!target.ok()) {
    spdlog::warn("scheduler address: {}", target.status().message());
    target = SchedulerTarget{options_.target, false};
  }
  follow_leader_ = target->follow_leader;
  ApplySchedulerTarget(*target, args);
  return v1::ExecutorLink::NewStub(grpc::CreateCustomChannel(
      target->target,
      options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials(), args));
}

SchedulerLink::~SchedulerLink() { Stop(absl::Seconds(1)); }

void SchedulerLink::Start() { loop_ = std::thread([this] { Loop(); }); }

std::shared_ptr<LinkStream> SchedulerLink::current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

bool SchedulerLink::Send(const std::function<void(v1::ExecutorMessage&)>& fill) {
  std::shared_ptr<LinkStream> stream = current();
  return stream != nullptr && stream->Send(fill);
}

bool SchedulerLink::Send(LinkMessage& message) {
  return Send([&message](v1::ExecutorMessage& m) { MergeInto(message, m); });
}

void SchedulerLink::Redial(const std::string& reason) {
  std::shared_ptr<LinkStream> stream = current();
  if (stream == nullptr) return;
  spdlog::warn("abandoning the stream to scheduler {}: {}", options_.target, reason);
  {
    absl::MutexLock lock(&mu_);
    new_channel_ = true;  // a new stream on the old channel would use the silent connection
  }
  stream->Cancel();  // ends the call; Loop dials again
}

bool SchedulerLink::connected() const {
  std::shared_ptr<LinkStream> stream = current();
  return stream != nullptr && stream->welcomed();
}

void SchedulerLink::Loop() {
  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = options_.min_backoff;
  absl::Time refused_since = absl::InfiniteFuture();  // the first ALREADY_EXISTS in a row
  bool dialled = false;
  while (true) {
    auto stream = std::make_shared<LinkStream>(callbacks_);
    bool new_channel;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      current_ = stream;
      new_channel = std::exchange(new_channel_, false);
    }
    // A list of schedulers is resolved again at every dial after the first.
    if (new_channel || (follow_leader_ && dialled)) stub_ = NewStub();
    dialled = true;
    v1::Hello hello = options_.hello;
    if (callbacks_.on_hello) callbacks_.on_hello(hello);
    stream->Begin(*stub_, hello);
    grpc::Status status;
    while (!stream->AwaitDone(absl::Seconds(1), &status)) {
    }
    const bool was_welcomed = stream->welcomed();
    {
      absl::MutexLock lock(&mu_);
      current_ = nullptr;
    }
    std::string reason = status.ok() ? "closed by the scheduler" : status.error_message();
    if (reason.empty()) reason = "status " + std::to_string(status.error_code());
    if (was_welcomed) callbacks_.on_disconnected(reason);
    if (status.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      refused_since = absl::InfiniteFuture();
    } else if (refused_since == absl::InfiniteFuture()) {
      refused_since = absl::Now();
    }
    if (IsFatal(status, was_welcomed, refused_since, options_.refused_id_grace)) {
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
      }
      if (callbacks_.on_fatal) {
        callbacks_.on_fatal(absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                                         status.error_message()));
      }
      return;  // Stop() still joins this thread
    }
    if (was_welcomed) backoff = options_.min_backoff;
    // Full jitter: a fleet of executors does not reconnect in lockstep.
    const absl::Duration wait =
        absl::Nanoseconds(std::uniform_int_distribution<int64_t>(
            absl::ToInt64Nanoseconds(backoff) / 2, absl::ToInt64Nanoseconds(backoff))(rng));
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (refused_since != absl::InfiniteFuture()) {
      spdlog::warn("the scheduler {} refused this executor's id ({}): an earlier process with "
                   "this id whose session has not timed out yet, or another process using "
                   "this --id; retrying in {} ms, for at most {} in all",
                   options_.target, reason, absl::ToInt64Milliseconds(wait),
                   absl::FormatDuration(options_.refused_id_grace));
    } else {
      spdlog::warn("link to scheduler {} down ({}); retrying in {} ms", options_.target, reason,
                   absl::ToInt64Milliseconds(wait));
    }
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait);
    if (stopping_) return;
    // Between schedulers that take over from one another, the next leader serves within
    // seconds: dial again often enough to find it at once.
    backoff = std::min(backoff * 2, follow_leader_
                                        ? std::min(options_.max_backoff, kFollowLeaderMaxBackoff)
                                        : options_.max_backoff);
  }
}

void SchedulerLink::Stop(absl::Duration timeout) {
  std::shared_ptr<LinkStream> stream;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !loop_.joinable()) return;
    stopping_ = true;
    stream = current_;
  }
  if (stream) {
    stream->CloseWhenFlushed();
    grpc::Status status;
    if (!stream->AwaitDone(timeout, &status)) stream->Cancel();
  }
  if (loop_.joinable()) loop_.join();
}

}  // namespace taskwire::executor
