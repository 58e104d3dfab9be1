// Injected faults and the accounting, against the real emulator process.

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/tenant_emulator/emulator_fixture.h"

namespace crosstenant::testing {
namespace {

class TenantEmulatorFaultsTest : public EmulatorTest {};

TEST_F(TenantEmulatorFaultsTest, ThrottlingAtRunTimeWithRetryAfterAndEarlyRetries) {
  const std::string token = AppToken();
  const std::string url = absl::StrCat(kGraph, "/v1.0/organization");
  ASSERT_EQ(Get(url, token).status, 200);
  HttpResult set = Admin("PUT", "faults", {{"throttle_ratio", 1.0}, {"retry_after_seconds", 30}});
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(set.json["throttle_ratio"], 1.0);

  HttpResult throttled = Get(url, token);
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(throttled.headers["retry-after"], "30");
  EXPECT_EQ(throttled.json["error"]["code"], "activityLimitReached");
  // Coming back at once is an early retry, counted for this client only.
  EXPECT_EQ(Get(url, token).status, 429);
  EXPECT_EQ(Get(url, token).status, 429);
  HttpResult accounting = Admin("GET", "accounting");
  EXPECT_EQ(accounting.json["retry_after"]["early_retries"], 2);
  EXPECT_EQ(accounting.json["retry_after"]["by_client"][absl::StrCat("contoso/app/", kContosoApp)], 2);
  EXPECT_EQ(accounting.json["faults"]["throttled"], 3);
  EXPECT_EQ(accounting.json["requests"]["by_status"]["429"], 3);

  // The token endpoint is throttled in Entra's shape.
  HttpResult token_throttled = PostForm(TokenEndpoint(), {{"grant_type", "client_credentials"},
                                                          {"client_id", kFabrikamApp},
                                                          {"client_secret", kFabrikamSecret},
                                                          {"scope", "https://graph.microsoft.com/.default"}});
  EXPECT_EQ(token_throttled.status, 429);
  EXPECT_EQ(token_throttled.json["error"], "temporarily_unavailable");
  EXPECT_FALSE(token_throttled.headers["retry-after"].empty());

  // The admin API is never faulted; back to the start-up faults.
  ASSERT_EQ(Admin("DELETE", "faults").json["throttle_ratio"], 0.0);
  EXPECT_EQ(Get(url, token).status, 200);
  // A retry before Retry-After elapsed is early even when it succeeds.
  EXPECT_EQ(Admin("GET", "accounting").json["retry_after"]["early_retries"], 3);

  HttpResult reset = Admin("DELETE", "accounting");
  EXPECT_EQ(reset.json["requests"]["total"], 0);
  EXPECT_EQ(reset.json["retry_after"]["early_retries"], 0);
}

TEST_F(TenantEmulatorFaultsTest, RetryAfterHonouredIsNotEarly) {
  const std::string token = AppToken();
  const std::string url = absl::StrCat(kGraph, "/v1.0/organization");
  ASSERT_EQ(Admin("PUT", "faults", {{"throttle_ratio", 1.0}, {"retry_after_seconds", 0}}).status, 200);
  EXPECT_EQ(Get(url, token).status, 429);
  ASSERT_EQ(Admin("PUT", "faults", {{"throttle_ratio", 0}}).status, 200);
  EXPECT_EQ(Get(url, token).status, 200);
  EXPECT_EQ(Admin("GET", "accounting").json["retry_after"]["early_retries"], 0);
}

TEST_F(TenantEmulatorFaultsTest, BadFaultSettingsAreRefused) {
  EXPECT_EQ(Admin("PUT", "faults", {{"throttle_ratio", 2}}).status, 400);
  EXPECT_EQ(Admin("PUT", "faults", {{"typo", 1}}).status, 400);
  EXPECT_EQ(Admin("PUT", "faults", {{"unreachable_tenants", {"nowhere"}}}).status, 400);
  EXPECT_EQ(Admin("GET", "faults").json["throttle_ratio"], 0.0);
}

TEST_F(TenantEmulatorFaultsTest, AccountingByRouteTenantAndStatus) {
  const std::string token = AppToken();
  Get(absl::StrCat(kGraph, "/v1.0/users?$top=2"), token);
  Get(absl::StrCat(kGraph, "/v1.0/users/ghost@contoso.onmicrosoft.com"), token);
  Get(absl::StrCat(kGraph, "/v1.0/nothing"), token);
  HttpResult accounting = Admin("GET", "accounting");
  const nlohmann::json& requests = accounting.json["requests"];
  EXPECT_EQ(requests["total"], 4);
  EXPECT_EQ(requests["by_route"]["entra.token"], 1);
  EXPECT_EQ(requests["by_route"]["graph.users.list"], 1);
  EXPECT_EQ(requests["by_route"]["graph.users.get"], 1);
  EXPECT_EQ(requests["by_route"]["graph.unknown"], 1);
  EXPECT_EQ(requests["by_tenant"]["contoso"], 4);
  EXPECT_EQ(requests["by_status"]["200"], 2);
  EXPECT_EQ(requests["by_status"]["404"], 1);
  EXPECT_EQ(requests["by_status"]["400"], 1);  // Graph's answer to an unknown segment
}

class TenantEmulatorStartupFaultsTest : public EmulatorTest {
 protected:
  std::vector<std::string> ExtraArgs() override {
    return {"--fault-unavailable-ratio", "1",     "--fault-retry-after",  "7-7",
            "--fault-latency",           "200ms", "--unreachable-tenant", "fabrikam"};
  }
};

TEST_F(TenantEmulatorStartupFaultsTest, UnavailableLatencyAndUnreachableFromFlags) {
  HttpResult faults = Admin("GET", "faults");
  EXPECT_EQ(faults.json["unavailable_ratio"], 1.0);
  EXPECT_EQ(faults.json["latency_ms"], 200);
  EXPECT_EQ(faults.json["retry_after_seconds"], 7);
  EXPECT_EQ(faults.json["retry_after_max_seconds"], 7);
  EXPECT_EQ(faults.json["unreachable_tenants"], nlohmann::json::array({"fabrikam"}));
  const auto started = std::chrono::steady_clock::now();
  HttpResult unavailable = PostForm(TokenEndpoint(), {{"grant_type", "client_credentials"},
                                                      {"client_id", kContosoApp},
                                                      {"client_secret", kContosoSecret},
                                                      {"scope", "https://graph.microsoft.com/.default"}});
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(200));
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.headers["retry-after"], "7");
  EXPECT_EQ(unavailable.json["error_codes"], nlohmann::json::array({90033}));

