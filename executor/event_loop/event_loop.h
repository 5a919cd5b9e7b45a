// One event-loop thread: epoll over file descriptors, timers on one timerfd, and closures
// posted from any thread (an eventfd wakes the loop). Event-loop tasks and the HTTP client
// (libcurl's multi interface) run their callbacks here, so a task that waits holds no thread.
//
//   EventLoop loop;                       // starts its thread
//   loop.Post([&] { ... });               // runs on the loop thread, in order
//   on the loop thread only:
//     TimerId t = loop.AddTimer(absl::Now() + absl::Milliseconds(50), [] { ... });
//     loop.CancelTimer(t);
//     loop.WatchFd(fd, EPOLLIN, [](uint32_t events) { ... });
//
// Callbacks run on the loop thread, one at a time; they must not block. Timers and watches
// are touched only from the loop thread (in callbacks or posted closures). Stop (or the
// destructor) runs the closures already posted, then ends the thread; timers not yet due
// are dropped, and so is whatever is posted afterwards (a late completion from a user's
// thread finds a stopped loop, not freed memory, when the loop is held by shared_ptr).
#ifndef TASKWIRE_EXECUTOR_EVENT_LOOP_EVENT_LOOP_H_
#define TASKWIRE_EXECUTOR_EVENT_LOOP_EVENT_LOOP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace taskwire::executor {

class EventLoop {
 public:
  using TimerId = uint64_t;
  using FdCallback = std::function<void(uint32_t epoll_events)>;

  // Fails if the kernel refuses an epoll, eventfd or timerfd (out of descriptors).
  static absl::StatusOr<std::shared_ptr<EventLoop>> Create();
  ~EventLoop();
  // Any thread but the loop's own; idempotent.
  void Stop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Any thread. Runs `fn` on the loop thread after what was posted before.
  void Post(std::function<void()> fn);
  bool InLoopThread() const { return std::this_thread::get_id() == thread_.get_id(); }

  // Loop thread only.
  TimerId AddTimer(absl::Time at, std::function<void()> fn);
  void CancelTimer(TimerId id);  // a timer that fired or was cancelled: no-op
  // Watches `fd` for `events` (EPOLLIN, EPOLLOUT); a second call changes the events.
  void WatchFd(int fd, uint32_t events, FdCallback fn);
  void UnwatchFd(int fd);

  // Loop thread only. The object of kind `key` that lives with this loop, made by `make`
  // on first use: a per-loop client such as the HTTP client's multi handle. It is
  // destroyed on the loop thread when the loop stops, while timers and watches still work.
  template <typename T, typename Make>
  T& Local(const void* key, Make make) {
    std::shared_ptr<void>& slot = locals_[key];
    if (slot == nullptr) slot = std::shared_ptr<T>(make());
    return *static_cast<T*>(slot.get());
  }

 private:
  EventLoop(int epoll_fd, int wake_fd, int timer_fd);
  void Run();
  void RunPosted();
  void RunDueTimers();
  void ArmTimerFd();

  const int epoll_fd_;
  const int wake_fd_;   // eventfd: Post wakes the loop
  const int timer_fd_;  // armed for the earliest timer

  absl::Mutex mu_;
  std::vector<std::function<void()>> posted_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool exited_ ABSL_GUARDED_BY(mu_) = false;  // the thread is gone: Post drops

  // Loop thread only. Timers ordered by (due time, id): the id keeps equal times in order.
  absl::btree_map<std::pair<absl::Time, TimerId>, std::function<void()>> timers_;
  absl::flat_hash_map<TimerId, absl::Time> timer_due_;
  TimerId next_timer_ = 1;
  absl::flat_hash_map<int, FdCallback> watches_;
  absl::Time armed_for_ = absl::InfiniteFuture();
  absl::flat_hash_map<const void*, std::shared_ptr<void>> locals_;

  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_EVENT_LOOP_EVENT_LOOP_H_
