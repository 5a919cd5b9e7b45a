// Where a task that fetches URLs (the built-in http.get) may connect: the operator's
// --fetch-allow and --fetch-deny lists over a fixed default deny list. Clients choose the
// URLs, so without it any client could make an executor fetch the cloud metadata address
// or services that only the cluster can reach.
//
//   absl::StatusOr<FetchPolicy> policy = FetchPolicy::Parse("127.0.0.1", "");
//   ...
//   if (!policy->Allows(addr, addr_len, url_host)) refuse the connection;
//
// Entries (comma-separated; blanks around them are ignored): an IPv4 or IPv6 address
// (10.1.2.3, ::1), a CIDR (10.0.0.0/8, fd00::/8), or a host name, exact (api.example.com)
// or with a leading wildcard (*.example.com: any name below example.com, not example.com).
// Addresses are compared as IPv6, IPv4 ones in their IPv4-mapped form (::ffff:a.b.c.d), so
// an entry matches an address whichever of the two forms a connection uses.
//
// A connection to address A for a URL whose host is H is allowed unless
//   1. A is in a deny CIDR, or H matches a deny host name (deny beats allow);
//   2. A is in the default deny list (DefaultDenyList()) and in no allow CIDR: only an
//      address entry lifts the default, never a host name, since the name's owner
//      controls what it resolves to;
//   3. the allow list is not empty, and neither is A in an allow CIDR nor does H match an
//      allow host name: an allow list is the whole set of allowed destinations.
// Host names are compared with the URL's host, not with what it resolves to; the address
// rules are checked on the resolved address, so they hold across DNS and redirects.
//
// Immutable after Parse; safe to share between threads. No network access: callers pass
// the address they are about to connect to.
#ifndef TASKWIRE_EXECUTOR_FETCH_POLICY_H_
#define TASKWIRE_EXECUTOR_FETCH_POLICY_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace taskwire::executor {

class FetchPolicy {
 public:
  // Only the default deny list applies.
  FetchPolicy();

  // Fails with INVALID_ARGUMENT naming the first bad entry and its flag. Total: any bytes
  // give either a policy or an error.
  static absl::StatusOr<FetchPolicy> Parse(absl::string_view allow, absl::string_view deny);

  // The ranges denied unless allowed by address: loopback, link-local (with the cloud
  // metadata address 169.254.169.254), the unspecified addresses, and the metadata
  // addresses outside those (fd00:ec2::254, 100.100.100.200).
  static const std::vector<std::string>& DefaultDenyList();

  // Whether a connection to `addr` (AF_INET or AF_INET6, `len` bytes) for a URL whose host
  // is `host` may be made. An empty `host` matches no host name entry. Any other family,
  // or a short `len`, is refused.
  bool Allows(const sockaddr* addr, socklen_t len, absl::string_view host = {}) const;
  // The same for an address in text form (what libcurl reports of a connection); text
  // that is not an IP address is refused.
  bool AllowsIp(absl::string_view ip, absl::string_view host = {}) const;
  // Whether a URL with this host may be fetched before any address is known: false when a
  // deny host name matches it. The address rules still apply on connecting.
  bool AllowsHost(absl::string_view host) const;

  // "allow [...] deny [...] default deny [...]", for the start-up log.
  std::string Describe() const;

 private:
  // An address range, IPv4 in IPv4-mapped form: the first `bits` bits of `addr`.
  struct Cidr {
    std::array<uint8_t, 16> addr{};
    int bits = 0;
    std::string text;  // as written, for Describe()
    bool Contains(const std::array<uint8_t, 16>& a) const;
  };
  // A lower-case host name; with `wildcard`, `name` is the suffix after "*.".
  struct HostPattern {
    std::string name;
    bool wildcard = false;
    bool Matches(absl::string_view host) const;  // host already normalized
  };
  struct List {
    std::vector<Cidr> cidrs;
    std::vector<HostPattern> hosts;
    bool empty() const { return cidrs.empty() && hosts.empty(); }
  };

  static absl::Status ParseList(absl::string_view text, absl::string_view flag, List& out);
  static absl::StatusOr<Cidr> ParseCidr(absl::string_view entry);
  static bool InCidrs(const std::vector<Cidr>& cidrs, const std::array<uint8_t, 16>& a);
  static bool MatchesHost(const std::vector<HostPattern>& hosts, absl::string_view host);
  bool AllowsAddress(const std::array<uint8_t, 16>& a, absl::string_view host) const;

  List allow_;
  List deny_;
  std::vector<Cidr> default_deny_;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_FETCH_POLICY_H_
