#include "executor/core/attempt_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "executor/core/oversized_result.h"

namespace taskwire::executor {

AttemptTable::AttemptTable(const Clock& clock, LinkInterface& link, AttemptTableOptions options)
    : clock_(clock), link_(link), options_(options), last_heard_(clock.Now()) {}

HelloLists AttemptTable::OnHello() {
  absl::MutexLock lock(&mu_);
  AwaitNoSenderLocked();
  HelloLists lists;
  lists.running.reserve(running_.size());
  for (const auto& [key, attempt] : running_) lists.running.push_back(key);
  for (const AttemptReport& r : unreported_) lists.unreported.push_back(r.key());
  linked_ = false;
  dialling_ = true;
  last_heard_ = clock_.Now();
  return lists;
}

void AttemptTable::OnWelcome(const WelcomeInfo& welcome) {
  absl::MutexLock lock(&mu_);
  linked_ = true;
  dialling_ = false;
  last_heard_ = clock_.Now();
  lease_ = welcome.lease;
  if (welcome.heartbeat_interval > absl::ZeroDuration()) {
    heartbeat_interval_ = std::max(absl::Milliseconds(10), welcome.heartbeat_interval);
  }
  FlushLocked();
}

void AttemptTable::OnHeard() {
  absl::MutexLock lock(&mu_);
  last_heard_ = clock_.Now();
}

void AttemptTable::OnDisconnected() {
  absl::MutexLock lock(&mu_);
  AwaitNoSenderLocked();  // its Send went to the old stream, or its results are kept
  linked_ = false;
  dialling_ = false;
}

std::vector<std::shared_ptr<Attempt>> AttemptTable::OnAssignments(
    std::vector<std::shared_ptr<Attempt>> attempts) {
  std::vector<std::shared_ptr<Attempt>> accepted;
  {
    absl::MutexLock lock(&mu_);
    last_heard_ = clock_.Now();
    for (std::shared_ptr<Attempt>& attempt : attempts) {
      AttemptKey key(attempt->context.task_id, attempt->context.attempt);
      if (draining_) {
        ReportLocked(
            {std::move(key.first), key.second, RunResult::NotRun("executor is draining")});
        continue;
      }
      // The same attempt assigned twice (a scheduler that lost track): run it once.
      if (!running_.emplace(std::move(key), attempt).second) continue;
      accepted.push_back(std::move(attempt));
    }
  }
  SendOutbox();
  return accepted;
}

size_t AttemptTable::OnCancels(const std::vector<AttemptKey>& cancels) {
  size_t n = 0;
  absl::MutexLock lock(&mu_);
  last_heard_ = clock_.Now();
  for (const AttemptKey& key : cancels) {
    auto it = running_.find(key);
    if (it == running_.end()) continue;
    it->second->token.Cancel();
    ++n;
  }
  return n;
}

void AttemptTable::OnFinished(const std::shared_ptr<Attempt>& attempt, RunResult result) {
  AttemptReport report{attempt->context.task_id, attempt->context.attempt, std::move(result)};
  if (FailIfOversized(report, options_.max_message_bytes)) {
    spdlog::error("task {} attempt {}: {}", report.task_id, report.attempt, report.result.error);
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = running_.find(report.key());
    if (it != running_.end() && it->second == attempt) running_.erase(it);
    ReportLocked(std::move(report));
  }
  SendOutbox();
}

void AttemptTable::ReportLocked(AttemptReport report) {
  if (linked_) {
    outbox_.push_back(std::move(report));
  } else {
    KeepLocked(std::move(report));
  }
}

// One thread at a time sends, outside the lock, whatever the outbox holds by then: results
// that end together go in one Send, and the runners' threads do not queue on the lock while
// a message is merged. OnHello and OnDisconnected wait for the sender, so a result is
// either handed to the stream it was meant for or kept for the next Welcome, never lost
// between the two.
void AttemptTable::SendOutbox() {
  absl::MutexLock lock(&mu_);
  if (sending_) return;  // the sender takes ours with the next round
  sending_ = true;
  while (!outbox_.empty()) {
    LinkMessage message;
    message.results.swap(outbox_);
    mu_.Unlock();
    const bool sent = link_.Send(message);
    mu_.Lock();
    if (!sent) {  // untouched: the stream is going away
      for (AttemptReport& report : message.results) KeepLocked(std::move(report));
    }
  }
  sending_ = false;
}

void AttemptTable::AwaitNoSenderLocked() {
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !sending_; };
  mu_.Await(absl::Condition(&idle));
  for (AttemptReport& report : outbox_) KeepLocked(std::move(report));
  outbox_.clear();
}

