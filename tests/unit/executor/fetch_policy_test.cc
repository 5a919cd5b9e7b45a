// FetchPolicy on its own: parsing (and what it refuses), CIDR matching in both families
// and across IPv4-mapped IPv6, the default deny list, allow entries lifting it, deny beating
// allow, and host name patterns. No network: addresses are built in the test.
#include "executor/fetch_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::executor {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::HasSubstr;

// Whether `policy` lets a connection to `ip` (IPv4 or IPv6 text) through, as a sockaddr.
bool AllowsSockaddr(const FetchPolicy& policy, const std::string& ip,
                    absl::string_view host = {}) {
  sockaddr_in v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    return policy.Allows(reinterpret_cast<const sockaddr*>(&v4), sizeof(v4), host);
  }
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    return policy.Allows(reinterpret_cast<const sockaddr*>(&v6), sizeof(v6), host);
  }
  ADD_FAILURE() << "not an IP in the test: " << ip;
  return false;
}

FetchPolicy MustParse(absl::string_view allow, absl::string_view deny) {
  absl::StatusOr<FetchPolicy> policy = FetchPolicy::Parse(allow, deny);
  EXPECT_THAT(policy, IsOk());
  return policy.ok() ? *policy : FetchPolicy();
}

TEST(FetchPolicyTest, TheDefaultDeniesLoopbackLinkLocalUnspecifiedAndMetadata) {
  const FetchPolicy policy;
  for (const char* ip :
       {"127.0.0.1", "127.255.255.254", "169.254.169.254", "169.254.0.1", "0.0.0.0", "0.1.2.3",
        "100.100.100.200", "::1", "::", "fe80::1", "febf::1", "fd00:ec2::254"}) {
    EXPECT_FALSE(AllowsSockaddr(policy, ip)) << ip;
    EXPECT_FALSE(policy.AllowsIp(ip)) << ip;
  }
}

TEST(FetchPolicyTest, TheDefaultAllowsOtherAddressesAndAnyHost) {
  const FetchPolicy policy;
  for (const char* ip : {"93.184.216.34", "10.0.0.1", "192.168.1.1", "126.255.255.255",
                         "128.0.0.1", "169.253.255.255", "2606:2800:220:1::1", "fec0::1"}) {
    EXPECT_TRUE(AllowsSockaddr(policy, ip, "example.com")) << ip;
  }
  EXPECT_TRUE(policy.AllowsHost("example.com"));
  EXPECT_TRUE(policy.AllowsHost(""));
}

TEST(FetchPolicyTest, IPv4MappedIPv6FormsOfDeniedAddressesAreDenied) {
  const FetchPolicy policy;
  for (const char* ip : {"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
                         "::ffff:7f00:1"}) {
    EXPECT_FALSE(AllowsSockaddr(policy, ip)) << ip;
  }
  EXPECT_TRUE(AllowsSockaddr(policy, "::ffff:93.184.216.34"));
}

TEST(FetchPolicyTest, AnEmptyPolicyParsesToTheDefault) {
  const FetchPolicy policy = MustParse("", " , ,");
  EXPECT_FALSE(AllowsSockaddr(policy, "127.0.0.1"));
  EXPECT_TRUE(AllowsSockaddr(policy, "10.0.0.1"));
}

TEST(FetchPolicyTest, AnAllowedAddressLiftsTheDefaultDenyForItAlone) {
  const FetchPolicy policy = MustParse("127.0.0.1", "");
  EXPECT_TRUE(AllowsSockaddr(policy, "127.0.0.1"));
  EXPECT_TRUE(AllowsSockaddr(policy, "::ffff:127.0.0.1"));  // the same address, mapped
  EXPECT_FALSE(AllowsSockaddr(policy, "127.0.0.2"));
  EXPECT_FALSE(AllowsSockaddr(policy, "::1"));
  EXPECT_FALSE(AllowsSockaddr(policy, "169.254.169.254"));
}

TEST(FetchPolicyTest, AnAllowListIsTheWholeSetOfAllowedDestinations) {
  const FetchPolicy policy = MustParse("10.0.0.0/8, fd00::/8", "");
  EXPECT_TRUE(AllowsSockaddr(policy, "10.1.2.3"));
  EXPECT_TRUE(AllowsSockaddr(policy, "fd12:3456::1"));
  EXPECT_FALSE(AllowsSockaddr(policy, "11.0.0.1"));
  EXPECT_FALSE(AllowsSockaddr(policy, "93.184.216.34", "example.com"));
  EXPECT_FALSE(AllowsSockaddr(policy, "fe00::1"));
}

