// Cross-tenant OneDrive moves against the real emulator process: the states over emulated time, every
// refusal at start, every failure in Validation, cancel, validate-only, and the state after success.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/tenant_emulator/emulator_fixture.h"

namespace crosstenant::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kTasks[] =
    "https://graph.microsoft.com/beta/solutions/sharePoint/migrations/crossOrganizationMigrationTasks";

class TenantEmulatorMovesTest : public EmulatorTest {
 protected:
  void SetUp() override {
    EmulatorTest::SetUp();
    if (!HasFatalFailure()) EstablishTrust();
  }
  std::string Stage(const std::string& user) {
    const nlohmann::json rows = MoveRows(kContosoAdmin, kFabrikamHost, user + "@contoso.onmicrosoft.com");
    return rows.is_array() && !rows.empty() ? rows.back().value("MoveStage", "") : "";
  }
  static std::string SiteFilter(const std::string& start, int include_personal,
                                const std::string& template_name = "RedirectSite#0") {
    return absl::StrCat(
        "<Parameter TypeId=\"{b92aeee2-c92c-4b67-abcc-024e471bc140}\">", "<Property Name=\"Filter\" Type=\"Null\"/>",
        "<Property Name=\"IncludeDetail\" Type=\"Boolean\">false</Property>",
        "<Property Name=\"IncludePersonalSite\" Type=\"Enum\">", include_personal, "</Property>",
        start.empty() ? "<Property Name=\"StartIndex\" Type=\"Null\"/>"
                      : absl::StrCat("<Property Name=\"StartIndex\" Type=\"String\">", XmlEscape(start), "</Property>"),
        "<Property Name=\"Template\" Type=\"String\">", template_name, "</Property></Parameter>");
  }
  // Get-SPOSite -Template RedirectSite#0 -IncludePersonalSite $true: the SPOSitePropertiesEnumerable.
  nlohmann::json RedirectSites(const std::string& admin, const std::string& start = "", int include_personal = 1) {
    HttpResult result = QueryTenantMethod(admin, "GetSitePropertiesFromSharePointByFilters",
                                          SiteFilter(start, include_personal, "redirectsite#0"));
    EXPECT_EQ(result.status, 200) << result.body;
    EXPECT_TRUE(CsomError(result).is_null()) << result.body;
    return CsomResult(result, 5);
  }
  // RemoveSite / RemoveDeletedSite: the SpoOperation.
  nlohmann::json RemoveSite(const std::string& admin, const std::string& method, const std::string& url) {
    HttpResult result = QueryTenantMethod(admin, method, CsomParameter("String", url));
    EXPECT_TRUE(CsomError(result).is_null()) << result.body;
    return CsomResult(result, 5);
  }
  // The operation queried through an <Identity> path for IsComplete and PollingInterval.
  nlohmann::json PollOperation(const std::string& admin, const std::string& identity) {
    HttpResult result = ProcessQuery(
        admin, CsomBody("<Query Id=\"2\" ObjectPathId=\"1\"><Query SelectAllProperties=\"false\"><Properties>"
                        "<Property Name=\"IsComplete\" ScalarProperty=\"true\"/>"
                        "<Property Name=\"PollingInterval\" ScalarProperty=\"true\"/></Properties></Query></Query>",
                        absl::StrCat("<Identity Id=\"1\" Name=\"", XmlEscape(identity), "\"/>")));
    EXPECT_TRUE(CsomError(result).is_null()) << result.body;
    return CsomResult(result, 2);
  }
  void ExpectNoSite(const HttpResult& result, const std::string& url) {
    EXPECT_EQ(result.status, 200);
    const nlohmann::json error = CsomError(result);
    ASSERT_TRUE(error.is_object()) << result.body;
    EXPECT_EQ(error["ErrorTypeName"], "Microsoft.Online.SharePoint.Common.SpoNoSiteException");
    EXPECT_EQ(error["ErrorMessage"], absl::StrCat("Cannot get site ", url, "."));
    EXPECT_EQ(error["ErrorCode"], -1);
  }
  void ExpectRefused(const HttpResult& result, long status, const std::string& code, const std::string& text) {
    EXPECT_EQ(result.status, status) << result.body;
    ASSERT_TRUE(result.json.is_object() && result.json.contains("error")) << result.body;
    EXPECT_EQ(result.json["error"]["code"], code);
    EXPECT_THAT(result.json["error"]["message"].get<std::string>(), HasSubstr(text));
  }
};

