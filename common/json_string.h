// JSON string escaping, the one copy: log lines, ready files, the bench's result lines and
// the `collect` task all write JSON strings through it.
#ifndef TASKWIRE_COMMON_JSON_STRING_H_
#define TASKWIRE_COMMON_JSON_STRING_H_

#include <string>

#include "absl/strings/string_view.h"

namespace taskwire {

// Appends `bytes` escaped for the inside of a JSON string: valid UTF-8 as text with JSON
// escapes (", \\, control characters, DEL), and each byte that is not part of valid UTF-8
// as \u00XX (its Latin-1 code point), so that the result is always valid JSON.
void AppendJsonEscaped(absl::string_view bytes, std::string* out);

// The same between quotes: a whole JSON string.
void AppendJsonString(absl::string_view bytes, std::string* out);
std::string JsonString(absl::string_view bytes);

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_JSON_STRING_H_
