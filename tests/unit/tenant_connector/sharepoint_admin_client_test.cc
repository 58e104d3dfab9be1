// SharePointAdminClient against a scripted transport: the exact request of every call (golden bodies),
// Microsoft's answer shapes, paging, SpoOperation polling, the realm challenge, the form digest only on
// request, throttling through the governor, the certificate rule, and unreadable answers.

#include "services/tenant_connector/core/sharepoint/admin_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/common/errors.h"
#include "services/common/logging.h"
#include "tests/unit/tenant_connector/fake_clock.h"
#include "tests/unit/tenant_connector/scripted_transport.h"

namespace crosstenant::tenant_connector {
namespace {

using ::testing::HasSubstr;

constexpr char kHeader[] = R"({"SchemaVersion":"15.0.0.0","LibraryVersion":"16.0.24106.12002","ErrorInfo":null,)"
                           R"("TraceCorrelationId":"6b2f5a9f-90a1-4000-8c1d-2e5b0c7a1d3e"})";
constexpr char kRequestStart[] =
    "<Request xmlns=\"http://schemas.microsoft.com/sharepoint/clientquery/2009\" SchemaVersion=\"15.0.0.0\" "
    "LibraryVersion=\"16.0.0.0\" ApplicationName=\"crosstenant\" AddExpandoFieldTypeSuffix=\"true\">";
constexpr char kTenant[] = "<Constructor Id=\"1\" TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\" />";
// A Tenant method returning a collection (path 3), queried with every property of its items (action 5);
// the method's own <Method Id="3" ...> path follows.
const std::string kQueriedMethodStart = absl::StrCat(
    kRequestStart,
    "<Actions><ObjectPath Id=\"2\" ObjectPathId=\"1\" /><ObjectPath Id=\"4\" ObjectPathId=\"3\" />"
    "<Query Id=\"5\" ObjectPathId=\"3\"><Query SelectAllProperties=\"true\"><Properties></Properties></Query>"
    "<ChildItemQuery SelectAllProperties=\"true\"><Properties></Properties></ChildItemQuery></Query></Actions>"
    "<ObjectPaths>",
    kTenant);

// A 200 ProcessQuery answer: the header, then `pairs` (without brackets).
void Csom(ScriptedTransport& transport, const std::string& pairs) {
  transport.Answer(200, absl::StrCat("[", kHeader, pairs.empty() ? "" : ",", pairs, "]"));
}

class SharePointAdminClientTest : public ::testing::Test {
 protected:
  SharePointAdminClientTest()
      : governors_(ThrottleOptions{}, &clock_), client_(&transport_, &governors_, &clock_, nullptr, nullptr) {
    target_.admin_url = "https://contoso-admin.sharepoint.com";
    target_.governor_key = "contoso";
    target_.connection = "connections/contoso";
    target_.token = [this](bool force, absl::Time) -> absl::StatusOr<std::string> {
      forced_ += force ? 1 : 0;
      return std::string(force ? "fresh-token" : "cached-token");
    };
    target_.on_token_rejected = [this](const std::string&) { ++rejected_; };
  }
  absl::Time Deadline() { return clock_.Now() + absl::Minutes(5); }

