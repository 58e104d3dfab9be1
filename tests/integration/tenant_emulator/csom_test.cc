// SharePoint's admin surface (CSOM ProcessQuery, contextinfo, the realm challenge, Multi-Geo REST) and
// its certificate rule, against the real emulator process. Moves, redirect sites and their removal are
// in moves_test.cc.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/tenant_emulator/emulator_fixture.h"

namespace crosstenant::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kGlobalRelationshipPartner[] = "https://fabrikam-my.sharepoint.com/";
constexpr char kMappings[] =
    "https://graph.microsoft.com/beta/solutions/sharePoint/migrations/crossOrganizationUserMappings";

class TenantEmulatorCsomTest : public EmulatorTest {
 protected:
  // The OrgRelationVerificationStatus number.
  int Verify(const std::string& host, int role, const std::string& partner) {
    HttpResult result = OrgRelation(host, "VerifySPOTenantOrgRelation", role, partner);
    EXPECT_EQ(result.status, 200) << result.body;
    EXPECT_TRUE(CsomError(result).is_null()) << result.body;
    const nlohmann::json value = CsomResult(result, 3);
    return value.is_number_integer() ? value.get<int>() : -1;
  }
  void ExpectErrorInfo(const HttpResult& result, long status, const std::string& type, const std::string& text,
                       int64_t code) {
    EXPECT_EQ(result.status, status) << result.body;
    const nlohmann::json error = CsomError(result);
    ASSERT_TRUE(error.is_object()) << result.body;
    EXPECT_EQ(error["ErrorTypeName"], type) << result.body;
    EXPECT_THAT(error["ErrorMessage"].get<std::string>(), HasSubstr(text));
    EXPECT_EQ(error["ErrorCode"], code);
    EXPECT_EQ(error["ErrorValue"], nullptr);
    EXPECT_EQ(error["TraceCorrelationId"], result.json[0]["TraceCorrelationId"]);
    EXPECT_EQ(result.json.size(), 1u) << "an error answers only the header";
  }
};

TEST_F(TenantEmulatorCsomTest, RealmChallengeNamesTheTenantOnEveryGeo) {
  for (const char* path : {"/_vti_bin/client.svc", "/_vti_bin/client.svc/ProcessQuery"}) {
    for (const char* method : {"GET", "POST"}) {
      HttpResult challenge = Request(method, absl::StrCat(kContosoEurAdmin, path), "", {"Authorization: Bearer"});
      EXPECT_EQ(challenge.status, 401) << method << " " << path;
      EXPECT_EQ(challenge.headers["www-authenticate"],
                absl::StrCat("Bearer realm=\"", kContosoId,
                             "\",client_id=\"00000003-0000-0ff1-ce00-000000000000\","
                             "trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\","
                             "authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\""));
    }
  }
  HttpResult fabrikam = Get(absl::StrCat(kFabrikamAdmin, "/_vti_bin/client.svc"));
  EXPECT_EQ(fabrikam.status, 401);
  EXPECT_THAT(fabrikam.headers["www-authenticate"], HasSubstr(absl::StrCat("realm=\"", kFabrikamId, "\"")));
}

