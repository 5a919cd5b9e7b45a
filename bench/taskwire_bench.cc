// taskwire-bench: a load generator for a running taskwire scheduler (bench/README.md).
//
//   taskwire-bench throughput --server ADDR --tasks 100000 --batch 500 --in-flight 4
//   taskwire-bench latency    --server ADDR --tasks 2000
//   taskwire-bench fill       --server ADDR --tasks 1000000 --type nobody.serves.this
//
// throughput: opens a WatchTasks stream on the terminal states first and waits until it is
//   subscribed (its response headers; with an older scheduler, a probe task's event), then
//   submits every task with SubmitBatch (several calls in flight on the callback API) and
//   counts the terminal events of its own task ids until all are back.
// latency: one task at a time, a Submit that waits for the end; round-trip percentiles
//   after a warm-up that is not counted. Other ways back: --wait waittask (Submit, then a
//   WaitTask call), --wait watch (the result on a stream). Diagnostics: --submit-only,
//   --reference-calls (the floor of one unary call), --client-api callback.
// fill: submits tasks that no executor serves and reports how many were accepted; the
//   caller (bench/run.sh) reads the scheduler's memory from /proc.
// workflow: submits one workflow at a time, a chain of --size links or a chord (a group of
//   --size tasks and a callback), and times SubmitWorkflow until WaitWorkflow answers with
//   its end, --runs times after a warm-up run.
//
// Every mode prints human-readable lines; --json adds one JSON line per result. The exit
// status is 0 only when every task came back as expected within --deadline.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench_stats.h"
#include "common/credential_flags.h"
#include "common/scheduler_target.h"
#include "grpcpp/grpcpp.h"
#include "taskwire/v1/scheduler.grpc.pb.h"

namespace taskwire::bench {
namespace {

using v1::Scheduler;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double Seconds(int64_t nanos) { return static_cast<double>(nanos) / 1e9; }

std::chrono::system_clock::time_point In(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

std::string Rate(double per_s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f", per_s);
  return buf;
}

struct CommonOptions {
  std::string server = "127.0.0.1:7070";
  int64_t tasks = 0;
  std::string type = "echo";
  std::string payload = "x";
  std::string queue;  // empty: the scheduler's default queue
  double deadline_s = 120;
  double executor_wait_s = 10;
  bool json = false;
  taskwire::ChannelSecurity security;
};

std::unique_ptr<Scheduler::Stub> Dial(const CommonOptions& o) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      taskwire::MakeChannelCredentials(o.security, args);
  if (!credentials.ok()) {
    std::cerr << "taskwire-bench: " << credentials.status().message() << "\n";
    return nullptr;
  }
  absl::StatusOr<taskwire::SchedulerTarget> target = taskwire::ParseSchedulerTarget(o.server);
  if (!target.ok()) {
    std::cerr << "taskwire-bench: " << target.status().message() << "\n";
    return nullptr;
  }
  taskwire::ApplySchedulerTarget(*target, args);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(target->target, *credentials, args);
  if (!channel->WaitForConnected(In(absl::Seconds(10)))) {
    std::cerr << "taskwire-bench: cannot connect to " << o.server << " within 10 s\n";
    return nullptr;
  }
  return Scheduler::NewStub(channel);
}

v1::TaskSpec MakeSpec(const CommonOptions& o) {
  v1::TaskSpec spec;
  spec.set_type(o.type);
  spec.set_payload(o.payload);
  if (!o.queue.empty()) spec.set_queue(o.queue);
  return spec;
}

// Waits until an executor that serves `o.type` on `o.queue` is connected; returns its
// total slots, or 0 when none appeared within --executor-wait.
uint32_t WaitForExecutor(Scheduler::Stub& stub, const CommonOptions& o) {
  const std::string queue = o.queue.empty() ? "default" : o.queue;
  const absl::Time until = absl::Now() + absl::Seconds(o.executor_wait_s);
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(5)));
    v1::ListExecutorsResponse resp;
    grpc::Status s = stub.ListExecutors(&ctx, v1::ListExecutorsRequest(), &resp);
    if (!s.ok()) {
      std::cerr << "taskwire-bench: ListExecutors: " << s.error_message() << "\n";
      return 0;
    }
    uint32_t slots = 0;
    for (const v1::ExecutorInfo& e : resp.executors()) {
      if (e.draining()) continue;
      bool type_ok = false;
      for (const v1::TaskTypeInfo& t : e.task_types()) type_ok |= t.name() == o.type;
      bool queue_ok = false;
      for (const std::string& q : e.queues()) queue_ok |= q == queue;
      if (type_ok && queue_ok) slots += e.slots();
    }
    if (slots > 0) return slots;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < until);
  return 0;
}

// --- throughput ---------------------------------------------------------------------

// Matches terminal events (from the watch) with the ids that SubmitBatch answers. An event
// may arrive before the answer that names its id, so each side parks what the other has
// not seen yet.
class Tracker {
 public:
  explicit Tracker(size_t expected) : expected_(expected) {
    pending_.reserve(expected);
    latencies_.reserve(expected);
  }

