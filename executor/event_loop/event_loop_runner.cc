#include "executor/event_loop/event_loop_runner.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace taskwire::executor {
namespace {

// On the loop thread, once per attempt: stops its deadline timer, forgets it, reports.
void Finish(const std::shared_ptr<AsyncAttempt>& a, RunResult result) {
  if (a->deadline_timer != 0) a->loop->CancelTimer(a->deadline_timer);
  a->abort = nullptr;
  a->shard->running.erase(a.get());
  result.run_time = absl::Now() - a->started;
  Runner::Done done = std::move(a->done);
  done(std::move(result));
}

RunResult FromHandler(const Attempt& attempt, absl::StatusOr<std::string> out) {
  RunResult result;
  if (out.ok()) {
    result.outcome = RunOutcome::kSucceeded;
    result.output = *std::move(out);
  } else if (attempt.token.cancelled()) {
    result.outcome = RunOutcome::kCancelled;
    result.error = "cancelled";
  } else {
    result.error = std::string(out.status().message());
    result.not_retryable = IsNotRetryable(out.status());
  }
  return result;
}

// On the loop thread: a cancel, the deadline or a shutdown ends the attempt first.
void Abort(const std::shared_ptr<AsyncAttempt>& a, RunOutcome outcome, std::string error) {
  if (a->ended.exchange(true)) return;
  if (std::function<void()> abort = std::move(a->abort)) {
    try {
      abort();
    } catch (const std::exception& e) {
      spdlog::error("task {}: its abort function threw: {}", a->attempt->context.task_id,
                    e.what());
    } catch (...) {
      spdlog::error("task {}: its abort function threw", a->attempt->context.task_id);
    }
  }
  RunResult result;
  result.outcome = outcome;
  result.error = std::move(error);
  Finish(a, std::move(result));
}

}  // namespace

const TaskContext& AsyncTask::context() const { return attempt_->attempt->context; }

EventLoop& AsyncTask::loop() const { return *attempt_->loop; }

bool AsyncTask::ended() const { return attempt_->ended.load(); }

void AsyncTask::Complete(absl::StatusOr<std::string> result) const {
  if (attempt_->ended.exchange(true)) return;  // a cancel, the deadline or a Complete won
  auto finish = [a = attempt_, r = std::move(result)]() mutable {
    Finish(a, FromHandler(*a->attempt, std::move(r)));
  };
  if (attempt_->loop->InLoopThread()) {
    finish();
  } else {
    attempt_->loop->Post(std::move(finish));
  }
}

void AsyncTask::OnAbort(std::function<void()> abort) const {
  if (!attempt_->ended.load()) attempt_->abort = std::move(abort);
}

absl::StatusOr<std::unique_ptr<EventLoopRunner>> EventLoopRunner::Create(
    const HandlerRegistry& registry, size_t threads) {
  std::unique_ptr<EventLoopRunner> runner(new EventLoopRunner(registry));
  for (size_t i = 0; i < std::max<size_t>(threads, 1); ++i) {
    absl::StatusOr<std::shared_ptr<EventLoop>> loop = EventLoop::Create();
    if (!loop.ok()) return loop.status();
    auto shard = std::make_unique<LoopShard>();
    shard->loop = *std::move(loop);
    runner->shards_.push_back(std::move(shard));
  }
  return runner;
}

EventLoopRunner::~EventLoopRunner() { Shutdown(); }

void EventLoopRunner::Start(std::shared_ptr<Attempt> attempt, Done done) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      LoopShard& shard = *shards_[next_shard_.fetch_add(1) % shards_.size()];
      shard.loop->Post([this, &shard, attempt = std::move(attempt),
                        done = std::move(done)]() mutable {
        StartOnLoop(shard, std::move(attempt), std::move(done));
      });
      return;
    }
  }
  done(RunResult::NotRun("the runner is shut down"));
}

void EventLoopRunner::StartOnLoop(LoopShard& shard, std::shared_ptr<Attempt> attempt,
                                  Done done) {
  auto a = std::make_shared<AsyncAttempt>();
  a->attempt = std::move(attempt);
  a->loop = shard.loop;
  a->shard = &shard;
  a->started = absl::Now();
  a->done = std::move(done);
  shard.running.emplace(a.get(), a);
  const CancelToken& token = a->attempt->token;
  if (token.cancelled()) {
    Abort(a, RunOutcome::kCancelled, "cancelled");
    return;
  }
  if (token.deadline() != absl::InfiniteFuture()) {
    a->deadline_timer = a->loop->AddTimer(token.deadline(), [a] {
      a->deadline_timer = 0;  // fired
      Abort(a, RunOutcome::kTimedOut,
            absl::StrCat("timed out after ", absl::FormatDuration(absl::Now() - a->started)));
    });
  }
  const AsyncHandler* handler = registry_.FindAsync(a->attempt->context.type);
  const AsyncTask task(a);
  if (handler == nullptr) {
    task.Complete(
        absl::InternalError(absl::StrCat("no event-loop handler for task type '",
                                         a->attempt->context.type, "'")));
    return;
  }
  try {
    (*handler)(task);
  } catch (const std::exception& e) {  // a user's handler must not take the loop down
    task.Complete(absl::InternalError(absl::StrCat("handler threw: ", e.what())));
  } catch (...) {
    task.Complete(absl::InternalError("handler threw a non-standard exception"));
  }
}

void EventLoopRunner::CancelRequested() {
  for (auto& shard : shards_) {
    LoopShard* s = shard.get();
    s->loop->Post([s] {
      std::vector<std::shared_ptr<AsyncAttempt>> cancelled;
      for (const auto& [key, a] : s->running) {
        if (a->attempt->token.cancelled()) cancelled.push_back(a);
      }
      for (const auto& a : cancelled) Abort(a, RunOutcome::kCancelled, "cancelled");
    });
  }
}

void EventLoopRunner::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  for (auto& shard : shards_) {
    LoopShard* s = shard.get();
    s->loop->Post([s] {
      std::vector<std::shared_ptr<AsyncAttempt>> left;
      for (const auto& [key, a] : s->running) left.push_back(a);
      for (const auto& a : left) Abort(a, RunOutcome::kCancelled, "the executor is shutting down");
    });
  }
  for (auto& shard : shards_) shard->loop->Stop();  // runs what was posted, then joins
}

}  // namespace taskwire::executor
