// The proxy URL rules of upstream.proxy (ParseProxyUrl) and the no-proxy suffix match (BypassesProxy).

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/tenant_connector/core/http.h"

namespace crosstenant::tenant_connector {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseProxyUrlTest, TakesHttpAndHttpsWithHostAndPort) {
  absl::StatusOr<ProxyAddress> plain = ParseProxyUrl("http://Proxy.Corp.example:3128/");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->scheme, "http");
  EXPECT_EQ(plain->host, "proxy.corp.example");
  EXPECT_EQ(plain->port, 3128);
  EXPECT_EQ(plain->HostPort(), "proxy.corp.example:3128");
  EXPECT_EQ(plain->Url(), "http://proxy.corp.example:3128");

  absl::StatusOr<ProxyAddress> v6 = ParseProxyUrl("HTTPS://[2001:db8::10]:8443");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->scheme, "https");
  EXPECT_EQ(v6->host, "2001:db8::10");
  EXPECT_EQ(v6->HostPort(), "[2001:db8::10]:8443");
}

TEST(ParseProxyUrlTest, RefusesWhatIsNotAConnectProxyAddress) {
  struct Case {
    const char* url;
    const char* message;
  };
  for (const Case& bad : std::vector<Case>{{"socks5://proxy:1080", "must be http://HOST:PORT"},
                                           {"proxy.corp.example:3128", "must be http://HOST:PORT"},
                                           {"http://:3128", "names no host"},
                                           {"http://proxy", "names no port"},
                                           {"http://proxy:0", "not 1-65535"},
                                           {"http://proxy:65536", "not 1-65535"},
                                           {"http://proxy:31x8", "not 1-65535"},
                                           {"http://proxy:3128/path", "no path or query"},
                                           {"http://[2001:db8::10:3128", "no \"]\""},
                                           {"http://pro xy:3128", "invalid host"}}) {
    absl::StatusOr<ProxyAddress> parsed = ParseProxyUrl(bad.url);
    ASSERT_FALSE(parsed.ok()) << bad.url;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad.url;
    EXPECT_THAT(parsed.status().message(), HasSubstr(bad.message)) << bad.url;
  }
}

TEST(ParseProxyUrlTest, RefusesUserInfoWithoutEchoingIt) {
  absl::StatusOr<ProxyAddress> parsed = ParseProxyUrl("http://egress:Pa55-w0rd@proxy:3128");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("must not hold credentials"));
  EXPECT_THAT(parsed.status().message(), Not(HasSubstr("Pa55")));
  EXPECT_THAT(parsed.status().message(), Not(HasSubstr("egress")));
}

TEST(BypassesProxyTest, MatchesHostSuffixesCaseInsensitively) {
  const std::vector<std::string> no_proxy = {".svc", "Microsoft.com", ""};
  EXPECT_TRUE(BypassesProxy("graph.microsoft.com", no_proxy));
  EXPECT_TRUE(BypassesProxy("microsoft.com", no_proxy));
  EXPECT_TRUE(BypassesProxy("tenant-emulator.crosstenant.SVC", no_proxy));
  EXPECT_FALSE(BypassesProxy("login.microsoftonline.com", no_proxy));  // a suffix of labels, not of text
  EXPECT_FALSE(BypassesProxy("notmicrosoft.com", no_proxy));
  EXPECT_FALSE(BypassesProxy("contoso-admin.sharepoint.com", {}));
  EXPECT_TRUE(BypassesProxy("contoso-admin.sharepoint.com", {"*"}));
}

}  // namespace
}  // namespace crosstenant::tenant_connector