  FakeClock clock_;
  ScriptedTransport transport_;
  ThrottleGovernors governors_;
  SharePointAdminClient client_;
  SharePointTarget target_;
  int forced_ = 0;
  int rejected_ = 0;
};

TEST_F(SharePointAdminClientTest, GetMySiteHostUrl) {
  Csom(transport_, R"(2,{"IsNull":false},3,"https://Contoso-my.sharepoint.com")");
  absl::StatusOr<std::string> host = client_.GetMySiteHostUrl(target_, Deadline());
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(*host, "https://contoso-my.sharepoint.com/");
  const HttpRequest& sent = transport_.sent.at(0);
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.url, "https://contoso-admin.sharepoint.com/_vti_bin/client.svc/ProcessQuery");
  EXPECT_EQ(transport_.Header(0, "Authorization"), "Bearer cached-token");
  EXPECT_EQ(transport_.Header(0, "Content-Type"), "text/xml");
  EXPECT_EQ(transport_.Header(0, "X-RequestDigest"), "");  // never unless SharePoint asks
  EXPECT_THAT(transport_.Header(0, "User-Agent"), HasSubstr("NONISV|crosstenant|"));
  EXPECT_EQ(sent.body, absl::StrCat(kRequestStart,
                                    "<Actions><ObjectPath Id=\"2\" ObjectPathId=\"1\" />"
                                    "<Method Name=\"GetMySiteHostUrl\" Id=\"3\" ObjectPathId=\"1\"><Parameters>"
                                    "</Parameters></Method></Actions><ObjectPaths>",
                                    kTenant, "</ObjectPaths></Request>"));
}

TEST_F(SharePointAdminClientTest, GetTenantInstancesReadsTheCapturedShape) {
  Csom(
      transport_,
      R"(2,{"IsNull":false},4,{"IsNull":false},5,{"_ObjectType_":"SP.ClientObjectList","_Child_Items_":[)"
      R"({"_ObjectType_":"Microsoft.Online.SharePoint.TenantAdministration.SPOTenantInstance","DataLocation":"NAM",)"
      R"("IsDefaultDataLocation":true,"MySiteHostUrl":"https://contoso-my.sharepoint.com/","PortalUrl":null,)"
      R"("RootSiteUrl":"https://contoso.sharepoint.com/","TenantAdminUrl":"https://contoso-admin.sharepoint.com/"},)"
      R"({"_ObjectType_":"Microsoft.Online.SharePoint.TenantAdministration.SPOTenantInstance","DataLocation":"EUR",)"
      R"("IsDefaultDataLocation":false,"MySiteHostUrl":"https://contosoeur-my.sharepoint.com/",)"
      R"("RootSiteUrl":"https://contosoeur.sharepoint.com/","TenantAdminUrl":"https://contosoeur-admin.sharepoint.com/"}]})");
  absl::StatusOr<std::vector<TenantInstance>> instances = client_.GetTenantInstances(target_, Deadline());
  ASSERT_TRUE(instances.ok()) << instances.status();
  ASSERT_EQ(instances->size(), 2u);
  EXPECT_EQ((*instances)[0].data_location, "NAM");
  EXPECT_TRUE((*instances)[0].is_default);
  EXPECT_EQ((*instances)[1].tenant_admin_url, "https://contosoeur-admin.sharepoint.com/");
  EXPECT_EQ((*instances)[1].my_site_host_url, "https://contosoeur-my.sharepoint.com/");
  EXPECT_EQ(transport_.sent.at(0).body,
            absl::StrCat(kQueriedMethodStart,
                         "<Method Id=\"3\" ParentId=\"1\" Name=\"GetTenantInstances\"><Parameters></Parameters>"
                         "</Method></ObjectPaths></Request>"));
}

TEST_F(SharePointAdminClientTest, TrustCallsSendScenarioRoleAndPartner) {
  Csom(transport_, R"(2,{"IsNull":false})");      // NewSPOTenantOrgRelation: void
  Csom(transport_, R"(2,{"IsNull":false},3,4)");  // VerifySPOTenantOrgRelation: GoodToProceed
  Csom(transport_, R"(2,{"IsNull":false})");      // RemoveSPOTenantOrgRelation
  const std::string partner = "https://fabrikam-my.sharepoint.com/";
  ASSERT_TRUE(client_.NewOrgRelation(target_, "Target", partner, Deadline()).ok());
  absl::StatusOr<int64_t> status = client_.VerifyOrgRelation(target_, "Target", partner, Deadline());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 4);
  ASSERT_TRUE(client_.RemoveOrgRelation(target_, "Source", partner, Deadline()).ok());
  auto call = [&](const char* method, const char* role) {
    return absl::StrCat(kRequestStart, "<Actions><ObjectPath Id=\"2\" ObjectPathId=\"1\" /><Method Name=\"", method,
                        "\" Id=\"3\" ObjectPathId=\"1\"><Parameters><Parameter Type=\"Enum\">1</Parameter>"
                        "<Parameter Type=\"Enum\">",
                        role,
                        "</Parameter><Parameter Type=\"String\">https://fabrikam-my.sharepoint.com/</Parameter>"
                        "</Parameters></Method></Actions><ObjectPaths>",
                        kTenant, "</ObjectPaths></Request>");
  };
  EXPECT_EQ(transport_.sent.at(0).body, call("NewSPOTenantOrgRelation", "2"));
  EXPECT_EQ(transport_.sent.at(1).body, call("VerifySPOTenantOrgRelation", "2"));
  EXPECT_EQ(transport_.sent.at(2).body, call("RemoveSPOTenantOrgRelation", "1"));
}

TEST_F(SharePointAdminClientTest, AChangeThatSucceedsIsLoggedWithSharePointsCorrelationIdAndAReadIsNot) {
  log::Configure(log::Format::kJson, "test", log::Severity::kInfo);
  Csom(transport_, R"(2,{"IsNull":false})");      // NewSPOTenantOrgRelation
  Csom(transport_, R"(2,{"IsNull":false},3,4)");  // VerifySPOTenantOrgRelation: a read
  const std::string partner = "https://fabrikam-my.sharepoint.com/";
  testing::internal::CaptureStderr();
  const absl::Status created = client_.NewOrgRelation(target_, "Target", partner, Deadline());
  const std::string change_log = testing::internal::GetCapturedStderr();
  testing::internal::CaptureStderr();
  const absl::StatusOr<int64_t> verified = client_.VerifyOrgRelation(target_, "Target", partner, Deadline());
  const std::string read_log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(created.ok()) << created;
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_THAT(change_log, HasSubstr("\"method\":\"NewSPOTenantOrgRelation\""));
  EXPECT_THAT(change_log, HasSubstr("\"trace_correlation_id\":\"6b2f5a9f-90a1-4000-8c1d-2e5b0c7a1d3e\""));
  EXPECT_THAT(read_log, testing::Not(HasSubstr("SharePoint answered a call")));
}

TEST_F(SharePointAdminClientTest, VerifyWithoutANumberIsAnErrorNotASuccess) {
  Csom(transport_, R"(2,{"IsNull":false},3,"GoodToProceed")");
  EXPECT_EQ(client_.VerifyOrgRelation(target_, "Target", "https://f-my.sharepoint.com/", Deadline()).status().code(),
            absl::StatusCode::kUnavailable);
  Csom(transport_, R"(2,{"IsNull":false})");
  EXPECT_EQ(client_.VerifyOrgRelation(target_, "Target", "https://f-my.sharepoint.com/", Deadline()).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(SharePointAdminClientTest, ServerErrorKeepsTypeCodeAndCorrelationId) {
  transport_.Answer(200, R"([{"SchemaVersion":"15.0.0.0","LibraryVersion":"16.0.1","ErrorInfo":{"ErrorMessage":)"
                         R"("The Cross-Tenant content move feature is not enabled for this tenant.","ErrorValue":null,)"
                         R"("TraceCorrelationId":"0f5e7a9f-1111-4000-8000-000000000009","ErrorCode":-1,)"
                         R"("ErrorTypeName":"Microsoft.Online.SharePoint.Common.SpoException"},)"
                         R"("TraceCorrelationId":"0f5e7a9f-1111-4000-8000-000000000009"}])");
  absl::Status status = client_.NewOrgRelation(target_, "Target", "https://f-my.sharepoint.com/", Deadline());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("not enabled for this tenant"));
  EXPECT_THAT(status.message(), HasSubstr("0f5e7a9f-1111-4000-8000-000000000009"));
  EXPECT_EQ(ErrorInfoMetadataOf(status, "error_type_name"), "Microsoft.Online.SharePoint.Common.SpoException");
  EXPECT_EQ(ErrorInfoMetadataOf(status, "method"), "NewSPOTenantOrgRelation");
}

TEST_F(SharePointAdminClientTest, CompatibilityNegotiatesTheApiVersionOnce) {
  transport_.Answer(200, R"({"SupportedVersions":["1.0","1.1","1.3.1","1.4.7","9.9.9"]})");
  transport_.Answer(
      200, R"({"SourceTenantHostUrl":"https://contoso-my.sharepoint.com/",)"
           R"("TargetTenantHostUrl":"https://fabrikam-my.sharepoint.com/","XTenantMoveCompatibilityResult":2})");
  transport_.Answer(200, R"({"XTenantMoveCompatibilityResult":0})");
  absl::StatusOr<CompatibilityCheck> check =
      client_.CheckCompatibility(target_, "https://fabrikam-my.sharepoint.com/", Deadline());
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->result, 2);
  EXPECT_EQ(check->target_host_url, "https://fabrikam-my.sharepoint.com/");
  ASSERT_TRUE(client_.CheckCompatibility(target_, "https://fabrikam-my.sharepoint.com/", Deadline()).ok());
  ASSERT_EQ(transport_.sent.size(), 3u);
  EXPECT_EQ(transport_.sent[0].method, "GET");
  EXPECT_EQ(transport_.sent[0].url, "https://contoso-admin.sharepoint.com/_api/MultiGeoApiVersions");
  EXPECT_EQ(transport_.sent[1].url,
            "https://contoso-admin.sharepoint.com/_api/XTenantMoveCompatibilityCheck(targetTenantHostUrl="
            "'https%3A%2F%2Ffabrikam-my.sharepoint.com%2F')?api-version=1.4.7");
  EXPECT_EQ(transport_.Header(1, "Accept"), "application/json;odata=nometadata");
  EXPECT_EQ(transport_.sent[2].url, transport_.sent[1].url);
}

TEST_F(SharePointAdminClientTest, CompatibilityWithoutAResultIsReportedAsSuch) {
  transport_.Answer(200, R"({"SupportedVersions":["1.0"]})");
  transport_.Answer(200, R"({"SourceTenantHostUrl":"x"})");
  absl::StatusOr<CompatibilityCheck> check =
      client_.CheckCompatibility(target_, "https://f-my.sharepoint.com/", Deadline());
  ASSERT_TRUE(check.ok());
  EXPECT_FALSE(check->result);
}

TEST_F(SharePointAdminClientTest, NoCommonApiVersionIsAClearError) {
  transport_.Answer(200, R"({"SupportedVersions":["0.9"]})");
  absl::Status status = client_.CheckCompatibility(target_, "https://f-my.sharepoint.com/", Deadline()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("0.9"));
}

TEST_F(SharePointAdminClientTest, ListSitesPagesWithNextStartIndexFromSharePoint) {
  Csom(transport_,
       R"(2,{"IsNull":false},4,{"IsNull":false},5,{"_ObjectType_":)"
       R"("Microsoft.Online.SharePoint.TenantAdministration.SPOSitePropertiesEnumerable","NextStartIndex":-1,)"
       R"("NextStartIndexFromSharePoint":"page-2","_Child_Items_":[{"_ObjectType_":)"
       R"("Microsoft.Online.SharePoint.TenantAdministration.SiteProperties","Url":)"
       R"("https://contoso-my.sharepoint.com/personal/adele_contoso_com","Template":"RedirectSite#0",)"
       R"("LastContentModifiedDate":"/Date(2026,11,5,2,28,0,0)/"}]})");
  Csom(transport_, R"(2,{"IsNull":false},4,{"IsNull":false},5,{"_ObjectType_":)"
                   R"("Microsoft.Online.SharePoint.TenantAdministration.SPOSitePropertiesEnumerable",)"
                   R"("NextStartIndexFromSharePoint":null,"_Child_Items_":[]})");
  absl::StatusOr<SitePage> first = client_.ListSites(target_, "RedirectSite#0", "", Deadline());
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->sites.size(), 1u);
  EXPECT_EQ(first->sites[0].url, "https://contoso-my.sharepoint.com/personal/adele_contoso_com");
  EXPECT_EQ(first->sites[0].last_content_modified,
            absl::FromCivil(absl::CivilSecond(2026, 12, 5, 2, 28, 0), absl::UTCTimeZone()));
  EXPECT_EQ(first->next_start_index, "page-2");
  absl::StatusOr<SitePage> second = client_.ListSites(target_, "RedirectSite#0", "page-2", Deadline());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->sites.empty());
  EXPECT_EQ(second->next_start_index, "");
  EXPECT_EQ(transport_.sent.at(0).body,
            absl::StrCat(
                kQueriedMethodStart,
                "<Method Id=\"3\" ParentId=\"1\" Name=\"GetSitePropertiesFromSharePointByFilters\"><Parameters>"
                "<Parameter TypeId=\"{b92aeee2-c92c-4b67-abcc-024e471bc140}\">"
                "<Property Name=\"Filter\" Type=\"Null\" /><Property Name=\"IncludeDetail\" Type=\"Boolean\">"
                "false</Property><Property Name=\"IncludePersonalSite\" Type=\"Enum\">1</Property>"
                "<Property Name=\"StartIndex\" Type=\"String\">0</Property><Property Name=\"Template\" Type=\"String\">"
                "RedirectSite#0</Property></Parameter></Parameters></Method></ObjectPaths></Request>"));
  EXPECT_THAT(transport_.sent.at(1).body, HasSubstr("<Property Name=\"StartIndex\" Type=\"String\">page-2</Property>"));
}

TEST_F(SharePointAdminClientTest, RemoveSitePollsTheOperationUntilComplete) {
  const std::string identity = "740c6a0b-85e2-48a0-a494-e0f1759d4aa7|908bed80\\nSpoOperation\\nRemoveSite\\n1";
  Csom(
      transport_,
      absl::StrCat(
          R"(2,{"IsNull":false},4,{"IsNull":false},5,{"_ObjectType_":"Microsoft.Online.SharePoint.TenantAdministration.)",
          R"(SpoOperation","_ObjectIdentity_":")", identity, R"(","IsComplete":false,"PollingInterval":15000,)",
          R"("HasTimedout":false})"));
  Csom(transport_, R"(2,{"IsComplete":false,"PollingInterval":1000,"HasTimedout":false})");
  Csom(transport_, R"(2,{"IsComplete":true,"PollingInterval":1000,"HasTimedout":false})");
  absl::Status removed = client_.RemoveSite(target_, "https://contoso-my.sharepoint.com/personal/a", false, Deadline());
  ASSERT_TRUE(removed.ok()) << removed;
  ASSERT_EQ(transport_.sent.size(), 3u);
  EXPECT_EQ(clock_.slept_, (std::vector<absl::Duration>{absl::Seconds(15), absl::Seconds(1)}));
  EXPECT_THAT(transport_.sent[0].body,
              HasSubstr("<Method Id=\"3\" ParentId=\"1\" Name=\"RemoveSite\"><Parameters>"
                        "<Parameter Type=\"String\">https://contoso-my.sharepoint.com/personal/a"
                        "</Parameter></Parameters></Method>"));
  EXPECT_EQ(transport_.sent[1].body,
            absl::StrCat(kRequestStart,
                         "<Actions><Query Id=\"2\" ObjectPathId=\"1\"><Query SelectAllProperties=\"false\"><Properties>"
                         "<Property Name=\"IsComplete\" ScalarProperty=\"true\" /><Property Name=\"PollingInterval\" "
                         "ScalarProperty=\"true\" /><Property Name=\"HasTimedout\" ScalarProperty=\"true\" />"
                         "</Properties></Query></Query></Actions><ObjectPaths><Identity Id=\"1\" Name=\""
                         "740c6a0b-85e2-48a0-a494-e0f1759d4aa7|908bed80&#xa;SpoOperation&#xa;RemoveSite&#xa;1\" />"
                         "</ObjectPaths></Request>"));
}

