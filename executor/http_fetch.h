// One HTTP transfer of the built-in http.* tasks: a libcurl easy handle set up so that the
// fetch policy judges every connection (the resolved address of the request and of each
// redirect; no proxy), the response body is bounded, and the result has one format:
//   "status <code>\nsize <bytes>\n\n<body>"   (body truncated at 1 MiB; size counts all)
// thread.http.get performs it on its thread (curl_easy_perform); the event loop's http.get
// and http.request hand it to their loop's HTTP client (event_loop/http_client.h).
// An HTTP error status is an output, not a failure; a refused destination, bad input and a
// body over the limit fail the attempt for good (NotRetryable); a network error fails it
// (retryable).
#ifndef TASKWIRE_EXECUTOR_HTTP_FETCH_H_
#define TASKWIRE_EXECUTOR_HTTP_FETCH_H_

#include <curl/curl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "executor/fetch_policy.h"
#include "executor/task_context.h"

namespace taskwire::executor {

struct HttpRequestSpec {
  std::string url;
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  absl::Duration timeout = absl::Seconds(10);
};

// http.get's input: a URL. Not http(s): INVALID_ARGUMENT, not retryable.
absl::StatusOr<HttpRequestSpec> ParseHttpGet(const std::string& url);
// http.request's payload: JSON of taskwire.v1.HttpRequest (proto/taskwire/v1/builtins.proto).
absl::StatusOr<HttpRequestSpec> ParseHttpRequest(const std::string& json);

struct HttpLimits {
  FetchPolicy policy;
  // A body larger than this fails the attempt (--http-max-response-bytes).
  size_t max_response_bytes = 16 << 20;
};

class HttpFetch {
 public:
  // `task_type` names the task in errors ("http.get: 10.0.0.1 is denied ...").
  static absl::StatusOr<std::unique_ptr<HttpFetch>> Create(HttpRequestSpec spec,
                                                           std::shared_ptr<const HttpLimits> limits,
                                                           std::string task_type);
  ~HttpFetch();
  HttpFetch(const HttpFetch&) = delete;
  HttpFetch& operator=(const HttpFetch&) = delete;

  CURL* easy() const { return easy_; }
  // For a transfer performed on its own thread: abort when `token` stops.
  void StopWhen(const CancelToken* token);
  // The output, or why the transfer failed, from its result code.
  absl::StatusOr<std::string> Result(CURLcode rc) const;

 private:
  HttpFetch(HttpRequestSpec spec, std::shared_ptr<const HttpLimits> limits,
            std::string task_type);
  static size_t OnData(char* data, size_t size, size_t n, void* self);
  static int OnProgress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t);
  static curl_socket_t OnOpenSocket(void* self, curlsocktype purpose, curl_sockaddr* address);
  static int OnPrerequest(void* self, char* primary_ip, char*, int, int);

  const HttpRequestSpec spec_;
  const std::shared_ptr<const HttpLimits> limits_;
  const std::string task_type_;
  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  const CancelToken* token_ = nullptr;
  char error_[CURL_ERROR_SIZE] = {0};
  std::string body_;     // the first 1 MiB
  size_t size_ = 0;      // every byte received
  bool too_large_ = false;
  std::string refused_;  // the first destination the policy refused, for the error
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_HTTP_FETCH_H_
