// Fuzzes the executor's fetch policy lists (executor/fetch_policy.h): the bytes, split at
// the first NUL, as --fetch-allow and --fetch-deny.
// Checks: a policy or INVALID_ARGUMENT; an accepted policy still refuses loopback,
// link-local and the metadata address unless the allow list names them by address.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "executor/fetch_policy.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace taskwire::executor;  // NOLINT(google-build-using-namespace): one function
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const size_t nul = bytes.find('\0');
  const absl::string_view allow = bytes.substr(0, nul);
  const absl::string_view deny =
      nul == absl::string_view::npos ? absl::string_view() : bytes.substr(nul + 1);
  absl::StatusOr<FetchPolicy> policy = FetchPolicy::Parse(allow, deny);
  if (!policy.ok()) {
    TASKWIRE_FUZZ_CHECK(absl::IsInvalidArgument(policy.status()), policy.status().ToString());
    return 0;
  }
  if (allow.empty()) {
    for (const char* ip : {"127.0.0.1", "::1", "169.254.169.254", "fe80::1", "0.0.0.0"}) {
      TASKWIRE_FUZZ_CHECK(!policy->AllowsIp(ip, ""), ip);
    }
  }
  (void)policy->Describe();
  return 0;
}
