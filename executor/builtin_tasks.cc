#include "executor/builtin_tasks.h"

#include <curl/curl.h>
#include <openssl/evp.h>

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
#include "executor/event_loop/event_loop.h"
#include "executor/event_loop/http_client.h"
#include "executor/http_fetch.h"

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

// thread.http.get: the transfer holds this thread until it ends; the token aborts it.
absl::StatusOr<std::string> ThreadHttpGet(const TaskContext& ctx,
                                          std::shared_ptr<const HttpLimits> limits) {
  absl::StatusOr<HttpRequestSpec> spec = ParseHttpGet(ctx.input());
  if (!spec.ok()) return spec.status();
  absl::StatusOr<std::unique_ptr<HttpFetch>> fetch =
      HttpFetch::Create(*std::move(spec), std::move(limits), ctx.type);
  if (!fetch.ok()) return fetch.status();
  (*fetch)->StopWhen(ctx.token);
  return (*fetch)->Result(curl_easy_perform((*fetch)->easy()));
}

// http.get and http.request on the event loop: the loop's HTTP client runs the transfer;
// a cancel or the deadline removes it.
void LoopHttp(const AsyncTask& task, absl::StatusOr<HttpRequestSpec> spec,
              std::shared_ptr<const HttpLimits> limits) {
  if (!spec.ok()) return task.Complete(spec.status());
  absl::StatusOr<std::unique_ptr<HttpFetch>> created =
      HttpFetch::Create(*std::move(spec), std::move(limits), task.context().type);
  if (!created.ok()) return task.Complete(created.status());
  std::shared_ptr<HttpFetch> fetch = *std::move(created);
  HttpClient& client = HttpClient::Of(task.loop());
  absl::Status added = client.Add(fetch->easy(), [task, fetch](CURLcode rc) {
    task.Complete(fetch->Result(rc));
  });
  if (!added.ok()) return task.Complete(added);
  task.OnAbort([&client, fetch] { client.Remove(fetch->easy()); });
}

// sleep on the event loop: a timer, cancelled by a cancel or the deadline.
void LoopSleep(const AsyncTask& task) {
  absl::StatusOr<int64_t> ms = ParseNumber(task.context().payload, 0, 86'400'000, "milliseconds");
  if (!ms.ok()) return task.Complete(ms.status());
  EventLoop& loop = task.loop();
  const EventLoop::TimerId timer =
      loop.AddTimer(absl::Now() + absl::Milliseconds(*ms),
                    [task, ms = *ms] { task.Complete(absl::StrCat("slept ", ms, " ms")); });
  task.OnAbort([&loop, timer] { loop.CancelTimer(timer); });
}

}  // namespace

const std::vector<std::string>& BuiltinTaskTypes() {
  static const auto* const kTypes = new std::vector<std::string>{
      "collect", "echo",   "fail",   "http.get",        "http.request",
      "primes",  "sha256", "sleep",  "thread.http.get", "thread.sleep"};
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
  auto limits = std::make_shared<const HttpLimits>(
      HttpLimits{options.fetch_policy, options.http_max_response_bytes});
  const absl::flat_hash_map<std::string, Handler> handlers = {
      {"echo", Echo},
      {"thread.sleep", Sleep},
      {"fail", Fail},
      {"primes", Primes},
      {"sha256", Sha256},
      {"thread.http.get",
       [limits](const TaskContext& ctx) { return ThreadHttpGet(ctx, limits); }},
      {"collect", Collect}};
  const absl::flat_hash_map<std::string, AsyncHandler> async_handlers = {
      {"sleep", LoopSleep},
      {"http.get",
       [limits](AsyncTask task) { LoopHttp(task, ParseHttpGet(task.context().input()), limits); }},
      {"http.request", [limits](AsyncTask task) {
         LoopHttp(task, ParseHttpRequest(task.context().payload), limits);
       }}};
  for (const std::string& name : options.types) {
    absl::Status s;
    if (auto it = handlers.find(name); it != handlers.end()) {
      s = registry.Register(name, it->second);
    } else if (auto loop = async_handlers.find(name); loop != async_handlers.end()) {
      s = registry.RegisterAsync(name, loop->second);
    } else {
      s = absl::InvalidArgumentError(
          absl::StrCat("'", name, "' is not a built-in task type; the built-ins are: ",
                       absl::StrJoin(BuiltinTaskTypes(), ", ")));
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status RegisterBuiltinTasks(HandlerRegistry& registry) {
  return RegisterBuiltinTasks(registry, BuiltinOptions{});
}

}  // namespace taskwire::executor
