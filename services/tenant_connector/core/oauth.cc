#include "services/tenant_connector/core/oauth.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/common/errors.h"
#include "services/tenant_connector/core/crypto.h"

namespace crosstenant::tenant_connector {
namespace {

// AADSTS codes meaning "the credential has expired" rather than "it is wrong".
constexpr absl::string_view kExpiredCodes[] = {
    "AADSTS7000222",  // client secret expired
    "AADSTS1000502",  // certificate outside its validity window
    "AADSTS700082",   // refresh token expired (inactivity)
    "AADSTS50173",    // grant expired (password changed)
    "AADSTS700024",   // assertion outside its time range (clock)
    "AADSTS70008",    // authorization code / refresh token expired
    "AADSTS50133",    // session invalid after password change
};

// AADSTS codes meaning "this account needs multi-factor authentication".
constexpr absl::string_view kMfaCodes[] = {"AADSTS50076", "AADSTS50079", "AADSTS50158"};

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find_first_of("\r\n"));
  if (line.size() > 400) line.resize(400);
  return line;
}

std::string StringOr(const nlohmann::json& json, const char* key, const std::string& fallback = "") {
  auto it = json.find(key);
  return it != json.end() && it->is_string() ? it->get<std::string>() : fallback;
}

int64_t IntOr(const nlohmann::json& json, const char* key, int64_t fallback) {
  auto it = json.find(key);
  if (it == json.end()) return fallback;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (...) {
      return fallback;
    }
  }
  return fallback;
}

// Entra's AADSTS code of an error body: its `error_codes` (Microsoft's own field), else the code that
// starts its `error_description` ("AADSTS7000222: ..."); "" if neither.
std::string AadstsCode(const nlohmann::json& body, const std::string& description) {
  if (auto codes = body.find("error_codes");
      codes != body.end() && codes->is_array() && !codes->empty() && codes->front().is_number_integer()) {
    return absl::StrCat("AADSTS", codes->front().get<int64_t>());
  }
  absl::string_view text = description;
  if (!absl::ConsumePrefix(&text, "AADSTS")) return "";
  const size_t digits = std::min(text.find_first_not_of("0123456789"), text.size());
  return digits == 0 ? "" : absl::StrCat("AADSTS", text.substr(0, digits));
}

// `status` with the ErrorInfo of an Entra refusal: reason the AADSTS code (or the OAuth error without
// one), metadata both, for AuthFailureOf and for support.
absl::Status WithEntraReason(absl::Status status, const std::string& error, const std::string& aadsts) {
  std::vector<std::pair<std::string, std::string>> metadata;
  if (!aadsts.empty()) metadata.emplace_back(kMetadataAadsts, aadsts);
  if (!error.empty()) metadata.emplace_back(kMetadataOAuthError, error);
  if (aadsts.empty() && error.empty()) return status;
  return WithErrorInfo(std::move(status), aadsts.empty() ? error : aadsts, kEntraDomain, metadata);
}

// The status for an Entra error response.
absl::Status EntraError(const HttpResponse& response) {
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  std::string error = body.is_object() ? StringOr(body, "error") : "";
  std::string description = body.is_object() ? FirstLine(StringOr(body, "error_description")) : "";
  const std::string aadsts = body.is_object() ? AadstsCode(body, description) : "";
  if (response.status >= 500) {
    return absl::UnavailableError(absl::StrCat("Entra ID token endpoint failed with HTTP ", response.status,
                                               description.empty() ? "" : ": ", description));
  }
  if (error.empty()) {
    return WithEntraReason(
        absl::FailedPreconditionError(absl::StrCat("Entra ID refused the sign-in with HTTP ", response.status)), error,
        aadsts);
  }
  std::string message =
      absl::StrCat("sign-in refused by Entra ID: ", error, description.empty() ? "" : ": ", description);
  if (std::find(std::begin(kMfaCodes), std::end(kMfaCodes), aadsts) != std::end(kMfaCodes)) {
    absl::StrAppend(&message,
                    " (the account requires multi-factor authentication, which a username and password can not "
                    "satisfy; connect with a DEVICE_CODE credential instead)");
  }
  return WithEntraReason(absl::FailedPreconditionError(message), error, aadsts);
}

}  // namespace

AuthFailure AuthFailureOf(const absl::Status& status) {
  if (status.ok()) return AuthFailure::kNone;
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kInternal:
      return AuthFailure::kTransient;
    default:
      break;
  }
  // Read from the ErrorInfo metadata EntraError attaches (kept when the connector names the connection
  // as the cause), never from the message.
  const std::string aadsts = ErrorInfoMetadataOf(status, kMetadataAadsts);
  if (std::find(std::begin(kExpiredCodes), std::end(kExpiredCodes), aadsts) != std::end(kExpiredCodes)) {
    return AuthFailure::kExpired;
  }
  if (ErrorInfoMetadataOf(status, kMetadataOAuthError) == "expired_token") return AuthFailure::kExpired;
  return AuthFailure::kRefused;
}

absl::StatusOr<nlohmann::json> JwtClaims(const std::string& token) {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return absl::InvalidArgumentError("the access token is not a JWT");
  absl::StatusOr<std::string> payload = Base64UrlDecode(parts[1]);
  if (!payload.ok()) return absl::InvalidArgumentError("the access token's payload is not base64url");
  nlohmann::json claims = nlohmann::json::parse(*payload, nullptr, false);
  if (!claims.is_object()) return absl::InvalidArgumentError("the access token's payload is not a JSON object");
  return claims;
}

TokenClient::TokenClient(HttpTransport* transport, ThrottleGovernors* governors, Clock* clock)
    : transport_(transport), governors_(governors), clock_(clock) {}