TEST(FetchPolicyTest, ADenyEntryBeatsAnAllowEntry) {
  const FetchPolicy policy = MustParse("10.0.0.0/8,127.0.0.1", "10.1.0.0/16,127.0.0.1");
  EXPECT_TRUE(AllowsSockaddr(policy, "10.2.0.1"));
  EXPECT_FALSE(AllowsSockaddr(policy, "10.1.255.255"));
  EXPECT_FALSE(AllowsSockaddr(policy, "127.0.0.1"));
}

TEST(FetchPolicyTest, ADenyListAloneAddsToTheDefault) {
  const FetchPolicy policy = MustParse("", "10.0.0.0/8,fd00::/8");
  EXPECT_FALSE(AllowsSockaddr(policy, "10.9.9.9"));
  EXPECT_FALSE(AllowsSockaddr(policy, "::ffff:10.9.9.9"));
  EXPECT_FALSE(AllowsSockaddr(policy, "fdff::1"));
  EXPECT_FALSE(AllowsSockaddr(policy, "127.0.0.1"));
  EXPECT_TRUE(AllowsSockaddr(policy, "11.0.0.1"));
}

TEST(FetchPolicyTest, CidrsMatchOnPrefixesThatAreNotWholeBytes) {
  const FetchPolicy policy = MustParse("", "172.16.0.0/12,2001:db8::/33,0.0.0.0/0");
  EXPECT_FALSE(AllowsSockaddr(policy, "172.31.255.255"));
  EXPECT_FALSE(AllowsSockaddr(policy, "2001:db8:7fff::1"));
  const FetchPolicy narrow = MustParse("", "172.16.0.0/12,2001:db8::/33");
  EXPECT_TRUE(AllowsSockaddr(narrow, "172.32.0.0"));
  EXPECT_TRUE(AllowsSockaddr(narrow, "172.15.255.255"));
  EXPECT_TRUE(AllowsSockaddr(narrow, "2001:db8:8000::1"));
  EXPECT_FALSE(AllowsSockaddr(narrow, "2001:db8:0::1"));
}

TEST(FetchPolicyTest, AllIPv4IsDeniedByZeroSlashZeroButIPv6IsNot) {
  const FetchPolicy policy = MustParse("", "0.0.0.0/0");
  EXPECT_FALSE(AllowsSockaddr(policy, "8.8.8.8"));
  EXPECT_FALSE(AllowsSockaddr(policy, "::ffff:8.8.8.8"));
  EXPECT_TRUE(AllowsSockaddr(policy, "2001:4860:4860::8888"));
  EXPECT_FALSE(AllowsSockaddr(MustParse("", "::/0"), "8.8.8.8"));  // ::/0 holds mapped IPv4
}

TEST(FetchPolicyTest, AMappedIPv6EntryMatchesThePlainIPv4Address) {
  const FetchPolicy policy = MustParse("::ffff:127.0.0.1", "");
  EXPECT_TRUE(AllowsSockaddr(policy, "127.0.0.1"));
}

TEST(FetchPolicyTest, AHostNameAllowsItsUrlsButNeverLiftsTheDefaultDeny) {
  const FetchPolicy policy = MustParse("api.example.com", "");
  EXPECT_TRUE(AllowsSockaddr(policy, "93.184.216.34", "api.example.com"));
  EXPECT_TRUE(AllowsSockaddr(policy, "93.184.216.34", "API.Example.COM."));
  EXPECT_FALSE(AllowsSockaddr(policy, "93.184.216.34", "www.example.com"));
  EXPECT_FALSE(AllowsSockaddr(policy, "93.184.216.34"));  // host unknown
  // A name that resolves to the metadata address stays refused.
  EXPECT_FALSE(AllowsSockaddr(policy, "169.254.169.254", "api.example.com"));
  EXPECT_TRUE(policy.AllowsHost("api.example.com"));
  EXPECT_FALSE(policy.AllowsHost("www.example.com"));
}

TEST(FetchPolicyTest, AWildcardMatchesNamesBelowTheDomainButNotTheDomain) {
  const FetchPolicy policy = MustParse("*.example.com", "");
  EXPECT_TRUE(AllowsSockaddr(policy, "93.184.216.34", "a.example.com"));
  EXPECT_TRUE(AllowsSockaddr(policy, "93.184.216.34", "a.b.example.com"));
  EXPECT_FALSE(AllowsSockaddr(policy, "93.184.216.34", "example.com"));
  EXPECT_FALSE(AllowsSockaddr(policy, "93.184.216.34", "badexample.com"));
  EXPECT_FALSE(AllowsSockaddr(policy, "93.184.216.34", "example.com.evil.net"));
}