TEST_F(TenantEmulatorMovesTest, AMoveGoesThroughEveryStateToSuccess) {
  HttpResult started = StartMove("user1");
  ASSERT_EQ(started.status, 200) << started.body;
  EXPECT_EQ(started.json["status"], "notStarted");
  const std::string id = started.json["id"];
  EXPECT_EQ(started.json["parameters"]["sourceUserIdentity"]["userPrincipalName"], "user1@contoso.onmicrosoft.com");

  EXPECT_EQ(MoveState("user1"), "Scheduled");
  AdvanceTime(61);
  EXPECT_EQ(MoveState("user1"), "ReadyToTrigger");
  AdvanceTime(60);
  EXPECT_EQ(MoveState("user1"), "InProgress");
  EXPECT_EQ(Stage("user1"), "Validation");
  HttpResult in_progress = Get(absl::StrCat(kTasks, "/", id), AppToken());
  EXPECT_EQ(in_progress.json["status"], "inProgress");
  EXPECT_FALSE(in_progress.json["startedDateTime"].is_null());
  AdvanceTime(60);
  EXPECT_EQ(Stage("user1"), "Backup");
  AdvanceTime(60);
  EXPECT_EQ(Stage("user1"), "Restore");
  AdvanceTime(60);
  EXPECT_EQ(Stage("user1"), "Cleanup");
  AdvanceTime(60);
  EXPECT_EQ(MoveState("user1"), "Success");

  HttpResult done =
      Get(absl::StrCat(kTasks, "/getBySourceUserPrincipalName(sourcePrincipalName='user1@contoso.onmicrosoft.com')"),
          AppToken());
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.json["status"], "completed");
  EXPECT_EQ(done.json["id"], id);
  EXPECT_FALSE(done.json["finishedDateTime"].is_null());

  // The source OneDrive is gone and a redirect site points at the new one; the target has it.
  EXPECT_EQ(Get(absl::StrCat(kGraph, "/v1.0/users/user1@contoso.onmicrosoft.com/drive"), AppToken()).status, 404);
  const std::string fabrikam = AppToken("fabrikam.onmicrosoft.com", kFabrikamApp, kFabrikamSecret);
  HttpResult target = Get(absl::StrCat(kGraph, "/v1.0/users/user1@fabrikam.onmicrosoft.com/drive"), fabrikam);
  ASSERT_EQ(target.status, 200) << target.body;
  EXPECT_EQ(target.json["webUrl"],
            "https://fabrikam-my.sharepoint.com/personal/user1_fabrikam_onmicrosoft_com/Documents");
  const nlohmann::json sites = RedirectSites(kContosoAdmin);
  ASSERT_EQ(sites["_Child_Items_"].size(), 1u) << sites;
  const nlohmann::json& site = sites["_Child_Items_"][0];
  EXPECT_EQ(site["_ObjectType_"], "Microsoft.Online.SharePoint.TenantAdministration.SiteProperties");
  EXPECT_EQ(site["Url"], "https://contoso-my.sharepoint.com/personal/user1_contoso_onmicrosoft_com");
  EXPECT_EQ(site["Template"], "RedirectSite#0");
  EXPECT_EQ(site["Status"], "Active");
  EXPECT_TRUE(absl::StartsWith(site["LastContentModifiedDate"].get<std::string>(), "/Date(")) << site;
  EXPECT_TRUE(sites["NextStartIndexFromSharePoint"].is_null()) << "one page";
  EXPECT_TRUE(RedirectSites(kContosoEurAdmin)["_Child_Items_"].empty()) << "redirect sites belong to their geo";
  EXPECT_TRUE(RedirectSites(kContosoAdmin, "", 2)["_Child_Items_"].empty()) << "personal sites excluded";
  EXPECT_TRUE(RedirectSites(kContosoAdmin, "", 0)["_Child_Items_"].empty()) << "server default: no personal sites";
  // The target user's move back is blocked while the redirect site holds the URL (below, once removed, not).

  // A second start for the same user is refused and counted as a duplicate.
  ExpectRefused(StartMove("user1"), 409, "conflict", "already exists");
  HttpResult accounting = Admin("GET", "accounting");
  EXPECT_EQ(accounting.json["moves"]["starts"], 2);
  EXPECT_EQ(accounting.json["moves"]["duplicates"], 1);
  EXPECT_EQ(accounting.json["moves"]["by_user"]["user1@contoso.onmicrosoft.com"], 2);

  // Removing the redirect site: an operation, polled through its identity, then purged from the recycle bin.
  const std::string url = site["Url"];
  const nlohmann::json operation = RemoveSite(kContosoAdmin, "RemoveSite", url);
  EXPECT_EQ(operation["_ObjectType_"], "Microsoft.Online.SharePoint.TenantAdministration.SpoOperation");
  EXPECT_EQ(operation["IsComplete"], false);
  EXPECT_EQ(operation["HasTimedout"], false);
  EXPECT_GT(operation["PollingInterval"].get<int>(), 0);
  const std::string identity = operation["_ObjectIdentity_"];
  EXPECT_NE(identity.find('\n'), std::string::npos) << "SharePoint's identities span lines";
  EXPECT_EQ(PollOperation(kContosoAdmin, identity)["IsComplete"], false);
  AdvanceTime(5);
  const nlohmann::json polled = PollOperation(kContosoAdmin, identity);
  EXPECT_EQ(polled["IsComplete"], true) << polled;
  EXPECT_EQ(polled["_ObjectIdentity_"], identity);
  EXPECT_FALSE(polled.contains("HasTimedout")) << "only the queried properties";
  EXPECT_TRUE(RedirectSites(kContosoAdmin)["_Child_Items_"].empty());
  ExpectNoSite(QueryTenantMethod(kContosoAdmin, "RemoveSite", CsomParameter("String", url)), url);
  EXPECT_EQ(RemoveSite(kContosoAdmin, "RemoveDeletedSite", url)["_ObjectType_"],
            "Microsoft.Online.SharePoint.TenantAdministration.SpoOperation");
  ExpectNoSite(QueryTenantMethod(kContosoAdmin, "RemoveDeletedSite", CsomParameter("String", url)), url);
  // An identity SharePoint never gave out.
  HttpResult forged = ProcessQuery(
      kContosoAdmin, CsomBody("<Query Id=\"2\" ObjectPathId=\"1\"><Query SelectAllProperties=\"true\"/></Query>",
                              "<Identity Id=\"1\" Name=\"forged&#xA;SpoOperation\"/>"));
  EXPECT_EQ(CsomError(forged)["ErrorTypeName"], "System.ArgumentException") << forged.body;
}