  // The id of a probe task whose terminal event proves the watch live.
  void ExpectProbe(const std::string& id) {
    absl::MutexLock lock(&mu_);
    probe_id_ = id;
    probe_seen_ = false;
  }

  // The watch's response headers arrived: the scheduler sends them once subscribed.
  void OnHeaders() {
    absl::MutexLock lock(&mu_);
    headers_ = true;
  }

  bool AwaitHeaders(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto seen = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return headers_ || watch_ended_; };
    mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
    return headers_ && !watch_ended_;
  }

  bool AwaitProbe(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto seen = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return probe_seen_ || watch_ended_; };
    mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
    return probe_seen_;
  }

  void OnEvents(const v1::WatchTasksResponse& msg, int64_t now) {
    absl::MutexLock lock(&mu_);
    for (const v1::TaskEvent& e : msg.events()) {
      if (!probe_id_.empty() && e.task_id() == probe_id_) {
        probe_seen_ = true;
        continue;
      }
      auto it = pending_.find(e.task_id());
      if (it == pending_.end()) {
        // Not (yet) known as ours: its SubmitBatch answer may still be on the way.
        early_.try_emplace(e.task_id(), Early{now, e.state()});
        continue;
      }
      Complete(e.state(), now - it->second);
      pending_.erase(it);
    }
  }

  void OnSubmitted(const v1::SubmitBatchResponse& resp, int64_t sent_ns) {
    absl::MutexLock lock(&mu_);
    for (const std::string& id : resp.task_ids()) {
      if (auto it = early_.find(id); it != early_.end()) {
        Complete(it->second.state, it->second.at_ns - sent_ns);
        early_.erase(it);
        continue;
      }
      pending_.emplace(id, sent_ns);
    }
  }

  void OnWatchEnded(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    watch_ended_ = true;
    watch_status_ = status;
  }

  // True when every expected task has come back before `deadline`.
  bool AwaitAll(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return completed_ >= expected_ || watch_ended_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
    return completed_ >= expected_;
  }

  struct Result {
    size_t completed = 0;
    size_t succeeded = 0;
    size_t failed = 0;
    size_t cancelled = 0;
    size_t expired = 0;
    int64_t last_event_ns = 0;
    bool watch_ended = false;
    grpc::Status watch_status;
    std::vector<int64_t> latencies;
  };

  Result Take() {
    absl::MutexLock lock(&mu_);
    Result r{completed_, succeeded_, failed_, cancelled_, expired_, last_completion_ns_,
             watch_ended_, watch_status_, std::move(latencies_)};
    return r;
  }

 private:
  struct Early {
    int64_t at_ns;
    v1::TaskState state;
  };

  void Complete(v1::TaskState state, int64_t latency_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++completed_;
    switch (state) {
      case v1::TASK_STATE_SUCCEEDED: ++succeeded_; break;
      case v1::TASK_STATE_CANCELLED: ++cancelled_; break;
      case v1::TASK_STATE_EXPIRED: ++expired_; break;
      default: ++failed_; break;
    }
    latencies_.push_back(latency_ns);
    last_completion_ns_ = NowNs();
  }

  const size_t expected_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> pending_ ABSL_GUARDED_BY(mu_);  // id -> sent at
  absl::flat_hash_map<std::string, Early> early_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> latencies_ ABSL_GUARDED_BY(mu_);
  size_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  size_t succeeded_ ABSL_GUARDED_BY(mu_) = 0;
  size_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  size_t cancelled_ ABSL_GUARDED_BY(mu_) = 0;
  size_t expired_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_completion_ns_ ABSL_GUARDED_BY(mu_) = 0;
  bool headers_ ABSL_GUARDED_BY(mu_) = false;
  std::string probe_id_ ABSL_GUARDED_BY(mu_);
  bool probe_seen_ ABSL_GUARDED_BY(mu_) = false;
  bool watch_ended_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status watch_status_ ABSL_GUARDED_BY(mu_);
};

// The WatchTasks stream on the terminal states, read by a thread of its own.
class TerminalWatch {
 public:
  TerminalWatch(Scheduler::Stub& stub, const CommonOptions& o, Tracker& tracker)
      : tracker_(tracker) {
    v1::WatchTasksRequest req;
    for (v1::TaskState s : {v1::TASK_STATE_SUCCEEDED, v1::TASK_STATE_FAILED,
                            v1::TASK_STATE_CANCELLED, v1::TASK_STATE_EXPIRED}) {
      req.add_states(s);
    }
    req.set_type(o.type);
    if (!o.queue.empty()) req.set_queue(o.queue);
    reader_ = stub.WatchTasks(&ctx_, req);
    thread_ = std::thread([this] { Loop(); });
  }

  ~TerminalWatch() {
    ctx_.TryCancel();
    thread_.join();
  }

