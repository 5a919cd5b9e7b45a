// Quote() puts a client-supplied value (an id, a name, a key) into an error message, cut
// short when it is long: an error that echoes an 8 KB id whole would pass gRPC's metadata
// limit, and the client would get RESOURCE_EXHAUSTED instead of the error meant for it.
#ifndef TASKWIRE_COMMON_QUOTE_H_
#define TASKWIRE_COMMON_QUOTE_H_

#include <cstddef>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace taskwire {

// How much of a value an error message shows.
inline constexpr size_t kQuotedBytes = 64;
// The most of any status message that goes on the wire (ToGrpcStatus cuts the rest).
inline constexpr size_t kMaxStatusMessageBytes = 1024;

// 'value', or 'first 64 bytes...' (8192 bytes) when longer.
inline std::string Quote(absl::string_view value) {
  if (value.size() <= kQuotedBytes) return absl::StrCat("'", value, "'");
  return absl::StrCat("'", value.substr(0, kQuotedBytes), "...' (", value.size(), " bytes)");
}

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_QUOTE_H_
