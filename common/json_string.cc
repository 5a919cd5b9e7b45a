#include "common/json_string.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace taskwire {
namespace {

// Length of the valid UTF-8 sequence at the start of `s`, or 0 if it is not one.
size_t Utf8SequenceLength(absl::string_view s) {
  const auto c = static_cast<unsigned char>(s[0]);
  size_t len;
  uint32_t min;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  uint32_t cp = c & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

void AppendJsonEscaped(absl::string_view bytes, std::string* out) {
  while (!bytes.empty()) {
    const auto c = static_cast<unsigned char>(bytes[0]);
    const size_t len = Utf8SequenceLength(bytes);
    if (len > 1) {
      out->append(bytes.data(), len);
      bytes.remove_prefix(len);
      continue;
    }
    bytes.remove_prefix(1);
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (len == 0 || c < 0x20 || c == 0x7F) {
          absl::StrAppend(out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
}

void AppendJsonString(absl::string_view bytes, std::string* out) {
  out->push_back('"');
  AppendJsonEscaped(bytes, out);
  out->push_back('"');
}

std::string JsonString(absl::string_view bytes) {
  std::string out;
  AppendJsonString(bytes, &out);
  return out;
}

}  // namespace taskwire