TEST_F(TenantEmulatorCsomTest, SharePointRefusesSecretAppTokensAndTakesCertificates) {
  const std::string secret = AppToken("contoso.onmicrosoft.com", kContosoApp, kContosoSecret, kContosoAdmin);
  EXPECT_EQ(DecodeClaims(secret)["appidacr"], "1");
  for (const std::string& url : {std::string(kContosoAdmin) + "/_vti_bin/client.svc/ProcessQuery",
                                 std::string("https://contoso-my.sharepoint.com/_api/contextinfo"),
                                 std::string("https://contoso.sharepoint.com/_api/contextinfo")}) {
    HttpResult refused = Request("POST", url, CsomBody("", ""), {"Authorization: Bearer " + secret});
    EXPECT_EQ(refused.status, 401) << url;
    EXPECT_EQ(refused.body, R"({"error_description":"Unsupported app only token."})") << url;
    EXPECT_EQ(refused.headers["x-ms-diagnostics"],
              "3001000;reason=\"Unsupported app only token.\";category=\"invalid_client\"");
    EXPECT_THAT(refused.headers["www-authenticate"], HasSubstr(absl::StrCat("realm=\"", kContosoId, "\"")));
  }
  const std::string certificate = SharePointToken(kContosoAdmin);
  EXPECT_EQ(DecodeClaims(certificate)["appidacr"], "2");
  HttpResult accepted = CallTenant(kContosoAdmin, "GetMySiteHostUrl", "", certificate);
  EXPECT_EQ(accepted.status, 200) << accepted.body;
  // Graph still takes secrets; delegated tokens are unchanged (public client: 0).
  EXPECT_EQ(Get(absl::StrCat(kGraph, "/v1.0/organization"), AppToken()).status, 200);
  const std::string admin = UserToken("admin@contoso.onmicrosoft.com", "Admin-1!", kContosoAdmin);
  EXPECT_EQ(DecodeClaims(admin)["appidacr"], "0");
  EXPECT_EQ(CallTenant(kContosoAdmin, "GetMySiteHostUrl", "", admin).status, 200);
}

TEST_F(TenantEmulatorCsomTest, TokensMustBeForThisTenantsSharePointAndAnAdmin) {
  EXPECT_EQ(CallTenant(kContosoAdmin, "GetMySiteHostUrl", "", AppToken()).status, 401)
      << "a Graph token is not a SharePoint token";
  EXPECT_EQ(CallTenant(kContosoAdmin, "GetMySiteHostUrl", "", SharePointToken(kFabrikamAdmin)).status, 401)
      << "fabrikam's token is not for contoso";
  const std::string reader = UserToken("reader@contoso.onmicrosoft.com", "Reader-1!", kContosoAdmin);
  EXPECT_EQ(CallTenant(kContosoAdmin, "GetMySiteHostUrl", "", reader).status, 403) << "Global Reader is not an admin";
}

TEST_F(TenantEmulatorCsomTest, HostUrlAndTenantInstancesInMicrosoftsShape) {
  HttpResult host = CallTenant(kContosoEurAdmin, "GetMySiteHostUrl");
  ASSERT_EQ(host.status, 200) << host.body;
  EXPECT_THAT(host.headers["content-type"], HasSubstr("application/json"));
  ASSERT_TRUE(host.json.is_array()) << host.body;
  ASSERT_EQ(host.json.size(), 5u) << host.body;
  const nlohmann::json& header = host.json[0];
  EXPECT_EQ(header["SchemaVersion"], "15.0.0.0");
  EXPECT_EQ(header["LibraryVersion"], "16.0.24106.12002");
  EXPECT_TRUE(header["ErrorInfo"].is_null());
  EXPECT_EQ(header["TraceCorrelationId"].get<std::string>().size(), 36u);
  EXPECT_EQ(host.json[1], 2);
  EXPECT_EQ(host.json[2], nlohmann::json({{"IsNull", false}}));
  EXPECT_EQ(CsomResult(host, 3), kContosoEurHost) << "the geo's own my-site host";
  EXPECT_NE(CallTenant(kContosoAdmin, "GetMySiteHostUrl").json[0]["TraceCorrelationId"], header["TraceCorrelationId"]);

  for (const char* admin : {kContosoAdmin, kContosoEurAdmin}) {
    HttpResult instances = QueryTenantMethod(admin, "GetTenantInstances");
    ASSERT_EQ(instances.status, 200) << instances.body;
    const nlohmann::json list = CsomResult(instances, 5);
    EXPECT_EQ(list["_ObjectType_"], "SP.ClientObjectList");
    ASSERT_EQ(list["_Child_Items_"].size(), 2u) << instances.body;
    EXPECT_EQ(list["_Child_Items_"][0],
              nlohmann::json({{"_ObjectType_", "Microsoft.Online.SharePoint.TenantAdministration.SPOTenantInstance"},
                              {"DataLocation", "NAM"},
                              {"IsDefaultDataLocation", true},
                              {"MySiteHostUrl", "https://contoso-my.sharepoint.com/"},
                              {"PortalUrl", nullptr},
                              {"RootSiteUrl", "https://contoso.sharepoint.com/"},
                              {"TenantAdminUrl", "https://contoso-admin.sharepoint.com/"}}));
    EXPECT_EQ(list["_Child_Items_"][1]["DataLocation"], "EUR");
    EXPECT_EQ(list["_Child_Items_"][1]["IsDefaultDataLocation"], false);
    EXPECT_EQ(list["_Child_Items_"][1]["TenantAdminUrl"], std::string(kContosoEurAdmin) + "/");
  }
}