TEST_F(SharePointAdminClientTest, RemoveSiteOfAMissingSiteIsNotFound) {
  transport_.Answer(200, R"([{"SchemaVersion":"15.0.0.0","ErrorInfo":{"ErrorMessage":"Cannot get site https://x/.",)"
                         R"("ErrorValue":null,"TraceCorrelationId":"a","ErrorCode":-1,"ErrorTypeName":)"
                         R"("Microsoft.Online.SharePoint.Common.SpoNoSiteException"},"TraceCorrelationId":"a"}])");
  EXPECT_EQ(client_.RemoveSite(target_, "https://x/", true, Deadline()).code(), absl::StatusCode::kNotFound);
}

TEST_F(SharePointAdminClientTest, PermanentRemovalAlsoPurgesTheRecycleBin) {
  const std::string done = R"(2,{"IsNull":false},4,{"IsNull":false},5,{"_ObjectType_":"Microsoft.Online.SharePoint.)"
                           R"(TenantAdministration.SpoOperation","_ObjectIdentity_":"op","IsComplete":true})";
  Csom(transport_, done);
  Csom(transport_, done);
  ASSERT_TRUE(client_.RemoveSite(target_, "https://x/", true, Deadline()).ok());
  ASSERT_EQ(transport_.sent.size(), 2u);
  EXPECT_THAT(transport_.sent[1].body, HasSubstr("Name=\"RemoveDeletedSite\""));
}