void AttemptTable::KeepLocked(AttemptReport report) {
  unreported_bytes_ += EncodedSizeBound(report);
  unreported_.push_back(std::move(report));
  while (unreported_.size() > options_.max_unreported ||
         unreported_bytes_ > options_.max_unreported_bytes) {
    const AttemptReport& oldest = unreported_.front();
    spdlog::warn("dropping the unreported result of task {} attempt {}: more than {} results "
                 "or {} bytes wait for the link (the scheduler will count the attempt lost)",
                 oldest.task_id, oldest.attempt, options_.max_unreported,
                 options_.max_unreported_bytes);
    unreported_bytes_ -= EncodedSizeBound(oldest);
    unreported_.pop_front();
  }
}

void AttemptTable::FlushLocked() {
  if (unreported_.empty()) return;
  LinkMessage message;
  message.results.assign(std::make_move_iterator(unreported_.begin()),
                         std::make_move_iterator(unreported_.end()));
  const size_t n = message.results.size();
  if (!link_.Send(message)) {  // the stream broke again: keep them, oldest first
    unreported_.assign(std::make_move_iterator(message.results.begin()),
                       std::make_move_iterator(message.results.end()));
    return;
  }
  unreported_.clear();
  unreported_bytes_ = 0;
  spdlog::info("sent {} results of attempts that ended while disconnected", n);
}

absl::Duration AttemptTable::LeaseLocked() const {
  return lease_ > absl::ZeroDuration() ? lease_ : options_.default_lease;
}

void AttemptTable::Tick() {
  std::string redial;
  {
    absl::MutexLock lock(&mu_);
    const absl::Duration silent = clock_.Now() - last_heard_;
    if ((linked_ || dialling_) && silent > LeaseLocked()) {
      redial = absl::StrCat(linked_ ? "the scheduler was silent for " : "no Welcome within ",
                            absl::FormatDuration(silent), " (lease ",
                            absl::FormatDuration(LeaseLocked()), ")");
      last_heard_ = clock_.Now();  // one redial per lease, not one per tick
    } else if (linked_) {
      LinkMessage message;
      message.heartbeat = true;
      link_.Send(message);
    }
  }
  if (!redial.empty()) link_.Redial(redial);  // the link logs it if it had a stream
}

size_t AttemptTable::StartDrain(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  LinkMessage message;
  message.drain = reason;
  link_.Send(message);
  return running_.size();
}

size_t AttemptTable::CancelAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [key, attempt] : running_) attempt->token.Cancel();
  return running_.size();
}

bool AttemptTable::AwaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  // Results still in the outbox count: a drain must not close the stream under them.
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return running_.empty() && outbox_.empty() && !sending_;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

bool AttemptTable::AwaitLinked(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&linked_), timeout);
}

bool AttemptTable::linked() const {
  absl::MutexLock lock(&mu_);
  return linked_;
}

bool AttemptTable::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

size_t AttemptTable::running() const {
  absl::MutexLock lock(&mu_);
  return running_.size();
}

size_t AttemptTable::unreported() const {
  absl::MutexLock lock(&mu_);
  return unreported_.size();
}

absl::Duration AttemptTable::heartbeat_interval() const {
  absl::MutexLock lock(&mu_);
  return heartbeat_interval_;
}

}  // namespace taskwire::executor
