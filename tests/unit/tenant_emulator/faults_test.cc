#include <gtest/gtest.h>

#include "services/tenant_emulator/faults.h"

namespace crosstenant::emulator {
namespace {

TEST(TenantEmulatorFaultSettingsTest, AppliesPartialUpdatesAndRefusesBadOnes) {
  FaultSettings settings;
  ASSERT_TRUE(
      settings.Apply({{"throttle_ratio", 0.5}, {"latency_ms", 25}, {"unreachable_tenants", {"fabrikam"}}}).ok());
  EXPECT_DOUBLE_EQ(settings.throttle_ratio, 0.5);
  EXPECT_EQ(settings.latency, absl::Milliseconds(25));
  EXPECT_EQ(settings.retry_after_seconds, 2);
  EXPECT_FALSE(settings.Apply({{"throttle_ratio", -1}}).ok());
  EXPECT_FALSE(settings.Apply({{"retry_after_seconds", "soon"}}).ok());
  EXPECT_FALSE(settings.Apply({{"bogus", 1}}).ok());
  EXPECT_FALSE(settings.Apply(nlohmann::json::array()).ok());
  // The SharePoint knobs.
  EXPECT_FALSE(settings.require_form_digest);
  EXPECT_EQ(settings.site_page_size, 300);
  ASSERT_TRUE(settings.Apply({{"require_form_digest", true}, {"site_page_size", 2}}).ok());
  EXPECT_TRUE(settings.require_form_digest);
  EXPECT_EQ(settings.site_page_size, 2);
  EXPECT_FALSE(settings.Apply({{"site_page_size", 0}}).ok());
  EXPECT_FALSE(settings.Apply({{"site_page_size", 5001}}).ok());
  EXPECT_FALSE(settings.Apply({{"site_page_size", 2.5}}).ok());
  EXPECT_FALSE(settings.Apply({{"require_form_digest", "yes"}}).ok());
  EXPECT_EQ(settings.ToJson(absl::Hours(1))["site_page_size"], 2);
  EXPECT_EQ(settings.ToJson(absl::Hours(1))["require_form_digest"], true);
  // The Graph knob.
  EXPECT_FALSE(settings.refuse_filter_in);
  ASSERT_TRUE(settings.Apply({{"refuse_filter_in", true}}).ok());
  EXPECT_EQ(settings.ToJson(absl::Hours(1))["refuse_filter_in"], true);
  EXPECT_FALSE(settings.Apply({{"refuse_filter_in", 1}}).ok());
  EXPECT_DOUBLE_EQ(settings.throttle_ratio, 0.5) << "a refused update changes nothing";
  EXPECT_EQ(settings.ToJson(absl::Hours(1))["token_lifetime_seconds"], 3600);
}

TEST(TenantEmulatorFaultsTest, DrawFollowsTheRatiosAndResetRestoresStartUp) {
  FaultSettings initial;
  initial.throttle_ratio = 1;
  Faults faults(initial);
  EXPECT_EQ(faults.Draw(), InjectedFault::kThrottle);
  FaultSettings unavailable;
  unavailable.unavailable_ratio = 1;
  faults.Set(unavailable);
  EXPECT_EQ(faults.Draw(), InjectedFault::kUnavailable);
  faults.Set(FaultSettings());
  EXPECT_EQ(faults.Draw(), InjectedFault::kNone);
  faults.Reset();
  EXPECT_EQ(faults.Draw(), InjectedFault::kThrottle);
}

TEST(TenantEmulatorAccountingTest, CountsEarlyRetriesPerClient) {
  Accounting accounting;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  accounting.NoteRetryAfter("contoso/app/a", t0, 10);
  accounting.NoteArrival("contoso/app/a", t0 + absl::Seconds(3));
  accounting.NoteArrival("contoso/app/b", t0 + absl::Seconds(3));
  accounting.NoteArrival("contoso/app/a", t0 + absl::Seconds(10));
  accounting.NoteArrival("contoso/app/a", t0 + absl::Seconds(11));
  accounting.RecordMoveStart("u@x", false);
  accounting.RecordMoveStart("u@x", true);
  accounting.RecordRequest("graph.users.list", "contoso", 200);
  accounting.RecordSubRequest("graph.users.drive", "contoso");
  accounting.RecordSubRequest("graph.users.drive", "contoso");
  nlohmann::json json = accounting.ToJson();
  EXPECT_EQ(json["retry_after"]["early_retries"], 1);
  EXPECT_EQ(json["retry_after"]["by_client"]["contoso/app/a"], 1);
  EXPECT_EQ(json["moves"]["duplicates"], 1);
  EXPECT_EQ(json["requests"]["by_route"]["graph.users.list"], 1);
  EXPECT_EQ(json["batched_requests"]["total"], 2);
  EXPECT_EQ(json["batched_requests"]["by_route"]["graph.users.drive"], 2);
  EXPECT_EQ(json["batched_requests"]["by_tenant"]["contoso"], 2);
  accounting.Reset();
  EXPECT_EQ(accounting.ToJson()["requests"]["total"], 0);
  EXPECT_EQ(accounting.ToJson()["batched_requests"]["total"], 0);
}

// One $batch answer throttles several sub-requests: the client must wait for the longest Retry-After,
// even when a shorter one was given after it.
TEST(TenantEmulatorAccountingTest, TheLongestRetryAfterOfOneAnswerCounts) {
  Accounting accounting;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  accounting.NoteRetryAfter("contoso/app/a", t0, 3);
  accounting.NoteRetryAfter("contoso/app/a", t0, 1);
  accounting.NoteArrival("contoso/app/a", t0 + absl::Seconds(2));
  accounting.NoteArrival("contoso/app/a", t0 + absl::Seconds(3));
  EXPECT_EQ(accounting.ToJson()["retry_after"]["early_retries"], 1);
}

TEST(TenantEmulatorAccountingTest, KeepsTheNamedFieldsOfTheLastClientAssertions) {
  Accounting accounting;
  const nlohmann::json header = {{"alg", "PS256"}, {"typ", "JWT"}, {"x5t#S256", "abc"}, {"x5c", "MIIB..."}};
  for (std::size_t i = 0; i < Accounting::kMaxClientAssertions + 5; ++i) {
    accounting.RecordClientAssertion("app", "contoso", header,
                                     {{"jti", std::to_string(i)}, {"exp", 1}, {"secret_claim", "x"}});
  }
  const nlohmann::json records = accounting.ToJson()["client_assertions"];
  ASSERT_EQ(records.size(), Accounting::kMaxClientAssertions);
  EXPECT_EQ(records.front()["claims"]["jti"], "5") << "the oldest are dropped";
  EXPECT_EQ(records.back()["claims"]["jti"], std::to_string(Accounting::kMaxClientAssertions + 4));
  EXPECT_EQ(records.back()["header"], nlohmann::json({{"alg", "PS256"}, {"typ", "JWT"}, {"x5t#S256", "abc"}}));
  EXPECT_EQ(records.back()["claims"], nlohmann::json({{"jti", "104"}, {"exp", 1}}));
  EXPECT_EQ(records.back()["client_id"], "app");
  EXPECT_EQ(records.back()["tenant"], "contoso");
  accounting.Reset();
  EXPECT_TRUE(accounting.ToJson()["client_assertions"].empty());
}

}  // namespace
}  // namespace crosstenant::emulator
