// An ExecutorChannel that records what the core sends down it, in order, for tests to
// inspect and answer: assignments (all of them, and those not yet taken by the test),
// cancels, every Send() call as one batch, and Close(). Thread-safe, since the core calls
// Send() from whichever thread flushes its effects.
#ifndef TASKWIRE_TESTS_UNIT_FAKE_EXECUTOR_CHANNEL_H_
#define TASKWIRE_TESTS_UNIT_FAKE_EXECUTOR_CHANNEL_H_

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "scheduler/core/executor_channel.h"

namespace taskwire::scheduler::testing {

class FakeExecutorChannel final : public ExecutorChannel {
 public:
  // One Send() call, as the executor would receive it in one message.
  struct Batch {
    std::vector<AssignmentOut> assignments;
    std::vector<AttemptRef> cancels;
  };

  void Send(std::vector<AssignmentOut> assignments, std::vector<AttemptRef> cancels) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const AssignmentOut& a : assignments) {
      all_assignments_.push_back(a);
      untaken_.push_back(a);
    }
    cancels_.insert(cancels_.end(), cancels.begin(), cancels.end());
    batches_.push_back(Batch{std::move(assignments), std::move(cancels)});
  }

  void Close(absl::Status reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++close_count_;
    close_status_ = std::move(reason);
  }

  // Assignments received since the last call, oldest first: what the executor has yet to
  // run and answer.
  std::vector<AssignmentOut> TakeAssignments() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<AssignmentOut> out(untaken_.begin(), untaken_.end());
    untaken_.clear();
    return out;
  }

  // The oldest untaken assignment, if any.
  std::optional<AssignmentOut> TakeOne() {
    std::lock_guard<std::mutex> lock(mu_);
    if (untaken_.empty()) return std::nullopt;
    AssignmentOut a = std::move(untaken_.front());
    untaken_.pop_front();
    return a;
  }

  std::vector<AssignmentOut> assignments() const {
    std::lock_guard<std::mutex> lock(mu_);
    return all_assignments_;
  }
  // Task ids of every assignment received, in order.
  std::vector<std::string> assigned_task_ids() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> ids;
    for (const AssignmentOut& a : all_assignments_) ids.push_back(a.task_id);
    return ids;
  }
  size_t assignment_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return all_assignments_.size();
  }
  std::vector<AttemptRef> cancels() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancels_;
  }
  std::vector<Batch> batches() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }
  bool closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return close_count_ > 0;
  }
  int close_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return close_count_;
  }
  absl::Status close_status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return close_status_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<AssignmentOut> all_assignments_;
  std::deque<AssignmentOut> untaken_;
  std::vector<AttemptRef> cancels_;
  std::vector<Batch> batches_;
  int close_count_ = 0;
  absl::Status close_status_;
};

}  // namespace taskwire::scheduler::testing

#endif  // TASKWIRE_TESTS_UNIT_FAKE_EXECUTOR_CHANNEL_H_
