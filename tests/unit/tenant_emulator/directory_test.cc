#include <gtest/gtest.h>

#include "services/tenant_emulator/directory.h"

namespace crosstenant::emulator {
namespace {

Directory Build() {
  absl::StatusOr<Seed> seed = LoadSeedText(R"(tenants:
  - name: contoso
    geos: [{location: NAM, name: contoso}, {location: EUR, name: contosoeur}]
    users: [{upn: alice@contoso.onmicrosoft.com, geo: EUR}]
  - name: gov
    cloud: usgov
)",
                                           "seed.yaml", "/tmp");
  EXPECT_TRUE(seed.ok()) << seed.status();
  return *Directory::Build(*seed);
}

TEST(TenantEmulatorDirectoryTest, RoutesHostsToSurfaces) {
  Directory directory = Build();
  EXPECT_EQ(directory.Route("login.microsoftonline.com").kind, HostRoute::Kind::kLogin);
  EXPECT_EQ(directory.Route("Graph.Microsoft.com:443").kind, HostRoute::Kind::kGraph);
  EXPECT_EQ(directory.Route("dod-graph.microsoft.us").kind, HostRoute::Kind::kGraph);
  HostRoute eur = directory.Route("contosoeur-admin.sharepoint.com");
  EXPECT_EQ(eur.kind, HostRoute::Kind::kSharePoint);
  EXPECT_EQ(eur.tenant, 0);
  EXPECT_EQ(eur.geo, 1);
  EXPECT_EQ(directory.Route("gov-my.sharepoint.us").tenant, 1);
  EXPECT_EQ(directory.Route("other-admin.sharepoint.com").kind, HostRoute::Kind::kUnknown);
  EXPECT_EQ(directory.Route("example.com").kind, HostRoute::Kind::kUnknown);
}

TEST(TenantEmulatorDirectoryTest, FindsTenantsUsersAndUrls) {
  Directory directory = Build();
  EXPECT_EQ(directory.FindTenant("CONTOSO.onmicrosoft.com"), 0);
  EXPECT_EQ(directory.FindTenant(directory.tenant(1).seed.id), 1);
  EXPECT_EQ(directory.FindTenant("nowhere"), -1);
  EXPECT_EQ(directory.FindTenantOfUpn("x@gov.onmicrosoft.com"), 1);
  const DirectoryUser* alice = directory.tenant(0).FindUser("Alice@contoso.onmicrosoft.com");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->geo, 1);
  EXPECT_EQ(directory.tenant(0).FindUser(alice->id), alice);
  EXPECT_EQ(directory.MySiteHostUrl(0, 1), "https://contosoeur-my.sharepoint.com/");
  EXPECT_EQ(directory.AdminUrl(1, 0), "https://gov-admin.sharepoint.us");
  EXPECT_EQ(directory.PersonalSiteUrl(0, 0, "a.b@contoso.onmicrosoft.com"),
            "https://contoso-my.sharepoint.com/personal/a_b_contoso_onmicrosoft_com");
  int tenant = -1, geo = -1;
  EXPECT_TRUE(directory.FindGeoByUrl("https://ContosoEUR-my.sharepoint.com/", &tenant, &geo));
  EXPECT_EQ(geo, 1);
  EXPECT_EQ(NormalizeUrl(" https://X-my.sharepoint.com// "), "https://x-my.sharepoint.com");
}

}  // namespace
}  // namespace crosstenant::emulator
