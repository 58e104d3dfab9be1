// Microsoft Graph against the real emulator process: directory reads, paging, drives, roles, $batch,
// identity mappings, and the bearer checks in front of all of them.

#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/tenant_emulator/emulator_fixture.h"

namespace crosstenant::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kMappings[] = "https://graph.microsoft.com/beta/solutions/sharePoint/migrations/crossOrganizationUserMappings";

class TenantEmulatorGraphTest : public EmulatorTest {};

void ExpectGraphError(const HttpResult& result, long status, const std::string& code) {
  EXPECT_EQ(result.status, status) << result.body;
  ASSERT_TRUE(result.json.is_object() && result.json.contains("error")) << result.body;
  EXPECT_EQ(result.json["error"].value("code", ""), code) << result.body;
  EXPECT_TRUE(result.json["error"].contains("message"));
  EXPECT_TRUE(result.json["error"]["innerError"].contains("request-id"));
}

TEST_F(TenantEmulatorGraphTest, OrganizationOfTheTokensTenant) {
  HttpResult result = Get(absl::StrCat(kGraph, "/v1.0/organization"), AppToken());
  ASSERT_EQ(result.status, 200) << result.body;
  ASSERT_EQ(result.json["value"].size(), 1u);
  EXPECT_EQ(result.json["value"][0]["id"], kContosoId);
  EXPECT_EQ(result.json["value"][0]["verifiedDomains"][0]["name"], "contoso.onmicrosoft.com");
}

TEST_F(TenantEmulatorGraphTest, UsersArePagedWithNextLinkUntilTheEnd) {
  const std::string token = AppToken();
  std::string url = absl::StrCat(kGraph, "/v1.0/users?$select=id,userPrincipalName");
  std::set<std::string> seen;
  int pages = 0;
  while (!url.empty()) {
    HttpResult page = Get(url, token);
    ASSERT_EQ(page.status, 200) << page.body;
    ++pages;
    for (const auto& user : page.json["value"]) {
      EXPECT_EQ(user.size(), 2u) << "$select keeps only the named fields";
      seen.insert(user["userPrincipalName"]);
    }
    url = page.json.value("@odata.nextLink", "");
    if (!url.empty()) {
      EXPECT_LE(page.json["value"].size(), 4u);
    }
  }
  EXPECT_EQ(seen.size(), 21u);  // 3 admins, 8 generated, 10 listed
  EXPECT_EQ(pages, 6);          // users_page_size 4
  EXPECT_TRUE(seen.count("o'brien@contoso.onmicrosoft.com"));

  HttpResult filtered = Get(absl::StrCat(kGraph, "/v1.0/users?$filter=userPrincipalName%20eq%20'user3@contoso.onmicrosoft.com'"),
                            token);
  ASSERT_EQ(filtered.status, 200) << filtered.body;
  ASSERT_EQ(filtered.json["value"].size(), 1u);
  ExpectGraphError(Get(absl::StrCat(kGraph, "/v1.0/users?$top=1000"), token), 400, "Request_BadRequest");
}

TEST_F(TenantEmulatorGraphTest, UserByIdOrUpnAndItsDrive) {
  const std::string token = AppToken();
  HttpResult by_upn = Get(absl::StrCat(kGraph, "/v1.0/users/euser1@contoso.onmicrosoft.com"), token);
  ASSERT_EQ(by_upn.status, 200) << by_upn.body;
  EXPECT_EQ(by_upn.json["preferredDataLocation"], "EUR");
  HttpResult by_id = Get(absl::StrCat(kGraph, "/beta/users/", by_upn.json["id"].get<std::string>()), token);
  ASSERT_EQ(by_id.status, 200);
  EXPECT_EQ(by_id.json["userPrincipalName"], "euser1@contoso.onmicrosoft.com");
  ExpectGraphError(Get(absl::StrCat(kGraph, "/v1.0/users/ghost@contoso.onmicrosoft.com"), token), 404,
                   "Request_ResourceNotFound");

  HttpResult drive = Get(absl::StrCat(kGraph, "/v1.0/users/euser1@contoso.onmicrosoft.com/drive"), token);
  ASSERT_EQ(drive.status, 200) << drive.body;
  EXPECT_EQ(drive.json["driveType"], "business");
  EXPECT_EQ(drive.json["webUrl"],
            "https://contosoeur-my.sharepoint.com/personal/euser1_contoso_onmicrosoft_com/Documents");
  HttpResult none = Get(absl::StrCat(kGraph, "/v1.0/users/nodrive@contoso.onmicrosoft.com/drive"), token);
  ExpectGraphError(none, 404, "ResourceNotFound");
  EXPECT_EQ(none.json["error"]["message"], "User's mysite not found.");
}

