// Microsoft Graph against the real emulator process: directory reads, paging, drives, roles, $batch,
// identity mappings, and the bearer checks in front of all of them.

#include <chrono>
#include <regex>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "tests/integration/tenant_emulator/emulator_fixture.h"

namespace crosstenant::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

constexpr char kMappings[] =
    "https://graph.microsoft.com/beta/solutions/sharePoint/migrations/crossOrganizationUserMappings";

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

  HttpResult filtered =
      Get(absl::StrCat(kGraph, "/v1.0/users?$filter=userPrincipalName%20eq%20'user3@contoso.onmicrosoft.com'"), token);
  ASSERT_EQ(filtered.status, 200) << filtered.body;
  ASSERT_EQ(filtered.json["value"].size(), 1u);
  ExpectGraphError(Get(absl::StrCat(kGraph, "/v1.0/users?$top=1000"), token), 400, "Request_BadRequest");
}

// Graph's `in` operator, as a check of many users asks for them: up to 15 values, compared without
// case, '' for a quote; absent users are simply not in the answer.
TEST_F(TenantEmulatorGraphTest, UsersFilteredByAListOfUserPrincipalNames) {
  const std::string token = AppToken();
  auto in_filter = [&](const std::vector<std::string>& upns) {
    std::vector<std::string> quoted;
    for (const std::string& upn : upns) quoted.push_back(absl::StrCat("'", upn, "'"));
    return Get(
        absl::StrCat(kGraph, "/v1.0/users?$select=userPrincipalName&$filter=",
                     absl::StrReplaceAll(absl::StrCat("userPrincipalName in (", absl::StrJoin(quoted, ", "), ")"),
                                         {{" ", "%20"}})),
        token);
  };
  HttpResult found =
      in_filter({"USER3@contoso.onmicrosoft.com", "ghost@contoso.onmicrosoft.com", "o''brien@contoso.onmicrosoft.com"});
  ASSERT_EQ(found.status, 200) << found.body;
  std::set<std::string> upns;
  for (const auto& user : found.json["value"]) upns.insert(user["userPrincipalName"].get<std::string>());
  EXPECT_EQ(upns, (std::set<std::string>{"user3@contoso.onmicrosoft.com", "o'brien@contoso.onmicrosoft.com"}));

  std::vector<std::string> sixteen;
  for (int i = 0; i < 16; ++i) sixteen.push_back(absl::StrCat("user", i, "@contoso.onmicrosoft.com"));
  HttpResult too_many = in_filter(sixteen);
  ExpectGraphError(too_many, 400, "Request_UnsupportedQuery");
  EXPECT_THAT(too_many.body, ::testing::HasSubstr("Max allowed: 15"));
  ExpectGraphError(Get(absl::StrCat(kGraph, "/v1.0/users?$filter=", "userPrincipalName%20in%20('a@b.c'"), token), 400,
                   "Request_UnsupportedQuery");
}