 private:
  void Loop() {
    reader_->WaitForInitialMetadata();
    tracker_.OnHeaders();
    v1::WatchTasksResponse msg;  // reused, so protobuf keeps its allocations
    while (reader_->Read(&msg)) tracker_.OnEvents(msg, NowNs());
    tracker_.OnWatchEnded(reader_->Finish());
  }

  Tracker& tracker_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::WatchTasksResponse>> reader_;
  std::thread thread_;
};

// Proves the watch live on a scheduler that sends no response headers once it has
// subscribed a watcher (older ones): submits one task like the measured ones, cancels it
// in case it is still queued, and waits for its terminal event, whichever it is.
bool ProbeWatch(Scheduler::Stub& stub, const CommonOptions& o, Tracker& tracker) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    v1::SubmitRequest req;
    *req.mutable_task() = MakeSpec(o);
    v1::SubmitResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(10)));
    if (grpc::Status s = stub.Submit(&ctx, req, &resp); !s.ok()) {
      std::cerr << "taskwire-bench: probe Submit: " << s.error_message() << "\n";
      return false;
    }
    tracker.ExpectProbe(resp.task_id());
    v1::CancelTaskRequest cancel;
    cancel.set_task_id(resp.task_id());
    v1::CancelTaskResponse cancel_resp;
    grpc::ClientContext cctx;
    cctx.set_deadline(In(absl::Seconds(10)));
    if (grpc::Status s = stub.CancelTask(&cctx, cancel, &cancel_resp); !s.ok()) {
      std::cerr << "taskwire-bench: probe CancelTask: " << s.error_message() << "\n";
      return false;
    }
    if (tracker.AwaitProbe(absl::Seconds(1))) {
      tracker.ExpectProbe("");
      return true;
    }
  }
  std::cerr << "taskwire-bench: the WatchTasks stream delivered no event for the probe task\n";
  return false;
}

// Sends `total` tasks as SubmitBatch calls of `batch`, `in_flight` calls at a time, on the
// callback API: each answer starts the next call from gRPC's callback thread.
class Submitter {
 public:
  using OnAnswer = std::function<void(const v1::SubmitBatchResponse&, int64_t sent_ns)>;

  Submitter(Scheduler::Stub& stub, const CommonOptions& o, int64_t total, int batch,
            int in_flight, bool prebuild, OnAnswer on_answer)
      : stub_(stub), options_(o), total_(total), batch_(batch), in_flight_(in_flight),
        on_answer_(std::move(on_answer)) {
    const size_t n = static_cast<size_t>((total + batch - 1) / batch);
    calls_.resize(n);
    if (prebuild) {
      for (size_t i = 0; i < n; ++i) calls_[i] = Build(i);
    }
  }

  // Blocks until every call has been answered or `deadline` passed.
  void Run(absl::Time deadline) {
    first_send_ns_ = NowNs();
    const size_t start = std::min(calls_.size(), static_cast<size_t>(in_flight_));
    next_.store(start);
    for (size_t i = 0; i < start; ++i) Launch(i);
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return answered_ == calls_.size(); };
    mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
    finished_ = true;
  }

  // Waits for calls still running (after a deadline) so none outlives its context.
  void Drain() {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_ == 0; };
    mu_.Await(absl::Condition(&idle));
  }

  int64_t first_send_ns() const { return first_send_ns_; }
  int64_t last_answer_ns() {
    absl::MutexLock lock(&mu_);
    return last_answer_ns_;
  }
  int64_t accepted() {
    absl::MutexLock lock(&mu_);
    return accepted_;
  }
  int64_t rejected() {
    absl::MutexLock lock(&mu_);
    return rejected_;
  }
  std::string first_error() {
    absl::MutexLock lock(&mu_);
    return first_error_;
  }

 private:
  struct Call {
    v1::SubmitBatchRequest request;
    v1::SubmitBatchResponse response;
    grpc::ClientContext ctx;
    int64_t sent_ns = 0;
  };

  std::unique_ptr<Call> Build(size_t i) const {
    auto call = std::make_unique<Call>();
    const int64_t from = static_cast<int64_t>(i) * batch_;
    const int64_t n = std::min<int64_t>(batch_, total_ - from);
    const v1::TaskSpec spec = MakeSpec(options_);
    call->request.mutable_tasks()->Reserve(static_cast<int>(n));
    for (int64_t k = 0; k < n; ++k) *call->request.add_tasks() = spec;
    return call;
  }

  void Launch(size_t i) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;  // past the deadline: send nothing more
      ++running_;
    }
    if (!calls_[i]) calls_[i] = Build(i);
    Call* call = calls_[i].get();
    call->ctx.set_deadline(In(absl::Seconds(30)));
    call->sent_ns = NowNs();
    stub_.async()->SubmitBatch(&call->ctx, &call->request, &call->response,
                               [this, i](grpc::Status s) { Done(i, std::move(s)); });
  }

  void Done(size_t i, grpc::Status status) {
    Call* call = calls_[i].get();
    const int64_t now = NowNs();
    const int n = call->request.tasks_size();
    if (status.ok()) on_answer_(call->response, call->sent_ns);
    // Free the batch's memory now (the fill mode sends a million tasks); the context
    // stays until the end, as gRPC may still refer to it.
    call->request.Clear();
    call->response.Clear();
    const size_t next = next_.fetch_add(1);
    if (next < calls_.size()) Launch(next);
    absl::MutexLock lock(&mu_);
    if (status.ok()) {
      accepted_ += n;
    } else {
      rejected_ += n;
      if (first_error_.empty()) {
        first_error_ = absl::StrCat("SubmitBatch: code ", status.error_code(), ": ",
                                    status.error_message());
      }
    }
    ++answered_;
    --running_;
    last_answer_ns_ = now;
  }

  Scheduler::Stub& stub_;
  const CommonOptions& options_;
  const int64_t total_;
  const int batch_;
  const int in_flight_;
  const OnAnswer on_answer_;
  std::vector<std::unique_ptr<Call>> calls_;  // slots fixed before Run; each owned by its call
  std::atomic<size_t> next_{0};
  int64_t first_send_ns_ = 0;
  absl::Mutex mu_;
  size_t answered_ ABSL_GUARDED_BY(mu_) = 0;
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_answer_ns_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

