#include "executor/event_loop/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace taskwire::executor {

absl::StatusOr<std::shared_ptr<EventLoop>> EventLoop::Create() {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  const int timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
  if (epoll_fd < 0 || wake_fd < 0 || timer_fd < 0) {
    const int err = errno;
    for (int fd : {epoll_fd, wake_fd, timer_fd}) {
      if (fd >= 0) close(fd);
    }
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot create an event loop: ", std::strerror(err)));
  }
  return std::shared_ptr<EventLoop>(new EventLoop(epoll_fd, wake_fd, timer_fd));
}

EventLoop::EventLoop(int epoll_fd, int wake_fd, int timer_fd)
    : epoll_fd_(epoll_fd), wake_fd_(wake_fd), timer_fd_(timer_fd) {
  for (int fd : {wake_fd_, timer_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  thread_ = std::thread([this] { Run(); });
}

EventLoop::~EventLoop() {
  Stop();
  close(timer_fd_);
  close(wake_fd_);
  close(epoll_fd_);
}

void EventLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

void EventLoop::Post(std::function<void()> fn) {
  bool wake;
  {
    absl::MutexLock lock(&mu_);
    if (exited_) return;
    wake = posted_.empty();  // a non-empty queue has a wake-up on its way already
    posted_.push_back(std::move(fn));
  }
  if (wake) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
}

EventLoop::TimerId EventLoop::AddTimer(absl::Time at, std::function<void()> fn) {
  const TimerId id = next_timer_++;
  timers_.emplace(std::make_pair(at, id), std::move(fn));
  timer_due_.emplace(id, at);
  if (at < armed_for_) ArmTimerFd();
  return id;
}

void EventLoop::CancelTimer(TimerId id) {
  auto it = timer_due_.find(id);
  if (it == timer_due_.end()) return;
  timers_.erase(std::make_pair(it->second, id));
  timer_due_.erase(it);
  // The timerfd may stay armed for the cancelled time: it then fires once for nothing.
}

void EventLoop::WatchFd(int fd, uint32_t events, FdCallback fn) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  auto [it, added] = watches_.insert_or_assign(fd, std::move(fn));
  if (epoll_ctl(epoll_fd_, added ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0) {
    spdlog::error("event loop: cannot watch fd {}: {}", fd, std::strerror(errno));
  }
}

void EventLoop::UnwatchFd(int fd) {
  if (watches_.erase(fd) == 0) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::ArmTimerFd() {
  armed_for_ = timers_.empty() ? absl::InfiniteFuture() : timers_.begin()->first.first;
  itimerspec spec{};
  if (armed_for_ != absl::InfiniteFuture()) {
    // An absolute time in the past fires at once; zero would disarm, so clamp to 1 ns.
    spec.it_value = absl::ToTimespec(std::max(armed_for_, absl::UnixEpoch() + absl::Nanoseconds(1)));
  }
  timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void EventLoop::RunPosted() {
  uint64_t count;
  (void)!read(wake_fd_, &count, sizeof(count));
  std::vector<std::function<void()>> batch;
  {
    absl::MutexLock lock(&mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::RunDueTimers() {
  uint64_t expirations;
  (void)!read(timer_fd_, &expirations, sizeof(expirations));
  const absl::Time now = absl::Now();
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto node = timers_.extract(timers_.begin());
    timer_due_.erase(node.key().second);
    node.mapped()();  // may add or cancel timers
  }
  ArmTimerFd();
}

void EventLoop::Run() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (true) {
    const int n = epoll_wait(epoll_fd_, events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::critical("event loop: epoll_wait failed: {}", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        RunPosted();
      } else if (fd == timer_fd_) {
        RunDueTimers();
      } else if (auto it = watches_.find(fd); it != watches_.end()) {
        FdCallback fn = it->second;  // a copy: the callback may unwatch its own fd
        fn(events[i].events);
      }
    }
    absl::MutexLock lock(&mu_);
    if (stopping_ && posted_.empty()) break;
  }
  locals_.clear();  // on this thread, while UnwatchFd and CancelTimer still work
  timers_.clear();  // their closures may hold what holds this loop
  timer_due_.clear();
  watches_.clear();
  std::vector<std::function<void()>> late;  // posted after the last turn: dropped
  {
    absl::MutexLock lock(&mu_);
    exited_ = true;
    late.swap(posted_);
  }
}

}  // namespace taskwire::executor