TEST_F(SharePointAdminClientTest, IdentityMappingReadBack) {
  Csom(
      transport_,
      R"(2,{"IsNull":false},4,{"IsNull":false},5,{"_ObjectType_":"SP.ClientObjectList","_Child_Items_":[{)"
      R"("_ObjectType_":"Microsoft.Online.SharePoint.TenantAdministration.SPOTenantUserIdentityMapping",)"
      R"("SourceTenantCompanyId":"7F1D1C1E-0000-4000-8000-000000000001","SourceUserKey":"adele@contoso.com",)"
      R"("TargetUserEmail":"adele@fabrikam.com","TargetUserPuid":"","TargetUserUpn":"adele@fabrikam.com","UserType":2}]})");
  absl::StatusOr<std::vector<UserIdentityMappingRow>> rows =
      client_.GetUserIdentityMapping(target_, "adele@contoso.com", Deadline());
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].target_user_upn, "adele@fabrikam.com");
  EXPECT_EQ((*rows)[0].user_type, 2);
  EXPECT_THAT(transport_.sent[0].body,
              HasSubstr("<Method Id=\"3\" ParentId=\"1\" Name=\"GetTenantUserIdentityMappingItem\"><Parameters>"
                        "<Parameter Type=\"Enum\">0</Parameter><Parameter Type=\"String\">adele@contoso.com</Parameter>"
                        "</Parameters></Method>"));
}

