#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_OAUTH_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_OAUTH_H_

// OAuth 2.0 against the Microsoft identity platform (`https://<login host>/<tenant>/oauth2/v2.0/...`):
// client credentials with a secret or a signed assertion (certificate, workload identity token),
// resource-owner password, device authorization, refresh; and reading a token's claims.
//
// Errors carry Entra's AADSTS code and description (which never contain the secret) and map to:
//   FAILED_PRECONDITION  sign-in refused (wrong secret, unknown app, MFA required, ...);
//   UNAVAILABLE          the endpoint failed (5xx, transport);
//   RESOURCE_EXHAUSTED   throttled beyond the caller's deadline (with RetryInfo).
// A refusal by Entra carries an ErrorInfo (domain kEntraDomain): reason its AADSTS code (or its OAuth
// `error` when it has none), metadata kMetadataAadsts and kMetadataOAuthError. AuthFailureOf() reads
// them to tell a credential that has expired from one that is wrong.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/tenant_connector/core/http.h"
#include "services/tenant_connector/core/throttle.h"

namespace crosstenant::tenant_connector {

// ErrorInfo domain and metadata keys of Entra ID's refusals (see above).
inline constexpr absl::string_view kEntraDomain = "login.microsoftonline.com";
inline constexpr char kMetadataAadsts[] = "aadsts";           // "AADSTS7000222"
inline constexpr char kMetadataOAuthError[] = "oauth_error";  // "invalid_client", "expired_token"

struct AccessToken {
  std::string access_token;
  std::string refresh_token;  // delegated flows with offline_access only
  absl::Time expire_time;
  absl::Duration lifetime;
  nlohmann::json claims;  // payload of the access token, when it is a JWT
  // Entra's clock minus the connector's, from the answer's `Date` header; nullopt without one.
  std::optional<absl::Duration> clock_skew;
};

struct DeviceCodeStart {
  std::string device_code;
  std::string user_code;
  std::string verification_uri;
  std::string message;
  absl::Time expire_time;
  absl::Duration interval;
};

// Outcome of one device code poll.
struct DeviceCodePoll {
  enum class Kind { kToken, kPending, kSlowDown, kFailed } kind = Kind::kPending;
  AccessToken token;     // kToken
  absl::Status failure;  // kFailed: declined, expired, bad code, other
};

// Why a sign-in failed, from the ErrorInfo metadata of Entra's refusal (the AADSTS code, the OAuth
// error), never from the message.
enum class AuthFailure {
  kNone,
  kTransient,  // retry later (5xx, throttled, unreachable)
  kExpired,    // the credential expired (secret, certificate, refresh token, device code)
  kRefused,    // wrong credential, unknown app or tenant, MFA required, consent missing
};
AuthFailure AuthFailureOf(const absl::Status& status);

// The claims of a JWT (its payload), without verifying the signature: the connector only reads its
// own tokens, received over verified TLS.
absl::StatusOr<nlohmann::json> JwtClaims(const std::string& token);

class TokenClient {
 public:
  // `governors` throttle the Entra endpoints per tenant (`tenant_key`).
  TokenClient(HttpTransport* transport, ThrottleGovernors* governors, Clock* clock);

  // One token request; `fields` is the grant (grant_type, client_id, scope, ...).
  absl::StatusOr<AccessToken> RequestToken(const std::string& login_host, const std::string& tenant,
                                           const std::string& tenant_key,
                                           std::vector<std::pair<std::string, std::string>> fields,
                                           absl::Time deadline);

  absl::StatusOr<DeviceCodeStart> StartDeviceCode(const std::string& login_host, const std::string& tenant,
                                                  const std::string& tenant_key, const std::string& client_id,
                                                  const std::string& scope, absl::Time deadline);

  DeviceCodePoll PollDeviceCode(const std::string& login_host, const std::string& tenant, const std::string& tenant_key,
                                const std::string& client_id, const std::string& device_code, absl::Time deadline);

  // The token endpoint, "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token".
  static std::string TokenEndpoint(const std::string& login_host, const std::string& tenant);

 private:
  absl::StatusOr<HttpResponse> Post(const std::string& url, const std::string& tenant_key, const std::string& body,
                                    absl::Time deadline);

  HttpTransport* transport_;
  ThrottleGovernors* governors_;
  Clock* clock_;
};

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_OAUTH_H_
