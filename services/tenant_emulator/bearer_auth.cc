#include "services/tenant_emulator/bearer_auth.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace crosstenant::emulator {
namespace {

constexpr absl::string_view kSharePointAppId = "00000003-0000-0ff1-ce00-000000000000";

bool Permitted(const AccessClaims& claims, const AccessRule& rule) {
  if (rule.delegated_only && claims.app_only) return false;
  const std::set<std::string>& held = claims.app_only ? claims.roles : claims.scopes;
  const std::vector<std::string>& needed = claims.app_only ? rule.app_permissions : rule.delegated_permissions;
  bool permission = needed.empty() && !claims.app_only;
  for (const std::string& p : needed) permission = permission || held.count(p) > 0;
  if (!permission) return false;
  if (claims.app_only || rule.admin_roles.empty()) return true;
  for (const std::string& role : rule.admin_roles) {
    if (claims.wids.count(role)) return true;
  }
  return false;
}

std::optional<AccessClaims> Verify(EmulatorContext& c, RequestContext& ctx, bool graph) {
  const std::string token = BearerToken(ctx.request);
  absl::StatusOr<AccessClaims> claims = c.tokens.VerifyAccessToken(token);
  auto reject = [&](absl::string_view message) -> std::optional<AccessClaims> {
    if (graph) {
      ctx.response.set_header("WWW-Authenticate",
                              absl::StrCat("Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/"
                                           "common/oauth2/authorize\", client_id=\"",
                                           kGraphAppId, "\""));
      SendGraphError(ctx.request, ctx.response, 401, "InvalidAuthenticationToken", message);
    } else {
      SendSharePointUnauthorized(c, ctx, message);
    }
    return std::nullopt;
  };
  if (!claims.ok()) return reject(claims.status().message());
  ctx.tenant = claims->tenant;
  ctx.client = ClientKeyOf(*claims, c.directory.tenant(claims->tenant).seed.name);
  if (graph) {
    const std::string expected = absl::StrCat("https://", ctx.host.host);
    if (claims->audience != expected && claims->audience != expected + "/" && claims->audience != kGraphAppId) {
      return reject("Access token validation failure. Invalid audience.");
    }
  } else {
    int tenant = -1, geo = -1;
    if (!c.directory.FindGeoByUrl(claims->audience, &tenant, &geo) || tenant != ctx.host.tenant) {
      return reject("Invalid audience Uri.");
    }
    if (claims->tenant != ctx.host.tenant) return reject("The token was issued for another tenant.");
    if (claims->app_only && claims->appidacr == "1") {
      // SharePoint Online takes app-only tokens only from apps that signed in with a certificate.
      ctx.response.set_header("x-ms-diagnostics",
                              "3001000;reason=\"Unsupported app only token.\";category=\"invalid_client\"");
      return reject("Unsupported app only token.");
    }
  }
  return *claims;
}

}  // namespace

std::vector<std::string> SharePointAdminRoles() {
  return {std::string(kGlobalAdministratorRole), std::string(kSharePointAdministratorRole)};
}

void SendSharePointUnauthorized(const EmulatorContext& c, RequestContext& ctx, absl::string_view message) {
  const std::string realm = ctx.host.tenant >= 0 ? c.directory.tenant(ctx.host.tenant).seed.id : "";
  ctx.response.set_header(
      "WWW-Authenticate",
      absl::StrCat("Bearer realm=\"", realm, "\",client_id=\"", kSharePointAppId,
                   "\",trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\","
                   "authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\""));
  SendJson(ctx.response, 401, {{"error_description", std::string(message)}});
}

void IdentifyBearer(const EmulatorContext& c, RequestContext& ctx) {
  const nlohmann::json claims = PeekClaims(BearerToken(ctx.request));
  if (!claims.is_object()) return;
  // The token is not verified yet: any claim may be missing or of any type.
  auto text = [&claims](const char* name) {
    auto it = claims.find(name);
    return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const int tenant = c.directory.FindTenant(text("tid"));
  if (tenant < 0) return;
  ctx.tenant = tenant;
  AccessClaims peeked;
  peeked.app_only = text("idtyp") == "app";
  peeked.app_id = text("appid");
  peeked.object_id = text("oid");
  ctx.client = ClientKeyOf(peeked, c.directory.tenant(tenant).seed.name);
}

std::optional<AccessClaims> AuthorizeGraph(EmulatorContext& c, RequestContext& ctx, const AccessRule& rule) {
  std::optional<AccessClaims> claims = Verify(c, ctx, true);
  if (!claims) return std::nullopt;
  if (rule.delegated_only && claims->app_only) {
    SendGraphError(ctx.request, ctx.response, 400, "BadRequest",
                   "/me request is only valid with delegated authentication flow.");
    return std::nullopt;
  }
  if (!Permitted(*claims, rule)) {
    SendGraphError(ctx.request, ctx.response, 403, rule.denied_code, rule.denied_message);
    return std::nullopt;
  }
  return claims;
}

std::optional<AccessClaims> AuthorizeSharePoint(EmulatorContext& c, RequestContext& ctx, const AccessRule& rule) {
  std::optional<AccessClaims> claims = Verify(c, ctx, false);
  if (!claims) return std::nullopt;
  if (!Permitted(*claims, rule)) {
    SendSharePointError(ctx.response, 403,
                        "Access denied. You do not have permission to perform this action or access this resource.");
    return std::nullopt;
  }
  return claims;
}

}  // namespace crosstenant::emulator