struct ThroughputOptions {
  int batch = 500;
  int in_flight = 4;
};

int RunThroughput(const CommonOptions& o, const ThroughputOptions& t) {
  std::unique_ptr<Scheduler::Stub> stub = Dial(o);
  if (!stub) return 2;
  const uint32_t slots = WaitForExecutor(*stub, o);
  if (slots == 0) {
    std::cerr << "taskwire-bench: no executor serving '" << o.type << "' connected within "
              << o.executor_wait_s << " s\n";
    return 2;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(o.deadline_s);
  Tracker tracker(static_cast<size_t>(o.tasks));
  TerminalWatch watch(*stub, o, tracker);  // first, so that no result is missed
  // The scheduler sends the watch's headers once it has subscribed it; without them
  // within 2 s, a probe task proves the stream live instead.
  if (!tracker.AwaitHeaders(absl::Seconds(2)) && !ProbeWatch(*stub, o, tracker)) return 2;

  Submitter submitter(*stub, o, o.tasks, t.batch, t.in_flight, /*prebuild=*/true,
                      [&tracker](const v1::SubmitBatchResponse& r, int64_t sent_ns) {
                        tracker.OnSubmitted(r, sent_ns);
                      });
  submitter.Run(deadline);
  const bool all_back = tracker.AwaitAll(deadline);
  submitter.Drain();
  Tracker::Result r = tracker.Take();

  const int64_t t0 = submitter.first_send_ns();
  const int64_t submit_ns = submitter.last_answer_ns() - t0;
  const int64_t end_ns = (r.completed > 0 ? r.last_event_ns : NowNs()) - t0;
  const double rate = static_cast<double>(r.completed) / Seconds(end_ns);
  const double submit_rate = static_cast<double>(submitter.accepted()) / Seconds(submit_ns);
  const size_t missing = static_cast<size_t>(o.tasks) - r.completed;
  const size_t not_ok = r.failed + r.cancelled + r.expired;
  LatencySummary latency = Summarize(r.latencies);

  std::cout << "throughput: " << r.completed << "/" << o.tasks << " '" << o.type
            << "' tasks back in " << Seconds(end_ns) << " s: " << Rate(rate)
            << " tasks/s end to end (batch " << t.batch << ", " << t.in_flight
            << " in flight, executor slots " << slots << ")\n"
            << "  submit only: " << submitter.accepted() << " accepted in " << Seconds(submit_ns)
            << " s: " << Rate(submit_rate) << " tasks/s; " << submitter.rejected()
            << " rejected\n"
            << "  outcomes: " << r.succeeded << " succeeded, " << r.failed << " failed, "
            << r.cancelled << " cancelled, " << r.expired << " expired, " << missing
            << " missing\n"
            << "  per task, batch sent -> terminal event: " << Describe(latency) << "\n";
  if (!submitter.first_error().empty()) std::cout << "  " << submitter.first_error() << "\n";
  if (r.watch_ended) {
    std::cout << "  the watch stream ended early: code " << r.watch_status.error_code() << ": "
              << r.watch_status.error_message() << "\n";
  }
  if (!all_back) std::cout << "  DEADLINE: not every task came back within " << o.deadline_s << " s\n";
  if (o.json) {
    std::cout << JsonLine()
                     .Add("mode", "throughput")
                     .Add("tasks", o.tasks)
                     .Add("type", o.type)
                     .Add("payload_bytes", static_cast<uint64_t>(o.payload.size()))
                     .Add("batch", t.batch)
                     .Add("in_flight", t.in_flight)
                     .Add("executor_slots", static_cast<uint64_t>(slots))
                     .Add("elapsed_s", Seconds(end_ns))
                     .Add("tasks_per_s", rate)
                     .Add("submit_elapsed_s", Seconds(submit_ns))
                     .Add("submit_tasks_per_s", submit_rate)
                     .Add("accepted", submitter.accepted())
                     .Add("rejected", submitter.rejected())
                     .Add("succeeded", static_cast<uint64_t>(r.succeeded))
                     .Add("failed", static_cast<uint64_t>(r.failed))
                     .Add("cancelled", static_cast<uint64_t>(r.cancelled))
                     .Add("expired", static_cast<uint64_t>(r.expired))
                     .Add("missing", static_cast<uint64_t>(missing))
                     .Add("latency_", latency)
                     .Add("complete", all_back)
                     .str()
              << "\n";
  }
  return all_back && not_ok == 0 && submitter.rejected() == 0 ? 0 : 1;
}

// --- latency ------------------------------------------------------------------------

// Runs one unary call on the callback API and blocks until it is answered.
grpc::Status CallbackCall(const std::function<void(std::function<void(grpc::Status)>)>& start) {
  absl::Mutex mu;
  bool done = false;
  grpc::Status status;
  start([&](grpc::Status s) {
    absl::MutexLock lock(&mu);
    status = std::move(s);
    done = true;
  });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&done));
  return status;
}