TEST_F(TenantEmulatorCsomTest, TrustGoesThroughEveryVerificationValue) {
  EXPECT_EQ(Verify(kContosoAdmin, 2, kFabrikamHost), 0) << "NotEstablished";
  HttpResult set = OrgRelation(kContosoAdmin, "NewSPOTenantOrgRelation", 2, kFabrikamHost);
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_TRUE(CsomError(set).is_null()) << set.body;
  EXPECT_EQ(set.json.size(), 3u) << "a void method adds nothing for its id: " << set.body;
  EXPECT_EQ(Verify(kContosoAdmin, 2, kFabrikamHost), 1) << "NotEstablishedByPartner";
  ASSERT_TRUE(CsomError(OrgRelation(kFabrikamAdmin, "NewSPOTenantOrgRelation", 1, kContosoHost)).is_null());
  EXPECT_EQ(Verify(kContosoAdmin, 2, kFabrikamHost), 3) << "DormantByPartner";
  EXPECT_EQ(Verify(kFabrikamAdmin, 1, kContosoHost), 3);
  AdvanceTime(3601);
  EXPECT_EQ(Verify(kContosoAdmin, 2, kFabrikamHost), 4) << "GoodToProceed";
  EXPECT_EQ(Verify(kContosoAdmin, 2, "https://FABRIKAM-my.sharepoint.com"), 4) << "URLs compare loosely";
  EXPECT_EQ(Verify(kFabrikamAdmin, 1, kContosoHost), 4);
  EXPECT_EQ(Verify(kContosoEurAdmin, 2, kFabrikamHost), 0) << "the EUR geo has no relationship";

  ASSERT_EQ(Admin("PUT", "faults", {{"unreachable_tenants", {"fabrikam"}}}).status, 200);
  EXPECT_EQ(Verify(kContosoAdmin, 2, kFabrikamHost), 5) << "CouldNotContactPartner";
  ASSERT_EQ(Admin("DELETE", "faults").status, 200);
  EXPECT_EQ(Verify(kContosoAdmin, 2, "https://nowhere-my.sharepoint.com/"), 5);

  HttpResult removed = OrgRelation(kContosoAdmin, "RemoveSPOTenantOrgRelation", 2, kFabrikamHost);
  EXPECT_TRUE(CsomError(removed).is_null()) << removed.body;
  EXPECT_EQ(removed.json.size(), 3u);
  EXPECT_EQ(Verify(kContosoAdmin, 2, kFabrikamHost), 0);
  EXPECT_EQ(Verify(kFabrikamAdmin, 1, kContosoHost), 1);
}

