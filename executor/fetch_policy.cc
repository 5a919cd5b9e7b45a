#include "executor/fetch_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace taskwire::executor {
namespace {

using Address = std::array<uint8_t, 16>;

constexpr size_t kMaxEntry = 256;
constexpr size_t kMaxHostName = 253;
constexpr size_t kMaxLabel = 63;

// IPv4 a.b.c.d as ::ffff:a.b.c.d.
Address MappedV4(const in_addr& v4) {
  Address a{};
  a[10] = 0xff;
  a[11] = 0xff;
  std::memcpy(a.data() + 12, &v4, 4);
  return a;
}

// An entry as it may appear in an error message: printable, and not too long.
std::string Quote(absl::string_view entry) {
  return absl::StrCat("'", absl::CHexEscape(entry.substr(0, 64)), entry.size() > 64 ? "..." : "",
                      "'");
}

// Lower case, without IPv6 brackets or a trailing dot: the form host names are compared in.
std::string NormalizeHost(absl::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  absl::ConsumeSuffix(&host, ".");
  return absl::AsciiStrToLower(host);
}

bool IsHostChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

bool LooksLikeAddress(absl::string_view entry) {
  return absl::StrContains(entry, ':') || absl::StrContains(entry, '/') ||
         std::all_of(entry.begin(), entry.end(), [](char c) {
           return absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '.';
         });
}

}  // namespace

bool FetchPolicy::Cidr::Contains(const Address& a) const {
  const int whole = bits / 8;
  if (std::memcmp(a.data(), addr.data(), static_cast<size_t>(whole)) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (addr[whole] & mask);
}

bool FetchPolicy::HostPattern::Matches(absl::string_view host) const {
  if (!wildcard) return host == name;
  return host.size() > name.size() + 1 && absl::EndsWith(host, name) &&
         host[host.size() - name.size() - 1] == '.';
}

const std::vector<std::string>& FetchPolicy::DefaultDenyList() {
  static const auto* const kList = new std::vector<std::string>{
      "0.0.0.0/8",        // "this network"; a connect to 0.0.0.0 reaches the host itself
      "127.0.0.0/8",      // loopback
      "169.254.0.0/16",   // link-local, with the metadata address 169.254.169.254
      "100.100.100.200",  // Alibaba Cloud's metadata address
      "::",               // unspecified
      "::1",              // loopback
      "fe80::/10",        // link-local
      "fd00:ec2::254",    // AWS's IPv6 metadata address
  };
  return *kList;
}

FetchPolicy::FetchPolicy() {
  for (const std::string& entry : DefaultDenyList()) {
    absl::StatusOr<Cidr> cidr = ParseCidr(entry);
    if (!cidr.ok()) {  // a constant above: a typo there is a bug
      std::fprintf(stderr, "FetchPolicy: bad default entry %s\n", entry.c_str());
      std::abort();
    }
    default_deny_.push_back(*std::move(cidr));
  }
}

absl::StatusOr<FetchPolicy::Cidr> FetchPolicy::ParseCidr(absl::string_view entry) {
  const size_t slash = entry.find('/');
  const absl::string_view ip = entry.substr(0, slash);
  Cidr cidr;
  int max_bits = 128;
  // inet_pton reads a C string: a NUL inside the entry would cut it short.
  const std::string ip_text(ip.substr(0, INET6_ADDRSTRLEN));
  in_addr v4{};
  in6_addr v6{};
  if (ip.size() < INET6_ADDRSTRLEN && !absl::StrContains(ip, '\0') &&
      inet_pton(AF_INET, ip_text.c_str(), &v4) == 1) {
    cidr.addr = MappedV4(v4);
    max_bits = 32;
  } else if (ip.size() < INET6_ADDRSTRLEN && !absl::StrContains(ip, '\0') &&
             inet_pton(AF_INET6, ip_text.c_str(), &v6) == 1) {
    std::memcpy(cidr.addr.data(), &v6, 16);
  } else {
    return absl::InvalidArgumentError(
        ip.size() == entry.size()
            ? "not an IPv4 or IPv6 address"
            : absl::StrCat(Quote(ip), " before the '/' is not an IPv4 or IPv6 address"));
  }
  int bits = max_bits;
  if (slash != absl::string_view::npos) {
    const absl::string_view prefix = entry.substr(slash + 1);
    const bool digits = !prefix.empty() && prefix.size() <= 3 &&
                        std::all_of(prefix.begin(), prefix.end(), [](char c) {
                          return absl::ascii_isdigit(static_cast<unsigned char>(c));
                        });
    bits = digits ? std::stoi(std::string(prefix)) : -1;
    if (bits < 0 || bits > max_bits) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prefix length ", Quote(prefix), " must be a number in [0, ", max_bits, "]"));
    }
  }
  // IPv4 ranges live in the IPv4-mapped block.
  cidr.bits = max_bits == 32 ? 96 + bits : bits;
  Cidr network = cidr;
  for (int i = cidr.bits; i < 128; ++i) network.addr[i / 8] &= ~(0x80 >> (i % 8));
  if (network.addr != cidr.addr) {
    char text[INET6_ADDRSTRLEN] = {0};
    if (max_bits == 32) {
      inet_ntop(AF_INET, network.addr.data() + 12, text, sizeof(text));
    } else {
      inet_ntop(AF_INET6, network.addr.data(), text, sizeof(text));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("bits are set past /", bits, " (did you mean ", text, "/", bits, "?)"));
  }
  cidr.text = std::string(entry);
  return cidr;
}

