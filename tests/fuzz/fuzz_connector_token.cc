// Fuzzes the connector's reading of Entra ID answers (services/tenant_connector/core/oauth.h): token
// responses, device code responses and polls, error bodies, and the JWT claims of the access token.
//
// Input: a first line naming the flow ("token", "device", "poll" or "claims"), then, for the first
// three, a script of Entra's responses (see fake_upstream.h); for "claims", the token text itself.
// Besides crashes, uncaught exceptions and sanitizer reports it checks what callers rely on: a token
// is returned only with an access_token; a refusal is one of the documented status codes.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/clock.h"
#include "services/tenant_connector/core/oauth.h"
#include "tests/fuzz/fake_upstream.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool DocumentedCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDeadlineExceeded:
      return true;
    default:
      return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace crosstenant::tenant_connector;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string flow = input.substr(0, newline);
  const std::string rest = newline == std::string::npos ? "" : input.substr(newline + 1);

  if (flow == "claims") {
    absl::StatusOr<nlohmann::json> claims = JwtClaims(rest);
    FUZZ_CHECK(!claims.ok() || claims->is_object(), "JwtClaims returned a non-object");
    return 0;
  }

  crosstenant::fuzz::ScriptedTransport transport(rest);
  crosstenant::fuzz::InstantClock clock(absl::FromUnixSeconds(1767225600));  // 2026-01-01
  ThrottleOptions throttle;
  throttle.max_attempts = 3;
  ThrottleGovernors governors(throttle, &clock);
  TokenClient client(&transport, &governors, &clock);
  const absl::Time deadline = clock.Now() + absl::Minutes(10);

  if (flow == "device") {
    absl::StatusOr<DeviceCodeStart> start = client.StartDeviceCode(
        "login.microsoftonline.com", "contoso.onmicrosoft.com", "contoso", "11111111-1111-4111-8111-111111111111",
        "https://graph.microsoft.com/.default offline_access", deadline);
    if (start.ok()) {
      FUZZ_CHECK(!start->device_code.empty(), "a device code start without device_code");
      FUZZ_CHECK(start->interval >= absl::ZeroDuration(), "a negative poll interval");
    } else {
      FUZZ_CHECK(DocumentedCode(start.status()), start.status());
    }
  } else if (flow == "poll") {
    for (int i = 0; i < 4; ++i) {
      DeviceCodePoll poll = client.PollDeviceCode("login.microsoftonline.com", "contoso.onmicrosoft.com", "contoso",
                                                  "11111111-1111-4111-8111-111111111111", "device-code", deadline);
      if (poll.kind == DeviceCodePoll::Kind::kToken) {
        FUZZ_CHECK(!poll.token.access_token.empty(), "a polled token without access_token");
      }
      if (poll.kind == DeviceCodePoll::Kind::kFailed) {
        FUZZ_CHECK(!poll.failure.ok() && DocumentedCode(poll.failure), poll.failure);
      }
    }
  } else {
    absl::StatusOr<AccessToken> token =
        client.RequestToken("login.microsoftonline.com", "contoso.onmicrosoft.com", "contoso",
                            {{"grant_type", "client_credentials"},
                             {"client_id", "11111111-1111-4111-8111-111111111111"},
                             {"client_secret", "secret"},
                             {"scope", "https://graph.microsoft.com/.default"}},
                            deadline);
    if (token.ok()) {
      FUZZ_CHECK(!token->access_token.empty(), "a token without access_token");
      FUZZ_CHECK(token->claims.is_null() || token->claims.is_object(), "claims that are not an object");
      (void)AuthFailureOf(absl::OkStatus());
    } else {
      FUZZ_CHECK(DocumentedCode(token.status()), token.status());
      (void)AuthFailureOf(token.status());
    }
  }
  return 0;
}