TEST(FetchPolicyTest, ADeniedHostNameIsRefusedWhateverItResolvesTo) {
  const FetchPolicy policy = MustParse("10.0.0.0/8", "*.internal,metadata.google.internal");
  EXPECT_FALSE(AllowsSockaddr(policy, "10.0.0.5", "prometheus.internal"));
  EXPECT_FALSE(policy.AllowsHost("prometheus.internal"));
  EXPECT_FALSE(policy.AllowsHost("Metadata.Google.Internal"));
  EXPECT_TRUE(AllowsSockaddr(policy, "10.0.0.5", "api.example.com"));
  EXPECT_TRUE(policy.AllowsHost("api.example.com"));  // its address decides, later
}

TEST(FetchPolicyTest, AllowsIpTakesBracketedHostsAndRefusesWhatIsNotAnAddress) {
  const FetchPolicy policy = MustParse("::1", "");
  EXPECT_TRUE(policy.AllowsIp("::1", "[::1]"));
  EXPECT_FALSE(policy.AllowsIp("", ""));
  EXPECT_FALSE(policy.AllowsIp("localhost"));
  EXPECT_FALSE(policy.AllowsIp(std::string("::1\0x", 5)));
}

TEST(FetchPolicyTest, AnAddressOfAnotherFamilyOrTooShortIsRefused) {
  const FetchPolicy policy;
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "8.8.8.8", &v4.sin_addr);
  EXPECT_TRUE(policy.Allows(reinterpret_cast<const sockaddr*>(&v4), sizeof(v4)));
  EXPECT_FALSE(policy.Allows(reinterpret_cast<const sockaddr*>(&v4), sizeof(v4) - 1));
  sockaddr unix_addr{};
  unix_addr.sa_family = AF_UNIX;
  EXPECT_FALSE(policy.Allows(&unix_addr, sizeof(unix_addr)));
  EXPECT_FALSE(policy.Allows(nullptr, 0));
}

TEST(FetchPolicyTest, ParseRejectsBadEntriesNamingTheFlagAndTheEntry) {
  struct Case {
    const char* allow;
    const char* deny;
    const char* message;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"10.0.0.0/33", "", "--fetch-allow: entry '10.0.0.0/33'"},
           {"", "fd00::/129", "--fetch-deny: entry 'fd00::/129'"},
           {"10.0.0.256", "", "not an IPv4 or IPv6 address"},
           {"10.0.0.1/8", "", "did you mean 10.0.0.0/8?"},
           {"fd00::1/8", "", "did you mean fd00::/8?"},
           {"10.0.0.0/", "", "prefix length"},
           {"10.0.0.0/+8", "", "prefix length"},
           {"10.0.0.0/ 8", "", "prefix length"},
           {"1.2.3.4.5", "", "not an IPv4"},
           {"::1%lo", "", "not an IPv4"},
           {"host:80", "", "not an IPv4"},
           {"*", "", "not a host name"},
           {"*.", "", "a host name has"},
           {"a..b", "", "not a host name"},
           {"a*.example.com", "", "not a host name"},
           {"exa mple.com", "", "not a host name"},
           {"http://example.com", "", "not an IPv4"},
       }) {
    EXPECT_THAT(FetchPolicy::Parse(c.allow, c.deny),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << "allow '" << c.allow << "' deny '" << c.deny << "'";
  }
}

TEST(FetchPolicyTest, ParseRejectsNulAndOtherBytesAndQuotesThemEscaped) {
  const std::string nul("127.0.0.1\0.5", 12);
  EXPECT_THAT(FetchPolicy::Parse(nul, ""), StatusIs(absl::StatusCode::kInvalidArgument,
                                                    HasSubstr("'127.0.0.1\\x00.5'")));
  EXPECT_THAT(FetchPolicy::Parse("h\xff.com", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("h\\xff.com")));
  EXPECT_THAT(FetchPolicy::Parse(std::string(300, 'a'), ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than")));
  EXPECT_THAT(FetchPolicy::Parse(std::string(64, 'a') + ".com", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a host name")));
}

// Parse is fuzzed: every prefix of a list of awkward inputs gives a policy or an error.
TEST(FetchPolicyTest, ParseIsTotalOnPrefixesOfAwkwardInput) {
  const std::string input =
      std::string("10.0.0.0/8,::ffff:1.2.3.4/120,*.a.b,[::1],\0,/,:,::/0,,%,\xff\xfe", 56) +
      std::string(70, ':') + "/999999999999999999999";
  for (size_t n = 0; n <= input.size(); ++n) {
    (void)FetchPolicy::Parse(input.substr(0, n), input.substr(n));
  }
}

TEST(FetchPolicyTest, DescribeListsEveryPart) {
  const std::string text = MustParse("127.0.0.1,*.example.com", "10.0.0.0/8").Describe();
  EXPECT_THAT(text, HasSubstr("allow [127.0.0.1,*.example.com]"));
  EXPECT_THAT(text, HasSubstr("deny [10.0.0.0/8]"));
  EXPECT_THAT(text, HasSubstr("169.254.0.0/16"));
}

}  // namespace
}  // namespace taskwire::executor
