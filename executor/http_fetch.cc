#include "executor/http_fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "taskwire/v1/builtins.pb.h"

namespace taskwire::executor {
namespace {

constexpr size_t kMaxBodyInOutput = 1 << 20;
constexpr long kReceiveBufferBytes = 4096;

absl::Status BadInput(absl::string_view what) {
  return NotRetryable(absl::InvalidArgumentError(what));
}

bool IsHttpUrl(absl::string_view url) {
  return absl::StartsWith(url, "http://") || absl::StartsWith(url, "https://");
}

// The host of the URL libcurl is on: the request's, or the redirect's it follows (libcurl
// moves its effective URL before connecting). Empty if it cannot tell.
std::string CurrentHost(CURL* curl) {
  char* url = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || url == nullptr) {
    return "";
  }
  std::unique_ptr<CURLU, void (*)(CURLU*)> parsed(curl_url(), curl_url_cleanup);
  char* host = nullptr;
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(parsed.get(), CURLUPART_HOST, &host, CURLU_URLDECODE) != CURLUE_OK) {
    return "";
  }
  std::string out(host);
  curl_free(host);
  return out;
}

// "169.254.169.254", or "metadata.internal (169.254.169.254)" when the URL named a host.
std::string Destination(absl::string_view host, absl::string_view ip) {
  absl::string_view bare = host;
  if (absl::ConsumePrefix(&bare, "[")) absl::ConsumeSuffix(&bare, "]");
  if (host.empty() || bare == ip) return std::string(ip);
  if (ip.empty()) return absl::StrCat("host ", host);
  return absl::StrCat(host, " (", ip, ")");
}

std::string SockaddrText(const curl_sockaddr& address) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (address.family == AF_INET && address.addrlen >= sizeof(sockaddr_in)) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address.addr)->sin_addr, text,
              sizeof(text));
  } else if (address.family == AF_INET6 && address.addrlen >= sizeof(sockaddr_in6)) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address.addr)->sin6_addr, text,
              sizeof(text));
  } else {
    return absl::StrCat("an address of family ", address.family);
  }
  return text;
}

}  // namespace

absl::StatusOr<HttpRequestSpec> ParseHttpGet(const std::string& url) {
  if (!IsHttpUrl(url)) return BadInput("payload must be an http:// or https:// URL");
  HttpRequestSpec spec;
  spec.url = url;
  return spec;
}

absl::StatusOr<HttpRequestSpec> ParseHttpRequest(const std::string& json) {
  v1::HttpRequest request;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  if (auto s = google::protobuf::util::JsonStringToMessage(json, &request, options); !s.ok()) {
    return BadInput(absl::StrCat(
        "payload must be JSON like {\"url\": \"https://...\", \"method\": \"POST\", "
        "\"headers\": {\"k\": \"v\"}, \"body\": \"...\", \"timeout_ms\": 5000}: ",
        s.message().as_string()));
  }
  if (!IsHttpUrl(request.url())) return BadInput("\"url\" must be an http:// or https:// URL");
  HttpRequestSpec spec;
  spec.url = request.url();
  if (!request.method().empty()) {
    spec.method = absl::AsciiStrToUpper(request.method());
    const bool token = std::all_of(spec.method.begin(), spec.method.end(),
                                   [](char c) { return absl::ascii_isalpha(c) || c == '-'; });
    if (!token || spec.method.size() > 16) {
      return BadInput(absl::StrCat("\"method\" must be a word like GET or POST, got '",
                                   request.method().substr(0, 32), "'"));
    }
  }
  for (const auto& [name, value] : request.headers()) {
    const auto bad = [](char c) { return c == '\r' || c == '\n' || c == ':' || c == '\0'; };
    if (name.empty() || std::any_of(name.begin(), name.end(), bad) ||
        std::any_of(value.begin(), value.end(), [](char c) { return c == '\r' || c == '\n'; })) {
      return BadInput(absl::StrCat("header '", name.substr(0, 32), "' is not a valid header"));
    }
    spec.headers.emplace_back(name, value);
  }
  std::sort(spec.headers.begin(), spec.headers.end());  // the map's order is unspecified
  spec.body = request.body();
  if (request.timeout_ms() > 0) spec.timeout = absl::Milliseconds(request.timeout_ms());
  return spec;
}

absl::StatusOr<std::unique_ptr<HttpFetch>> HttpFetch::Create(
    HttpRequestSpec spec, std::shared_ptr<const HttpLimits> limits, std::string task_type) {
  std::unique_ptr<HttpFetch> fetch(
      new HttpFetch(std::move(spec), std::move(limits), std::move(task_type)));
  if (fetch->easy_ == nullptr) return absl::InternalError("curl_easy_init failed");
  return fetch;
}

