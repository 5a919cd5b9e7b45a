#include "common/scheduler_target.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/support/channel_arguments.h"

namespace taskwire {
namespace {

constexpr char kFollowLeaderConfig[] =
    R"({"loadBalancingConfig":[{"round_robin":{}}],)"
    R"("healthCheckConfig":{"serviceName":"taskwire.v1.Scheduler"}})";

struct Resolved {
  std::string address;  // "1.2.3.4:7070" or "[::1]:7070"
  bool ipv6 = false;
};

// "host:port" (host may be "[v6]") to one numeric address, IPv4 preferred.
absl::StatusOr<Resolved> Resolve(absl::string_view entry) {
  const size_t colon = entry.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(entry.substr(colon + 1), &port) ||
      port == 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("scheduler address '", entry, "': expected host:port"));
  }
  std::string host(entry.substr(0, colon));
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler address '", entry,
                                                   "': cannot resolve ", host, ": ",
                                                   gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(found, &freeaddrinfo);
  const addrinfo* v6 = nullptr;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr, text,
                sizeof(text));
      return Resolved{absl::StrCat(text, ":", port), false};
    }
    if (a->ai_family == AF_INET6 && v6 == nullptr) v6 = a;
  }
  if (v6 == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("scheduler address '", entry, "': ", host, " has no IP address"));
  }
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(v6->ai_addr)->sin6_addr, text,
            sizeof(text));
  return Resolved{absl::StrCat("[", text, "]:", port), true};
}

}  // namespace

absl::StatusOr<SchedulerTarget> ParseSchedulerTarget(absl::string_view address) {
  address = absl::StripAsciiWhitespace(address);
  if (address.empty()) return absl::InvalidArgumentError("empty scheduler address");
  if (!absl::StrContains(address, ',')) {
    return SchedulerTarget{std::string(address), absl::StartsWith(address, "dns:")};
  }
  std::vector<std::string> addresses;
  bool v4 = false, v6 = false;
  for (absl::string_view entry : absl::StrSplit(address, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("scheduler addresses '", address, "': an empty entry"));
    }
    absl::StatusOr<Resolved> r = Resolve(entry);
    if (!r.ok()) return r.status();
    (r->ipv6 ? v6 : v4) = true;
    addresses.push_back(std::move(r->address));
  }
  if (v4 && v6) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scheduler addresses '", address,
        "': a mix of IPv4 and IPv6 addresses; give addresses of one family"));
  }
  return SchedulerTarget{absl::StrCat(v6 ? "ipv6:" : "ipv4:", absl::StrJoin(addresses, ",")),
                         true};
}

void ApplySchedulerTarget(const SchedulerTarget& target, grpc::ChannelArguments& args) {
  if (target.follow_leader) args.SetServiceConfigJSON(kFollowLeaderConfig);
}

}  // namespace taskwire