TEST_F(TenantEmulatorGraphTest, BearerChecksOnEveryCall) {
  const std::string url = absl::StrCat(kGraph, "/v1.0/users");
  HttpResult missing = Get(url);
  ExpectGraphError(missing, 401, "InvalidAuthenticationToken");
  EXPECT_FALSE(missing.headers["www-authenticate"].empty());
  ExpectGraphError(Get(url, "garbage"), 401, "InvalidAuthenticationToken");
  // A SharePoint token is for another audience.
  ExpectGraphError(Get(url, AppToken("contoso.onmicrosoft.com", kContosoApp, kContosoSecret, kContosoAdmin)), 401,
                   "InvalidAuthenticationToken");
  // A token forged with another key.
  nlohmann::json claims = DecodeClaims(AppToken());
  ExpectGraphError(Get(url, StrangerKey().Sign(claims)), 401, "InvalidAuthenticationToken");
  // An app without the permission.
  const std::string weak = AppToken("contoso.onmicrosoft.com", kNoPermissionApp, "none-secret");
  ExpectGraphError(Get(url, weak), 403, "Authorization_RequestDenied");
  // A user without a migration role may read but not start moves.
  const std::string reader = UserToken("reader@contoso.onmicrosoft.com", "Reader-1!");
  EXPECT_EQ(Get(url, reader).status, 200);
  HttpResult denied = StartMoveAs(reader);
  ExpectGraphError(denied, 403, "accessDenied");
  EXPECT_EQ(denied.json["error"]["message"], "Access denied");
}

class TenantEmulatorShortTokenTest : public EmulatorTest {
 protected:
  std::vector<std::string> ExtraArgs() override { return {"--token-lifetime", "1s"}; }
};

TEST_F(TenantEmulatorShortTokenTest, ExpiredTokensAreRefused) {
  HttpResult issued = PostForm(TokenEndpoint(), {{"grant_type", "client_credentials"},
                                                 {"client_id", kContosoApp},
                                                 {"client_secret", kContosoSecret},
                                                 {"scope", "https://graph.microsoft.com/.default"}});
  ASSERT_EQ(issued.status, 200);
  EXPECT_EQ(issued.json["expires_in"], 1);
  const std::string token = issued.json["access_token"];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  HttpResult result;
  do {
    result = Get(absl::StrCat(kGraph, "/v1.0/organization"), token);
    if (result.status == 401) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  ExpectGraphError(result, 401, "InvalidAuthenticationToken");
  EXPECT_THAT(result.json["error"]["message"].get<std::string>(), HasSubstr("expired"));
}

TEST_F(TenantEmulatorGraphTest, DirectoryRolesOfTheSignedInAdmin) {
  const std::string token = UserToken("admin@contoso.onmicrosoft.com", "Admin-1!");
  const std::string url = absl::StrCat(kGraph, "/v1.0/me/memberOf/microsoft.graph.directoryRole?$count=true");
  HttpResult roles = Get(url, token, {"ConsistencyLevel: eventual"});
  ASSERT_EQ(roles.status, 200) << roles.body;
  ASSERT_EQ(roles.json["value"].size(), 1u);
  EXPECT_EQ(roles.json["value"][0]["roleTemplateId"], "62e90394-69f5-4237-9190-012177145e10");
  EXPECT_EQ(roles.json["value"][0]["@odata.type"], "#microsoft.graph.directoryRole");
  ExpectGraphError(Get(url, token), 400, "Request_UnsupportedQuery");
  ExpectGraphError(Get(url, AppToken(), {"ConsistencyLevel: eventual"}), 400, "BadRequest");
  HttpResult me = Get(absl::StrCat(kGraph, "/v1.0/me"), token);
  EXPECT_EQ(me.json["userPrincipalName"], "admin@contoso.onmicrosoft.com");
}

TEST_F(TenantEmulatorGraphTest, BatchRunsUpToTwentyRequests) {
  nlohmann::json requests = nlohmann::json::array();
  requests.push_back({{"id", "1"}, {"method", "GET"}, {"url", "/organization"}});
  requests.push_back({{"id", "2"}, {"method", "GET"}, {"url", "/users/user1@contoso.onmicrosoft.com"}});
  requests.push_back({{"id", "3"}, {"method", "GET"}, {"url", "/users/nodrive@contoso.onmicrosoft.com/drive"}});
  requests.push_back({{"id", "4"}, {"method", "GET"}, {"url", "/users?$top=2"}});
  HttpResult batch = PostJson(absl::StrCat(kGraph, "/v1.0/$batch"), {{"requests", requests}}, AppToken());
  ASSERT_EQ(batch.status, 200) << batch.body;
  ASSERT_EQ(batch.json["responses"].size(), 4u);
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& r : batch.json["responses"]) by_id[r["id"]] = r;
  EXPECT_EQ(by_id["1"]["status"], 200);
  EXPECT_EQ(by_id["2"]["body"]["userPrincipalName"], "user1@contoso.onmicrosoft.com");
  EXPECT_EQ(by_id["3"]["status"], 404);
  EXPECT_EQ(by_id["4"]["body"]["value"].size(), 2u);

  nlohmann::json too_many = nlohmann::json::array();
  for (int i = 0; i < 21; ++i) too_many.push_back({{"id", std::to_string(i)}, {"method", "GET"}, {"url", "/organization"}});
  ExpectGraphError(PostJson(absl::StrCat(kGraph, "/v1.0/$batch"), {{"requests", too_many}}, AppToken()), 400,
                   "BadRequest");
  // Without a token every inner request is refused on its own.
  HttpResult anonymous = PostJson(absl::StrCat(kGraph, "/v1.0/$batch"), {{"requests", requests}});
  ASSERT_EQ(anonymous.status, 200);
  EXPECT_EQ(anonymous.json["responses"][0]["status"], 401);
}

