#include "executor/handler_registry.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace taskwire::executor {
namespace {

template <typename Map>
std::vector<std::string> SortedNames(const Map& map) {
  std::vector<std::string> out;
  for (const auto& [name, handler] : map) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

absl::Status HandlerRegistry::CheckNewName(const std::string& type) const {
  const bool valid = !type.empty() && type.size() <= 128 &&
                     std::all_of(type.begin(), type.end(), [](char c) {
                       return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                              c == '.' || c == ':' || c == '-';
                     });
  if (!valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("task type '", type, "' must be 1..128 characters of [A-Za-z0-9_.:-]"));
  }
  if (handlers_.contains(type) || async_handlers_.contains(type)) {
    return absl::AlreadyExistsError(absl::StrCat("task type '", type, "' is registered twice"));
  }
  return absl::OkStatus();
}

absl::Status HandlerRegistry::Register(const std::string& type, Handler handler) {
  if (absl::Status s = CheckNewName(type); !s.ok()) return s;
  handlers_.emplace(type, std::move(handler));
  return absl::OkStatus();
}

absl::Status HandlerRegistry::RegisterAsync(const std::string& type, AsyncHandler handler) {
  if (absl::Status s = CheckNewName(type); !s.ok()) return s;
  async_handlers_.emplace(type, std::move(handler));
  return absl::OkStatus();
}

const Handler* HandlerRegistry::Find(const std::string& type) const {
  auto it = handlers_.find(type);
  return it == handlers_.end() ? nullptr : &it->second;
}

const AsyncHandler* HandlerRegistry::FindAsync(const std::string& type) const {
  auto it = async_handlers_.find(type);
  return it == async_handlers_.end() ? nullptr : &it->second;
}

std::vector<std::string> HandlerRegistry::Types() const { return SortedNames(handlers_); }

std::vector<std::string> HandlerRegistry::AsyncTypes() const {
  return SortedNames(async_handlers_);
}

}  // namespace taskwire::executor