TEST_F(TenantEmulatorCsomTest, ServerSideErrorsComeAsErrorInfo) {
  constexpr int64_t kArgument = -2147024809;
  ExpectErrorInfo(CallTenant(kContosoAdmin, "SetSomethingUnheardOf"), 200,
                  "Microsoft.SharePoint.Client.InvalidClientQueryException", "SetSomethingUnheardOf", kArgument);
  ExpectErrorInfo(CallTenant(kContosoAdmin, "VerifySPOTenantOrgRelation", CsomParameter("Enum", "1")), 200,
                  "System.ArgumentException", "takes 3 parameters", kArgument);
  ExpectErrorInfo(
      CallTenant(kContosoAdmin, "VerifySPOTenantOrgRelation",
                 CsomParameter("String", "MnA") + CsomParameter("Enum", "2") + CsomParameter("String", kFabrikamHost)),
      200, "System.ArgumentException", "must be a Enum or Int32, not String", kArgument);
  ExpectErrorInfo(OrgRelation(kContosoAdmin, "NewSPOTenantOrgRelation", 7, kFabrikamHost), 200,
                  "System.ArgumentException", "Source (1) or Target (2)", kArgument);
  ExpectErrorInfo(OrgRelation(kContosoAdmin, "NewSPOTenantOrgRelation", 2, kContosoEurHost), 200,
                  "System.ArgumentException", "with itself", kArgument);
  ExpectErrorInfo(OrgRelation(kContosoAdmin, "NewSPOTenantOrgRelation", 2, "https://nowhere-my.sharepoint.com/"), 200,
                  "System.ArgumentException", "is not valid", kArgument);
  const std::string northwind = "https://northwind-admin.sharepoint.com";
  ExpectErrorInfo(OrgRelation(northwind, "NewSPOTenantOrgRelation", 2, kFabrikamHost), 200,
                  "Microsoft.Online.SharePoint.Common.SpoException",
                  "The Cross-Tenant content move feature is not enabled for this tenant.", -1);
  ExpectErrorInfo(CallTenant(northwind, "GetMySiteHostUrl"), 200, "Microsoft.Online.SharePoint.Common.SpoException",
                  "not enabled", -1);
  // An unknown TypeId, an unsupported path kind, a SetProperty.
  ExpectErrorInfo(ProcessQuery(kContosoAdmin,
                               CsomBody("<ObjectPath Id=\"2\" ObjectPathId=\"1\"/>",
                                        "<Constructor Id=\"1\" TypeId=\"{11111111-0000-0000-0000-000000000000}\"/>")),
                  200, "Microsoft.SharePoint.Client.InvalidClientQueryException", "{11111111-0000", kArgument);
  ExpectErrorInfo(
      ProcessQuery(kContosoAdmin,
                   CsomBody("<Query Id=\"3\" ObjectPathId=\"2\"><Query SelectAllProperties=\"true\"/></Query>",
                            "<Constructor Id=\"1\" TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\"/>"
                            "<Property Id=\"2\" ParentId=\"1\" Name=\"RootSite\"/>")),
      200, "Microsoft.SharePoint.Client.InvalidClientQueryException", "RootSite", kArgument);
  // Malformed XML: HTTP 400, ErrorInfo all the same.
  ExpectErrorInfo(ProcessQuery(kContosoAdmin, "<Request><Actions>"), 400,
                  "Microsoft.SharePoint.Client.InvalidClientQueryException", "not well-formed", kArgument);
  ExpectErrorInfo(ProcessQuery(kContosoAdmin, "{\"json\":true}"), 400,
                  "Microsoft.SharePoint.Client.InvalidClientQueryException", "XML", kArgument);
  // An action after a failing one is not run: the relationship is not set.
  ProcessQuery(kContosoAdmin,
               CsomBody("<Method Name=\"Nope\" Id=\"2\" ObjectPathId=\"1\"/>"
                        "<Method Name=\"NewSPOTenantOrgRelation\" Id=\"3\" ObjectPathId=\"1\"><Parameters>" +
                            CsomParameter("Enum", "1") + CsomParameter("Enum", "2") +
                            CsomParameter("String", kFabrikamHost) + "</Parameters></Method>",
                        "<Constructor Id=\"1\" TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\"/>"));
  EXPECT_EQ(Verify(kContosoAdmin, 2, kFabrikamHost), 0);
}