TEST_F(TenantEmulatorGraphTest, UserMappingsDeltaGetAndLimits) {
  const std::string token = AppToken("fabrikam.onmicrosoft.com", kFabrikamApp, kFabrikamSecret);
  nlohmann::json value = nlohmann::json::array();
  for (int i = 1; i <= 2; ++i) {
    value.push_back({{"@odata.type", "#microsoft.graph.sharePointUserIdentityMapping"},
                     {"sourceOrganizationId", kContosoId},
                     {"userType", "regularUser"},
                     {"sourceUserIdentity", {{"userPrincipalName", absl::StrCat("user", i, "@contoso.onmicrosoft.com")}}},
                     {"targetUserIdentity", {{"userPrincipalName", absl::StrCat("user", i, "@fabrikam.onmicrosoft.com")}}},
                     {"targetUserMigrationData", {{"email", absl::StrCat("user", i, "@fabrikam.onmicrosoft.com")}}}});
  }
  HttpResult patched = PostJson(kMappings, {{"@context", "#$delta"}, {"value", value}}, token, "PATCH");
  ASSERT_EQ(patched.status, 200) << patched.body;
  ASSERT_EQ(patched.json["value"].size(), 2u);
  EXPECT_FALSE(patched.json["value"][0]["id"].get<std::string>().empty());

  const std::string one = std::string(kMappings) + "(sourceUserPrincipalName='user1@contoso.onmicrosoft.com')";
  HttpResult got = Get(one, token);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.json["targetUserIdentity"]["userPrincipalName"], "user1@fabrikam.onmicrosoft.com");

  nlohmann::json removal = {{"@odata.type", "#microsoft.graph.sharePointUserIdentityMapping"},
                            {"@removed", {{"reason", "deleted"}}},
                            {"sourceUserIdentity", {{"userPrincipalName", "user1@contoso.onmicrosoft.com"}}}};
  ASSERT_EQ(PostJson(kMappings, {{"@context", "#$delta"}, {"value", {removal}}}, token, "PATCH").status, 200);
  ExpectGraphError(Get(one, token), 404, "itemNotFound");

  nlohmann::json many = nlohmann::json::array();
  for (int i = 0; i < 51; ++i) many.push_back(value[0]);
  ExpectGraphError(PostJson(kMappings, {{"@context", "#$delta"}, {"value", many}}, token, "PATCH"), 400,
                   "invalidRequest");
}

}  // namespace
}  // namespace crosstenant::testing
