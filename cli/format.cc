#include "cli/format.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/grpc_status.h"

namespace taskwire::cli {
namespace {

bool IsSet(const google::protobuf::Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

// Length of the UTF-8 sequence that starts with `lead`, or 0 if `lead` cannot start one.
size_t Utf8SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Checks the continuation bytes and the overlong / surrogate / out-of-range cases.
bool IsValidSequence(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  for (size_t i = 1; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return false;
  }
  if (s.size() < 3) return true;
  const auto b1 = static_cast<unsigned char>(s[1]);
  if (b0 == 0xE0 && b1 < 0xA0) return false;  // overlong
  if (b0 == 0xED && b1 > 0x9F) return false;  // surrogate
  if (b0 == 0xF0 && b1 < 0x90) return false;  // overlong
  if (b0 == 0xF4 && b1 > 0x8F) return false;  // beyond U+10FFFF
  return true;
}

bool IsAllowedAscii(unsigned char c) {
  return c == '\n' || c == '\t' || c == '\r' || (c >= 0x20 && c != 0x7F);
}

// The longest prefix of `text` (valid UTF-8) not longer than `max_bytes` that ends on a
// character boundary.
size_t Utf8Cut(std::string_view text, size_t max_bytes) {
  size_t cut = std::min(max_bytes, text.size());
  while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return cut;
}

}  // namespace

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (!IsSet(t)) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S %Ez", FromProto(t), absl::LocalTimeZone());
}

std::string FormatAge(const google::protobuf::Timestamp& t, absl::Time now) {
  if (!IsSet(t)) return "-";
  const int64_t seconds = std::max<int64_t>(0, absl::ToInt64Seconds(now - FromProto(t)));
  if (seconds < 120) return absl::StrCat(seconds, "s");
  if (seconds < 2 * 3600) return absl::StrCat(seconds / 60, "m");
  if (seconds < 2 * 86400) return absl::StrCat(seconds / 3600, "h");
  return absl::StrCat(seconds / 86400, "d");
}

std::string FormatShortDuration(absl::Duration d) {
  // Milliseconds for a second or more, microseconds below: short tasks run in microseconds.
  const absl::Duration unit =
      absl::AbsDuration(d) >= absl::Seconds(1) ? absl::Milliseconds(1) : absl::Microseconds(1);
  return absl::FormatDuration(absl::Trunc(d, unit));
}

std::string CountOf(int64_t n, std::string_view noun) {
  return absl::StrCat(n, " ", std::string(noun), n == 1 ? "" : "s");
}

std::string_view OutcomeName(v1::AttemptOutcome outcome) {
  switch (outcome) {
    case v1::ATTEMPT_OUTCOME_SUCCEEDED:
      return "succeeded";
    case v1::ATTEMPT_OUTCOME_FAILED:
      return "failed";
    case v1::ATTEMPT_OUTCOME_CANCELLED:
      return "cancelled";
    case v1::ATTEMPT_OUTCOME_LOST:
      return "lost";
    case v1::ATTEMPT_OUTCOME_TIMED_OUT:
      return "timed_out";
    default:
      return "running";
  }
}

bool IsPrintableText(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const auto lead = static_cast<unsigned char>(bytes[i]);
    const size_t len = Utf8SequenceLength(lead);
    if (len == 0 || i + len > bytes.size()) return false;
    if (len == 1 ? !IsAllowedAscii(lead) : !IsValidSequence(bytes.substr(i, len))) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string RenderBytes(std::string_view bytes, size_t max_bytes) {
  if (bytes.empty()) return "(empty)";
  if (IsPrintableText(bytes)) {
    const size_t cut = Utf8Cut(bytes, max_bytes);
    std::string text(bytes.substr(0, cut));
    if (cut < bytes.size()) {
      absl::StrAppend(&text, "\n... (", bytes.size() - cut,
                      " more bytes not shown; --json prints everything)");
    }
    return text;
  }
  constexpr size_t kHexBytes = 32;
  std::string hex;
  for (size_t i = 0; i < std::min(bytes.size(), kHexBytes); ++i) {
    absl::StrAppendFormat(&hex, "%s%02x", i == 0 ? "" : " ", static_cast<unsigned char>(bytes[i]));
  }
  return absl::StrCat("(binary: ", hex, bytes.size() > kHexBytes ? " ...)" : ")");
}

}  // namespace taskwire::cli
