// What a user gives as the scheduler's address, made into a gRPC target and the channel
// settings that go with it (--scheduler of the executor, --server of the CLI and benchmark,
// ClientOptions::target):
//
//   "10.0.0.7:7070"          one scheduler: the target as it is (also a gRPC target such
//                            as "unix:/path" or "ipv4:...")
//   "s-0:7070,s-1:7070"      several schedulers, one of them the leader: the names are
//                            resolved now, and the channel follows the leader (below)
//   "dns:///s-headless:7070" a name with several records (a Kubernetes headless Service),
//                            re-resolved by gRPC; the channel follows the leader
//
// Following the leader: the channel balances over every address with round_robin and
// gRPC's client-side health checking of the service "taskwire.v1.Scheduler", which only the
// leader reports SERVING (standbys NOT_SERVING), so calls go to the leader alone and move
// to the next one when it changes.
#ifndef TASKWIRE_COMMON_SCHEDULER_TARGET_H_
#define TASKWIRE_COMMON_SCHEDULER_TARGET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class ChannelArguments;
}

namespace taskwire {

struct SchedulerTarget {
  std::string target;          // for grpc::CreateCustomChannel
  bool follow_leader = false;  // several addresses: health-checked round_robin
};

// INVALID_ARGUMENT for an empty address or list entry, a name that does not resolve, or a
// list that mixes IPv4 and IPv6 addresses (gRPC takes one family per list).
absl::StatusOr<SchedulerTarget> ParseSchedulerTarget(absl::string_view address);

// Adds the service config that follows the leader when `target.follow_leader`.
void ApplySchedulerTarget(const SchedulerTarget& target, grpc::ChannelArguments& args);

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_SCHEDULER_TARGET_H_