// Terminal events of one task type, from a WatchTasks stream read by a thread of its own;
// the latency mode's alternative to WaitTask (--wait watch).
class ResultWatch {
 public:
  ResultWatch(Scheduler::Stub& stub, const CommonOptions& o) {
    v1::WatchTasksRequest req;
    for (v1::TaskState st : {v1::TASK_STATE_SUCCEEDED, v1::TASK_STATE_FAILED,
                             v1::TASK_STATE_CANCELLED, v1::TASK_STATE_EXPIRED}) {
      req.add_states(st);
    }
    req.set_type(o.type);
    if (!o.queue.empty()) req.set_queue(o.queue);
    reader_ = stub.WatchTasks(&ctx_, req);
    thread_ = std::thread([this] {
      reader_->WaitForInitialMetadata();
      {
        absl::MutexLock lock(&mu_);
        headers_ = true;
      }
      v1::WatchTasksResponse msg;
      while (reader_->Read(&msg)) {
        absl::MutexLock lock(&mu_);
        for (const v1::TaskEvent& e : msg.events()) done_[e.task_id()] = e.state();
      }
      reader_->Finish();
      absl::MutexLock lock(&mu_);
      ended_ = true;
    });
  }

  ~ResultWatch() {
    ctx_.TryCancel();
    thread_.join();
  }

  // False when the scheduler sent no headers (it predates them) or the stream ended.
  bool AwaitHeaders(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return headers_ || ended_; };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    return headers_ && !ended_;
  }

  // The task's terminal state, or TASK_STATE_UNSPECIFIED when `timeout` passed first.
  v1::TaskState Await(const std::string& id, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ended_ || done_.contains(id); };
    mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
    auto it = done_.find(id);
    if (it == done_.end()) return v1::TASK_STATE_UNSPECIFIED;
    const v1::TaskState state = it->second;
    done_.erase(it);
    return state;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::WatchTasksResponse>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, v1::TaskState> done_ ABSL_GUARDED_BY(mu_);
  bool headers_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

struct LatencyOptions {
  int warmup = 100;
  // How the result comes back: "submit" (the Submit itself waits, one round trip),
  // "waittask" (a WaitTask call after the Submit) or "watch" (the task's terminal event on
  // a WatchTasks stream opened before the first Submit).
  std::string wait = "submit";
  // "sync" (blocking stub) or "callback" (async() stub, waited for).
  std::string client_api = "sync";
  // Diagnostics: Submit only (no WaitTask); and GetTask round trips on a finished task
  // after the run, the floor of a unary call to this scheduler.
  bool submit_only = false;
  int reference_calls = 0;
};