  ASSERT_EQ(Admin("PUT", "faults", {{"unavailable_ratio", 0}, {"latency_ms", 0}}).status, 200);
  EXPECT_FALSE(AppToken().empty());
  HttpResult unreachable =
      PostForm(TokenEndpoint("fabrikam.onmicrosoft.com"), {{"grant_type", "client_credentials"},
                                                           {"client_id", kFabrikamApp},
                                                           {"client_secret", kFabrikamSecret},
                                                           {"scope", "https://graph.microsoft.com/.default"}});
  EXPECT_EQ(unreachable.status, 503) << unreachable.body;
  EXPECT_EQ(Admin("GET", "accounting").json["faults"]["unreachable"], 1);
}

class TenantEmulatorTokenLifetimeTest : public EmulatorTest {};

TEST_F(TenantEmulatorTokenLifetimeTest, TokenLifetimeChangesAtRunTime) {
  ASSERT_EQ(Admin("PUT", "faults", {{"token_lifetime_seconds", 120}}).status, 200);
  HttpResult issued = PostForm(TokenEndpoint(), {{"grant_type", "client_credentials"},
                                                 {"client_id", kContosoApp},
                                                 {"client_secret", kContosoSecret},
                                                 {"scope", "https://graph.microsoft.com/.default"}});
  ASSERT_EQ(issued.status, 200);
  EXPECT_EQ(issued.json["expires_in"], 120);
  const nlohmann::json claims = DecodeClaims(issued.json["access_token"]);
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 120);
}

}  // namespace
}  // namespace crosstenant::testing
