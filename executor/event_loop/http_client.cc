#include "executor/event_loop/http_client.h"

#include <sys/epoll.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace taskwire::executor {
namespace {

const char kHttpClientKey = 0;  // its address tells the loop-local kind

}  // namespace

HttpClient& HttpClient::Of(EventLoop& loop) {
  return loop.Local<HttpClient>(&kHttpClientKey,
                                [&loop] { return std::make_unique<HttpClient>(loop); });
}

HttpClient::HttpClient(EventLoop& loop) : loop_(loop) {
  for (Multi& m : multis_) {
    m.client = this;
    m.handle = curl_multi_init();
    curl_multi_setopt(m.handle, CURLMOPT_SOCKETFUNCTION, OnSocket);
    curl_multi_setopt(m.handle, CURLMOPT_SOCKETDATA, &m);
    curl_multi_setopt(m.handle, CURLMOPT_TIMERFUNCTION, OnTimer);
    curl_multi_setopt(m.handle, CURLMOPT_TIMERDATA, &m);
    curl_multi_setopt(m.handle, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  }
}

HttpClient::~HttpClient() {
  for (auto& [easy, transfer] : transfers_) curl_multi_remove_handle(transfer.multi->handle, easy);
  transfers_.clear();
  for (Multi& m : multis_) {
    curl_multi_cleanup(m.handle);  // closes the cached connections (their watches go)
    if (m.timer != 0) loop_.CancelTimer(m.timer);
  }
}

absl::Status HttpClient::Add(CURL* easy, Done done) {
  Multi& multi = *std::min_element(multis_.begin(), multis_.end(),
                                   [](const Multi& a, const Multi& b) {
                                     return a.transfers < b.transfers;
                                   });
  if (const CURLMcode rc = curl_multi_add_handle(multi.handle, easy); rc != CURLM_OK) {
    return absl::InternalError(absl::StrCat("libcurl: ", curl_multi_strerror(rc)));
  }
  ++multi.transfers;
  transfers_.emplace(easy, Transfer{std::move(done), &multi});
  return absl::OkStatus();
}

void HttpClient::Remove(CURL* easy) {
  auto it = transfers_.find(easy);
  if (it == transfers_.end()) return;
  Multi& multi = *it->second.multi;
  transfers_.erase(it);
  --multi.transfers;
  curl_multi_remove_handle(multi.handle, easy);
}

int HttpClient::OnSocket(CURL*, curl_socket_t fd, int what, void* self, void*) {
  auto* multi = static_cast<Multi*>(self);
  EventLoop& loop = multi->client->loop_;
  if (what == CURL_POLL_REMOVE) {
    loop.UnwatchFd(fd);
    return 0;
  }
  uint32_t events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= EPOLLIN;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= EPOLLOUT;
  loop.WatchFd(fd, events, [multi, fd](uint32_t ev) {
    int flags = 0;
    if (ev & EPOLLIN) flags |= CURL_CSELECT_IN;
    if (ev & EPOLLOUT) flags |= CURL_CSELECT_OUT;
    if (ev & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
    multi->client->Drive(*multi, fd, flags);
  });
  return 0;
}

int HttpClient::OnTimer(CURLM*, long timeout_ms, void* self) {
  auto* multi = static_cast<Multi*>(self);
  EventLoop& loop = multi->client->loop_;
  if (multi->timer != 0) loop.CancelTimer(multi->timer);
  multi->timer = 0;
  if (timeout_ms < 0) return 0;  // no timeout wanted
  // Not from here: libcurl must not be re-entered from its own callback.
  multi->timer = loop.AddTimer(absl::Now() + absl::Milliseconds(timeout_ms), [multi] {
    multi->timer = 0;
    multi->client->Drive(*multi, CURL_SOCKET_TIMEOUT, 0);
  });
  return 0;
}

void HttpClient::Drive(Multi& multi, curl_socket_t fd, int curl_events) {
  int running = 0;
  curl_multi_socket_action(multi.handle, fd, curl_events, &running);
  std::vector<std::pair<CURL*, CURLcode>> ended;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi.handle, &left)) {
    if (msg->msg == CURLMSG_DONE) ended.emplace_back(msg->easy_handle, msg->data.result);
  }
  // After reading every message: a `done` may add transfers or free its easy handle.
  for (const auto& [easy, rc] : ended) {
    auto it = transfers_.find(easy);
    if (it == transfers_.end()) continue;
    Done done = std::move(it->second.done);
    transfers_.erase(it);
    --multi.transfers;
    curl_multi_remove_handle(multi.handle, easy);
    done(rc);
  }
}

}  // namespace taskwire::executor