std::string TokenClient::TokenEndpoint(const std::string& login_host, const std::string& tenant) {
  return absl::StrCat("https://", login_host, "/", tenant, "/oauth2/v2.0/token");
}

absl::StatusOr<HttpResponse> TokenClient::Post(const std::string& url, const std::string& tenant_key,
                                               const std::string& body, absl::Time deadline) {
  HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  request.body = body;
  request.timeout = std::clamp(deadline - clock_->Now(), absl::Seconds(1), absl::Seconds(30));
  return governors_->For(tenant_key, UpstreamApi::kEntraId).Run([&] { return transport_->Send(request); }, deadline);
}

absl::StatusOr<AccessToken> TokenClient::RequestToken(const std::string& login_host, const std::string& tenant,
                                                      const std::string& tenant_key,
                                                      std::vector<std::pair<std::string, std::string>> fields,
                                                      absl::Time deadline) {
  absl::Time sent = clock_->Now();
  absl::StatusOr<HttpResponse> response =
      Post(TokenEndpoint(login_host, tenant), tenant_key, FormEncode(fields), deadline);
  if (!response.ok()) return response.status();
  if (response->status != 200) return EntraError(*response);
  nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  if (!body.is_object() || StringOr(body, "access_token").empty()) {
    return absl::UnavailableError("Entra ID returned a token response without an access_token");
  }
  AccessToken token;
  token.access_token = StringOr(body, "access_token");
  token.refresh_token = StringOr(body, "refresh_token");
  token.lifetime = absl::Seconds(IntOr(body, "expires_in", 3599));
  token.expire_time = sent + token.lifetime;
  token.clock_skew = response->ClockSkew(clock_->Now());
  if (absl::StatusOr<nlohmann::json> claims = JwtClaims(token.access_token); claims.ok()) token.claims = *claims;
  return token;
}

absl::StatusOr<DeviceCodeStart> TokenClient::StartDeviceCode(const std::string& login_host, const std::string& tenant,
                                                             const std::string& tenant_key,
                                                             const std::string& client_id, const std::string& scope,
                                                             absl::Time deadline) {
  absl::Time sent = clock_->Now();
  absl::StatusOr<HttpResponse> response =
      Post(absl::StrCat("https://", login_host, "/", tenant, "/oauth2/v2.0/devicecode"), tenant_key,
           FormEncode({{"client_id", client_id}, {"scope", scope}}), deadline);
  if (!response.ok()) return response.status();
  if (response->status != 200) return EntraError(*response);
  nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  if (!body.is_object() || StringOr(body, "device_code").empty()) {
    return absl::UnavailableError("Entra ID returned a device code response without a device_code");
  }
  DeviceCodeStart start;
  start.device_code = StringOr(body, "device_code");
  start.user_code = StringOr(body, "user_code");
  start.verification_uri = StringOr(body, "verification_uri", StringOr(body, "verification_url"));
  start.message = StringOr(body, "message");
  start.expire_time = sent + absl::Seconds(IntOr(body, "expires_in", 900));
  start.interval = absl::Seconds(std::max<int64_t>(IntOr(body, "interval", 5), 0));
  return start;
}

DeviceCodePoll TokenClient::PollDeviceCode(const std::string& login_host, const std::string& tenant,
                                           const std::string& tenant_key, const std::string& client_id,
                                           const std::string& device_code, absl::Time deadline) {
  DeviceCodePoll poll;
  absl::Time sent = clock_->Now();
  absl::StatusOr<HttpResponse> response =
      Post(TokenEndpoint(login_host, tenant), tenant_key,
           FormEncode({{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                       {"client_id", client_id},
                       {"device_code", device_code}}),
           deadline);
  if (!response.ok()) {
    // Transient: keep polling.
    poll.kind = DeviceCodePoll::Kind::kPending;
    return poll;
  }
  nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  if (response->status == 200 && body.is_object() && !StringOr(body, "access_token").empty()) {
    poll.kind = DeviceCodePoll::Kind::kToken;
    poll.token.access_token = StringOr(body, "access_token");
    poll.token.refresh_token = StringOr(body, "refresh_token");
    poll.token.lifetime = absl::Seconds(IntOr(body, "expires_in", 3599));
    poll.token.expire_time = sent + poll.token.lifetime;
    if (absl::StatusOr<nlohmann::json> claims = JwtClaims(poll.token.access_token); claims.ok()) {
      poll.token.claims = *claims;
    }
    return poll;
  }
  std::string error = body.is_object() ? StringOr(body, "error") : "";
  if (error == "authorization_pending") return poll;
  if (error == "slow_down") {
    poll.kind = DeviceCodePoll::Kind::kSlowDown;
    return poll;
  }
  if (response->status >= 500) return poll;
  poll.kind = DeviceCodePoll::Kind::kFailed;
  std::string description = body.is_object() ? FirstLine(StringOr(body, "error_description")) : "";
  const std::string aadsts = body.is_object() ? AadstsCode(body, description) : "";
  if (error == "expired_token") {
    poll.failure = WithEntraReason(
        absl::FailedPreconditionError(absl::StrCat("device code expired before the admin signed in (expired_token)",
                                                   description.empty() ? "" : ": ", description)),
        error, aadsts);
  } else if (error == "authorization_declined") {
    poll.failure = WithEntraReason(
        absl::FailedPreconditionError(absl::StrCat("the admin declined the sign-in (authorization_declined)",
                                                   description.empty() ? "" : ": ", description)),
        error, aadsts);
  } else {
    poll.failure = EntraError(*response);
  }
  return poll;
}

}  // namespace crosstenant::tenant_connector
