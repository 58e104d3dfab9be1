#include "services/tenant_emulator/token_service.h"

#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace crosstenant::emulator {
namespace {

std::string UserCode() {
  // Letters and digits that cannot be mistaken for one another, as Entra's codes are.
  static constexpr char kAlphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  unsigned char random[9];
  RAND_bytes(random, sizeof(random));
  std::string code;
  for (unsigned char r : random) code += kAlphabet[r % (sizeof(kAlphabet) - 1)];
  return code;
}

std::set<std::string> StringSet(const nlohmann::json& claims, const char* name, bool space_separated) {
  std::set<std::string> out;
  if (!claims.contains(name)) return out;
  const nlohmann::json& value = claims[name];
  if (space_separated && value.is_string()) {
    for (absl::string_view part : absl::StrSplit(value.get<std::string>(), ' ', absl::SkipEmpty())) {
      out.insert(std::string(part));
    }
  } else if (value.is_array()) {
    for (const nlohmann::json& item : value) {
      if (item.is_string()) out.insert(item.get<std::string>());
    }
  }
  return out;
}

}  // namespace

std::string ClientKeyOf(const AccessClaims& claims, const std::string& tenant_name) {
  return claims.app_only ? absl::StrCat(tenant_name, "/app/", claims.app_id)
                         : absl::StrCat(tenant_name, "/user/", claims.object_id);
}

TokenService::TokenService(const Directory& directory, const SeedSettings& settings, const Faults& faults,
                           const ScaledClock& clock, SigningKey key)
    : directory_(directory), settings_(settings), faults_(faults), clock_(clock), key_(std::move(key)) {}

absl::Duration TokenService::TokenLifetime() const {
  const absl::Duration fault = faults_.Get().token_lifetime;
  return fault > absl::ZeroDuration() ? fault : settings_.token_lifetime;
}

nlohmann::json TokenService::BaseClaims(int tenant, const std::string& audience) const {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const std::string& tid = directory_.tenant(tenant).seed.id;
  return {{"aud", audience},
          {"iss", absl::StrCat("https://sts.windows.net/", tid, "/")},
          {"iat", now},
          {"nbf", now},
          {"exp", now + absl::ToInt64Seconds(TokenLifetime())},
          {"tid", tid},
          {"ver", "1.0"},
          {"uti", RandomToken(16)}};
}

std::string TokenService::IssueAppToken(int tenant, const DirectoryApp& app, const std::string& resource,
                                        ClientCredential credential) const {
  nlohmann::json claims = BaseClaims(tenant, resource);
  const std::string sp_id = DerivedGuid(directory_.tenant(tenant).seed.id, app.seed.client_id);
  claims["appid"] = app.seed.client_id;
  claims["azp"] = app.seed.client_id;
  claims["app_displayname"] = app.seed.display_name;
  claims["appidacr"] = credential == ClientCredential::kSecret ? "1" : "2";
  claims["idtyp"] = "app";
  claims["oid"] = sp_id;
  claims["sub"] = sp_id;
  claims["roles"] = app.seed.application_permissions;
  return key_.Sign(claims);
}

std::string TokenService::IssueUserToken(int tenant, int user, const DirectoryApp* app, const std::string& client_id,
                                         const std::string& resource) const {
  const DirectoryUser& person = directory_.tenant(tenant).users[user];
  nlohmann::json claims = BaseClaims(tenant, resource);
  claims["appid"] = client_id;
  claims["azp"] = client_id;
  claims["appidacr"] = app != nullptr && !app->seed.public_client ? "1" : "0";
  claims["idtyp"] = "user";
  claims["oid"] = person.id;
  claims["sub"] = DerivedGuid(person.id, client_id);
  claims["upn"] = person.upn;
  claims["unique_name"] = person.upn;
  claims["name"] = person.display_name;
  claims["scp"] = app != nullptr && !app->seed.delegated_permissions.empty()
                      ? absl::StrJoin(app->seed.delegated_permissions, " ")
                      : std::string("User.Read");
  claims["wids"] = person.role_template_ids;
  claims["amr"] = nlohmann::json::array({"pwd"});
  return key_.Sign(claims);
}