TEST_F(TenantEmulatorCsomTest, IdentityMappingReadBack) {
  const std::string graph = AppToken("fabrikam.onmicrosoft.com", kFabrikamApp, kFabrikamSecret);
  nlohmann::json value = nlohmann::json::array();
  value.push_back({{"sourceOrganizationId", kContosoId},
                   {"userType", "regularUser"},
                   {"sourceUserIdentity", {{"userPrincipalName", "User1@contoso.onmicrosoft.com"}}},
                   {"targetUserIdentity", {{"userPrincipalName", "user1@fabrikam.onmicrosoft.com"}}},
                   {"targetUserMigrationData", {{"email", "first.user@fabrikam.com"}}}});
  value.push_back({{"sourceOrganizationId", kContosoId},
                   {"userType", "guestUser"},
                   {"sourceUserIdentity", {{"userPrincipalName", "user2@contoso.onmicrosoft.com"}}},
                   {"targetUserIdentity", {{"userPrincipalName", "user2@fabrikam.onmicrosoft.com"}}}});
  ASSERT_EQ(PostJson(kMappings, {{"@context", "#$delta"}, {"value", value}}, graph, "PATCH").status, 200);

  auto lookup = [&](int field, const std::string& key) {
    HttpResult result = QueryTenantMethod(kFabrikamAdmin, "GetTenantUserIdentityMappingItem",
                                          CsomParameter("Enum", std::to_string(field)) + CsomParameter("String", key));
    EXPECT_EQ(result.status, 200) << result.body;
    EXPECT_TRUE(CsomError(result).is_null()) << result.body;
    const nlohmann::json list = CsomResult(result, 5);
    EXPECT_EQ(list["_ObjectType_"], "SP.ClientObjectList");
    return list["_Child_Items_"];
  };
  const nlohmann::json by_source = lookup(0, "USER1@contoso.onmicrosoft.com");
  ASSERT_EQ(by_source.size(), 1u);
  EXPECT_EQ(by_source[0]["_ObjectType_"],
            "Microsoft.Online.SharePoint.TenantAdministration.SPOTenantUserIdentityMapping");
  EXPECT_EQ(by_source[0]["SourceTenantCompanyId"], kContosoId);
  EXPECT_EQ(by_source[0]["SourceUserKey"], "User1@contoso.onmicrosoft.com");
  EXPECT_EQ(by_source[0]["TargetUserUpn"], "user1@fabrikam.onmicrosoft.com");
  EXPECT_EQ(by_source[0]["TargetUserEmail"], "first.user@fabrikam.com");
  EXPECT_EQ(by_source[0]["TargetUserPuid"].get<std::string>().size(), 16u);
  EXPECT_EQ(by_source[0]["UserType"], 1);
  EXPECT_EQ(lookup(2, "user2@fabrikam.onmicrosoft.com")[0]["UserType"], 3);
  EXPECT_EQ(lookup(3, "first.user@fabrikam.com")[0]["SourceUserKey"], "User1@contoso.onmicrosoft.com");
  EXPECT_EQ(lookup(1, by_source[0]["TargetUserPuid"])[0]["TargetUserUpn"], "user1@fabrikam.onmicrosoft.com");
  EXPECT_TRUE(lookup(0, "ghost@contoso.onmicrosoft.com").empty());
  // The mappings belong to the target tenant that uploaded them.
  HttpResult contoso =
      QueryTenantMethod(kContosoAdmin, "GetTenantUserIdentityMappingItem",
                        CsomParameter("Enum", "0") + CsomParameter("String", "user1@contoso.onmicrosoft.com"));
  EXPECT_TRUE(CsomResult(contoso, 5)["_Child_Items_"].empty()) << contoso.body;
  ExpectErrorInfo(QueryTenantMethod(kFabrikamAdmin, "GetTenantUserIdentityMappingItem",
                                    CsomParameter("Enum", "9") + CsomParameter("String", "x")),
                  200, "System.ArgumentException", "field", -2147024809);
}

