// The connector's decisions on an error read its code and ErrorInfo reason, never its message: each
// decision holds with an unrelated message, and a message that says the words alone changes nothing.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "services/common/errors.h"
#include "services/tenant_connector/core/connector.h"
#include "services/tenant_connector/core/connector_internal.h"
#include "services/tenant_connector/core/oauth.h"
#include "services/tenant_connector/core/sharepoint/csom.h"
#include "services/tenant_connector/core/upstream_error.h"
#include "tests/unit/tenant_connector/fake_clock.h"
#include "tests/unit/tenant_connector/scripted_transport.h"

namespace crosstenant::tenant_connector {
namespace {

absl::Status Reasoned(absl::Status status, absl::string_view reason) {
  return WithErrorInfo(std::move(status), reason, kCrosstenantDomain, {});
}

TEST(ErrorReasonsTest, ProbeOfAnotherTenantFailsTheConnectionWhateverTheMessage) {
  for (const char* reason : {kReasonTenantMismatch, kReasonTenantChanged}) {
    internal::ProbeVerdict verdict =
        internal::ProbeVerdictOf(Reasoned(absl::FailedPreconditionError("something else entirely"), reason));
    EXPECT_EQ(verdict.state, v1::CONNECTION_STATE_FAILED) << reason;
    EXPECT_STREQ(verdict.code, "VERIFICATION_FAILED");
  }
  // The words without the reason are an expired sign-in, as any other refusal.
  internal::ProbeVerdict words = internal::ProbeVerdictOf(absl::FailedPreconditionError(
      "admin URL https://fabrikam-admin.sharepoint.com does not belong to tenant contoso, but this connection "
      "belongs to tenant x"));
  EXPECT_EQ(words.state, v1::CONNECTION_STATE_EXPIRED);
  EXPECT_STREQ(words.code, "TOKEN_EXPIRED");
  EXPECT_EQ(internal::ProbeVerdictOf(absl::PermissionDeniedError("x")).state, v1::CONNECTION_STATE_FAILED);
  EXPECT_STREQ(internal::ProbeVerdictOf(absl::UnavailableError("x")).code, "UPSTREAM_UNAVAILABLE");
  EXPECT_STREQ(internal::ProbeVerdictOf(ResourceExhaustedWithRetry("x", absl::Seconds(1))).code, "THROTTLED");
}

TEST(ErrorReasonsTest, AnExistingMigrationTaskIsToldByItsReasonNotByOurMessage) {
  const absl::Status exists = MapUpstreamError(
      "graph", 409,
      {{"error",
        {{"code", "conflict"}, {"message", "A migration task already exists for a@contoso.com (status Queued)."}}}},
      "");
  EXPECT_EQ(exists.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorInfoReasonOf(exists), kReasonMigrationTaskExists);
  EXPECT_EQ(ErrorInfoMetadataOf(exists, kMetadataUpstreamCode), "conflict");  // Microsoft's code kept
  EXPECT_EQ(ErrorInfoMetadataOf(exists, kMetadataHttpStatus), "409");
  EXPECT_TRUE(internal::MoveTaskExists(exists));
  EXPECT_TRUE(
      internal::MoveTaskExists(Reasoned(absl::FailedPreconditionError("unrelated words"), kReasonMigrationTaskExists)));
  // Another conflict of a start keeps Microsoft's code and is a refusal.
  const absl::Status other = MapUpstreamError(
      "graph", 409, {{"error", {{"code", "conflict"}, {"message", "The target user already has a OneDrive."}}}}, "");
  EXPECT_EQ(ErrorInfoReasonOf(other), "conflict");
  EXPECT_FALSE(internal::MoveTaskExists(other));
  // The words in a message of ours are not the reason.
  EXPECT_FALSE(internal::MoveTaskExists(absl::FailedPreconditionError("A migration task already exists for x")));
}

TEST(ErrorReasonsTest, UpstreamErrorsKeepMicrosoftsCodeAsTheReason) {
  const absl::Status denied = MapUpstreamError("sharepoint", 403, {{"error", {{"code", "accessDenied"}}}}, "");
  EXPECT_EQ(ErrorInfoReasonOf(denied), "accessDenied");
  EXPECT_EQ(ErrorInfoMetadataOf(denied, kMetadataHttpStatus), "403");
  const absl::Status bare = MapUpstreamError("graph", 502, nlohmann::json(), "<html>bad gateway</html>");
  EXPECT_EQ(bare.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorInfoReasonOf(bare), "HTTP_502");
  EXPECT_EQ(RetryDelayOf(MapUpstreamError("graph", 429, nlohmann::json(), "")), absl::Seconds(5));
}

TEST(ErrorReasonsTest, UpstreamErrorsNameTheIdsMicrosoftSupportAsksFor) {
  const UpstreamIds ids{"6a1e8e0e-2f4b-4c55-9b0a-0d5c2f1e7a31", "b1c2d3e4-0000-4000-8000-000000000042"};
  const absl::Status throttled = MapUpstreamError("graph", 429, {{"error", {{"code", "TooManyRequests"}}}}, "", ids);
  EXPECT_TRUE(absl::StrContains(throttled.message(),
                                "(request-id b1c2d3e4-0000-4000-8000-000000000042, client-request-id "
                                "6a1e8e0e-2f4b-4c55-9b0a-0d5c2f1e7a31)"))
      << throttled.message();
  EXPECT_EQ(ErrorInfoMetadataOf(throttled, kMetadataRequestId), "b1c2d3e4-0000-4000-8000-000000000042");
  EXPECT_EQ(ErrorInfoMetadataOf(throttled, kMetadataClientRequestId), "6a1e8e0e-2f4b-4c55-9b0a-0d5c2f1e7a31");
  EXPECT_EQ(RetryDelayOf(throttled), absl::Seconds(5));  // still throttling, with its wait
  // No answer id (Microsoft never answered): ours alone, and "none" for theirs.
  const absl::Status unanswered = MapUpstreamError("sharepoint", 500, nlohmann::json(), "", {"c-1", ""});
  EXPECT_TRUE(absl::StrContains(unanswered.message(), "(request-id none, client-request-id c-1)"))
      << unanswered.message();
  EXPECT_EQ(ErrorInfoMetadataOf(unanswered, kMetadataRequestId), "");
  // Without ids (nothing sent on this thread), the message is as before.
  EXPECT_FALSE(absl::StrContains(MapUpstreamError("graph", 403, nlohmann::json(), "", {}).message(), "request-id"));
}

TEST(ErrorReasonsTest, FeatureNotEnabledIsReadFromTheReasonNotTheMessage) {
  csom::ServerError off;
  off.type_name = "Microsoft.Online.SharePoint.Common.SpoException";
  off.message = "The Cross-Tenant content move feature is not enabled for this tenant.";
  const absl::Status refused = csom::StatusOfServerError(off, "GetMySiteHostUrl");
  EXPECT_EQ(ErrorInfoReasonOf(refused), csom::kReasonFeatureNotEnabled);
  EXPECT_EQ(ErrorInfoMetadataOf(refused, "error_type_name"), off.type_name);  // Microsoft's type kept
  EXPECT_TRUE(internal::FeatureNotEnabled(refused));
  EXPECT_TRUE(internal::FeatureNotEnabled(
      Reasoned(absl::FailedPreconditionError("unrelated words"), csom::kReasonFeatureNotEnabled)));
  EXPECT_TRUE(internal::FeatureNotEnabled(absl::PermissionDeniedError("x")));
  EXPECT_FALSE(internal::FeatureNotEnabled(absl::FailedPreconditionError("the feature is not enabled")));
  csom::ServerError other = off;
  other.message = "Something else went wrong.";
  EXPECT_FALSE(internal::FeatureNotEnabled(csom::StatusOfServerError(other, "GetMySiteHostUrl")));
}

class EntraReasonTest : public ::testing::Test {
 protected:
  EntraReasonTest() : governors_(ThrottleOptions{}, &clock_), tokens_(&transport_, &governors_, &clock_) {}
  absl::Status Refusal(const nlohmann::json& body) {
    transport_.Answer(400, body.dump());
    return tokens_
        .RequestToken("login.microsoftonline.com", "contoso", "contoso", {{"grant_type", "client_credentials"}},
                      clock_.Now() + absl::Minutes(1))
        .status();
  }
  FakeClock clock_;
  ScriptedTransport transport_;
  ThrottleGovernors governors_;
  TokenClient tokens_;
};

TEST_F(EntraReasonTest, AnExpiredSecretIsToldByItsCodeWhateverTheDescription) {
  const absl::Status expired = Refusal({{"error", "invalid_client"},
                                        {"error_description", "words Microsoft may change"},
                                        {"error_codes", nlohmann::json::array({7000222})}});
  EXPECT_EQ(ErrorInfoReasonOf(expired), "AADSTS7000222");
  EXPECT_EQ(ErrorInfoMetadataOf(expired, kMetadataOAuthError), "invalid_client");
  EXPECT_EQ(AuthFailureOf(expired), AuthFailure::kExpired);
  // Named as the connection's refusal by the connector, Entra's facts stay readable.
  std::vector<std::pair<std::string, std::string>> metadata = ErrorInfoMetadataListOf(expired);
  metadata.emplace_back("connection", "connections/contoso");
  EXPECT_EQ(AuthFailureOf(WithErrorInfo(expired, kReasonConnectionNotUsable, kCrosstenantDomain, metadata)),
            AuthFailure::kExpired);

  const absl::Status wrong =
      Refusal({{"error", "invalid_client"}, {"error_description", "AADSTS7000215: Invalid client secret provided."}});
  EXPECT_EQ(ErrorInfoReasonOf(wrong), "AADSTS7000215");  // from the description when error_codes is absent
  EXPECT_EQ(AuthFailureOf(wrong), AuthFailure::kRefused);
}

TEST_F(EntraReasonTest, AnExpiredDeviceCodeIsToldByItsOAuthError) {
  transport_.Answer(400, nlohmann::json({{"error", "expired_token"}, {"error_description", "gone"}}).dump());
  DeviceCodePoll poll = tokens_.PollDeviceCode("login.microsoftonline.com", "contoso", "contoso", "app", "code",
                                               clock_.Now() + absl::Minutes(1));
  ASSERT_EQ(poll.kind, DeviceCodePoll::Kind::kFailed);
  EXPECT_EQ(ErrorInfoReasonOf(poll.failure), "expired_token");
  EXPECT_EQ(AuthFailureOf(poll.failure), AuthFailure::kExpired);
  EXPECT_EQ(AuthFailureOf(WithErrorInfo(absl::FailedPreconditionError("x"), "AADSTS70019", kEntraDomain,
                                        {{kMetadataOAuthError, "expired_token"}})),
            AuthFailure::kExpired);
}

TEST(ErrorReasonsTest, AuthFailureNeverReadsTheMessage) {
  EXPECT_EQ(AuthFailureOf(absl::FailedPreconditionError("invalid_client: AADSTS7000222: secret expired")),
            AuthFailure::kRefused);
  EXPECT_EQ(AuthFailureOf(absl::FailedPreconditionError("expired_token")), AuthFailure::kRefused);
  EXPECT_EQ(AuthFailureOf(WithErrorInfo(absl::FailedPreconditionError("unrelated"), "AADSTS1000502", kEntraDomain,
                                        {{kMetadataAadsts, "AADSTS1000502"}})),
            AuthFailure::kExpired);
}

}  // namespace
}  // namespace crosstenant::tenant_connector