TEST_F(TenantEmulatorMovesTest, RedirectSitesArePagedAndRemovingThemDoesNotSkip) {
  for (const char* user : {"user1", "user2", "user3"}) ASSERT_EQ(StartMove(user).status, 200);
  AdvanceTime(400);
  ASSERT_EQ(MoveState("user3"), "Success");
  ASSERT_EQ(Admin("PUT", "faults", {{"site_page_size", 2}}).status, 200);
  const nlohmann::json first = RedirectSites(kContosoAdmin);
  ASSERT_EQ(first["_Child_Items_"].size(), 2u) << first;
  EXPECT_EQ(first["_ObjectType_"], "Microsoft.Online.SharePoint.TenantAdministration.SPOSitePropertiesEnumerable");
  EXPECT_EQ(first["NextStartIndex"], -1);
  ASSERT_TRUE(first["NextStartIndexFromSharePoint"].is_string()) << first;
  // The caller removes the first page's sites before asking for the next, as cleanup does.
  for (const nlohmann::json& site : first["_Child_Items_"]) RemoveSite(kContosoAdmin, "RemoveSite", site["Url"]);
  const nlohmann::json second = RedirectSites(kContosoAdmin, first["NextStartIndexFromSharePoint"]);
  ASSERT_EQ(second["_Child_Items_"].size(), 1u) << second;
  EXPECT_EQ(second["_Child_Items_"][0]["Url"],
            "https://contoso-my.sharepoint.com/personal/user3_contoso_onmicrosoft_com");
  EXPECT_TRUE(second["NextStartIndexFromSharePoint"].is_null());

  HttpResult bad =
      QueryTenantMethod(kContosoAdmin, "GetSitePropertiesFromSharePointByFilters", SiteFilter("2;made-up", 1));
  EXPECT_EQ(CsomError(bad)["ErrorTypeName"], "System.ArgumentException") << bad.body;
  HttpResult other_geo = QueryTenantMethod(kContosoEurAdmin, "GetSitePropertiesFromSharePointByFilters",
                                           SiteFilter(first["NextStartIndexFromSharePoint"], 1));
  EXPECT_EQ(CsomError(other_geo)["ErrorTypeName"], "System.ArgumentException") << "a page token is for its geo";
  HttpResult wrong_type = QueryTenantMethod(
      kContosoAdmin, "GetSitePropertiesFromSharePointByFilters",
      "<Parameter TypeId=\"{00000000-0000-0000-0000-000000000001}\"><Property Name=\"Template\" Type=\"String\">x"
      "</Property></Parameter>");
  EXPECT_EQ(CsomError(wrong_type)["ErrorTypeName"], "System.ArgumentException") << wrong_type.body;
}

