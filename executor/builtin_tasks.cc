#include "executor/builtin_tasks.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/json_string.h"

namespace taskwire::executor {
namespace {

absl::StatusOr<int64_t> ParseNumber(const std::string& payload, int64_t min, int64_t max,
                                    absl::string_view what) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(payload, &n) || n < min || n > max) {
    return NotRetryable(absl::InvalidArgumentError(
        absl::StrCat("payload must be ", what, " in [", min, ", ", max, "], got '",
                     payload.substr(0, 32), "'")));
  }
  return n;
}

}  // namespace

namespace {

absl::StatusOr<std::string> Echo(const TaskContext& ctx) { return ctx.input(); }

absl::StatusOr<std::string> Sleep(const TaskContext& ctx) {
  absl::StatusOr<int64_t> ms = ParseNumber(ctx.payload, 0, 86'400'000, "milliseconds");
  if (!ms.ok()) return ms.status();
  if (!ctx.token->SleepFor(absl::Milliseconds(*ms))) {
    return absl::CancelledError("sleep interrupted");
  }
  return absl::StrCat("slept ", *ms, " ms");
}

// Directives in the payload (not input(): upstream results never change how it fails).
absl::StatusOr<std::string> Fail(const TaskContext& ctx) {
  absl::string_view payload = ctx.payload;
  if (absl::ConsumePrefix(&payload, "permanent:")) {
    return NotRetryable(absl::UnknownError(payload.empty() ? "failed on purpose, permanently"
                                                           : std::string(payload)));
  }
  if (absl::ConsumePrefix(&payload, "flaky:")) {
    const size_t colon = payload.find(':');
    const absl::string_view count = payload.substr(0, colon);
    int64_t n = 0;
    if (!absl::SimpleAtoi(count, &n) || n < 0 || n > 1'000'000) {
      return NotRetryable(absl::InvalidArgumentError(absl::StrCat(
          "fail: 'flaky:N[:OUTPUT]' needs N in [0, 1000000], got '", count.substr(0, 32), "'")));
    }
    if (ctx.attempt <= static_cast<uint64_t>(n)) {
      return absl::UnavailableError(
          absl::StrCat("flaky: attempt ", ctx.attempt, " of the first ", n, " fails"));
    }
    if (colon != absl::string_view::npos) return std::string(payload.substr(colon + 1));
    return absl::StrCat("succeeded on attempt ", ctx.attempt);
  }
  return absl::UnknownError(ctx.payload.empty() ? "failed on purpose" : ctx.payload);
}

// The upstream results as a JSON array of strings, in order. Valid UTF-8 stays as text
// (with JSON escapes); a byte that is not part of valid UTF-8 appears as \u00XX, its
// Latin-1 code point.
absl::StatusOr<std::string> Collect(const TaskContext& ctx) {
  std::string out = "[";
  for (size_t i = 0; i < ctx.upstream_results.size(); ++i) {
    if (i > 0) out += ",";
    AppendJsonString(ctx.upstream_results[i], &out);
  }
  out += "]";
  return out;
}

// Segmented sieve of Eratosthenes: memory stays at one segment whatever N is, and the
// cancel token is checked between segments.
absl::StatusOr<std::string> Primes(const TaskContext& ctx) {
  absl::StatusOr<int64_t> parsed = ParseNumber(ctx.input(), 0, 4'000'000'000, "N");
  if (!parsed.ok()) return parsed.status();
  const int64_t n = *parsed;
  if (n <= 2) return std::string("0");
  const int64_t root = static_cast<int64_t>(std::sqrt(static_cast<double>(n))) + 1;
  std::vector<char> small(root + 1, 1);
  std::vector<int64_t> base;
  for (int64_t i = 2; i <= root; ++i) {
    if (!small[i]) continue;
    base.push_back(i);
    for (int64_t j = i * i; j <= root; j += i) small[j] = 0;
  }
  constexpr int64_t kSegment = 1 << 18;
  std::vector<char> seg(kSegment);
  int64_t count = 0;
  for (int64_t low = 2; low < n; low += kSegment) {
    if (ctx.stop_requested()) return absl::CancelledError("primes interrupted");
    const int64_t high = std::min(low + kSegment, n);  // [low, high)
    std::fill(seg.begin(), seg.end(), 1);
    for (int64_t p : base) {
      if (p * p >= high) break;
      for (int64_t j = std::max(p * p, (low + p - 1) / p * p); j < high; j += p) seg[j - low] = 0;
    }
    for (int64_t i = low; i < high; ++i) count += seg[i - low];
  }
  return absl::StrCat(count);
}

absl::StatusOr<std::string> Sha256(const TaskContext& ctx) {
  const std::string input = ctx.input();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha256(), nullptr) !=
      1) {
    return absl::InternalError("OpenSSL SHA-256 failed");
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), len));
}

constexpr size_t kMaxHttpBody = 1 << 20;

struct HttpFetch {
  CURL* curl;
  const CancelToken* token;
  const FetchPolicy* policy;
  std::string body;
  size_t size = 0;
  std::string refused;  // the first destination the policy refused, for the error
};

size_t OnHttpData(char* data, size_t size, size_t n, void* user) {
  auto* fetch = static_cast<HttpFetch*>(user);
  const size_t bytes = size * n;
  fetch->size += bytes;
  if (fetch->body.size() < kMaxHttpBody) {
    fetch->body.append(data, std::min(bytes, kMaxHttpBody - fetch->body.size()));
  }
  return bytes;
}

int OnHttpProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<HttpFetch*>(user)->token->stop_requested() ? 1 : 0;  // non-zero aborts
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

