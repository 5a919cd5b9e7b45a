#include "scheduler/auth/access_table.h"

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/credentials.h"
#include "common/quote.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "taskwire/config/v1/access.pb.h"

namespace taskwire::scheduler {
namespace {

namespace pb = ::taskwire::config::v1;

constexpr size_t kMaxNameBytes = 128;

// Collects the parser's messages (line and column) instead of letting protobuf log them.
class ParseErrors final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first.empty()) first = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  std::string first;
};

bool IsLowerHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'); });
}

bool IsPrintableName(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

std::optional<Role> RoleOf(pb::Role role) {
  switch (role) {
    case pb::ROLE_SUBMITTER: return Role::kSubmitter;
    case pb::ROLE_ADMIN: return Role::kAdmin;
    case pb::ROLE_EXECUTOR: return Role::kExecutor;
    default: return std::nullopt;
  }
}

bool Lists(const std::vector<std::string>& list, absl::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kSubmitter: return "submitter";
    case Role::kAdmin: return "admin";
    case Role::kExecutor: return "executor";
  }
  return "unknown";
}

bool Principal::MayServeQueue(absl::string_view queue) const {
  return Lists(queues, "*") || Lists(queues, queue);
}

bool Principal::MayServeType(absl::string_view type) const {
  return task_types.empty() || Lists(task_types, type);
}

absl::StatusOr<AccessTable> AccessTable::Parse(absl::string_view text, absl::string_view origin) {
  pb::AccessFile file;
  google::protobuf::TextFormat::Parser parser;
  ParseErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &file)) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", errors.first));
  }
  AccessTable table;
  absl::flat_hash_map<std::string, size_t> names;
  for (int i = 0; i < file.entry_size(); ++i) {
    const pb::AccessEntry& e = file.entry(i);
    auto fail = [&](absl::string_view problem) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": entry ", i + 1,
                       e.name().empty() ? "" : absl::StrCat(" (", Quote(e.name()), ")"),
                       ": ", problem));
    };
    if (e.name().empty() || e.name().size() > kMaxNameBytes || !IsPrintableName(e.name())) {
      return fail("name must be 1..128 printable characters without spaces");
    }
    if (!names.emplace(e.name(), i).second) return fail("name is used by an earlier entry");
    std::optional<Role> role = RoleOf(e.role());
    if (!role) return fail("role must be ROLE_SUBMITTER, ROLE_ADMIN or ROLE_EXECUTOR");
    if (e.token_sha256().empty() == e.client_cert_subject().empty()) {
      return fail("give exactly one of token_sha256 and client_cert_subject");
    }
    const size_t index = table.principals_.size();
    if (!e.token_sha256().empty()) {
      const std::string hash = absl::AsciiStrToLower(e.token_sha256());
      if (hash.size() != 64 || !IsLowerHex(hash)) {
        return fail("token_sha256 must be 64 hex digits (printf %s \"$TOKEN\" | sha256sum)");
      }
      if (!table.by_token_sha256_.emplace(hash, index).second) {
        return fail("token_sha256 is used by an earlier entry");
      }
    } else if (!table.by_subject_.emplace(e.client_cert_subject(), index).second) {
      return fail("client_cert_subject is used by an earlier entry");
    }
    Principal p{e.name(), *role, {e.queues().begin(), e.queues().end()},
                {e.task_types().begin(), e.task_types().end()}};
    if (p.role == Role::kExecutor && p.queues.empty()) {
      return fail("an executor entry must list its queues (\"*\" for any)");
    }
    if (p.role != Role::kExecutor && (!p.queues.empty() || !p.task_types.empty())) {
      return fail("queues and task_types belong to executor entries only");
    }
    for (const std::string& q : p.queues) {
      if (q.empty()) return fail("a queue is empty");
    }
    for (const std::string& t : p.task_types) {
      if (t.empty()) return fail("a task type is empty");
    }
    table.principals_.push_back(std::move(p));
  }
  return table;
}

const Principal* AccessTable::ByToken(absl::string_view token) const {
  auto it = by_token_sha256_.find(Sha256Hex(token));
  return it == by_token_sha256_.end() ? nullptr : &principals_[it->second];
}

const Principal* AccessTable::ByCertificateSubject(absl::string_view subject) const {
  auto it = by_subject_.find(subject);
  return it == by_subject_.end() ? nullptr : &principals_[it->second];
}

}  // namespace taskwire::scheduler