int RunLatency(const CommonOptions& o, const LatencyOptions& l) {
  const int warmup = l.warmup;
  const bool callback = l.client_api == "callback";
  std::unique_ptr<Scheduler::Stub> stub = Dial(o);
  if (!stub) return 2;
  const uint32_t slots = l.submit_only ? 0 : WaitForExecutor(*stub, o);
  if (slots == 0 && !l.submit_only) {
    std::cerr << "taskwire-bench: no executor serving '" << o.type << "' connected within "
              << o.executor_wait_s << " s\n";
    return 2;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(o.deadline_s);
  std::unique_ptr<ResultWatch> watch;
  if (l.wait == "watch" && !l.submit_only) {
    watch = std::make_unique<ResultWatch>(*stub, o);
    if (!watch->AwaitHeaders(absl::Seconds(5))) {
      std::cerr << "taskwire-bench: the WatchTasks stream sent no headers (--wait watch needs a "
                   "scheduler that sends them once subscribed)\n";
      return 2;
    }
  }
  std::string last_id;
  v1::SubmitRequest submit;
  *submit.mutable_task() = MakeSpec(o);
  const bool submit_waits = l.wait == "submit" && !l.submit_only;
  if (submit_waits) submit.mutable_wait()->set_seconds(10);
  std::vector<int64_t> round_trip, submit_part, wait_part;
  round_trip.reserve(o.tasks);
  submit_part.reserve(o.tasks);
  wait_part.reserve(o.tasks);
  int64_t failed = 0;
  std::string first_error;
  const int64_t total = warmup + o.tasks;
  for (int64_t i = 0; i < total && absl::Now() < deadline; ++i) {
    const int64_t t0 = NowNs();
    v1::SubmitResponse submitted;
    grpc::ClientContext sctx;
    sctx.set_deadline(In(absl::Seconds(submit_waits ? 15 : 10)));
    grpc::Status s =
        callback ? CallbackCall([&](auto done) {
          stub->async()->Submit(&sctx, &submit, &submitted, std::move(done));
        })
                 : stub->Submit(&sctx, submit, &submitted);
    const int64_t t1 = NowNs();
    v1::Task task;
    if (s.ok()) last_id = submitted.task_id();
    if (s.ok() && l.submit_only) {
      task.set_state(v1::TASK_STATE_SUCCEEDED);  // not waited for
    } else if (s.ok() && submit_waits) {
      task = submitted.task();
    } else if (s.ok() && watch) {
      task.set_id(submitted.task_id());
      task.set_state(watch->Await(submitted.task_id(), absl::Seconds(10)));
    } else if (s.ok()) {
      v1::WaitTaskRequest wait;
      wait.set_task_id(submitted.task_id());
      wait.mutable_timeout()->set_seconds(10);
      grpc::ClientContext wctx;
      wctx.set_deadline(In(absl::Seconds(15)));
      s = callback ? CallbackCall([&](auto done) {
            stub->async()->WaitTask(&wctx, &wait, &task, std::move(done));
          })
                   : stub->WaitTask(&wctx, wait, &task);
    }
    const int64_t t2 = NowNs();
    if (!s.ok() || task.state() != v1::TASK_STATE_SUCCEEDED) {
      ++failed;
      if (first_error.empty()) {
        first_error = s.ok() ? absl::StrCat("task ", task.id(), " ended in state ",
                                            v1::TaskState_Name(task.state()), ": ", task.error())
                             : absl::StrCat("code ", s.error_code(), ": ", s.error_message());
      }
      continue;
    }
    if (i < warmup) continue;
    round_trip.push_back(t2 - t0);
    submit_part.push_back(t1 - t0);
    wait_part.push_back(t2 - t1);
  }
  std::vector<int64_t> reference;
  for (int i = 0; i < l.reference_calls && !last_id.empty(); ++i) {
    v1::GetTaskRequest get;
    get.set_task_id(last_id);
    v1::Task task;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(10)));
    const int64_t t0 = NowNs();
    const grpc::Status s = callback ? CallbackCall([&](auto done) {
      stub->async()->GetTask(&ctx, &get, &task, std::move(done));
    })
                                    : stub->GetTask(&ctx, get, &task);
    if (s.ok()) reference.push_back(NowNs() - t0);
  }
  LatencySummary ref = Summarize(reference);
  const int64_t measured = static_cast<int64_t>(round_trip.size());
  LatencySummary rt = Summarize(round_trip);
  LatencySummary sub = Summarize(submit_part);
  LatencySummary wt = Summarize(wait_part);
  std::cout << "latency: " << measured << " '" << o.type << "' tasks one at a time (after "
            << warmup << " warm-up, " << l.client_api << " client API), "
            << (l.submit_only   ? "Submit only"
                : submit_waits ? "Submit that waits"
                : watch        ? "Submit + result on a watch stream"
                               : "Submit + WaitTask")
            << " round trip: " << Describe(rt) << "\n";
  if (!submit_waits) std::cout << "  Submit alone:   " << Describe(sub) << "\n";
  if (!l.submit_only && !submit_waits) {
    std::cout << (watch ? "  Submit answered -> terminal event: " : "  WaitTask alone: ")
              << Describe(wt) << "\n";
  }
  if (ref.count > 0) {
    std::cout << "  reference, GetTask of a finished task: " << Describe(ref) << "\n";
  }
  if (failed > 0) std::cout << "  " << failed << " failed; first: " << first_error << "\n";
  const bool complete = measured + failed >= o.tasks;
  if (!complete) std::cout << "  DEADLINE: stopped after " << o.deadline_s << " s\n";
  if (o.json) {
    std::cout << JsonLine()
                     .Add("mode", "latency")
                     .Add("tasks", o.tasks)
                     .Add("warmup", warmup)
                     .Add("type", o.type)
                     .Add("payload_bytes", static_cast<uint64_t>(o.payload.size()))
                     .Add("executor_slots", static_cast<uint64_t>(slots))
                     .Add("failed", failed)
                     .Add("rt_", rt)
                     .Add("submit_", sub)
                     .Add("wait_", wt)
                     .Add("client_api", l.client_api)
                     .Add("wait", l.submit_only ? "none" : l.wait)
                     .Add("submit_only", l.submit_only)
                     .Add("reference_get_", ref)
                     .Add("complete", complete)
                     .str()
              << "\n";
  }
  return complete && failed == 0 ? 0 : 1;
}

