#include "executor/builtin_tasks.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <cmath>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
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
  const CancelToken* token;
  std::string body;
  size_t size = 0;
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

absl::StatusOr<std::string> HttpGet(const TaskContext& ctx) {
  const std::string url = ctx.input();
  if (!(url.starts_with("http://") || url.starts_with("https://"))) {
    return NotRetryable(absl::InvalidArgumentError("payload must be an http:// or https:// URL"));
  }
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::InternalError("curl_easy_init failed");
  HttpFetch fetch{ctx.token, {}, 0};
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 10'000L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, OnHttpData);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &fetch);
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, OnHttpProgress);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &fetch);
  const CURLcode rc = curl_easy_perform(curl.get());
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

absl::Status RegisterBuiltinTasks(HandlerRegistry& registry) {
  curl_global_init(CURL_GLOBAL_DEFAULT);  // before any thread uses libcurl
  for (auto& [name, handler] : std::vector<std::pair<std::string, Handler>>{
           {"echo", Echo}, {"sleep", Sleep}, {"fail", Fail},
           {"primes", Primes}, {"sha256", Sha256}, {"http.get", HttpGet},
           {"collect", Collect}}) {
    if (absl::Status s = registry.Register(name, std::move(handler)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace taskwire::executor
