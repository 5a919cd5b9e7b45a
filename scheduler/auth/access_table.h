// The scheduler's access file (proto/taskwire/config/v1/access.proto) parsed into lookups:
// which named principal a bearer token or a client certificate's subject is, and what its
// role allows. No gRPC here: the authorizer feeds it what a call carries.
#ifndef TASKWIRE_SCHEDULER_AUTH_ACCESS_TABLE_H_
#define TASKWIRE_SCHEDULER_AUTH_ACCESS_TABLE_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace taskwire::scheduler {

enum class Role { kSubmitter, kAdmin, kExecutor };

absl::string_view RoleName(Role role);

struct Principal {
  std::string name;
  Role role = Role::kSubmitter;
  std::vector<std::string> queues;      // executors: "*" is any queue
  std::vector<std::string> task_types;  // executors: empty is any type

  bool MayServeQueue(absl::string_view queue) const;
  bool MayServeType(absl::string_view type) const;
};

class AccessTable {
 public:
  // Parses the text format. Errors name the entry and the field; `origin` (the file's path)
  // leads every message.
  static absl::StatusOr<AccessTable> Parse(absl::string_view text, absl::string_view origin);

  // nullptr when no entry matches.
  const Principal* ByToken(absl::string_view token) const;
  const Principal* ByCertificateSubject(absl::string_view subject) const;

  size_t size() const { return principals_.size(); }

 private:
  std::vector<Principal> principals_;
  absl::flat_hash_map<std::string, size_t> by_token_sha256_;  // lowercase hex
  absl::flat_hash_map<std::string, size_t> by_subject_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_AUTH_ACCESS_TABLE_H_
