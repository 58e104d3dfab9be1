#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/tenant_emulator/seed.h"

namespace crosstenant::emulator {
namespace {

using ::testing::HasSubstr;

constexpr char kSeed[] = R"(settings:
  dormant_period: 10m
  max_queued_per_geo: 10
tenants:
  - name: Contoso
    id: 7F1D1C1E-0000-4000-8000-000000000001
    geos: [{location: nam, name: contoso}, {location: EUR, name: contosoeur}]
    apps: [{client_id: 11111111-1111-4111-8111-111111111111, secret: s, application_permissions: [User.Read.All]}]
    admins: [{upn: Admin@Contoso.onmicrosoft.com, password: p, roles: [GlobalAdministrator, SharePoint Administrator]}]
    users: [{upn: "o'brien@contoso.onmicrosoft.com", geo: eur, licensed: false, onedrive: {size_bytes: 5000000000000}}]
    generate_users: [{count: 12, upn_pattern: "u{n}@contoso.onmicrosoft.com", width: 3, start: 5}]
  - name: fabrikam
)";

TEST(TenantEmulatorSeedLoaderTest, ReadsTenantsAndGeneratesUsers) {
  absl::StatusOr<Seed> seed = LoadSeedText(kSeed, "seed.yaml", "/tmp");
  ASSERT_TRUE(seed.ok()) << seed.status();
  EXPECT_EQ(seed->settings.dormant_period, absl::Minutes(10));
  EXPECT_EQ(seed->settings.max_queued_per_geo, 10);
  ASSERT_EQ(seed->tenants.size(), 2u);
  const SeedTenant& contoso = seed->tenants[0];
  EXPECT_EQ(contoso.name, "contoso");
  EXPECT_EQ(contoso.id, "7f1d1c1e-0000-4000-8000-000000000001");
  EXPECT_EQ(contoso.initial_domain, "contoso.onmicrosoft.com");
  EXPECT_EQ(contoso.geos[0].location, "NAM");
  EXPECT_EQ(contoso.admins[0].upn, "admin@contoso.onmicrosoft.com");
  EXPECT_EQ(contoso.admins[0].role_template_ids, (std::vector<std::string>{std::string(kGlobalAdministratorRole),
                                                                           std::string(kSharePointAdministratorRole)}));
  ASSERT_EQ(contoso.users.size(), 13u);
  EXPECT_EQ(contoso.users[0].geo, "EUR");
  EXPECT_FALSE(contoso.users[0].licensed);
  EXPECT_EQ(contoso.users[0].onedrive.size_bytes, 5000000000000);
  EXPECT_EQ(contoso.users[1].upn, "u005@contoso.onmicrosoft.com");
  EXPECT_EQ(contoso.users[12].upn, "u016@contoso.onmicrosoft.com");
  EXPECT_EQ(contoso.users[1].id, DerivedGuid(contoso.id, "u005@contoso.onmicrosoft.com"));
  EXPECT_EQ(seed->tenants[1].geos.size(), 1u) << "a tenant without geos has one NAM geo named after it";
}

TEST(TenantEmulatorSeedLoaderTest, ReportsEveryProblemWithItsPath) {
  absl::StatusOr<Seed> seed = LoadSeedText(R"(tenants:
  - name: con-toso
    geos: [{location: NAM, name: other}]
    apps: [{client_id: nope}, {client_id: 11111111-1111-4111-8111-111111111111, federated_credentials: [{audience: x}]}]
    admins: [{upn: nobody, password: x, roles: [Janitor]}]
    users: [{upn: a@b.c, geo: APC, extra: 1}, {upn: A@B.C}]
)",
                                           "bad.yaml", "/tmp");
  ASSERT_FALSE(seed.ok());
  const std::string message(seed.status().message());
  EXPECT_THAT(message, HasSubstr("bad.yaml:2:11: tenants[0].name: required: letters and digits only"));
  EXPECT_THAT(message, HasSubstr("tenants[0].geos: the first geo is the default geo"));
  EXPECT_THAT(message, HasSubstr("tenants[0].apps[0].client_id: required: a GUID"));
  EXPECT_THAT(message, HasSubstr("tenants[0].apps[0].client_id: a confidential app needs a secret or a certificate"));
  EXPECT_THAT(message, HasSubstr("tenants[0].apps[1].federated_credentials[0].issuer: required"));
  EXPECT_THAT(message, HasSubstr("tenants[0].apps[1].federated_credentials[0].key: required"));
  EXPECT_THAT(message, HasSubstr("tenants[0].admins[0].upn: required: a user principal name"));
  EXPECT_THAT(message, HasSubstr("tenants[0].users[0].geo: the tenant has no geo APC"));
  EXPECT_THAT(message, HasSubstr("tenants[0].users[0].extra: unknown key"));
  EXPECT_THAT(message, HasSubstr("tenants[0].users[1].upn: another user of this tenant already has a@b.c"));
}

TEST(TenantEmulatorSeedLoaderTest, EmptySeedAndUnreadableFile) {
  EXPECT_THAT(LoadSeedText("settings: {}\n", "empty.yaml", "/tmp").status().message(),
              HasSubstr("tenants: required: at least one tenant"));
  EXPECT_THAT(LoadSeedFile("/nonexistent/seed.yaml").status().message(), HasSubstr("cannot read seed file"));
}

TEST(TenantEmulatorSeedLoaderTest, RoleNamesAndIds) {
  EXPECT_EQ(RoleTemplateId("Global Administrator"), kGlobalAdministratorRole);
  EXPECT_EQ(RoleTemplateId("migrationadministrator"), kMigrationAdministratorRole);
  EXPECT_EQ(RoleTemplateId("F2EF992C-3AFB-46B9-B7CF-A126EE74C451"), kGlobalReaderRole);
  EXPECT_EQ(RoleTemplateId("Janitor"), "");
  EXPECT_EQ(RoleDisplayName(kSharePointAdministratorRole), "SharePoint Administrator");
}

}  // namespace
}  // namespace crosstenant::emulator