HttpFetch::HttpFetch(HttpRequestSpec spec, std::shared_ptr<const HttpLimits> limits,
                     std::string task_type)
    : spec_(std::move(spec)), limits_(std::move(limits)), task_type_(std::move(task_type)),
      easy_(curl_easy_init()) {
  if (easy_ == nullptr) return;
  CURL* c = easy_;
  curl_easy_setopt(c, CURLOPT_URL, spec_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(spec_.timeout)));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  // A proxy from the environment (http_proxy ...) would be the only address libcurl
  // connects to, and the policy would judge the proxy instead of the destination.
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, OnPrerequest);
  curl_easy_setopt(c, CURLOPT_PREREQDATA, this);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, this);
  // libcurl's receive buffer is 16 KiB per transfer; thousands in flight on the event loop
  // make that most of the executor's memory, and answers are mostly small.
  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(limits_->max_response_bytes));
  // HTTPS goes over HTTP/2 where the server speaks it; a new transfer to a host being
  // connected waits for that connection, to share it rather than open another.
  if (spec_.url.starts_with("https://")) curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
  if (spec_.method != "GET") {
    if (spec_.method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, spec_.method.c_str());
    }
  }
  if (!spec_.body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, spec_.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(spec_.body.size()));
    if (spec_.method == "GET") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "GET");
  }
  for (const auto& [name, value] : spec_.headers) {
    // "Name;" sends an empty header; "Name:" would remove libcurl's own.
    const std::string line = value.empty() ? absl::StrCat(name, ";") : absl::StrCat(name, ": ", value);
    headers_ = curl_slist_append(headers_, line.c_str());
  }
  if (headers_ != nullptr) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_);
}

HttpFetch::~HttpFetch() {
  if (easy_ != nullptr) curl_easy_cleanup(easy_);
  curl_slist_free_all(headers_);
}

void HttpFetch::StopWhen(const CancelToken* token) {
  token_ = token;
  curl_easy_setopt(easy_, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy_, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(easy_, CURLOPT_XFERINFODATA, this);
}

size_t HttpFetch::OnData(char* data, size_t size, size_t n, void* self) {
  auto* fetch = static_cast<HttpFetch*>(self);
  const size_t bytes = size * n;
  if (fetch->size_ + bytes > fetch->limits_->max_response_bytes) {
    fetch->too_large_ = true;
    return 0;  // aborts the transfer
  }
  fetch->size_ += bytes;
  if (fetch->body_.size() < kMaxBodyInOutput) {
    fetch->body_.append(data, std::min(bytes, kMaxBodyInOutput - fetch->body_.size()));
  }
  return bytes;
}

int HttpFetch::OnProgress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<HttpFetch*>(self)->token_->stop_requested() ? 1 : 0;  // non-zero aborts
}

// Every connection libcurl opens comes here with its resolved address: the first request's,
// each redirect's, each address tried in turn. A refused one fails like an unreachable
// address; Result tells the two apart by `refused_`.
curl_socket_t HttpFetch::OnOpenSocket(void* self, curlsocktype purpose, curl_sockaddr* address) {
  auto* fetch = static_cast<HttpFetch*>(self);
  const std::string host = CurrentHost(fetch->easy_);
  if (purpose != CURLSOCKTYPE_IPCXN ||
      !fetch->limits_->policy.Allows(&address->addr, address->addrlen, host)) {
    if (fetch->refused_.empty()) fetch->refused_ = Destination(host, SockaddrText(*address));
    return CURL_SOCKET_BAD;
  }
  // CLOEXEC: process tasks fork children, which must not inherit the connection.
  const int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

// Before each request, on the connection it uses (new or reused): the URL's host and the
// connected address once more.
int HttpFetch::OnPrerequest(void* self, char* primary_ip, char*, int, int) {
  auto* fetch = static_cast<HttpFetch*>(self);
  const std::string host = CurrentHost(fetch->easy_);
  const absl::string_view ip = primary_ip == nullptr ? "" : primary_ip;
  const FetchPolicy& policy = fetch->limits_->policy;
  if (!policy.AllowsHost(host) || !policy.AllowsIp(ip, host)) {
    if (fetch->refused_.empty()) fetch->refused_ = Destination(host, ip);
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

absl::StatusOr<std::string> HttpFetch::Result(CURLcode rc) const {
  // A refusal only matters if the fetch failed: another address of the name may have passed.
  if (rc != CURLE_OK && !refused_.empty()) {
    return NotRetryable(absl::PermissionDeniedError(
        absl::StrCat(task_type_, ": ", refused_,
                     " is denied by the executor's fetch policy (--fetch-deny/--fetch-allow)")));
  }
  if (too_large_ || rc == CURLE_FILESIZE_EXCEEDED) {
    return NotRetryable(absl::ResourceExhaustedError(
        absl::StrCat(task_type_, ": ", spec_.method, " ", spec_.url,
                     ": the response body is larger than the executor's limit of ",
                     limits_->max_response_bytes, " bytes (--http-max-response-bytes)")));
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    return absl::CancelledError(absl::StrCat(task_type_, " interrupted"));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(spec_.method, " ", spec_.url, ": ",
                                               error_[0] ? error_ : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  return absl::StrCat("status ", status, "\nsize ", size_, "\n\n", body_);
}

}  // namespace taskwire::executor