// --- fill ---------------------------------------------------------------------------

int RunFill(const CommonOptions& o, const ThroughputOptions& t) {
  std::unique_ptr<Scheduler::Stub> stub = Dial(o);
  if (!stub) return 2;
  {
    CommonOptions probe = o;
    probe.executor_wait_s = 0;
    if (uint32_t slots = WaitForExecutor(*stub, probe); slots > 0) {
      std::cerr << "taskwire-bench: warning: an executor serves '" << o.type
                << "': the tasks will not stay queued\n";
    }
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(o.deadline_s);
  Submitter submitter(*stub, o, o.tasks, t.batch, t.in_flight, /*prebuild=*/false,
                      [](const v1::SubmitBatchResponse&, int64_t) {});
  submitter.Run(deadline);
  submitter.Drain();
  const int64_t elapsed = submitter.last_answer_ns() - submitter.first_send_ns();
  const double rate = static_cast<double>(submitter.accepted()) / Seconds(elapsed);
  std::cout << "fill: " << submitter.accepted() << " '" << o.type << "' tasks accepted ("
            << submitter.rejected() << " rejected) in " << Seconds(elapsed) << " s: "
            << Rate(rate) << " tasks/s (batch " << t.batch << ", " << t.in_flight
            << " in flight, payload " << o.payload.size() << " bytes)\n";
  if (!submitter.first_error().empty()) std::cout << "  " << submitter.first_error() << "\n";
  if (o.json) {
    std::cout << JsonLine()
                     .Add("mode", "fill")
                     .Add("tasks", o.tasks)
                     .Add("type", o.type)
                     .Add("payload_bytes", static_cast<uint64_t>(o.payload.size()))
                     .Add("batch", t.batch)
                     .Add("in_flight", t.in_flight)
                     .Add("accepted", submitter.accepted())
                     .Add("rejected", submitter.rejected())
                     .Add("elapsed_s", Seconds(elapsed))
                     .Add("submit_tasks_per_s", rate)
                     .str()
              << "\n";
  }
  return submitter.accepted() == o.tasks ? 0 : 1;
}

struct WorkflowOptions {
  std::string shape = "chain";  // chain or chord
  int size = 100;
  int runs = 20;
};

// A chain of `size` links, or a group of `size` tasks whose results all go to one callback.
v1::WorkflowSpec BuildWorkflow(const CommonOptions& o, const WorkflowOptions& w) {
  v1::WorkflowSpec spec;
  auto add = [&](const std::string& name, const std::string& payload) {
    v1::WorkflowNode* node = spec.add_nodes();
    node->set_name(name);
    node->mutable_task()->set_type(o.type);
    node->mutable_task()->set_payload(payload);
    if (!o.queue.empty()) node->mutable_task()->set_queue(o.queue);
    return node;
  };
  if (w.shape == "chain") {
    for (int i = 0; i < w.size; ++i) {
      v1::WorkflowNode* node = add(absl::StrCat("link", i), i == 0 ? o.payload : "");
      if (i > 0) node->add_after(absl::StrCat("link", i - 1));
    }
  } else {
    for (int i = 0; i < w.size; ++i) add(absl::StrCat("member", i), o.payload);
    v1::WorkflowNode* callback = add("callback", "");
    for (int i = 0; i < w.size; ++i) callback->add_after(absl::StrCat("member", i));
  }
  return spec;
}

int RunWorkflow(const CommonOptions& o, const WorkflowOptions& w) {
  std::unique_ptr<Scheduler::Stub> stub = Dial(o);
  if (!stub) return 2;
  if (WaitForExecutor(*stub, o) == 0) {
    std::cerr << "taskwire-bench: no executor serves '" << o.type << "'\n";
    return 2;
  }
  v1::SubmitWorkflowRequest request;
  *request.mutable_workflow() = BuildWorkflow(o, w);
  std::vector<int64_t> totals;
  for (int run = 0; run <= w.runs; ++run) {  // run 0 warms up
    const int64_t start = NowNs();
    grpc::ClientContext submit_ctx;
    submit_ctx.set_deadline(In(absl::Seconds(o.deadline_s)));
    v1::SubmitWorkflowResponse submitted;
    grpc::Status status = stub->SubmitWorkflow(&submit_ctx, request, &submitted);
    if (!status.ok()) {
      std::cerr << "taskwire-bench: SubmitWorkflow: " << status.error_message() << "\n";
      return 1;
    }
    grpc::ClientContext wait_ctx;
    wait_ctx.set_deadline(In(absl::Seconds(o.deadline_s)));
    v1::WaitWorkflowRequest wait;
    wait.set_workflow_id(submitted.workflow_id());
    v1::Workflow done;
    status = stub->WaitWorkflow(&wait_ctx, wait, &done);
    const int64_t elapsed = NowNs() - start;
    if (!status.ok() || done.state() != v1::WORKFLOW_STATE_SUCCEEDED) {
      std::cerr << "taskwire-bench: workflow " << submitted.workflow_id() << " ended "
                << v1::WorkflowState_Name(done.state()) << " " << status.error_message() << " "
                << done.error() << "\n";
      return 1;
    }
    if (run > 0) totals.push_back(elapsed);
  }
  const int nodes = request.workflow().nodes_size();
  LatencySummary summary = Summarize(totals);
  std::cout << "workflow: " << w.shape << " of " << w.size << " '" << o.type << "' ("
            << nodes << " nodes), submit to end, " << w.runs << " runs: " << Describe(summary)
            << "; p50 per node " << summary.p50_ms / nodes << " ms\n";
  if (o.json) {
    std::cout << JsonLine()
                     .Add("mode", "workflow")
                     .Add("shape", w.shape)
                     .Add("size", w.size)
                     .Add("nodes", nodes)
                     .Add("type", o.type)
                     .Add("total_", summary)
                     .str()
              << "\n";
  }
  return 0;
}

void AddCommon(CLI::App* cmd, CommonOptions& o, int64_t default_tasks,
               const std::string& default_type) {
  o.tasks = default_tasks;
  o.type = default_type;
  cmd->add_option("--server", o.server, "scheduler gRPC address")->capture_default_str();
  cmd->add_option("--tasks", o.tasks, "tasks to submit (measured)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}));
  cmd->add_option("--type", o.type, "task type")->capture_default_str();
  cmd->add_option("--payload", o.payload, "payload of every task")->capture_default_str();
  cmd->add_option("--queue", o.queue, "queue (empty: the default queue)");
  cmd->add_option("--deadline", o.deadline_s, "give up after this many seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--executor-wait", o.executor_wait_s,
                  "seconds to wait for an executor serving --type to connect")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", o.json, "also print one JSON line per result");
  taskwire::AddChannelSecurityFlags(*cmd, o.security);
}

}  // namespace
}  // namespace taskwire::bench