// Every connection libcurl opens comes here with its resolved address: the first request's,
// each redirect's, each address tried in turn. A refused one fails like an unreachable
// address; HttpGet tells the two apart by `refused`.
curl_socket_t OnOpenSocket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* fetch = static_cast<HttpFetch*>(user);
  const std::string host = CurrentHost(fetch->curl);
  if (purpose != CURLSOCKTYPE_IPCXN ||
      !fetch->policy->Allows(&address->addr, address->addrlen, host)) {
    if (fetch->refused.empty()) fetch->refused = Destination(host, SockaddrText(*address));
    return CURL_SOCKET_BAD;
  }
  // CLOEXEC: process tasks fork children, which must not inherit the connection.
  const int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

// Before each request, on the connection it uses (new or reused): the URL's host and the
// connected address once more.
int OnPrerequest(void* user, char* primary_ip, char*, int, int) {
  auto* fetch = static_cast<HttpFetch*>(user);
  const std::string host = CurrentHost(fetch->curl);
  const absl::string_view ip = primary_ip == nullptr ? "" : primary_ip;
  if (!fetch->policy->AllowsHost(host) || !fetch->policy->AllowsIp(ip, host)) {
    if (fetch->refused.empty()) fetch->refused = Destination(host, ip);
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

absl::StatusOr<std::string> HttpGet(const TaskContext& ctx, const FetchPolicy& policy) {
  const std::string url = ctx.input();
  if (!(url.starts_with("http://") || url.starts_with("https://"))) {
    return NotRetryable(absl::InvalidArgumentError("payload must be an http:// or https:// URL"));
  }
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::InternalError("curl_easy_init failed");
  HttpFetch fetch{curl.get(), ctx.token, &policy, {}, 0, {}};
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 10'000L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  // A proxy from the environment (http_proxy ...) would be the only address libcurl
  // connects to, and the policy would judge the proxy instead of the destination.
  curl_easy_setopt(curl.get(), CURLOPT_PROXY, "");
  curl_easy_setopt(curl.get(), CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl.get(), CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
  curl_easy_setopt(curl.get(), CURLOPT_OPENSOCKETDATA, &fetch);
  curl_easy_setopt(curl.get(), CURLOPT_PREREQFUNCTION, OnPrerequest);
  curl_easy_setopt(curl.get(), CURLOPT_PREREQDATA, &fetch);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, OnHttpData);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &fetch);
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, OnHttpProgress);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &fetch);
  const CURLcode rc = curl_easy_perform(curl.get());
  // A refusal only matters if the fetch failed: another address of the name may have passed.
  if (rc != CURLE_OK && !fetch.refused.empty()) {
    return NotRetryable(absl::PermissionDeniedError(
        absl::StrCat("http.get: ", fetch.refused,
                     " is denied by the executor's fetch policy (--fetch-deny/--fetch-allow)")));
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK) return absl::CancelledError("http.get interrupted");
  if (rc != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat("GET ", url, ": ", error[0] ? error : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  return absl::StrCat("status ", status, "\nsize ", fetch.size, "\n\n", fetch.body);
}

}  // namespace

const std::vector<std::string>& BuiltinTaskTypes() {
  static const auto* const kTypes = new std::vector<std::string>{
      "collect", "echo", "fail", "http.get", "primes", "sha256", "sleep"};
  return *kTypes;
}

absl::StatusOr<std::vector<std::string>> ParseBuiltinList(absl::string_view list) {
  const std::string known = absl::StrJoin(BuiltinTaskTypes(), ", ");
  std::vector<std::string> names;
  for (absl::string_view name : absl::StrSplit(list, ',')) {
    name = absl::StripAsciiWhitespace(name);
    if (!name.empty()) names.emplace_back(name);
  }
  if (names.size() == 1 && names[0] == "all") return BuiltinTaskTypes();
  if (names.size() == 1 && names[0] == "none") return std::vector<std::string>{};
  if (names.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--builtins is empty: give all, none, or some of: ", known));
  }
  std::vector<std::string> out;
  for (const std::string& name : names) {
    if (name == "all" || name == "none") {
      return absl::InvalidArgumentError(
          absl::StrCat("--builtins: '", name, "' stands alone, not in a list"));
    }
    const auto& all = BuiltinTaskTypes();
    if (std::find(all.begin(), all.end(), name) == all.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--builtins: unknown built-in task type '", absl::CHexEscape(name),
                       "'; the built-ins are: ", known, " (or all, none)"));
    }
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

absl::Status RegisterBuiltinTasks(HandlerRegistry& registry, const BuiltinOptions& options) {
  curl_global_init(CURL_GLOBAL_DEFAULT);  // before any thread uses libcurl
  auto policy = std::make_shared<const FetchPolicy>(options.fetch_policy);
  const absl::flat_hash_map<std::string, Handler> handlers = {
      {"echo", Echo},
      {"sleep", Sleep},
      {"fail", Fail},
      {"primes", Primes},
      {"sha256", Sha256},
      {"http.get", [policy](const TaskContext& ctx) { return HttpGet(ctx, *policy); }},
      {"collect", Collect}};
  for (const std::string& name : options.types) {
    auto it = handlers.find(name);
    if (it == handlers.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", name, "' is not a built-in task type; the built-ins are: ",
                       absl::StrJoin(BuiltinTaskTypes(), ", ")));
    }
    if (absl::Status s = registry.Register(name, it->second); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status RegisterBuiltinTasks(HandlerRegistry& registry) {
  return RegisterBuiltinTasks(registry, BuiltinOptions{});
}

}  // namespace taskwire::executor