TEST_F(TenantEmulatorCsomTest, ContextInfoAndTheFormDigestKnob) {
  const std::string token = SharePointToken(kContosoAdmin);
  HttpResult info = Request("POST", absl::StrCat(kContosoAdmin, "/_api/contextinfo"), "",
                            {"Authorization: Bearer " + token, "Accept: application/json;odata=nometadata"});
  ASSERT_EQ(info.status, 200) << info.body;
  const std::string digest = info.json["FormDigestValue"];
  EXPECT_TRUE(absl::StartsWith(digest, "0x")) << digest;
  EXPECT_THAT(digest, HasSubstr(","));
  EXPECT_EQ(info.json["FormDigestTimeoutSeconds"], 1800);
  EXPECT_EQ(info.json["WebFullUrl"], kContosoAdmin);
  EXPECT_EQ(info.json["SiteFullUrl"], kContosoAdmin);
  EXPECT_EQ(info.json["LibraryVersion"], "16.0.24106.12002");
  EXPECT_EQ(info.json["SupportedSchemaVersions"], nlohmann::json({"14.0.0.0", "15.0.0.0"}));
  HttpResult verbose = Request("POST", absl::StrCat(kContosoAdmin, "/_api/contextinfo"), "",
                               {"Authorization: Bearer " + token, "Accept: application/json;odata=verbose"});
  ASSERT_EQ(verbose.status, 200) << verbose.body;
  EXPECT_TRUE(verbose.json["d"]["GetContextWebInformation"]["FormDigestValue"].is_string()) << verbose.body;

  // Sent without being asked for: accepted.
  EXPECT_TRUE(
      CsomError(ProcessQuery(kContosoAdmin, CsomBody("", ""), token, {"X-RequestDigest: " + digest})).is_null());
  ASSERT_EQ(Admin("PUT", "faults", {{"require_form_digest", true}}).status, 200);
  for (const std::string& header :
       {std::string("X-Nothing: 1"), std::string("X-RequestDigest: 0xFORGED,01 Jan 2026")}) {
    HttpResult refused = ProcessQuery(kContosoAdmin, CsomBody("", ""), token, {header});
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_EQ(refused.json["error"]["code"], "-2130575252, Microsoft.SharePoint.SPException");
    EXPECT_EQ(refused.json["error"]["message"]["value"],
              "The security validation for this page is invalid and might be corrupted. Please use your web browser's "
              "Back button to try your operation again.");
  }
  HttpResult with_digest = ProcessQuery(kContosoAdmin, CsomBody("", ""), token, {"X-RequestDigest: " + digest});
  EXPECT_EQ(with_digest.status, 200) << with_digest.body;
  EXPECT_EQ(Admin("GET", "faults").json["require_form_digest"], true);
}

TEST_F(TenantEmulatorCsomTest, MultiGeoVersionsAndCompatibility) {
  const std::string accept = "Accept: application/json;odata=nometadata";
  HttpResult versions = Get(absl::StrCat(kContosoAdmin, "/_api/MultiGeoApiVersions"), SharePointToken(), {accept});
  ASSERT_EQ(versions.status, 200) << versions.body;
  const nlohmann::json& supported = versions.json["SupportedVersions"];
  EXPECT_EQ(supported.front(), "1.0");
  EXPECT_EQ(supported.back(), "1.4.7");
  EXPECT_NE(std::find(supported.begin(), supported.end(), "1.2-beta"), supported.end());

  auto check = [&](const std::string& admin, const std::string& partner, const std::string& version = "1.4.7") {
    return Get(absl::StrCat(admin, "/_api/XTenantMoveCompatibilityCheck(targetTenantHostUrl='", partner, "')",
                            version.empty() ? "" : "?api-version=" + version),
               SharePointToken(admin), {accept});
  };
  HttpResult compatible = check(kContosoAdmin, "https%3A%2F%2Ffabrikam-my.sharepoint.com%2F");
  ASSERT_EQ(compatible.status, 200) << compatible.body;
  EXPECT_EQ(compatible.json, nlohmann::json({{"SourceTenantHostUrl", kContosoHost},
                                             {"TargetTenantHostUrl", kFabrikamHost},
                                             {"XTenantMoveCompatibilityResult", 0}}));
  EXPECT_EQ(check("https://litware-admin.sharepoint.com", "https%3A%2F%2Ffabrikam-my.sharepoint.com")
                .json["XTenantMoveCompatibilityResult"],
            1)
      << "Incompatible";
  EXPECT_EQ(check(kFabrikamAdmin, "https%3A%2F%2Fadatum-my.sharepoint.com%2F").json["XTenantMoveCompatibilityResult"],
            2)
      << "Warning, the worse of the two";
  EXPECT_EQ(check(kContosoAdmin, "https%3A%2F%2Ffabrikam-my.sharepoint.com%2F", "1.0").status, 200);

  for (const std::string& version : {std::string(), std::string("9.9")}) {
    HttpResult bad = check(kContosoAdmin, "https%3A%2F%2Ffabrikam-my.sharepoint.com%2F", version);
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_EQ(bad.json["odata.error"]["code"], "-1, Microsoft.SharePoint.Client.InvalidClientQueryException");
    EXPECT_EQ(bad.json["odata.error"]["message"]["lang"], "en-US");
  }
  HttpResult unknown = check(kContosoAdmin, "https%3A%2F%2Fnowhere-my.sharepoint.com%2F");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_TRUE(unknown.json.contains("odata.error")) << unknown.body;
  ASSERT_EQ(Admin("PUT", "faults", {{"unreachable_tenants", {"fabrikam"}}}).status, 200);
  EXPECT_EQ(check(kContosoAdmin, "https%3A%2F%2Ffabrikam-my.sharepoint.com%2F").status, 503);
}

