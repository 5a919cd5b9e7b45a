#include "executor/thread_runner.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace taskwire::executor {

ThreadRunner::ThreadRunner(const HandlerRegistry& registry, size_t threads)
    : registry_(registry) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

ThreadRunner::~ThreadRunner() { Shutdown(); }

void ThreadRunner::Start(std::shared_ptr<Attempt> attempt, Done done) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(Work{std::move(attempt), std::move(done)});
      return;
    }
  }
  done(RunResult::NotRun("the runner is shut down"));
}

void ThreadRunner::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void ThreadRunner::Loop() {
  while (true) {
    Work work;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ThreadRunner* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return r->stopping_ || !r->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and everything started has run
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work.done(Run(*work.attempt));
  }
}

RunResult ThreadRunner::Run(const Attempt& attempt) const {
  const TaskContext& ctx = attempt.context;
  RunResult result;
  const Handler* handler = registry_.Find(ctx.type);
  if (handler == nullptr) {
    result.error = absl::StrCat("no handler for task type '", ctx.type, "'");
    return result;
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> out = absl::InternalError("handler did not return");
  try {
    out = (*handler)(ctx);
  } catch (const std::exception& e) {  // a user's handler must not take the executor down
    out = absl::InternalError(absl::StrCat("handler threw: ", e.what()));
  } catch (...) {
    out = absl::InternalError("handler threw a non-standard exception");
  }
  result.run_time = absl::Now() - start;
  if (attempt.token.cancelled()) {
    result.outcome = RunOutcome::kCancelled;
    result.error = "cancelled";
  } else if (attempt.token.expired()) {
    result.outcome = RunOutcome::kTimedOut;
    result.error = absl::StrCat("timed out after ", absl::FormatDuration(result.run_time));
  } else if (out.ok()) {
    result.outcome = RunOutcome::kSucceeded;
    result.output = std::move(*out);
  } else {
    result.error = std::string(out.status().message());
    result.not_retryable = IsNotRetryable(out.status());
  }
  return result;
}

}  // namespace taskwire::executor