TEST_F(TenantEmulatorGraphTest, UserByIdOrUpnAndItsDrive) {
  const std::string token = AppToken();
  HttpResult by_upn =
      Get(absl::StrCat(kGraph, "/v1.0/users/euser1@contoso.onmicrosoft.com?$select=id,preferredDataLocation"), token);
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
  for (int i = 0; i < 21; ++i)
    too_many.push_back({{"id", std::to_string(i)}, {"method", "GET"}, {"url", "/organization"}});
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
    value.push_back(
        {{"@odata.type", "#microsoft.graph.sharePointUserIdentityMapping"},
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

// The names of a JSON object's members, without the OData annotations ("@odata.context").
std::vector<std::string> Properties(const nlohmann::json& object) {
  std::vector<std::string> names;
  for (const auto& [name, value] : object.items()) {
    if (name.front() != '@') names.push_back(name);
  }
  return names;
}

bool IsGuid(const std::string& text) {
  static const std::regex guid("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");
  return std::regex_match(text, guid);
}

const std::vector<std::string> kV1DefaultUserProperties = {
    "businessPhones", "displayName",       "givenName", "jobTitle",          "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname",   "userPrincipalName", "id"};

TEST_F(TenantEmulatorGraphTest, UsersHaveGraphsDefaultPropertiesAndExactlyTheSelectedOnes) {
  const std::string token = AppToken();
  HttpResult one = Get(absl::StrCat(kGraph, "/v1.0/users/user1@contoso.onmicrosoft.com"), token);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_THAT(Properties(one.json), UnorderedElementsAreArray(kV1DefaultUserProperties)) << one.body;
  EXPECT_EQ(one.json["businessPhones"], nlohmann::json::array());
  EXPECT_EQ(one.json["userPrincipalName"], "user1@contoso.onmicrosoft.com");
  EXPECT_EQ(one.json["@odata.context"], "https://graph.microsoft.com/v1.0/$metadata#users/$entity");
  HttpResult list = Get(absl::StrCat(kGraph, "/v1.0/users?$top=3"), token);
  ASSERT_EQ(list.status, 200) << list.body;
  for (const nlohmann::json& user : list.json["value"]) {
    EXPECT_THAT(Properties(user), UnorderedElementsAreArray(kV1DefaultUserProperties)) << user.dump();
  }
  HttpResult me = Get(absl::StrCat(kGraph, "/v1.0/me"), UserToken("admin@contoso.onmicrosoft.com", "Admin-1!"));
  EXPECT_THAT(Properties(me.json), UnorderedElementsAreArray(kV1DefaultUserProperties)) << me.body;

  // $select: exactly what is named (id too only when named), case-insensitively, spelled as Graph does.
  HttpResult selected =
      Get(absl::StrCat(kGraph, "/v1.0/users/user1@contoso.onmicrosoft.com?$select=displayName"), token);
  ASSERT_EQ(selected.status, 200) << selected.body;
  EXPECT_THAT(Properties(selected.json), UnorderedElementsAreArray({"displayName"}));
  EXPECT_EQ(selected.json["@odata.context"], "https://graph.microsoft.com/v1.0/$metadata#users(displayName)/$entity");
  HttpResult mixed =
      Get(absl::StrCat(kGraph, "/v1.0/users?$top=2&$select=ID,preferreddatalocation,userType,accountEnabled"), token);
  ASSERT_EQ(mixed.status, 200) << mixed.body;
  for (const nlohmann::json& user : mixed.json["value"]) {
    EXPECT_THAT(Properties(user),
                UnorderedElementsAreArray({"id", "preferredDataLocation", "userType", "accountEnabled"}));
    EXPECT_EQ(user["userType"], "Member");
  }
  HttpResult members = Get(absl::StrCat(kGraph, "/v1.0/users?$top=999&$filter=userType%20eq%20'Member'"), token);
  ASSERT_EQ(members.status, 200) << members.body;
  EXPECT_EQ(members.json["value"].size(), 21u) << "every seeded user is a member";
  HttpResult guests = Get(absl::StrCat(kGraph, "/v1.0/users?$filter=userType%20eq%20'Guest'"), token);
  EXPECT_EQ(guests.json["value"].size(), 0u) << guests.body;
  // beta keeps its own default set.
  HttpResult beta = Get(absl::StrCat(kGraph, "/beta/users/user1@contoso.onmicrosoft.com"), token);
  EXPECT_THAT(Properties(beta.json), UnorderedElementsAreArray({"id", "userPrincipalName", "displayName", "mail",
                                                                "accountEnabled", "preferredDataLocation"}));
}

TEST_F(TenantEmulatorGraphTest, UnknownPathsGetGraphsStatusAndCode) {
  const std::string token = AppToken();
  HttpResult segment = Get(absl::StrCat(kGraph, "/v1.0/nosuchthing"), token);
  ExpectGraphError(segment, 400, "BadRequest");
  EXPECT_EQ(segment.json["error"]["message"], "Resource not found for the segment 'nosuchthing'.");
  HttpResult deeper = Get(absl::StrCat(kGraph, "/v1.0/users/user1@contoso.onmicrosoft.com/nosuch"), token);
  ExpectGraphError(deeper, 400, "BadRequest");
  EXPECT_EQ(deeper.json["error"]["message"], "Resource not found for the segment 'nosuch'.");
  // The migration API exists only in beta.
  HttpResult v1_migrations =
      Get(absl::StrCat(kGraph, "/v1.0/solutions/sharePoint/migrations/crossOrganizationMigrationTasks/x"), token);
  EXPECT_EQ(v1_migrations.json["error"]["message"], "Resource not found for the segment 'solutions'.");
  for (const char* path : {"/v3.0/users", "/v3.0/nosuchthing", "/users"}) {
    HttpResult version = Get(absl::StrCat(kGraph, path), token);
    ExpectGraphError(version, 400, "BadRequest");
    EXPECT_EQ(version.json["error"]["message"], "Invalid version.") << path;
  }
  HttpResult method = Request("DELETE", absl::StrCat(kGraph, "/v1.0/users"), "", {"Authorization: Bearer " + token});
  ExpectGraphError(method, 405, "Request_BadRequest");
  EXPECT_EQ(method.json["error"]["message"], "Specified HTTP method is not allowed for the request uri.");
  HttpResult unknown_id = Get(absl::StrCat(kGraph, "/v1.0/users/00000000-0000-4000-8000-00000000dead"), token);
  ExpectGraphError(unknown_id, 404, "Request_ResourceNotFound");
  EXPECT_THAT(unknown_id.json["error"]["message"].get<std::string>(), HasSubstr("does not exist"));
  // The same answers for a request inside a $batch.
  HttpResult batch = PostJson(absl::StrCat(kGraph, "/v1.0/$batch"),
                              {{"requests",
                                {{{"id", "1"}, {"method", "GET"}, {"url", "/nosuchthing"}},
                                 {{"id", "2"}, {"method", "DELETE"}, {"url", "/users"}}}}},
                              token);
  ASSERT_EQ(batch.status, 200) << batch.body;
  EXPECT_EQ(batch.json["responses"][0]["status"], 400);
  EXPECT_EQ(batch.json["responses"][0]["body"]["error"]["message"],
            "Resource not found for the segment 'nosuchthing'.");
  EXPECT_EQ(batch.json["responses"][1]["status"], 405);
}

TEST_F(TenantEmulatorGraphTest, RequestIdsOnEveryAnswerAndInErrorBodies) {
  const std::string token = AppToken();
  const std::string auth = "Authorization: Bearer " + token;
  // No client-request-id: Graph uses the request-id for both.
  HttpResult plain = Get(absl::StrCat(kGraph, "/v1.0/organization"), token);
  ASSERT_EQ(plain.status, 200);
  EXPECT_TRUE(IsGuid(plain.headers["request-id"])) << plain.headers["request-id"];
  EXPECT_EQ(plain.headers["client-request-id"], plain.headers["request-id"]);
  EXPECT_NE(Get(absl::StrCat(kGraph, "/v1.0/organization"), token).headers["request-id"], plain.headers["request-id"])
      << "a fresh request-id per answer";

  const std::string mine = "0f6a5e1c-3c1e-4d2b-9a57-2b1f5c7d9e01";
  const std::string echo = "client-request-id: " + mine;
  HttpResult ok = Get(absl::StrCat(kGraph, "/v1.0/users/user1@contoso.onmicrosoft.com"), token, {echo});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.headers["client-request-id"], mine);
  EXPECT_TRUE(IsGuid(ok.headers["request-id"]));
  // Errors of every kind: the same ids in the headers and in innerError, with Graph's date.
  for (HttpResult error : {Get(absl::StrCat(kGraph, "/v1.0/users/ghost@contoso.onmicrosoft.com"), token, {echo}),
                           Get(absl::StrCat(kGraph, "/v1.0/organization"), "", {echo}),
                           Get(absl::StrCat(kGraph, "/v1.0/nosuchthing"), token, {echo}),
                           Get(absl::StrCat(kGraph, "/v3.0/users"), token, {echo})}) {
    ASSERT_GE(error.status, 400) << error.body;
    const nlohmann::json& inner = error.json["error"]["innerError"];
    EXPECT_EQ(error.headers["client-request-id"], mine) << error.body;
    EXPECT_EQ(inner["client-request-id"], mine) << error.body;
    EXPECT_EQ(inner["request-id"], error.headers["request-id"]) << error.body;
    EXPECT_TRUE(std::regex_match(inner["date"].get<std::string>(), std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$)")))
        << inner.dump();
  }
  // A $batch: the envelope has the ids; each error inside has its own request-id and the client's id.
  HttpResult batch = Request("POST", absl::StrCat(kGraph, "/v1.0/$batch"),
                             nlohmann::json({{"requests",
                                              {{{"id", "1"}, {"method", "GET"}, {"url", "/users/ghost@x"}},
                                               {{"id", "2"}, {"method", "GET"}, {"url", "/users/nobody@x"}}}}})
                                 .dump(),
                             {auth, "Content-Type: application/json", echo});
  ASSERT_EQ(batch.status, 200) << batch.body;
  EXPECT_EQ(batch.headers["client-request-id"], mine);
  std::set<std::string> ids = {batch.headers["request-id"]};
  for (const nlohmann::json& response : batch.json["responses"]) {
    EXPECT_EQ(response["status"], 404);
    EXPECT_FALSE(response["headers"].contains("request-id")) << response.dump();
    EXPECT_EQ(response["body"]["error"]["innerError"]["client-request-id"], mine);
    ids.insert(response["body"]["error"]["innerError"]["request-id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 3u) << "the envelope and each sub-response have their own request-id";
  // Throttled, and a client-request-id that is not a usable header value is not echoed.
  ASSERT_EQ(Admin("PUT", "faults", {{"throttle_ratio", 1.0}, {"retry_after_seconds", 0}}).status, 200);
  HttpResult throttled = Get(absl::StrCat(kGraph, "/v1.0/organization"), token, {echo});
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(throttled.headers["client-request-id"], mine);
  EXPECT_EQ(throttled.json["error"]["innerError"]["request-id"], throttled.headers["request-id"]);
  HttpResult long_id =
      Get(absl::StrCat(kGraph, "/v1.0/organization"), token, {"client-request-id: " + std::string(200, 'a')});
  EXPECT_EQ(long_id.headers["client-request-id"], long_id.headers["request-id"]);
}

// The ids of a batch's requests and what each answered.
std::map<std::string, nlohmann::json> ById(const HttpResult& batch) {
  std::map<std::string, nlohmann::json> out;
  for (const nlohmann::json& response : batch.json["responses"]) out[response["id"]] = response;
  return out;
}

TEST_F(TenantEmulatorGraphTest, BatchDependsOnRunsInOrderAndFailsTheDependantsOfAFailure) {
  const std::string token = AppToken();
  const std::string url = absl::StrCat(kGraph, "/v1.0/$batch");
  nlohmann::json requests = {{{"id", "1"}, {"method", "GET"}, {"url", "/users/ghost@contoso.onmicrosoft.com"}},
                             {{"id", "2"}, {"method", "GET"}, {"url", "/organization"}, {"dependsOn", {"1"}}},
                             {{"id", "3"}, {"method", "GET"}, {"url", "/organization"}, {"dependsOn", {"2"}}},
                             {{"id", "4"}, {"method", "GET"}, {"url", "/users/user1@contoso.onmicrosoft.com"}},
                             {{"id", "5"}, {"method", "GET"}, {"url", "/organization"}, {"dependsOn", {"4"}}},
                             {{"id", "6"}, {"method", "GET"}, {"url", "/organization"}, {"dependsOn", {"4", "3"}}}};
  HttpResult batch = PostJson(url, {{"requests", requests}}, token);
  ASSERT_EQ(batch.status, 200) << batch.body;
  std::map<std::string, nlohmann::json> by_id = ById(batch);
  EXPECT_EQ(by_id["1"]["status"], 404);
  EXPECT_EQ(by_id["2"]["status"], 424) << by_id["2"].dump();
  EXPECT_EQ(by_id["2"]["body"]["error"]["code"], "FailedDependency");
  EXPECT_EQ(by_id["3"]["status"], 424) << "a dependant of a 424 fails too";
  EXPECT_EQ(by_id["4"]["status"], 200);
  EXPECT_EQ(by_id["5"]["status"], 200);
  EXPECT_EQ(by_id["6"]["status"], 424);

  // The whole batch is refused: a dependency on an unknown, later or own id (so no cycle can be
  // formed), duplicate ids (compared case-insensitively), a request without a url.
  const std::vector<nlohmann::json> refused = {
      {{{"id", "1"}, {"method", "GET"}, {"url", "/organization"}, {"dependsOn", {"9"}}}},
      {{{"id", "1"}, {"method", "GET"}, {"url", "/organization"}, {"dependsOn", {"2"}}},
       {{"id", "2"}, {"method", "GET"}, {"url", "/organization"}, {"dependsOn", {"1"}}}},
      {{{"id", "1"}, {"method", "GET"}, {"url", "/organization"}, {"dependsOn", {"1"}}}},
      {{{"id", "a"}, {"method", "GET"}, {"url", "/organization"}}, {{"id", "A"}, {"method", "GET"}, {"url", "/me"}}},
      {{{"id", "1"}, {"method", "GET"}}},
      // A body needs a Content-Type among the request's headers.
      {{{"id", "b1"}, {"method", "PATCH"}, {"url", "/me"}, {"body", {{"city", "Redmond"}}}}}};
  for (const nlohmann::json& bad : refused) {
    HttpResult result = PostJson(url, {{"requests", bad}}, token);
    ExpectGraphError(result, 400, "BadRequest");
    EXPECT_FALSE(result.json.contains("responses")) << bad.dump();
  }
  HttpResult duplicate = PostJson(url, {{"requests", refused[3]}}, token);
  EXPECT_EQ(duplicate.json["error"]["message"], "Request Id A has to be unique in a batch.");
  EXPECT_EQ(PostJson(url, {{"requests", refused.back()}}, token).json["error"]["message"],
            "Invalid batch payload format: request Id b1 has a body but no Content-Type header.");
  HttpResult forward = PostJson(url, {{"requests", refused[1]}}, token);
  EXPECT_THAT(forward.json["error"]["message"].get<std::string>(), HasSubstr("Invalid dependency for request Id 1"));
}

// Graph throttles each request of a batch on its own (429, or 503, each with its own Retry-After);
// the envelope stays 200 unless it is throttled itself; a throttled request's dependants answer 424.
TEST_F(TenantEmulatorGraphTest, BatchThrottlesEachRequestOnItsOwn) {
  const std::string token = AppToken();
  ASSERT_EQ(Admin("PUT", "faults",
                  {{"throttle_ratio", 0.3},
                   {"unavailable_ratio", 0.3},
                   {"retry_after_seconds", 1},
                   {"retry_after_max_seconds", 9}})
                .status,
            200);
  nlohmann::json requests = {{{"id", "1"}, {"method", "GET"}, {"url", "/organization"}},
                             {{"id", "2"}, {"method", "GET"}, {"url", "/organization"}, {"dependsOn", {"1"}}}};
  for (int i = 3; i <= 12; ++i) {
    requests.push_back({{"id", std::to_string(i)}, {"method", "GET"}, {"url", "/users/user1@contoso.onmicrosoft.com"}});
  }
  int envelopes_throttled = 0, ok = 0, throttled = 0, unavailable = 0, failed_dependency = 0;
  std::set<std::string> retry_afters;
  for (int round = 0;
       round < 300 && (envelopes_throttled == 0 || throttled == 0 || unavailable == 0 || failed_dependency == 0);
       ++round) {
    HttpResult batch = PostJson(absl::StrCat(kGraph, "/v1.0/$batch"), {{"requests", requests}}, token);
    if (batch.status != 200) {
      ASSERT_TRUE(batch.status == 429 || batch.status == 503) << batch.body;
      EXPECT_FALSE(batch.headers["retry-after"].empty());
      ++envelopes_throttled;
      continue;
    }
    std::map<std::string, nlohmann::json> by_id = ById(batch);
    ASSERT_EQ(by_id.size(), requests.size());
    for (const auto& [id, response] : by_id) {
      const int status = response["status"];
      if (status == 429 || status == 503) {
        (status == 429 ? throttled : unavailable)++;
        ASSERT_TRUE(response["headers"].contains("Retry-After")) << response.dump();
        retry_afters.insert(response["headers"]["Retry-After"].get<std::string>());
        EXPECT_EQ(response["body"]["error"]["code"], status == 429 ? "TooManyRequests" : "serviceNotAvailable");
      } else if (status == 424) {
        ++failed_dependency;
        EXPECT_EQ(id, "2");
        EXPECT_GE(by_id["1"]["status"].get<int>(), 429) << "only the dependant of a failed request";
        EXPECT_FALSE(response["headers"].contains("Retry-After")) << "not run, so not throttled";
      } else {
        ASSERT_EQ(status, 200) << response.dump();
        ++ok;
      }
    }
  }
  EXPECT_GT(envelopes_throttled, 0);
  EXPECT_GT(ok, 0);
  EXPECT_GT(throttled, 0);
  EXPECT_GT(unavailable, 0);
  EXPECT_GT(failed_dependency, 0);
  EXPECT_GT(retry_afters.size(), 1u) << "each throttled request draws its own Retry-After";
}

}  // namespace
}  // namespace crosstenant::testing
