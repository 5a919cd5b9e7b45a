#include "scheduler/leader_election.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace taskwire::scheduler {

LeaderElection::LeaderElection(LeaderLease& lease, ElectionOptions options,
                               OnElected on_elected, OnLost on_lost)
    : lease_(lease),
      options_(std::move(options)),
      on_elected_(std::move(on_elected)),
      on_lost_(std::move(on_lost)) {}

LeaderElection::~LeaderElection() { Stop(); }

void LeaderElection::Start() { thread_ = std::thread([this] { Run(); }); }

void LeaderElection::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void LeaderElection::Release() {
  LeaseHolder held;
  {
    absl::MutexLock lock(&mu_);
    if (!leader_) return;
    leader_ = false;
    held = holder_;
  }
  absl::StatusOr<bool> released = lease_.Release(options_.owner, held.term);
  if (!released.ok()) {
    spdlog::warn("could not release the leader lease (standbys wait for it to expire): {}",
                 released.status().ToString());
  } else if (*released) {
    spdlog::info("released the leader lease (term {})", held.term);
  }
}

bool LeaderElection::leader() const {
  absl::MutexLock lock(&mu_);
  return leader_;
}

LeaseHolder LeaderElection::holder() const {
  absl::MutexLock lock(&mu_);
  return holder_;
}

bool LeaderElection::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

bool LeaderElection::Wait(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

void LeaderElection::Run() {
  if (Campaign()) Lead();
}

bool LeaderElection::Campaign() {
  const absl::Duration poll = options_.lease / 3;
  std::string logged_leader;
  absl::Time error_logged = absl::InfinitePast();
  const absl::Time start = absl::Now();
  while (!stopping()) {
    absl::StatusOr<std::optional<uint64_t>> taken =
        lease_.TryAcquire(options_.owner, options_.advertise, options_.lease);
    if (taken.ok() && taken->has_value()) {
      const uint64_t term = **taken;
      LeaseHolder previous = holder();
      {
        absl::MutexLock lock(&mu_);
        leader_ = true;
        holder_ = LeaseHolder{.owner = options_.owner, .advertise = options_.advertise,
                              .term = term, .remaining = options_.lease};
      }
      spdlog::info("became the leader (term {}) after {:.2f} s as a standby{}", term,
                   absl::ToDoubleSeconds(absl::Now() - start),
                   previous.advertise.empty()
                       ? std::string()
                       : absl::StrCat("; the previous leader was ", previous.advertise,
                                      " (term ", previous.term, ")"));
      if (absl::Status s = on_elected_(term); !s.ok()) {
        on_lost_(absl::StrCat("taking over failed: ", s.ToString()));
        absl::MutexLock lock(&mu_);
        leader_ = false;
        return false;
      }
      return true;
    }
    absl::Duration wait = poll;
    absl::StatusOr<LeaseHolder> seen =
        taken.ok() ? lease_.Read() : absl::StatusOr<LeaseHolder>(taken.status());
    if (seen.ok()) {
      {
        absl::MutexLock lock(&mu_);
        holder_ = *seen;
      }
      const std::string leader = absl::StrCat(seen->advertise, " (term ", seen->term, ")");
      if (leader != logged_leader) {
        spdlog::info("standby: the leader is {}", leader);
        logged_leader = leader;
      }
      // Try again right when the lease the leader holds runs out.
      wait = std::clamp(seen->remaining + absl::Milliseconds(5), absl::Milliseconds(5), poll);
    } else if (absl::Now() - error_logged > absl::Seconds(10)) {
      spdlog::warn("standby: cannot reach the leader lease: {}", seen.status().ToString());
      error_logged = absl::Now();
    }
    Wait(wait);
  }
  return false;
}

void LeaderElection::Lead() {
  const uint64_t term = holder().term;
  // Measured on the monotonic clock from before each renewal was sent: by the database's
  // clock the lease ends later than that.
  using Clock = std::chrono::steady_clock;
  Clock::time_point renewed = Clock::now();
  const auto lease = absl::ToChronoNanoseconds(options_.lease);
  absl::Duration every = options_.lease / 3;
  while (Wait(every)) {
    const Clock::time_point attempt = Clock::now();
    if (attempt - renewed >= lease) {
      on_lost_(absl::StrCat("the lease of term ", term, " was not renewed for ",
                            absl::FormatDuration(absl::FromChrono(attempt - renewed)),
                            " (the process was paused or the database out of reach)"));
      break;
    }
    absl::StatusOr<bool> renewal = lease_.Renew(options_.owner, term, options_.lease);
    if (renewal.ok() && *renewal) {
      renewed = attempt;
      every = options_.lease / 3;
      continue;
    }
    if (renewal.ok()) {
      absl::StatusOr<LeaseHolder> now = lease_.Read();
      on_lost_(absl::StrCat("another scheduler took the lease",
                            now.ok() ? absl::StrCat(": ", now->advertise, " (term ", now->term,
                                                    ")")
                                     : std::string()));
      break;
    }
    spdlog::warn("leader: cannot renew the lease of term {}: {}", term,
                 renewal.status().ToString());
    every = options_.lease / 10;  // try again soon: the lease runs out meanwhile
  }
  absl::MutexLock lock(&mu_);
  if (!stopping_) leader_ = false;
}

}  // namespace taskwire::scheduler
