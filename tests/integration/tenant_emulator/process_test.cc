// The tenant-emulator process: start-up errors, host routing, the admin API, metrics, clean stop.

#include <signal.h>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/integration/tenant_emulator/emulator_fixture.h"

namespace crosstenant::testing {
namespace {

using ::testing::HasSubstr;

std::string CertDir() { return std::getenv("TENANT_EMULATOR_CERT_DIR"); }

struct BadSeedCase {
  const char* name;
  const char* from;  // replaced in the test seed
  const char* to;
  const char* expected;
};

class TenantEmulatorBadSeedTest : public ::testing::TestWithParam<BadSeedCase> {};

TEST_P(TenantEmulatorBadSeedTest, ExitsTwoNamingFileFieldAndReason) {
  const BadSeedCase& c = GetParam();
  TempDir dir;
  dir.WriteFile("app.pem", AppKey().CertificatePem());
  const std::string seed_text = absl::StrReplaceAll(TestSeed(dir.path() + "/app.pem"), {{c.from, c.to}});
  ASSERT_NE(seed_text, TestSeed(dir.path() + "/app.pem")) << "the replacement must change the seed";
  const std::string seed = dir.WriteFile("bad-seed.yaml", seed_text);
  ServerProcess process(BinaryPath("tenant-emulator"),
                        {"--seed", seed, "--address", "127.0.0.1:0", "--tls-cert", CertDir() + "/emulator.pem",
                         "--tls-key", CertDir() + "/emulator.key"},
                        dir.path());
  EXPECT_EQ(process.WaitForExit(std::chrono::seconds(10)), 2);
  EXPECT_THAT(process.Stderr(), HasSubstr("bad-seed.yaml:"));
  EXPECT_THAT(process.Stderr(), HasSubstr(c.expected));
}

INSTANTIATE_TEST_SUITE_P(
    Seeds, TenantEmulatorBadSeedTest,
    ::testing::Values(
        BadSeedCase{"UnknownKey", "display_name: Contoso", "display_nam: Contoso",
                    "tenants[0].display_nam: unknown key"},
        BadSeedCase{"BadTenantId", "id: 7f1d1c1e-0000-4000-8000-000000000001", "id: not-a-guid",
                    "tenants[0].id: must be a GUID"},
        BadSeedCase{"BadCompatibility", "features: {compatibility: Incompatible}", "features: {compatibility: Maybe}",
                    "tenants[3].features.compatibility: must be Compatible, Warning or Incompatible"},
        BadSeedCase{"UnknownGeo", "geo: EUR}", "geo: APC}",
                    "tenants[0].generate_users[1].geo: the tenant has no geo APC"},
        BadSeedCase{
            "DuplicateUser", "{upn: taken@contoso.onmicrosoft.com}", "{upn: user1@contoso.onmicrosoft.com}",
            "tenants[0].generate_users[0].upn_pattern: generates user1@contoso.onmicrosoft.com, which another user already has"},
        BadSeedCase{"BadDuration", "dormant_period: 1h", "dormant_period: soon",
                    "settings.dormant_period: expected a duration"},
        BadSeedCase{"MissingCertificate", "certificate: ", "certificate: /nonexistent/",
                    "cannot read certificate file"},
        BadSeedCase{"NotYaml", "tenants:", "tenants: [", "not valid YAML"}),
    [](const ::testing::TestParamInfo<BadSeedCase>& param_info) { return std::string(param_info.param.name); });

TEST(TenantEmulatorProcessFlagsTest, BadFlagsAndMissingFilesExitTwo) {
  TempDir dir;
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--no-such-flag"},
        std::vector<std::string>{"--seed", "/nonexistent.yaml", "--tls-cert", "x", "--tls-key", "y"},
        std::vector<std::string>{"--seed", "s.yaml"}, std::vector<std::string>{"--time-scale", "-1"}}) {
    ServerProcess process(BinaryPath("tenant-emulator"), args, dir.path());
    EXPECT_EQ(process.WaitForExit(std::chrono::seconds(10)), 2) << process.Stderr();
  }
}

class TenantEmulatorProcessTest : public EmulatorTest {
 protected:
  std::vector<std::string> ExtraArgs() override { return {"--time-scale", "60"}; }
};

// Only this fixture serves plain-HTTP metrics: the exposer takes a second or two to stop.
class TenantEmulatorMetricsTest : public EmulatorTest {
 protected:
  std::vector<std::string> ExtraArgs() override { return {"--metrics-address", "127.0.0.1:0"}; }
};