std::string TokenService::IssueIdToken(int tenant, int user, const std::string& client_id,
                                       const std::string& issuer_host) const {
  const DirectoryUser& person = directory_.tenant(tenant).users[user];
  const std::string& tid = directory_.tenant(tenant).seed.id;
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  nlohmann::json claims = {{"aud", client_id},
                           {"iss", absl::StrCat("https://", issuer_host, "/", tid, "/v2.0")},
                           {"iat", now},
                           {"nbf", now},
                           {"exp", now + 3600},
                           {"tid", tid},
                           {"oid", person.id},
                           {"sub", DerivedGuid(person.id, client_id)},
                           {"preferred_username", person.upn},
                           {"name", person.display_name},
                           {"ver", "2.0"}};
  return key_.Sign(claims);
}

absl::StatusOr<AccessClaims> TokenService::VerifyAccessToken(absl::string_view token) const {
  if (token.empty()) return absl::UnauthenticatedError("Access token is empty.");
  absl::StatusOr<Jwt> jwt = ParseJwt(token);
  if (!jwt.ok()) return absl::UnauthenticatedError("Invalid JWT token. The token is malformed.");
  if (jwt->header.value("kid", "") != key_.kid() || !key_.Verify(*jwt)) {
    return absl::UnauthenticatedError("Access token validation failure. Invalid signature.");
  }
  const nlohmann::json& c = jwt->claims;
  AccessClaims claims;
  claims.tenant_id = c.value("tid", "");
  claims.tenant = directory_.FindTenant(claims.tenant_id);
  if (claims.tenant < 0) return absl::UnauthenticatedError("Access token validation failure. Unknown tenant.");
  const int64_t exp = c.value("exp", int64_t{0});
  claims.expires = absl::FromUnixSeconds(exp);
  if (absl::Now() >= claims.expires) {
    return absl::UnauthenticatedError("Lifetime validation failed, the token is expired.");
  }
  claims.audience = c.value("aud", "");
  claims.app_id = c.value("appid", "");
  claims.app_only = c.value("idtyp", "") == "app";
  claims.object_id = c.value("oid", "");
  claims.appidacr = c.value("appidacr", "");
  claims.upn = c.value("upn", "");
  claims.roles = StringSet(c, "roles", false);
  claims.scopes = StringSet(c, "scp", true);
  claims.wids = StringSet(c, "wids", false);
  return claims;
}

std::string TokenService::NewRefreshToken(RefreshGrant grant) {
  std::string token = absl::StrCat("1.", RandomToken(48));
  grant.expires = absl::Now() + settings_.refresh_token_lifetime;
  absl::MutexLock lock(&mu_);
  refresh_tokens_[token] = std::move(grant);
  return token;
}

std::optional<RefreshGrant> TokenService::FindRefreshToken(const std::string& token) const {
  absl::MutexLock lock(&mu_);
  auto it = refresh_tokens_.find(token);
  if (it == refresh_tokens_.end()) return std::nullopt;
  return it->second;
}

DeviceCode TokenService::NewDeviceCode(int tenant, const std::string& client_id, const std::string& scope) {
  DeviceCode code;
  code.device_code = absl::StrCat("DAQABAAEAAAB", RandomToken(64));
  code.user_code = UserCode();
  code.tenant = tenant;
  code.client_id = client_id;
  code.scope = scope;
  code.expires = clock_.Now() + settings_.device_code_lifetime;
  code.interval = settings_.device_code_interval;
  code.last_poll = absl::InfinitePast();
  absl::MutexLock lock(&mu_);
  device_code_by_user_code_[code.user_code] = code.device_code;
  device_codes_[code.device_code] = code;
  return code;
}

bool TokenService::WithDeviceCode(const std::string& code, bool by_user_code,
                                  const std::function<void(DeviceCode&)>& fn) {
  absl::MutexLock lock(&mu_);
  std::string device_code = code;
  if (by_user_code) {
    auto it = device_code_by_user_code_.find(code);
    if (it == device_code_by_user_code_.end()) return false;
    device_code = it->second;
  }
  auto it = device_codes_.find(device_code);
  if (it == device_codes_.end()) return false;
  fn(it->second);
  return true;
}

}  // namespace crosstenant::emulator