TEST_F(TenantEmulatorMovesTest, RefusalsAtStart) {
  ExpectRefused(StartMove("o'brien"), 400, "invalidRequest", "invalid character");
  ExpectRefused(StartMove("taken"), 409, "conflict", "target tenant has a conflict");
  ExpectRefused(StartMove("nodrive"), 400, "invalidRequest", "has no OneDrive");
  ExpectRefused(StartMove("ghost"), 404, "itemNotFound", "could not be found");
  HttpResult missing = PostJson(
      kTasks, {{"parameters", {{"targetOrganizationHost", "https://fabrikam-my.sharepoint.com"}}}}, AppToken());
  ExpectRefused(missing, 400, "invalidRequest", "required parameter sourceUserIdentity is missing");
  // The feature switched off on the source tenant.
  const std::string northwind =
      AppToken("northwind.onmicrosoft.com", "44444444-4444-4444-8444-444444444444", "northwind-secret");
  HttpResult off = PostJson(kTasks,
                            {{"parameters",
                              {{"targetOrganizationHost", "https://fabrikam-my.sharepoint.com"},
                               {"sourceUserIdentity", {{"userPrincipalName", "user1@northwind.onmicrosoft.com"}}},
                               {"targetUserIdentity", {{"userPrincipalName", "user2@fabrikam.onmicrosoft.com"}}}}}},
                            northwind);
  ExpectRefused(off, 403, "accessDenied", "The Cross-Tenant content move feature is not enabled for this tenant.");
}

TEST_F(TenantEmulatorMovesTest, NoTrustIs422) {
  // The EUR geo has no relationship with fabrikam yet.
  ExpectRefused(StartMove("euser1"), 422, "unprocessableEntity",
                "There is no Cross-Tenant relationship established for partner https://fabrikam-my.sharepoint.com/ "
                "and role target.");
  EstablishTrust(kContosoEurAdmin, kContosoEurHost);
  HttpResult started = StartMove("euser1");
  ASSERT_EQ(started.status, 200) << started.body;
  EXPECT_EQ(MoveState("euser1", kContosoEurAdmin), "Scheduled");
  EXPECT_EQ(MoveState("euser1", kContosoAdmin), "") << "a move belongs to the user's geo";
}

TEST_F(TenantEmulatorMovesTest, AtMostTheQueueLimitPerSourceGeo) {
  for (const char* user : {"user1", "user2", "user3"}) ASSERT_EQ(StartMove(user).status, 200);
  ExpectRefused(StartMove("user4"), 409, "conflict", "queued OneDrive moves");
  // Once one is done there is room again.
  AdvanceTime(400);
  EXPECT_EQ(StartMove("user4").status, 200);
}

struct ValidationCase {
  const char* user;
  const char* code;
  const char* text;
};

class TenantEmulatorValidationFailureTest : public TenantEmulatorMovesTest,
                                            public ::testing::WithParamInterface<ValidationCase> {};

TEST_P(TenantEmulatorValidationFailureTest, FailsInValidationWithTheReason) {
  const ValidationCase& c = GetParam();
  HttpResult validated = StartMove(c.user, true);
  ASSERT_EQ(validated.status, 200) << validated.body;
  EXPECT_EQ(validated.json["status"], "failed");
  EXPECT_EQ(validated.json["error"]["code"], c.code);

  HttpResult started = StartMove(c.user);
  ASSERT_EQ(started.status, 200) << started.body;
  AdvanceTime(180);
  EXPECT_EQ(MoveState(c.user), "Failed");
  HttpResult task = Get(absl::StrCat(kTasks, "/", started.json["id"].get<std::string>()), AppToken());
  EXPECT_EQ(task.json["status"], "failed");
  EXPECT_EQ(task.json["error"]["code"], c.code);
  EXPECT_THAT(task.json["error"]["message"].get<std::string>(), HasSubstr(c.text));
  // A failed move may be started again (and fails again).
  EXPECT_EQ(StartMove(c.user).status, 200);
}

