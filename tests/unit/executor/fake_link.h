// A LinkInterface for the executor core's unit tests: records every message it takes and
// every redial; `up` says whether a stream is up (Send returns false, taking nothing,
// when it is not).
#ifndef TASKWIRE_TESTS_UNIT_EXECUTOR_FAKE_LINK_H_
#define TASKWIRE_TESTS_UNIT_EXECUTOR_FAKE_LINK_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "executor/link_interface.h"

namespace taskwire::executor {

class FakeLink final : public LinkInterface {
 public:
  bool Send(LinkMessage& message) override {
    absl::MutexLock lock(&mu_);
    if (!up_) return false;
    sent_.push_back(std::move(message));
    return true;
  }
  void Redial(const std::string& reason) override {
    absl::MutexLock lock(&mu_);
    redials_.push_back(reason);
  }

  void set_up(bool up) {
    absl::MutexLock lock(&mu_);
    up_ = up;
  }
  std::vector<LinkMessage> sent() const {
    absl::MutexLock lock(&mu_);
    return sent_;
  }
  // Every result sent so far, in order.
  std::vector<AttemptReport> results() const {
    absl::MutexLock lock(&mu_);
    std::vector<AttemptReport> out;
    for (const LinkMessage& m : sent_) out.insert(out.end(), m.results.begin(), m.results.end());
    return out;
  }
  std::vector<std::string> redials() const {
    absl::MutexLock lock(&mu_);
    return redials_;
  }

 private:
  mutable absl::Mutex mu_;
  bool up_ ABSL_GUARDED_BY(mu_) = true;
  std::vector<LinkMessage> sent_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> redials_ ABSL_GUARDED_BY(mu_);
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_TESTS_UNIT_EXECUTOR_FAKE_LINK_H_
