// The HTTP client of one event loop: libcurl's multi interface driven by the loop's epoll
// and timers. Transfers share connection caches, so requests to one host reuse HTTP/1.1
// keep-alive connections and multiplex over HTTP/2 ones.
//
//   HttpClient& client = HttpClient::Of(task.loop());
//   client.Add(fetch->easy(), [task, fetch](CURLcode rc) { task.Complete(fetch->Result(rc)); });
//   task.OnAbort([&client, fetch] { client.Remove(fetch->easy()); });
//
// Why several multi handles: on every new transfer libcurl walks all its connections to
// that host (a linked list) looking for one to reuse, so one handle with 10,000 transfers
// in flight to one host costs 10,000 x 10,000 steps. The client spreads transfers over
// kMultiHandles handles, each new one to the least busy, which bounds every walk to a
// share of the connections; sequential requests still find their idle connection.
//
// Loop thread only. The easy handle stays the caller's; it must live until its `done`
// runs or it is removed.
#ifndef TASKWIRE_EXECUTOR_EVENT_LOOP_HTTP_CLIENT_H_
#define TASKWIRE_EXECUTOR_EVENT_LOOP_HTTP_CLIENT_H_

#include <curl/curl.h>

#include <array>
#include <functional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "executor/event_loop/event_loop.h"

namespace taskwire::executor {

class HttpClient {
 public:
  using Done = std::function<void(CURLcode)>;
  static constexpr size_t kMultiHandles = 32;

  // The client of `loop`, made on first use; it lives as long as the loop.
  static HttpClient& Of(EventLoop& loop);

  explicit HttpClient(EventLoop& loop);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts the transfer; `done` gets its result on the loop thread, unless Remove comes
  // first. Fails if libcurl refuses the handle.
  absl::Status Add(CURL* easy, Done done);
  // Stops a transfer without calling its `done`; a transfer that ended already: no-op.
  void Remove(CURL* easy);
  size_t transfers() const { return transfers_.size(); }

 private:
  // One multi handle and its timer; libcurl's callbacks get a pointer to it.
  struct Multi {
    HttpClient* client = nullptr;
    CURLM* handle = nullptr;
    EventLoop::TimerId timer = 0;
    size_t transfers = 0;
  };
  struct Transfer {
    Done done;
    Multi* multi = nullptr;
  };

  static int OnSocket(CURL* easy, curl_socket_t fd, int what, void* multi, void* socket_data);
  static int OnTimer(CURLM* handle, long timeout_ms, void* multi);
  // Lets libcurl act on `fd` (or its timeouts), then reports the transfers that ended.
  void Drive(Multi& multi, curl_socket_t fd, int curl_events);

  EventLoop& loop_;
  std::array<Multi, kMultiHandles> multis_;
  absl::flat_hash_map<CURL*, Transfer> transfers_;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_EVENT_LOOP_HTTP_CLIENT_H_