TEST_F(SharePointAdminClientTest, MoveStatesAreTheRowsOfTheJsonString) {
  Csom(transport_,
       R"(2,{"IsNull":false},3,"[{\"SourceUserPrincipalName\":\"adele@contoso.com\",\"MoveState\":\"InProgress\"}]")");
  absl::StatusOr<std::vector<nlohmann::json>> rows =
      client_.GetMoveStates(target_, "https://fabrikam-my.sharepoint.com/", "adele@contoso.com", "Target", Deadline());
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0]["MoveState"], "InProgress");
  EXPECT_THAT(transport_.sent[0].body,
              HasSubstr("<Method Name=\"GetSPOCrossTenantContentMoveState\" Id=\"3\" ObjectPathId=\"1\"><Parameters>"
                        "<Parameter Type=\"Enum\">0</Parameter><Parameter Type=\"String\">"
                        "https://fabrikam-my.sharepoint.com/</Parameter><Parameter Type=\"String\">adele@contoso.com"
                        "</Parameter><Parameter Type=\"Guid\">{00000000-0000-0000-0000-000000000000}</Parameter>"
                        "<Parameter Type=\"Int32\">-1</Parameter><Parameter Type=\"Int32\">2</Parameter>"
                        "<Parameter Type=\"UInt32\">0</Parameter>"));
  Csom(transport_, R"(2,{"IsNull":false},3,"not json at all")");
  EXPECT_EQ(client_.GetMoveStates(target_, "https://f-my.sharepoint.com/", "", "Target", Deadline()).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(SharePointAdminClientTest, RealmChallengeNamesTheTenant) {
  transport_.Answer(401, "",
                    {{"www-authenticate",
                      "Bearer realm=\"7F1D1C1E-0000-4000-8000-000000000001\",client_id=\"00000003-0000-0ff1-"
                      "ce00-000000000000\",trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\", NTLM"}});
  absl::StatusOr<std::string> tenant =
      client_.DiscoverTenantId("https://contosoeur-admin.sharepoint.com", "contoso", Deadline());
  ASSERT_TRUE(tenant.ok()) << tenant.status();
  EXPECT_EQ(*tenant, "7f1d1c1e-0000-4000-8000-000000000001");
  EXPECT_EQ(transport_.sent[0].url, "https://contosoeur-admin.sharepoint.com/_vti_bin/client.svc");
  EXPECT_EQ(transport_.Header(0, "Authorization"), "Bearer");
  transport_.Answer(200, "<html/>");
  absl::Status none = client_.DiscoverTenantId("https://example-admin.sharepoint.com", "example", Deadline()).status();
  EXPECT_EQ(none.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorInfoReasonOf(none), kReasonNoRealm);
}

TEST_F(SharePointAdminClientTest, RealmChallengeWaitsOutThrottlingAndNamesAnOutage) {
  // A 429 is waited out for its Retry-After and the challenge asked again, as for any other request.
  transport_.Answer(429, "", {{"retry-after", "2"}});
  transport_.Answer(401, "", {{"www-authenticate", "Bearer realm=\"7f1d1c1e-0000-4000-8000-000000000001\""}});
  const absl::Time before = clock_.Now();
  absl::StatusOr<std::string> tenant =
      client_.DiscoverTenantId("https://contoso-admin.sharepoint.com", "contoso", Deadline());
  ASSERT_TRUE(tenant.ok()) << tenant.status();
  EXPECT_EQ(transport_.sent.size(), 2u);
  EXPECT_GE(clock_.Now() - before, absl::Seconds(2));
  // A tenant that only answers 503 is unreachable, not a host that names no tenant.
  for (int i = 0; i < 10; ++i) transport_.Answer(503, "");
  absl::Status down = client_.DiscoverTenantId("https://contoso-admin.sharepoint.com", "contoso", Deadline()).status();
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  EXPECT_NE(ErrorInfoReasonOf(down), kReasonNoRealm);
}

TEST_F(SharePointAdminClientTest, DigestOnlyWhenSharePointAsksForIt) {
  transport_.Answer(403,
                    R"({"error":{"code":"-2130575252, Microsoft.SharePoint.SPException","message":{"lang":)"
                    R"("en-US","value":"The security validation for this page is invalid and might be corrupted."}}})");
  transport_.Answer(200, R"({"FormDigestValue":"0xABC,05 Dec 2026 02:00:00 -0000","FormDigestTimeoutSeconds":1800})");
  Csom(transport_, R"(2,{"IsNull":false},3,"https://contoso-my.sharepoint.com/")");
  ASSERT_TRUE(client_.GetMySiteHostUrl(target_, Deadline()).ok());
  ASSERT_EQ(transport_.sent.size(), 3u);
  EXPECT_EQ(transport_.sent[1].url, "https://contoso-admin.sharepoint.com/_api/contextinfo");
  EXPECT_EQ(transport_.sent[1].method, "POST");
  EXPECT_EQ(transport_.Header(2, "X-RequestDigest"), "0xABC,05 Dec 2026 02:00:00 -0000");
  // A plain 403 is a missing permission, not a digest question.
  transport_.Answer(403, R"({"error":{"code":"-2147024891, System.UnauthorizedAccessException","message":{"value":)"
                         R"("Access denied."}}})");
  EXPECT_EQ(client_.GetMySiteHostUrl(target_, Deadline()).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(transport_.sent.size(), 4u);
}

TEST_F(SharePointAdminClientTest, ThrottledRequestsWaitForRetryAfterThroughTheGovernor) {
  transport_.Answer(429, "", {{"retry-after", "7"}});
  transport_.Answer(503, "", {{"retry-after", "2"}});
  Csom(transport_, R"(2,{"IsNull":false},3,"https://contoso-my.sharepoint.com/")");
  const absl::Time start = clock_.Now();
  ASSERT_TRUE(client_.GetMySiteHostUrl(target_, Deadline()).ok());
  EXPECT_EQ(clock_.Now() - start, absl::Seconds(9));
  EXPECT_EQ(transport_.sent.size(), 3u);
}

TEST_F(SharePointAdminClientTest, A401IsAnsweredOnceByAFreshTokenThenTheConnectionIsTold) {
  transport_.Answer(401, R"({"error_description":"Invalid issuer or signature."})");
  Csom(transport_, R"(2,{"IsNull":false},3,"https://contoso-my.sharepoint.com/")");
  ASSERT_TRUE(client_.GetMySiteHostUrl(target_, Deadline()).ok());
  EXPECT_EQ(transport_.Header(1, "Authorization"), "Bearer fresh-token");
  EXPECT_EQ(rejected_, 0);
  transport_.Answer(401, R"({"error_description":"Invalid issuer or signature."})");
  transport_.Answer(401, R"({"error_description":"Invalid issuer or signature."})");
  absl::Status status = client_.GetMySiteHostUrl(target_, Deadline()).status();
  EXPECT_EQ(ErrorInfoReasonOf(status), kReasonTokenRejected);
  EXPECT_EQ(rejected_, 1);
}

TEST_F(SharePointAdminClientTest, AppOnlySecretTokenRefusalNamesTheFix) {
  transport_.Answer(
      401, R"({"error_description":"Unsupported app only token."})",
      {{"x-ms-diagnostics", "3001000;reason=\"Unsupported app only token.\";category=\"invalid_client\""}});
  absl::Status status = client_.GetMySiteHostUrl(target_, Deadline()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorInfoReasonOf(status), kReasonNeedsCertificate);
  EXPECT_THAT(status.message(), HasSubstr("certificate"));
  EXPECT_EQ(transport_.sent.size(), 1u);  // a fresh secret token would be refused the same way
  EXPECT_EQ(rejected_, 0);                // and the connection is not expired for Graph's sake
}

TEST_F(SharePointAdminClientTest, TruncatedAnswersAreUnavailableNotEmpty) {
  transport_.Answer(200, absl::StrCat("[", kHeader, ",2,{\"IsNull\":false},4,{\"IsNull\":false},5,{\"_Child_"));
  EXPECT_EQ(client_.GetTenantInstances(target_, Deadline()).status().code(), absl::StatusCode::kUnavailable);
  Csom(transport_, R"(2,{"IsNull":false},4,{"IsNull":false},5,{"_ObjectType_":"SP.ClientObjectList"})");
  EXPECT_EQ(client_.GetTenantInstances(target_, Deadline()).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace crosstenant::tenant_connector