int main(int argc, char** argv) {
  using namespace taskwire::bench;
  CLI::App app{"taskwire-bench: load generator for a running taskwire scheduler"};
  app.require_subcommand(1);

  CommonOptions throughput_common, latency_common, fill_common, workflow_common;
  WorkflowOptions workflow;
  ThroughputOptions throughput, fill{.batch = 10'000, .in_flight = 2};
  LatencyOptions latency;

  CLI::App* tp = app.add_subcommand(
      "throughput", "submit all tasks at once (SubmitBatch) and count their results on a watch");
  AddCommon(tp, throughput_common, 100'000, "echo");
  tp->add_option("--batch", throughput.batch, "tasks per SubmitBatch")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000));
  tp->add_option("--in-flight", throughput.in_flight, "SubmitBatch calls in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));

  CLI::App* lat = app.add_subcommand("latency", "one task at a time: Submit, then WaitTask");
  AddCommon(lat, latency_common, 2'000, "echo");
  lat->add_option("--warmup", latency.warmup, "tasks run first and not counted")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  lat->add_option("--client-api", latency.client_api,
                  "gRPC client API: sync (blocking stub) or callback (async stub, waited for)")
      ->capture_default_str()
      ->check(CLI::IsMember({"sync", "callback"}));
  lat->add_option("--wait", latency.wait,
                  "how the result comes back: submit (the Submit waits for the end: one round "
                  "trip), waittask (a WaitTask call after each Submit) or watch (its terminal "
                  "event on a WatchTasks stream opened first)")
      ->capture_default_str()
      ->check(CLI::IsMember({"submit", "waittask", "watch"}));
  lat->add_flag("--submit-only", latency.submit_only,
                "diagnostic: time Submit alone, no WaitTask (with a --type no executor serves, "
                "a Submit without any executor work)");
  lat->add_option("--reference-calls", latency.reference_calls,
                  "diagnostic: afterwards, time this many GetTask calls on a finished task "
                  "(the floor of one unary call)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);

  CLI::App* fl = app.add_subcommand("fill", "queue tasks that no executor serves");
  AddCommon(fl, fill_common, 1'000'000, "nobody.serves.this");
  fl->add_option("--batch", fill.batch, "tasks per SubmitBatch")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000));
  fl->add_option("--in-flight", fill.in_flight, "SubmitBatch calls in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));

  CLI::App* wf = app.add_subcommand(
      "workflow", "one workflow at a time (a chain or a chord), submit until its end");
  AddCommon(wf, workflow_common, 1, "echo");
  wf->add_option("--shape", workflow.shape, "chain or chord")
      ->capture_default_str()
      ->check(CLI::IsMember({"chain", "chord"}));
  wf->add_option("--size", workflow.size, "links of the chain, or tasks in the chord's group")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000));
  wf->add_option("--runs", workflow.runs, "workflows measured, one after the other")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000));

  CLI11_PARSE(app, argc, argv);
  if (wf->parsed()) return RunWorkflow(workflow_common, workflow);

  if (tp->parsed()) return RunThroughput(throughput_common, throughput);
  if (lat->parsed()) return RunLatency(latency_common, latency);
  return RunFill(fill_common, fill);
}