TEST_F(TenantEmulatorCsomTest, AccountingLabelsPerMethodAreBounded) {
  ASSERT_EQ(Admin("DELETE", "accounting").status, 200);
  Verify(kContosoAdmin, 2, kGlobalRelationshipPartner);
  CallTenant(kContosoAdmin, "Whatever1");
  CallTenant(kContosoAdmin, "Whatever2");
  Get(absl::StrCat(kContosoAdmin, "/_vti_bin/client.svc"));
  const nlohmann::json by_route = Admin("GET", "accounting").json["requests"]["by_route"];
  EXPECT_EQ(by_route["sharepoint.csom.VerifySPOTenantOrgRelation"], 1) << by_route;
  EXPECT_EQ(by_route["sharepoint.csom.unknown"], 2) << by_route;
  EXPECT_EQ(by_route["sharepoint.client_svc"], 1) << by_route;
}

}  // namespace
}  // namespace crosstenant::testing

namespace crosstenant::testing {
namespace {

using ::testing::HasSubstr;

// The requests of a CSOM client nobody here wrote, byte for byte: CLI for Microsoft 365 fetches a form
// digest first and sends it, writes empty <Properties />, puts the Request's attributes in its own
// order, and starts site paging at StartIndex "0" (its `spo site list` and `spo tenant` commands).
TEST_F(EmulatorTest, CliForMicrosoft365RequestsAreAnsweredAsSharePointDoes) {
  const std::string token = SharePointToken(kContosoAdmin);
  HttpResult info = Request("POST", absl::StrCat(kContosoAdmin, "/_api/contextinfo"), "",
                            {"Authorization: Bearer " + token, "accept: application/json;odata=nometadata"});
  ASSERT_EQ(info.status, 200) << info.body;
  const std::string digest = info.json["FormDigestValue"];
  const std::string start =
      "<Request AddExpandoFieldTypeSuffix=\"true\" SchemaVersion=\"15.0.0.0\" LibraryVersion=\"16.0.0.0\" "
      "ApplicationName=\"CLI for Microsoft 365 v6.0.0\" xmlns=\"http://schemas.microsoft.com/sharepoint/clientquery/2009\">";
  const std::string sites =
      start +
      "<Actions><ObjectPath Id=\"2\" ObjectPathId=\"1\" /><ObjectPath Id=\"4\" ObjectPathId=\"3\" /><Query Id=\"5\" "
      "ObjectPathId=\"3\"><Query SelectAllProperties=\"true\"><Properties /></Query><ChildItemQuery "
      "SelectAllProperties=\"true\"><Properties /></ChildItemQuery></Query></Actions><ObjectPaths><Constructor Id=\"1\" "
      "TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\" /><Method Id=\"3\" ParentId=\"1\" "
      "Name=\"GetSitePropertiesFromSharePointByFilters\"><Parameters><Parameter "
      "TypeId=\"{b92aeee2-c92c-4b67-abcc-024e471bc140}\"><Property Name=\"Filter\" Type=\"String\"></Property>"
      "<Property Name=\"IncludeDetail\" Type=\"Boolean\">false</Property><Property Name=\"IncludePersonalSite\" "
      "Type=\"Enum\">1</Property><Property Name=\"StartIndex\" Type=\"String\">0</Property><Property "
      "Name=\"Template\" Type=\"String\">RedirectSite#0</Property></Parameter></Parameters></Method></ObjectPaths>"
      "</Request>";
  HttpResult listed = ProcessQuery(kContosoAdmin, sites, token,
                                   {"X-RequestDigest: " + digest, "X-ClientService-ClientTag: M365CLI:6.0.0",
                                    "User-Agent: NONISV|SharePointPnP|CLIMicrosoft365/6.0.0"});
  ASSERT_EQ(listed.status, 200) << listed.body;
  ASSERT_TRUE(CsomError(listed).is_null()) << listed.body;
  // The CLI reads the last element of the array as the site list.
  const nlohmann::json& last = listed.json.back();
  EXPECT_EQ(last["_ObjectType_"], "Microsoft.Online.SharePoint.TenantAdministration.SPOSitePropertiesEnumerable");
  EXPECT_TRUE(last["_Child_Items_"].is_array()) << listed.body;

  // A method the emulator does not serve answers SharePoint's error shape, never a crash.
  const std::string deleted =
      start +
      "<Actions><ObjectPath Id=\"4\" ObjectPathId=\"3\" /><ObjectPath Id=\"6\" ObjectPathId=\"5\" /><Query Id=\"7\" "
      "ObjectPathId=\"5\"><Query SelectAllProperties=\"true\"><Properties><Property "
      "Name=\"NextStartIndexFromSharePoint\" ScalarProperty=\"true\" /></Properties></Query><ChildItemQuery "
      "SelectAllProperties=\"true\"><Properties /></ChildItemQuery></Query></Actions><ObjectPaths><Constructor "
      "Id=\"3\" TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\" /><Method Id=\"5\" ParentId=\"3\" "
      "Name=\"GetDeletedSitePropertiesFromSharePoint\"><Parameters><Parameter Type=\"Null\" /></Parameters></Method>"
      "</ObjectPaths></Request>";
  HttpResult unknown = ProcessQuery(kContosoAdmin, deleted, token, {"X-RequestDigest: " + digest});
  EXPECT_EQ(unknown.status, 200) << unknown.body;
  const nlohmann::json error = CsomError(unknown);
  ASSERT_TRUE(error.is_object()) << unknown.body;
  EXPECT_THAT(error["ErrorMessage"].get<std::string>(), HasSubstr("GetDeletedSitePropertiesFromSharePoint"));
  EXPECT_TRUE(error["TraceCorrelationId"].is_string());

  // `spo tenant` style: a scalar method on the Tenant object.
  const std::string host_url =
      start +
      "<Actions><ObjectPath Id=\"5\" ObjectPathId=\"4\" /><Method Name=\"GetMySiteHostUrl\" Id=\"6\" "
      "ObjectPathId=\"4\" /></Actions><ObjectPaths><Constructor Id=\"4\" "
      "TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\" /></ObjectPaths></Request>";
  HttpResult host = ProcessQuery(kContosoAdmin, host_url, token, {"X-RequestDigest: " + digest});
  ASSERT_EQ(host.status, 200) << host.body;
  EXPECT_EQ(CsomResult(host, 5), nlohmann::json({{"IsNull", false}}));
  EXPECT_EQ(CsomResult(host, 6), "https://contoso-my.sharepoint.com/");
}

}  // namespace
}  // namespace crosstenant::testing
