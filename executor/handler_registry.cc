#include "executor/handler_registry.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace taskwire::executor {

absl::Status HandlerRegistry::Register(const std::string& type, Handler handler) {
  const bool valid = !type.empty() && type.size() <= 128 &&
                     std::all_of(type.begin(), type.end(), [](char c) {
                       return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                              c == '.' || c == ':' || c == '-';
                     });
  if (!valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("task type '", type, "' must be 1..128 characters of [A-Za-z0-9_.:-]"));
  }
  if (!handlers_.emplace(type, std::move(handler)).second) {
    return absl::AlreadyExistsError(absl::StrCat("task type '", type, "' is registered twice"));
  }
  return absl::OkStatus();
}

const Handler* HandlerRegistry::Find(const std::string& type) const {
  auto it = handlers_.find(type);
  return it == handlers_.end() ? nullptr : &it->second;
}

std::vector<std::string> HandlerRegistry::Types() const {
  std::vector<std::string> out;
  for (const auto& [name, handler] : handlers_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace taskwire::executor