INSTANTIATE_TEST_SUITE_P(
    Blockers, TenantEmulatorValidationFailureTest,
    ::testing::Values(ValidationCase{"readonly", "sourceReadOnly", "read-only"},
                      ValidationCase{"legalhold", "sourceOnHold", "legal hold"},
                      ValidationCase{"unlicensed", "userNotLicensed", "Cross Tenant User Data Migration"},
                      ValidationCase{"huge", "sizeLimitExceeded", "over the limit"},
                      ValidationCase{"manyitems", "itemLimitExceeded", "1000000 items"},
                      ValidationCase{"longpaths", "pathTooLong", "400-character"}),
    [](const ::testing::TestParamInfo<ValidationCase>& param_info) { return std::string(param_info.param.user); });

class TenantEmulatorTenantBlockerTest : public EmulatorTest {
 protected:
  // Trust between `name` and fabrikam, then a move of <user>@<name> to <user>@fabrikam.
  HttpResult MoveFrom(const std::string& name, const std::string& app, const std::string& secret,
                      const std::string& user) {
    const std::string admin = absl::StrCat("https://", name, "-admin.sharepoint.com");
    const std::string host = absl::StrCat("https://", name, "-my.sharepoint.com/");
    const std::string domain = absl::StrCat(name, ".onmicrosoft.com");
    EXPECT_TRUE(CsomError(OrgRelation(admin, "NewSPOTenantOrgRelation", 2, kFabrikamHost)).is_null());
    EXPECT_TRUE(CsomError(OrgRelation(kFabrikamAdmin, "NewSPOTenantOrgRelation", 1, host)).is_null());
    AdvanceTime(3601);
    return PostJson(kTasks,
                    {{"parameters",
                      {{"targetOrganizationHost", "https://fabrikam-my.sharepoint.com"},
                       {"sourceUserIdentity", {{"userPrincipalName", absl::StrCat(user, "@", domain)}}},
                       {"targetUserIdentity", {{"userPrincipalName", absl::StrCat(user, "@fabrikam.onmicrosoft.com")}}},
                       {"validateOnly", true}}}},
                    AppToken(domain, app, secret));
  }
};

TEST_F(TenantEmulatorTenantBlockerTest, IncompatibleTenantAndCustomerKeyFail) {
  HttpResult incompatible = MoveFrom("litware", "55555555-5555-4555-8555-555555555555", "litware-secret", "lit");
  ASSERT_EQ(incompatible.status, 200) << incompatible.body;
  EXPECT_EQ(incompatible.json["status"], "failed");
  EXPECT_EQ(incompatible.json["error"]["code"], "tenantsIncompatible");
  HttpResult customer_key = MoveFrom("adatum", "66666666-6666-4666-8666-666666666666", "adatum-secret", "ada");
  ASSERT_EQ(customer_key.status, 200) << customer_key.body;
  EXPECT_EQ(customer_key.json["error"]["code"], "customerKeyNotSupported");
}

TEST_F(TenantEmulatorMovesTest, ValidateOnlyPassesWithoutQueueing) {
  HttpResult validated = StartMove("user2", true);
  ASSERT_EQ(validated.status, 200) << validated.body;
  EXPECT_EQ(validated.json["status"], "completed");
  EXPECT_TRUE(validated.json["error"].is_null());
  EXPECT_EQ(MoveState("user2"), "") << "validation queues nothing";
  EXPECT_EQ(StartMove("user2").status, 200);
}

