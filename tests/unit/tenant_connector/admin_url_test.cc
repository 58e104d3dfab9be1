// The admin URL table: good URLs normalise, bad ones say what to type instead.

#include "services/tenant_connector/core/admin_url.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>

#include "services/common/user_text.h"

namespace crosstenant::tenant_connector {
namespace {

using ::testing::HasSubstr;

struct Good {
  const char* input;
  Cloud cloud;
  const char* url;
  const char* tenant;
  Cloud resolved;
};

class GoodAdminUrlTest : public ::testing::TestWithParam<Good> {};

TEST_P(GoodAdminUrlTest, Normalises) {
  const Good& good = GetParam();
  absl::StatusOr<AdminUrl> url = ParseAdminUrl(good.input, good.cloud);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->url, good.url);
  EXPECT_EQ(url->tenant_name, good.tenant);
  EXPECT_EQ(url->cloud, good.resolved);
}

INSTANTIATE_TEST_SUITE_P(Table, GoodAdminUrlTest,
                         ::testing::Values(Good{"https://contoso-admin.sharepoint.com", Cloud::kUnspecified,
                                                "https://contoso-admin.sharepoint.com", "contoso", Cloud::kCommercial},
                                           Good{"https://contoso-admin.sharepoint.com/", Cloud::kUnspecified,
                                                "https://contoso-admin.sharepoint.com", "contoso", Cloud::kCommercial},
                                           Good{"  HTTPS://Contoso-Admin.SharePoint.com/  ", Cloud::kUnspecified,
                                                "https://contoso-admin.sharepoint.com", "contoso", Cloud::kCommercial},
                                           Good{"https://ContosoEUR-admin.sharepoint.com", Cloud::kCommercial,
                                                "https://contosoeur-admin.sharepoint.com", "contosoeur",
                                                Cloud::kCommercial},
                                           Good{"https://contoso-admin.sharepoint.com:443", Cloud::kUnspecified,
                                                "https://contoso-admin.sharepoint.com", "contoso", Cloud::kCommercial},
                                           Good{"https://contoso-admin.sharepoint.com.", Cloud::kUnspecified,
                                                "https://contoso-admin.sharepoint.com", "contoso", Cloud::kCommercial},
                                           Good{"https://fabrikam-admin.sharepoint.us", Cloud::kUnspecified,
                                                "https://fabrikam-admin.sharepoint.us", "fabrikam", Cloud::kGccHigh},
                                           Good{"https://army-admin.sharepoint-mil.us", Cloud::kUnspecified,
                                                "https://army-admin.sharepoint-mil.us", "army", Cloud::kDod},
                                           Good{"https://contoso-admin.sharepoint.cn", Cloud::kChina,
                                                "https://contoso-admin.sharepoint.cn", "contoso", Cloud::kChina},
                                           Good{"https://agency-admin.sharepoint.com", Cloud::kGcc,
                                                "https://agency-admin.sharepoint.com", "agency", Cloud::kGcc},
                                           Good{"https://t1-admin.sharepoint.com", Cloud::kUnspecified,
                                                "https://t1-admin.sharepoint.com", "t1", Cloud::kCommercial}));

struct Bad {
  const char* input;
  Cloud cloud;
  const char* says;     // part of the reason
  const char* instead;  // what to type instead
};

class BadAdminUrlTest : public ::testing::TestWithParam<Bad> {};

TEST_P(BadAdminUrlTest, RefusesWithSuggestion) {
  const Bad& bad = GetParam();
  absl::StatusOr<AdminUrl> url = ParseAdminUrl(bad.input, bad.cloud);
  ASSERT_FALSE(url.ok()) << bad.input << " was accepted as " << url->url;
  EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(url.status().message(), HasSubstr(bad.says));
  EXPECT_THAT(url.status().message(), HasSubstr(bad.instead));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadAdminUrlTest,
    ::testing::Values(Bad{"", Cloud::kUnspecified, "required", "https://contoso-admin.sharepoint.com"},
                      Bad{"http://contoso-admin.sharepoint.com", Cloud::kUnspecified, "https",
                          "type https://contoso-admin.sharepoint.com instead"},
                      Bad{"contoso-admin.sharepoint.com", Cloud::kUnspecified, "https",
                          "type https://contoso-admin.sharepoint.com instead"},
                      Bad{"https://contoso-my.sharepoint.com", Cloud::kUnspecified, "OneDrive (my-site) host",
                          "type https://contoso-admin.sharepoint.com instead"},
                      Bad{"https://contoso-my.sharepoint.com/personal/alice_contoso_com", Cloud::kUnspecified,
                          "OneDrive (my-site) host", "https://contoso-admin.sharepoint.com"},
                      Bad{"https://contoso.sharepoint.com", Cloud::kUnspecified, "site URL",
                          "type https://contoso-admin.sharepoint.com instead"},
                      Bad{"https://contoso.sharepoint.com/sites/finance", Cloud::kUnspecified, "site URL",
                          "https://contoso-admin.sharepoint.com"},
                      Bad{"https://contoso-admin.sharepoint.com/_layouts/15/online/AdminHome.aspx", Cloud::kUnspecified,
                          "has a path", "type https://contoso-admin.sharepoint.com instead"},
                      Bad{"https://contoso-admin.sharepoint.com/?tab=home", Cloud::kUnspecified, "query",
                          "https://contoso-admin.sharepoint.com"},
                      Bad{"https://contoso-admin.sharepoint.com#home", Cloud::kUnspecified, "query or fragment",
                          "https://contoso-admin.sharepoint.com"},
                      Bad{"https://contoso.onmicrosoft.com", Cloud::kUnspecified, "Entra ID domain",
                          "https://contoso-admin.sharepoint.com"},
                      Bad{"https://admin.microsoft.com", Cloud::kUnspecified, "Microsoft 365 admin center",
                          "https://<tenant>-admin.sharepoint.com"},
                      Bad{"https://contoso-admin.example.com", Cloud::kUnspecified, "not a SharePoint Online host",
                          "https://<tenant>-admin.sharepoint.com"},
                      Bad{"https://con-toso-admin.sharepoint.com", Cloud::kUnspecified, "hyphen",
                          "https://<tenant>-admin.sharepoint.com"},
                      Bad{"https://-admin.sharepoint.com", Cloud::kUnspecified, "no tenant name",
                          "https://<tenant>-admin.sharepoint.com"},
                      Bad{"https://contoso-admin.sharepoint.com:8443", Cloud::kUnspecified, "port",
                          "https://contoso-admin.sharepoint.com"},
                      Bad{"https://admin@contoso-admin.sharepoint.com", Cloud::kUnspecified, "user name",
                          "https://<tenant>-admin.sharepoint.com"},
                      Bad{"https://www.contoso-admin.sharepoint.com", Cloud::kUnspecified, "extra labels",
                          "https://contoso-admin.sharepoint.com"},
                      Bad{"https://contoso-admin.sharepoint.us", Cloud::kCommercial, "cloud is COMMERCIAL",
                          "https://contoso-admin.sharepoint.com"},
                      Bad{"https://contoso-admin.sharepoint.com", Cloud::kGccHigh, "cloud is GCC_HIGH",
                          "https://contoso-admin.sharepoint.us"},
                      Bad{"ftp://contoso-admin.sharepoint.com", Cloud::kUnspecified, "not an https URL",
                          "https://<tenant>-admin.sharepoint.com"},
                      Bad{"https://contoso_1-admin.sharepoint.com", Cloud::kUnspecified, "invalid character",
                          "https://<tenant>-admin.sharepoint.com"},
                      Bad{"https://fabrikam-my.sharepoint.us/", Cloud::kGccHigh, "OneDrive (my-site) host",
                          "https://fabrikam-admin.sharepoint.us"}));

TEST(AdminUrlTest, DerivedHosts) {
  AdminUrl url = *ParseAdminUrl("https://contosoeur-admin.sharepoint.com", Cloud::kUnspecified);
  EXPECT_EQ(url.MySiteHost(), "https://contosoeur-my.sharepoint.com/");
  EXPECT_EQ(url.RootSite(), "https://contosoeur.sharepoint.com");
  EXPECT_EQ(url.InitialDomainGuess(), "contosoeur.onmicrosoft.com");
  EXPECT_EQ(std::string(ProfileOf(Cloud::kGccHigh).login_host), "login.microsoftonline.us");
  EXPECT_EQ(std::string(ProfileOf(Cloud::kDod).graph_host), "dod-graph.microsoft.us");
  EXPECT_EQ(std::string(ProfileOf(Cloud::kChina).login_host), "login.chinacloudapi.cn");
  EXPECT_FALSE(ProfileOf(Cloud::kGcc).migration_supported);
  EXPECT_TRUE(ProfileOf(Cloud::kCommercial).migration_supported);
}

// Whatever was typed, the refusal is short, holds no password and is valid UTF-8 (it travels in gRPC
// metadata, which a 10 MB URL used to overflow).
TEST(AdminUrlTest, RefusalsEchoTheUrlBoundedRedactedAndValidUtf8) {
  const auto valid_utf8 = [](absl::string_view text) { return QuoteForMessage(text, SIZE_MAX) == text; };
  absl::StatusOr<AdminUrl> huge =
      ParseAdminUrl("https://" + std::string(10 << 20, 'a') + ".sharepoint.com/x", Cloud::kUnspecified);
  ASSERT_FALSE(huge.ok());
  EXPECT_LT(huge.status().message().size(), 1000u);
  EXPECT_THAT(huge.status().message(), HasSubstr("bytes)"));

  absl::StatusOr<AdminUrl> password =
      ParseAdminUrl("https://admin:hunter2@contoso-admin.sharepoint.com", Cloud::kUnspecified);
  ASSERT_FALSE(password.ok());
  EXPECT_THAT(password.status().message(), ::testing::Not(HasSubstr("hunter2")));
  EXPECT_THAT(password.status().message(), HasSubstr("https://***@contoso-admin.sharepoint.com"));

  for (const std::string& input :
       {std::string("https://cöntoso-admin.sharepoint.com"), std::string("https://c\xC3-admin.sharepoint.com"),
        std::string("https://\xFF\xFE.example.com/\x01")}) {
    absl::StatusOr<AdminUrl> url = ParseAdminUrl(input, Cloud::kUnspecified);
    ASSERT_FALSE(url.ok()) << input;
    EXPECT_TRUE(valid_utf8(url.status().message())) << url.status().message();
  }
  EXPECT_THAT(ParseAdminUrl("https://c\xC3-admin.sharepoint.com", Cloud::kUnspecified).status().message(),
              HasSubstr("\\xC3"));
}

}  // namespace
}  // namespace crosstenant::tenant_connector
