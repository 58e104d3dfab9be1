// The MODELLED SharePoint admin operations against the real emulator process.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/tenant_emulator/emulator_fixture.h"

namespace crosstenant::testing {
namespace {

class TenantEmulatorSharePointAdminTest : public EmulatorTest {
 protected:
  std::string ContosoToken() { return AppToken("contoso.onmicrosoft.com", kContosoApp, kContosoSecret, kContosoAdmin); }
  std::string FabrikamToken() {
    return AppToken("fabrikam.onmicrosoft.com", kFabrikamApp, kFabrikamSecret, kFabrikamAdmin);
  }
  HttpResult Relationship(const std::string& admin, const std::string& operation, const std::string& role,
                          const std::string& partner, const std::string& token) {
    return PostJson(absl::StrCat(admin, "/_api/SPO.Tenant/", operation),
                    {{"scenario", "MnA"}, {"partnerRole", role}, {"partnerCrossTenantHostUrl", partner}}, token);
  }
  std::string Verify(const std::string& admin, const std::string& role, const std::string& partner,
                     const std::string& token) {
    HttpResult result = Relationship(admin, "VerifyCrossTenantRelationship", role, partner, token);
    EXPECT_EQ(result.status, 200) << result.body;
    return result.json.is_object() ? result.json.value("value", "") : "";
  }
};

TEST_F(TenantEmulatorSharePointAdminTest, HostUrlAndGeoLocations) {
  HttpResult host = Get(absl::StrCat(kContosoAdmin, "/_api/SPO.Tenant/CrossTenantHostUrl"), ContosoToken());
  ASSERT_EQ(host.status, 200) << host.body;
  EXPECT_EQ(host.json["value"], kContosoHost);
  HttpResult geos = Get(absl::StrCat(kContosoAdmin, "/_api/SPO.Tenant/GeoLocations"), ContosoToken());
  ASSERT_EQ(geos.status, 200) << geos.body;
  ASSERT_EQ(geos.json["value"].size(), 2u);
  EXPECT_EQ(geos.json["value"][1]["dataLocationCode"], "EUR");
  EXPECT_EQ(geos.json["value"][1]["tenantAdminUrl"], kContosoEurAdmin);
  EXPECT_EQ(geos.json["value"][1]["mySiteHostUrl"], kContosoEurHost);
  EXPECT_EQ(geos.json["value"][0]["isDefault"], true);
  // The EUR geo's own admin host answers with its own host URL.
  HttpResult eur = Get(absl::StrCat(kContosoEurAdmin, "/_api/SPO.Tenant/CrossTenantHostUrl"),
                       AppToken("contoso.onmicrosoft.com", kContosoApp, kContosoSecret, kContosoEurAdmin));
  EXPECT_EQ(eur.json["value"], kContosoEurHost);
}

TEST_F(TenantEmulatorSharePointAdminTest, TrustGoesThroughEveryVerificationValue) {
  const std::string source = ContosoToken(), target = FabrikamToken();
  EXPECT_EQ(Verify(kContosoAdmin, "Target", kFabrikamHost, source), "NotEstablished");
  ASSERT_EQ(Relationship(kContosoAdmin, "SetCrossTenantRelationship", "Target", kFabrikamHost, source).status, 200);
  EXPECT_EQ(Verify(kContosoAdmin, "Target", kFabrikamHost, source), "NotEstablishedByPartner");
  ASSERT_EQ(Relationship(kFabrikamAdmin, "SetCrossTenantRelationship", "Source", kContosoHost, target).status, 200);
  EXPECT_EQ(Verify(kContosoAdmin, "Target", kFabrikamHost, source), "DormantByPartner");
  EXPECT_EQ(Verify(kFabrikamAdmin, "Source", kContosoHost, target), "DormantByPartner");
  AdvanceTime(3601);
  EXPECT_EQ(Verify(kContosoAdmin, "Target", kFabrikamHost, source), "GoodToProceed");
  EXPECT_EQ(Verify(kFabrikamAdmin, "Source", "https://FABRIKAM-my.sharepoint.com", target), "NotEstablished")
      << "fabrikam's relationship is with contoso, not with itself";
  EXPECT_EQ(Verify(kFabrikamAdmin, "Source", kContosoHost, target), "GoodToProceed");

  ASSERT_EQ(Admin("PUT", "faults", {{"unreachable_tenants", {"fabrikam"}}}).status, 200);
  EXPECT_EQ(Verify(kContosoAdmin, "Target", kFabrikamHost, source), "CouldNotContactPartner");
  ASSERT_EQ(Admin("DELETE", "faults").status, 200);

  HttpResult listed = Get(absl::StrCat(kContosoAdmin, "/_api/SPO.Tenant/CrossTenantRelationships"), source);
  ASSERT_EQ(listed.json["value"].size(), 1u);
  EXPECT_EQ(listed.json["value"][0]["partnerRole"], "Target");

  HttpResult removed = Relationship(kContosoAdmin, "RemoveCrossTenantRelationship", "Target", kFabrikamHost, source);
  ASSERT_EQ(removed.status, 200);
  EXPECT_EQ(removed.json["value"], true);
  EXPECT_EQ(Verify(kContosoAdmin, "Target", kFabrikamHost, source), "NotEstablished");
  EXPECT_EQ(Verify(kFabrikamAdmin, "Source", kContosoHost, target), "NotEstablishedByPartner");
}

TEST_F(TenantEmulatorSharePointAdminTest, BadArgumentsAndFeatureOff) {
  HttpResult bad_role = Relationship(kContosoAdmin, "SetCrossTenantRelationship", "Sideways", kFabrikamHost, ContosoToken());
  EXPECT_EQ(bad_role.status, 400);
  EXPECT_TRUE(bad_role.json.contains("odata.error")) << bad_role.body;
  EXPECT_EQ(Relationship(kContosoAdmin, "SetCrossTenantRelationship", "Target", "https://nowhere-my.sharepoint.com/",
                         ContosoToken())
                .status,
            400);
  const std::string northwind = AppToken("northwind.onmicrosoft.com", "44444444-4444-4444-8444-444444444444",
                                         "northwind-secret", "https://northwind-admin.sharepoint.com");
  HttpResult off = Relationship("https://northwind-admin.sharepoint.com", "SetCrossTenantRelationship", "Target",
                                kFabrikamHost, northwind);
  EXPECT_EQ(off.status, 403);
  EXPECT_EQ(off.json["odata.error"]["message"]["value"],
            "The Cross-Tenant content move feature is not enabled for this tenant.");
}

TEST_F(TenantEmulatorSharePointAdminTest, TokensMustBeForThisTenantsSharePoint) {
  const std::string url = absl::StrCat(kContosoAdmin, "/_api/SPO.Tenant/CrossTenantHostUrl");
  EXPECT_EQ(Get(url).status, 401);
  EXPECT_EQ(Get(url, AppToken()).status, 401) << "a Graph token is not a SharePoint token";
  EXPECT_EQ(Get(url, FabrikamToken()).status, 401) << "fabrikam's token is not for contoso";
  const std::string admin = UserToken("admin@contoso.onmicrosoft.com", "Admin-1!", kContosoAdmin);
  EXPECT_EQ(Get(url, admin).status, 200);
  const std::string reader = UserToken("reader@contoso.onmicrosoft.com", "Reader-1!", kContosoAdmin);
  EXPECT_EQ(Get(url, reader).status, 403) << "Global Reader is not a SharePoint admin";
}

TEST_F(TenantEmulatorSharePointAdminTest, CompatibilityStatusIsTheWorseOfBoth) {
  auto status = [&](const std::string& admin, const std::string& token, const std::string& partner) {
    HttpResult result = Get(absl::StrCat(admin, "/_api/SPO.Tenant/CrossTenantCompatibilityStatus?partnerCrossTenantHostUrl=",
                                         partner),
                            token);
    EXPECT_EQ(result.status, 200) << result.body;
    return result.json.value("value", "");
  };
  EXPECT_EQ(status(kContosoAdmin, ContosoToken(), "https://fabrikam-my.sharepoint.com/"), "Compatible");
  const std::string litware = AppToken("litware.onmicrosoft.com", "55555555-5555-4555-8555-555555555555",
                                       "litware-secret", "https://litware-admin.sharepoint.com");
  EXPECT_EQ(status("https://litware-admin.sharepoint.com", litware, "https://fabrikam-my.sharepoint.com/"),
            "Incompatible");
  const std::string adatum = AppToken("adatum.onmicrosoft.com", "66666666-6666-4666-8666-666666666666",
                                      "adatum-secret", "https://adatum-admin.sharepoint.com");
  EXPECT_EQ(status("https://adatum-admin.sharepoint.com", adatum, "https://fabrikam-my.sharepoint.com/"), "Warning");
}

}  // namespace
}  // namespace crosstenant::testing