TEST_F(TenantEmulatorMovesTest, CancelBeforeItRunsButNotAfter) {
  HttpResult first = StartMove("user1");
  ASSERT_EQ(first.status, 200);
  HttpResult cancelled =
      PostJson(absl::StrCat(kTasks, "/", first.json["id"].get<std::string>(), "/cancel"), nullptr, AppToken());
  EXPECT_EQ(cancelled.status, 204) << cancelled.body;
  EXPECT_EQ(MoveState("user1"), "Stopped");
  EXPECT_EQ(Get(absl::StrCat(kTasks, "/", first.json["id"].get<std::string>()), AppToken()).json["status"],
            "cancelled");

  HttpResult second = StartMove("user2");
  AdvanceTime(150);
  EXPECT_EQ(MoveState("user2"), "InProgress");
  ExpectRefused(
      PostJson(absl::StrCat(kTasks, "/", second.json["id"].get<std::string>(), "/cancel"), nullptr, AppToken()), 409,
      "conflict", "Cannot process the cancel request because the task is in progress");
  ExpectRefused(PostJson(absl::StrCat(kTasks, "/00000000-0000-4000-8000-000000000000/cancel"), nullptr, AppToken()),
                404, "itemNotFound", "could not be found");
  // Tasks of another tenant are invisible.
  EXPECT_EQ(Get(absl::StrCat(kTasks, "/", second.json["id"].get<std::string>()),
                AppToken("fabrikam.onmicrosoft.com", kFabrikamApp, kFabrikamSecret))
                .status,
            404);
}

TEST_F(TenantEmulatorMovesTest, RescheduledThenSuccess) {
  ASSERT_EQ(StartMove("flaky").status, 200);
  AdvanceTime(300);  // Scheduled, Ready, Validation, Backup, Restore over
  EXPECT_EQ(MoveState("flaky"), "Rescheduled");
  AdvanceTime(60);
  EXPECT_EQ(MoveState("flaky"), "Scheduled");
  AdvanceTime(360);
  EXPECT_EQ(MoveState("flaky"), "Success");
}

TEST_F(TenantEmulatorMovesTest, PreferredLatestStartCancelsAMoveThatDidNotStart) {
  HttpResult started = StartMove(
      "user3", false,
      {{"preferredStartDateTime", "2099-01-01T00:00:00Z"}, {"preferredLatestStartDateTime", "2099-01-02T00:00:00Z"}});
  ASSERT_EQ(started.status, 200) << started.body;
  EXPECT_EQ(MoveState("user3"), "NotStarted");
  HttpResult bad = StartMove("user4", false, {{"preferredStartDateTime", "tomorrow"}});
  EXPECT_EQ(bad.status, 400);
}

TEST_F(TenantEmulatorMovesTest, TargetSideSeesIncomingMoves) {
  ASSERT_EQ(StartMove("user5").status, 200);
  const nlohmann::json rows = MoveRows(kFabrikamAdmin, kContosoHost);
  ASSERT_TRUE(rows.is_array());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["SourceUserPrincipalName"], "user5@contoso.onmicrosoft.com");
  EXPECT_EQ(rows[0]["TargetUserPrincipalName"], "user5@fabrikam.onmicrosoft.com");
  EXPECT_EQ(rows[0]["MoveState"], "Scheduled");
  EXPECT_EQ(rows[0]["MoveStage"], "");
  EXPECT_EQ(rows[0]["SourceSiteUrl"], "https://contoso-my.sharepoint.com/personal/user5_contoso_onmicrosoft_com");
  EXPECT_EQ(rows[0]["TargetSiteUrl"], "https://fabrikam-my.sharepoint.com/personal/user5_fabrikam_onmicrosoft_com");
  EXPECT_EQ(rows[0]["SourceDataLocation"], "NAM");
  EXPECT_EQ(rows[0]["DestinationDataLocation"], "NAM");
  EXPECT_TRUE(absl::StartsWith(rows[0]["LastModified"].get<std::string>(), "/Date(")) << rows[0];
  EXPECT_EQ(rows[0]["ErrorMessage"], "");
  EXPECT_FALSE(rows[0]["MoveJobId"].get<std::string>().empty());
  // Filtered by partner: nothing with another partner; by UPN.
  EXPECT_TRUE(MoveRows(kFabrikamAdmin, kContosoEurHost).empty());
  EXPECT_TRUE(MoveRows(kContosoAdmin, kFabrikamHost, "user4@contoso.onmicrosoft.com").empty());
  EXPECT_EQ(MoveRows(kContosoAdmin, kFabrikamHost, "USER5@contoso.onmicrosoft.com").size(), 1u);
}

}  // namespace
}  // namespace crosstenant::testing
