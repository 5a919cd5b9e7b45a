// The executor's side of taskwire.v1.ExecutorLink: dials the scheduler, says Hello, keeps
// one stream open, and dials again with exponential backoff (with jitter) whenever the
// stream ends, until Stop(). Outgoing items (results, heartbeats, drain) are merged into
// one pending message and sent one write at a time, so a batch forms under load.
// Each dial's Hello is the options' Hello completed by `on_hello` (the attempts still
// running from an earlier connection, Hello.running, and those that ended unreported,
// Hello.unreported).
//
// No single message exceeds the limit: results are split across messages above 8 MiB, and
// a message that carries a large result carries nothing else (a result itself is kept
// under the limit by the core, oversized_result.h).
//
// Refusals it does not retry: a Connect that ends with ALREADY_EXISTS (another live
// process has this executor id) or, before a Welcome, INVALID_ARGUMENT (the scheduler
// refuses this Hello and always will) stops dialling and calls `on_fatal`.
#ifndef TASKWIRE_EXECUTOR_SCHEDULER_LINK_H_
#define TASKWIRE_EXECUTOR_SCHEDULER_LINK_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "executor/link_interface.h"
#include "taskwire/v1/executor_link.grpc.pb.h"

namespace taskwire::executor {

class LinkStream;

struct LinkOptions {
  std::string target = "127.0.0.1:7070";
  // common/credentials.h; null: plaintext. Made once, reused by every redial.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string tls_server_name;  // overrides the name checked in the scheduler's certificate
  v1::Hello hello;
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  int max_message_bytes = 64 << 20;
  // How long ALREADY_EXISTS is retried before it is fatal: a restarted process is refused
  // while the scheduler still holds its predecessor's half-open session, until that
  // session's lease runs out. Keep it above the scheduler's --executor-timeout.
  absl::Duration refused_id_grace = absl::Seconds(30);
};

struct LinkCallbacks {
  // On the link's thread before each dial: adds what changes between connections to a
  // copy of LinkOptions::hello. May be empty.
  std::function<void(v1::Hello&)> on_hello;
  // On gRPC's threads; must not block.
  std::function<void(const v1::Welcome&)> on_welcome;
  // Every other message (assignments, cancels, heartbeat acks): the scheduler is alive.
  std::function<void(v1::SchedulerMessage&)> on_work;
  // A welcomed stream ended (the scheduler requeues what this executor was running).
  std::function<void(const std::string& reason)> on_disconnected;
  // The scheduler refused this executor for good; the link has stopped dialling.
  std::function<void(const absl::Status& status)> on_fatal;
};

class SchedulerLink final : public LinkInterface {
 public:
  SchedulerLink(LinkOptions options, LinkCallbacks callbacks);
  ~SchedulerLink() override;

  void Start();
  bool Send(LinkMessage& message) override;
  void Redial(const std::string& reason) override;
  // Merges `fill`'s additions into the pending message and sends when the stream is free.
  // Returns false, calling nothing, when no stream is up (or it is closing or broken): the
  // caller keeps what matters (results) for the next connection. True does not promise
  // delivery: a stream that breaks loses its pending message.
  bool Send(const std::function<void(v1::ExecutorMessage&)>& fill);
  bool connected() const;
  // Flushes what is pending, half-closes the stream, waits (up to `timeout`) for the
  // scheduler to close it, and stops dialling.
  void Stop(absl::Duration timeout);

 private:
  void Loop();
  std::shared_ptr<LinkStream> current() const;
  std::unique_ptr<v1::ExecutorLink::Stub> NewStub();

  const LinkOptions options_;
  const LinkCallbacks callbacks_;
  std::unique_ptr<v1::ExecutorLink::Stub> stub_;
  bool follow_leader_ = false;  // set by NewStub: a list of schedulers (Loop's thread only)
  mutable absl::Mutex mu_;
  std::shared_ptr<LinkStream> current_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set by Redial: the next dial goes over a new channel (a new TCP connection).
  bool new_channel_ ABSL_GUARDED_BY(mu_) = false;
  std::thread loop_;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_SCHEDULER_LINK_H_
