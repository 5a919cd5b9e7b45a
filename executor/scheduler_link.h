// The executor's side of taskwire.v1.ExecutorLink: dials the scheduler, says Hello, keeps
// one stream open, and dials again with exponential backoff (with jitter) whenever the
// stream ends, until Stop(). Outgoing items (results, heartbeats, drain) are merged into
// one pending message and sent one write at a time, so a batch forms under load.
// Each dial's Hello is the options' Hello completed by `on_hello` (the attempts still
// running from an earlier connection, Hello.running).
#ifndef TASKWIRE_EXECUTOR_SCHEDULER_LINK_H_
#define TASKWIRE_EXECUTOR_SCHEDULER_LINK_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "taskwire/v1/executor_link.grpc.pb.h"

namespace taskwire::executor {

class LinkStream;

struct LinkOptions {
  std::string target = "127.0.0.1:7070";
  v1::Hello hello;
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  int max_message_bytes = 64 << 20;
};

struct LinkCallbacks {
  // On the link's thread before each dial: adds what changes between connections to a
  // copy of LinkOptions::hello. May be empty.
  std::function<void(v1::Hello&)> on_hello;
  // On gRPC's threads; must not block.
  std::function<void(const v1::Welcome&)> on_welcome;
  std::function<void(v1::SchedulerMessage&)> on_work;  // assignments and cancels
  // The stream ended (the scheduler requeues what this executor was running).
  std::function<void(const std::string& reason)> on_disconnected;
};

class SchedulerLink {
 public:
  SchedulerLink(LinkOptions options, LinkCallbacks callbacks);
  ~SchedulerLink();

  void Start();
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

  const LinkOptions options_;
  const LinkCallbacks callbacks_;
  std::unique_ptr<v1::ExecutorLink::Stub> stub_;
  mutable absl::Mutex mu_;
  std::shared_ptr<LinkStream> current_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread loop_;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_SCHEDULER_LINK_H_