TEST_F(TenantEmulatorProcessTest, ReadyFileDescribesTheProcess) {
  EXPECT_EQ(ready_["service"], "tenant-emulator");
  EXPECT_EQ(ready_["pid"], process_->pid());
  EXPECT_THAT(ready_["address"].get<std::string>(), HasSubstr("127.0.0.1:"));
  EXPECT_EQ(ready_["tenants"][0], "contoso");
  EXPECT_EQ(ready_["time_scale"], 60.0);
}

TEST_F(TenantEmulatorProcessTest, AdminApiOnAnyHostAndUnknownHostsRefused) {
  EXPECT_EQ(Get(absl::StrCat(kLogin, "/_emulator/health")).json["status"], "ok");
  EXPECT_EQ(Get("https://contoso-my.sharepoint.com/_emulator/health").json["status"], "ok");
  EXPECT_EQ(Get("https://localhost/_emulator/health").status, 200);
  HttpResult tenants = Get("https://localhost/_emulator/tenants");
  ASSERT_EQ(tenants.json["value"].size(), 5u);
  EXPECT_EQ(tenants.json["value"][0]["geos"][1]["adminUrl"], kContosoEurAdmin);
  EXPECT_EQ(tenants.json["value"][0]["users"], 18);
  HttpResult unknown = Get("https://localhost/v1.0/users");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(Get(absl::StrCat(kGraph, "/_emulator/nothing")).status, 404);
  HttpResult time = Admin("GET", "time");
  EXPECT_EQ(time.json["time_scale"], 60.0);
  EXPECT_EQ(Admin("POST", "time", {{"time_scale", 0}}).status, 400);
}

TEST_F(TenantEmulatorMetricsTest, MetricsCountRequestsByFamilyAndCode) {
  AppToken();
  Get(absl::StrCat(kGraph, "/v1.0/organization"));
  HttpResult metrics = Get("https://localhost/_emulator/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("tenant_emulator_http_requests_total{code=\"200\",family=\"entra\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("tenant_emulator_http_requests_total{code=\"401\",family=\"graph\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("tenant_emulator_tokens_issued_total{grant_type=\"client_credentials\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("tenant_emulator_build_info"));
  std::optional<std::string> exposed =
      HttpGet(absl::StrCat("http://", ready_["metrics_address"].get<std::string>(), "/metrics"));
  ASSERT_TRUE(exposed.has_value());
  EXPECT_THAT(*exposed, HasSubstr("tenant_emulator_http_request_duration_seconds_bucket"));
}

TEST_F(TenantEmulatorProcessTest, SigintStopsCleanly) {
  process_->Signal(SIGINT);
  EXPECT_EQ(process_->WaitForExit(std::chrono::seconds(10)), 0);
  EXPECT_FALSE(std::ifstream(ready_file_).good());
  port_ = 0;  // already stopped
}

TEST_F(TenantEmulatorProcessTest, MalformedInputIsRefusedNeverCrashes) {
  HttpResult get_token = Get(TokenEndpoint());
  EXPECT_EQ(get_token.status, 405);
  EXPECT_TRUE(get_token.json.contains("error_codes")) << get_token.body;
  EXPECT_EQ(Admin("POST", "devicecode/approve", {{"user_code", 5}}).status, 400);
  EXPECT_EQ(Admin("POST", "time", "not json").status, 400);
  const std::string token = AppToken("fabrikam.onmicrosoft.com", kFabrikamApp, kFabrikamSecret);
  HttpResult wrong_type =
      PostJson("https://graph.microsoft.com/beta/solutions/sharePoint/migrations/crossOrganizationUserMappings",
               {{"value", {{{"sourceUserIdentity", {{"userPrincipalName", 5}}}}}}}, token, "PATCH");
  EXPECT_EQ(wrong_type.status, 400) << wrong_type.body;
  // A forged token whose claims have the wrong types is refused as a token, not as a crash.
  const std::string forged = emulator::Base64UrlEncode(R"({"alg":"RS256"})") + "." +
                             emulator::Base64UrlEncode(R"({"tid":5,"exp":"x"})") + ".c2ln";
  EXPECT_EQ(Get(absl::StrCat(kGraph, "/v1.0/organization"), forged).status, 401);
  HttpResult odd_version = Get(absl::StrCat(kGraph, "/v2.0/organization"), AppToken());
  EXPECT_EQ(odd_version.status, 400);
  EXPECT_EQ(Get(absl::StrCat(kGraph, "/v1.0/users?$top=0"), AppToken()).status, 400);
  // Still serving.
  EXPECT_EQ(Admin("GET", "health").status, 200);
}

}  // namespace
}  // namespace crosstenant::testing