absl::Status FetchPolicy::ParseList(absl::string_view text, absl::string_view flag, List& out) {
  for (absl::string_view entry : absl::StrSplit(text, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) continue;
    const auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": entry ", Quote(entry), ": ", why,
                       "; entries are IP addresses (10.1.2.3, ::1), CIDRs (10.0.0.0/8, "
                       "fd00::/8) or host names (api.example.com, *.example.com)"));
    };
    if (entry.size() > kMaxEntry) return bad(absl::StrCat("longer than ", kMaxEntry, " bytes"));
    if (LooksLikeAddress(entry)) {
      absl::StatusOr<Cidr> cidr = ParseCidr(entry);
      if (!cidr.ok()) return bad(cidr.status().message());
      out.cidrs.push_back(*std::move(cidr));
      continue;
    }
    HostPattern pattern;
    absl::string_view name = entry;
    pattern.wildcard = absl::ConsumePrefix(&name, "*.");
    absl::ConsumeSuffix(&name, ".");
    if (name.empty() || name.size() > kMaxHostName) {
      return bad(absl::StrCat("a host name has 1..", kMaxHostName, " characters"));
    }
    for (absl::string_view label : absl::StrSplit(name, '.')) {
      if (label.empty() || label.size() > kMaxLabel ||
          !std::all_of(label.begin(), label.end(), IsHostChar)) {
        return bad(absl::StrCat(
            "not a host name: labels of 1..", kMaxLabel,
            " letters, digits, '-' or '_', separated by dots; '*.' only in front"));
      }
    }
    pattern.name = absl::AsciiStrToLower(name);
    out.hosts.push_back(std::move(pattern));
  }
  return absl::OkStatus();
}

absl::StatusOr<FetchPolicy> FetchPolicy::Parse(absl::string_view allow, absl::string_view deny) {
  FetchPolicy policy;
  if (absl::Status s = ParseList(allow, "--fetch-allow", policy.allow_); !s.ok()) return s;
  if (absl::Status s = ParseList(deny, "--fetch-deny", policy.deny_); !s.ok()) return s;
  return policy;
}

bool FetchPolicy::InCidrs(const std::vector<Cidr>& cidrs, const Address& a) {
  return std::any_of(cidrs.begin(), cidrs.end(), [&](const Cidr& c) { return c.Contains(a); });
}

bool FetchPolicy::MatchesHost(const std::vector<HostPattern>& hosts, absl::string_view host) {
  if (host.empty()) return false;
  return std::any_of(hosts.begin(), hosts.end(),
                     [&](const HostPattern& p) { return p.Matches(host); });
}

bool FetchPolicy::AllowsAddress(const Address& a, absl::string_view raw_host) const {
  const std::string host = NormalizeHost(raw_host);
  if (InCidrs(deny_.cidrs, a) || MatchesHost(deny_.hosts, host)) return false;
  const bool allowed_by_address = InCidrs(allow_.cidrs, a);
  if (!allowed_by_address && InCidrs(default_deny_, a)) return false;
  if (allow_.empty()) return true;
  return allowed_by_address || MatchesHost(allow_.hosts, host);
}

bool FetchPolicy::Allows(const sockaddr* addr, socklen_t len, absl::string_view host) const {
  if (addr == nullptr) return false;
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in v4;
    std::memcpy(&v4, addr, sizeof(v4));
    return AllowsAddress(MappedV4(v4.sin_addr), host);
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 v6;
    std::memcpy(&v6, addr, sizeof(v6));
    Address a;
    std::memcpy(a.data(), &v6.sin6_addr, 16);
    return AllowsAddress(a, host);
  }
  return false;
}

bool FetchPolicy::AllowsIp(absl::string_view ip, absl::string_view host) const {
  if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN || absl::StrContains(ip, '\0')) return false;
  const std::string text(ip);
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return AllowsAddress(MappedV4(v4), host);
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    Address a;
    std::memcpy(a.data(), &v6, 16);
    return AllowsAddress(a, host);
  }
  return false;
}

bool FetchPolicy::AllowsHost(absl::string_view raw_host) const {
  const std::string host = NormalizeHost(raw_host);
  if (MatchesHost(deny_.hosts, host)) return false;
  // With an allow list of names only, a name outside it cannot pass whatever it resolves to.
  if (!allow_.hosts.empty() && allow_.cidrs.empty()) return MatchesHost(allow_.hosts, host);
  return true;
}

std::string FetchPolicy::Describe() const {
  const auto join = [](const List& list) {
    std::vector<std::string> out;
    for (const Cidr& c : list.cidrs) out.push_back(c.text);
    for (const HostPattern& h : list.hosts) {
      out.push_back(h.wildcard ? absl::StrCat("*.", h.name) : h.name);
    }
    return absl::StrJoin(out, ",");
  };
  return absl::StrCat("allow [", allow_.empty() ? "anything not denied" : join(allow_),
                      "] deny [", join(deny_), "] default deny [",
                      absl::StrJoin(DefaultDenyList(), ","), "]");
}

}  // namespace taskwire::executor
