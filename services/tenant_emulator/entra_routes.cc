#include "services/tenant_emulator/entra_routes.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace crosstenant::emulator {
namespace {

constexpr absl::string_view kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr absl::string_view kDeviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code";
// MSAL (and so the Azure SDK) polls with the short spelling; Entra accepts both.
constexpr absl::string_view kDeviceCodeGrantShort = "device_code";
constexpr absl::Duration kClockSkew = absl::Minutes(5);

bool IsGenericTenant(const std::string& ref) {
  const std::string lower = absl::AsciiStrToLower(ref);
  return lower == "common" || lower == "organizations" || lower == "consumers";
}

// A form field; client_id and client_secret may also come in an HTTP Basic Authorization header
// (client_secret_basic, which the discovery document advertises).
std::string Param(const httplib::Request& request, const char* name) {
  if (request.has_param(name)) return request.get_param_value(name);
  const std::string_view field(name);
  if (field != "client_id" && field != "client_secret") return "";
  const std::string header = request.get_header_value("Authorization");
  std::string decoded;
  if (!absl::StartsWithIgnoreCase(header, "Basic ") || !Base64UrlDecode(header.substr(6), &decoded)) return "";
  const std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return "";
  const std::string value = field == "client_id" ? decoded.substr(0, colon) : decoded.substr(colon + 1);
  return httplib::detail::decode_url(value, true);
}

// Entra marks every answer of its token and device authorization endpoints, errors included, as not to
// be stored by caches on the way (RFC 6749 5.1).
void NoStore(httplib::Response& response) {
  response.set_header("Cache-Control", "no-store, no-cache");
  response.set_header("Pragma", "no-cache");
}

// The login hosts of the clouds Entra knows, as instance discovery lists them: {preferred_network,
// preferred_cache, aliases}.
struct LoginCloud {
  const char* preferred_network;
  const char* preferred_cache;
  std::vector<const char*> aliases;
};
const std::vector<LoginCloud>& LoginClouds() {
  static const auto* clouds = new std::vector<LoginCloud>{
      {"login.microsoftonline.com",
       "login.windows.net",
       {"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"}},
      {"login.partner.microsoftonline.cn",
       "login.partner.microsoftonline.cn",
       {"login.partner.microsoftonline.cn", "login.chinacloudapi.cn"}},
      {"login.microsoftonline.us", "login.microsoftonline.us", {"login.microsoftonline.us", "login.usgovcloudapi.net"}},
      {"login-us.microsoftonline.com", "login-us.microsoftonline.com", {"login-us.microsoftonline.com"}}};
  return *clouds;
}

void MissingParameter(RequestContext& ctx, absl::string_view name) {
  SendEntraError(ctx.response, 400, "invalid_request", 900144,
                 absl::StrCat("The request body must contain the following parameter: '", name, "'."));
}

// The parts of an OAuth scope string.
struct ScopeRequest {
  std::string resource;  // "https://graph.microsoft.com"; empty if only OIDC scopes were asked
  std::vector<std::string> permissions;
  bool is_default = false;
  bool offline_access = false;
  bool openid = false;
  bool several_resources = false;
};

ScopeRequest ParseScope(absl::string_view scope) {
  ScopeRequest out;
  for (absl::string_view item : absl::StrSplit(scope, ' ', absl::SkipEmpty())) {
    const std::string lower = absl::AsciiStrToLower(item);
    if (lower == "offline_access") {
      out.offline_access = true;
      continue;
    }
    if (lower == "openid" || lower == "profile" || lower == "email") {
      out.openid = out.openid || lower == "openid";
      continue;
    }
    std::string resource = "https://graph.microsoft.com";
    std::string permission(item);
    if (absl::StartsWithIgnoreCase(item, "https://")) {
      const std::size_t slash = item.find('/', 8);
      resource = absl::AsciiStrToLower(item.substr(0, slash));
      permission = slash == absl::string_view::npos ? "" : std::string(item.substr(slash + 1));
    } else if (absl::StartsWithIgnoreCase(item, kGraphAppId)) {
      permission = std::string(item.substr(std::min(item.size(), kGraphAppId.size() + 1)));
    }
    if (!out.resource.empty() && out.resource != resource) out.several_resources = true;
    out.resource = resource;
    if (permission == ".default") out.is_default = true;
    if (!permission.empty()) out.permissions.push_back(permission);
  }
  return out;
}

}  // namespace

EntraRoutes::EntraRoutes(EmulatorContext& context) : c_(context) {}

void EntraRoutes::Register(Router& router) {
  auto bind = [this](auto method) {
    return [this, method](RequestContext& ctx, const std::vector<std::string>& captures) {
      (this->*method)(ctx, captures);
    };
  };
  router.Add("POST", "/{tenant}/oauth2/v2.0/token", "entra.token", bind(&EntraRoutes::Token));
  // The v1 endpoint (ADAL era, still in the v1 discovery document): `resource` instead of `scope`,
  // and expires_on / resource in the answer.
  router.Add("POST", "/{tenant}/oauth2/token", "entra.token_v1",
             [this](RequestContext& ctx, const std::vector<std::string>& captures) {
               NoStore(ctx.response);
               httplib::Request v2 = ctx.request;
               const std::string resource = Param(ctx.request, "resource");
               if (!v2.has_param("scope") && !resource.empty()) {
                 v2.params.emplace("scope", absl::StrCat(resource, "/.default"));
               }
               RequestContext inner{v2, ctx.response, ctx.host, ctx.path, ctx.route_name, ctx.tenant, ctx.client};
               Token(inner, captures);
               if (ctx.response.status != 200) return;
               nlohmann::json body = nlohmann::json::parse(ctx.response.body, nullptr, false);
               if (!body.is_object()) return;
               const int64_t now = absl::ToUnixSeconds(absl::Now());
               body["resource"] = resource;
               body["not_before"] = std::to_string(now);
               body["expires_on"] = std::to_string(now + body.value("expires_in", int64_t{0}));
               body["expires_in"] = std::to_string(body.value("expires_in", int64_t{0}));
               SendJson(ctx.response, 200, body);
             });
  router.Add("POST", "/{tenant}/oauth2/v2.0/devicecode", "entra.devicecode", bind(&EntraRoutes::DeviceCodeRequest));
  router.Add("GET", "/{tenant}/v2.0/.well-known/openid-configuration", "entra.openid_configuration",
             [this](RequestContext& ctx, const std::vector<std::string>& captures) {
               OpenIdConfiguration(ctx, captures, true);
             });
  router.Add("GET", "/{tenant}/.well-known/openid-configuration", "entra.openid_configuration",
             [this](RequestContext& ctx, const std::vector<std::string>& captures) {
               OpenIdConfiguration(ctx, captures, false);
             });
  for (const char* path : {"/{tenant}/discovery/v2.0/keys", "/{tenant}/discovery/keys"}) {
    router.Add("GET", path, "entra.keys", [this](RequestContext& ctx, const std::vector<std::string>&) { Keys(ctx); });
  }
  for (const char* path : {"/common/discovery/instance", "/{tenant}/discovery/instance"}) {
    router.Add("GET", path, "entra.instance_discovery",
               [this](RequestContext& ctx, const std::vector<std::string>&) { InstanceDiscovery(ctx); });
  }
  router.Add("GET", "/common/userrealm/{upn}", "entra.userrealm", bind(&EntraRoutes::UserRealm));
}

void EntraRoutes::Identify(RequestContext& ctx) const {
  const std::vector<std::string> segments = absl::StrSplit(ctx.path, '/', absl::SkipEmpty());
  if (segments.empty()) return;
  ctx.tenant = c_.directory.FindTenant(segments[0]);
  const std::string client_id = Param(ctx.request, "client_id");
  if (!client_id.empty()) {
    ctx.client = absl::StrCat(ctx.tenant >= 0 ? c_.directory.tenant(ctx.tenant).seed.name : segments[0], "/client/",
                              absl::AsciiStrToLower(client_id));
  }
}

void EntraRoutes::Token(RequestContext& ctx, const std::vector<std::string>& captures) {
  NoStore(ctx.response);
  const std::string& tenant_ref = captures[0];
  const int tenant = c_.directory.FindTenant(tenant_ref);
  if (tenant < 0 && !IsGenericTenant(tenant_ref)) {
    return SendEntraError(ctx.response, 400, "invalid_request", 90002,
                          absl::StrCat("Tenant '", tenant_ref,
                                       "' not found. Check to make sure you have the correct tenant ID and are "
                                       "signing into the correct cloud."));
  }
  const std::string grant = Param(ctx.request, "grant_type");
  if (grant.empty()) return MissingParameter(ctx, "grant_type");
  if (grant == "client_credentials") return ClientCredentials(ctx, tenant, tenant_ref);
  if (grant == "password") return Password(ctx, tenant);
  if (grant == "refresh_token") return RefreshToken(ctx);
  if (grant == kDeviceCodeGrant || grant == kDeviceCodeGrantShort) return DeviceCodeToken(ctx);
  SendEntraError(ctx.response, 400, "unsupported_grant_type", 70003,
                 absl::StrCat("The app requested an unsupported grant type '", grant, "'."));
}

void EntraRoutes::ClientCredentials(RequestContext& ctx, int tenant, const std::string& tenant_ref) {
  const std::string client_id = absl::AsciiStrToLower(Param(ctx.request, "client_id"));
  if (client_id.empty()) return MissingParameter(ctx, "client_id");
  if (tenant < 0) {
    return SendEntraError(ctx.response, 400, "invalid_request", 50059,
                          "No tenant-identifying information found in either the request or implied by any provided "
                          "credentials.");
  }
  const DirectoryTenant& directory_tenant = c_.directory.tenant(tenant);
  auto app = directory_tenant.apps.find(client_id);
  if (app == directory_tenant.apps.end()) {
    return SendEntraError(ctx.response, 400, "unauthorized_client", 700016,
                          absl::StrCat("Application with identifier '", client_id, "' was not found in the directory '",
                                       directory_tenant.seed.display_name,
                                       "'. This can happen if the application has not been installed by the "
                                       "administrator of the tenant or consented to by any user in the tenant. You may "
                                       "have sent your authentication request to the wrong tenant."));
  }
  const std::string assertion = Param(ctx.request, "client_assertion");
  const std::string secret = Param(ctx.request, "client_secret");
  if (!assertion.empty()) {
    if (Param(ctx.request, "client_assertion_type") != kJwtBearer) {
      return SendEntraError(ctx.response, 400, "invalid_request", 900144,
                            "The request body must contain the following parameter: 'client_assertion_type'.");
    }
    if (!CheckAssertion(ctx, tenant, tenant_ref, app->second)) return;
  } else if (!secret.empty()) {
    if (app->second.seed.secret.empty() || secret != app->second.seed.secret) {
      return SendEntraError(ctx.response, 401, "invalid_client", 7000215,
                            absl::StrCat("Invalid client secret provided. Ensure the secret being sent in the request "
                                         "is the client secret value, not the client secret ID, for a secret added to "
                                         "app '",
                                         client_id, "'."));
    }
  } else {
    return SendEntraError(ctx.response, 401, "invalid_client", 7000218,
                          "The request body must contain the following parameter: 'client_assertion' or "
                          "'client_secret'.");
  }
  const std::string scope = Param(ctx.request, "scope");
  if (scope.empty()) return MissingParameter(ctx, "scope");
  const ScopeRequest parsed = ParseScope(scope);
  if (!parsed.is_default || parsed.several_resources || parsed.permissions.size() != 1) {
    return SendEntraError(ctx.response, 400, "invalid_scope", 1002012,
                          absl::StrCat("The provided value for scope ", scope,
                                       " is not valid. Client credential flows must have a scope value with /.default "
                                       "suffixed to the resource identifier (application ID URI)."));
  }
  const HostRoute resource_host = c_.directory.Route(absl::string_view(parsed.resource).substr(8));
  const bool known = resource_host.kind == HostRoute::Kind::kGraph ||
                     (resource_host.kind == HostRoute::Kind::kSharePoint && resource_host.tenant == tenant);
  if (!known) {
    return SendEntraError(ctx.response, 400, "invalid_resource", 500011,
                          absl::StrCat("The resource principal named ", parsed.resource,
                                       " was not found in the tenant named ", directory_tenant.seed.display_name,
                                       ". This can happen if the application has not been installed by the "
                                       "administrator of the tenant or consented to by any user in the tenant. You "
                                       "might have sent your authentication request to the wrong tenant."));
  }
  const int64_t lifetime = absl::ToInt64Seconds(c_.tokens.TokenLifetime());
  c_.metrics.RecordToken("client_credentials");
  SendJson(ctx.response, 200,
           {{"token_type", "Bearer"},
            {"expires_in", lifetime},
            {"ext_expires_in", lifetime},
            {"access_token",
             c_.tokens.IssueAppToken(tenant, app->second, parsed.resource,
                                     assertion.empty() ? ClientCredential::kSecret : ClientCredential::kAssertion)}});
}

bool EntraRoutes::CheckAssertion(RequestContext& ctx, int tenant, const std::string& tenant_ref,
                                 const DirectoryApp& app) {
  auto malformed = [&](absl::string_view reason) {
    SendEntraError(ctx.response, 401, "invalid_client", 50027,
                   absl::StrCat("JWT token is invalid or malformed. [Reason - ", reason, "]"));
    return false;
  };
  absl::StatusOr<Jwt> jwt = ParseJwt(Param(ctx.request, "client_assertion"));
  if (!jwt.ok()) return malformed(jwt.status().message());
  c_.accounting.RecordClientAssertion(app.seed.client_id, c_.directory.tenant(tenant).seed.name, jwt->header,
                                      jwt->claims);
  const std::string alg = jwt->header.value("alg", "");
  if (alg != "RS256" && alg != "PS256") return malformed(absl::StrCat("The algorithm '", alg, "' is not supported."));
  if (!jwt->header.contains("x5t") && !jwt->header.contains("x5t#S256") && !app.federated_credentials.empty()) {
    return CheckFederatedAssertion(ctx, *jwt, app);
  }
  const std::string x5t_s256 = jwt->header.contains("x5t#S256") && jwt->header["x5t#S256"].is_string()
                                   ? jwt->header["x5t#S256"].get<std::string>()
                                   : "";
  const std::string x5t =
      jwt->header.contains("x5t") && jwt->header["x5t"].is_string() ? jwt->header["x5t"].get<std::string>() : "";
  const Certificate* certificate = nullptr;
  for (const Certificate& candidate : app.certificates) {
    if ((!x5t_s256.empty() && candidate.x5t_s256() == x5t_s256) || (!x5t.empty() && candidate.x5t() == x5t)) {
      certificate = &candidate;
    }
  }
  if (certificate == nullptr) {
    SendEntraError(ctx.response, 401, "invalid_client", 700027,
                   absl::StrCat("Client assertion failed signature validation. [Reason - The key was not found., "
                                "Thumbprint of key used by client: '",
                                x5t_s256.empty() ? x5t : x5t_s256,
                                "', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see "
                                "configured keys for app Id '",
                                app.seed.client_id, "'.]"));
    return false;
  }
  if (!VerifyJwtSignature(*jwt, certificate->public_key())) {
    SendEntraError(ctx.response, 401, "invalid_client", 700027,
                   "Client assertion failed signature validation. [Reason - The provided signature value did not "
                   "match the expected signature value.]");
    return false;
  }
  const nlohmann::json& claims = jwt->claims;
  if (claims.value("iss", "") != app.seed.client_id || claims.value("sub", "") != app.seed.client_id) {
    SendEntraError(ctx.response, 401, "invalid_client", 700021,
                   "Client assertion application identifier doesn't match 'client_id' parameter. Review the "
                   "documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/"
                   "active-directory-certificate-credentials .");
    return false;
  }
  std::vector<std::string> audiences;
  if (claims.contains("aud") && claims["aud"].is_string()) audiences.push_back(claims["aud"].get<std::string>());
  if (claims.contains("aud") && claims["aud"].is_array()) {
    for (const auto& a : claims["aud"]) {
      if (a.is_string()) audiences.push_back(a.get<std::string>());
    }
  }
  const SeedTenant& seed = c_.directory.tenant(tenant).seed;
  bool audience_ok = false;
  for (const std::string& audience : audiences) {
    for (const std::string& ref : {seed.id, seed.initial_domain, absl::StrCat(seed.name, ".onmicrosoft.com"),
                                   absl::AsciiStrToLower(tenant_ref)}) {
      for (const char* path : {"/oauth2/v2.0/token", "/oauth2/token"}) {
        if (absl::EqualsIgnoreCase(audience, absl::StrCat("https://", ctx.host.host, "/", ref, path))) {
          audience_ok = true;
        }
      }
    }
  }
  if (!audience_ok) {
    return malformed(absl::StrCat("The audience claim '", audiences.empty() ? "" : audiences[0],
                                  "' does not match the token endpoint https://", ctx.host.host, "/", seed.id,
                                  "/oauth2/v2.0/token."));
  }
  const absl::Time now = absl::Now();
  if (!claims.contains("exp") || !claims["exp"].is_number()) return malformed("The 'exp' claim is missing.");
  const absl::Time exp = absl::FromUnixSeconds(claims["exp"].get<int64_t>());
  if (now > exp + kClockSkew) {
    SendEntraError(ctx.response, 401, "invalid_client", 700024,
                   absl::StrCat("Client assertion is not within its valid time range. Current time: ", IsoTime(now),
                                ", expiry time of assertion ", IsoTime(exp), "."));
    return false;
  }
  if (claims.contains("nbf") && claims["nbf"].is_number()) {
    const absl::Time nbf = absl::FromUnixSeconds(claims["nbf"].get<int64_t>());
    if (nbf > now + kClockSkew) {
      SendEntraError(ctx.response, 401, "invalid_client", 700024,
                     absl::StrCat("Client assertion is not within its valid time range. Current time: ", IsoTime(now),
                                  ", assertion valid starting ", IsoTime(nbf), "."));
      return false;
    }
  }
  // An assertion may be presented again while it is valid, as Entra allows: MSAL and the Azure SDK
  // cache theirs for several minutes and sign in to every resource with the same one.
  if (claims.value("jti", "").empty()) return malformed("The 'jti' claim is missing.");
  return true;
}

bool EntraRoutes::CheckFederatedAssertion(RequestContext& ctx, const Jwt& jwt, const DirectoryApp& app) {
  auto text = [&jwt](const char* name) {
    auto it = jwt.claims.find(name);
    return it != jwt.claims.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::vector<std::string> audiences;
  if (auto aud = jwt.claims.find("aud"); aud != jwt.claims.end()) {
    if (aud->is_string()) audiences.push_back(aud->get<std::string>());
    if (aud->is_array()) {
      for (const auto& a : *aud) {
        if (a.is_string()) audiences.push_back(a.get<std::string>());
      }
    }
  }
  const FederatedCredential* match = nullptr;
  for (const FederatedCredential& credential : app.federated_credentials) {
    const bool audience_ok = std::find(audiences.begin(), audiences.end(), credential.seed.audience) != audiences.end();
    if (credential.seed.issuer == text("iss") && credential.seed.subject == text("sub") && audience_ok) {
      match = &credential;
    }
  }
  if (match == nullptr) {
    SendEntraError(ctx.response, 400, "invalid_client", 70021,
                   absl::StrCat("No matching federated identity record found for presented assertion. Assertion "
                                "Issuer: '",
                                text("iss"), "'. Assertion Subject: '", text("sub"), "'. Assertion Audience: '",
                                audiences.empty() ? "" : audiences[0], "'."));
    return false;
  }
  if (!VerifyJwtSignature(jwt, match->key.get())) {
    SendEntraError(ctx.response, 401, "invalid_client", 700027,
                   "Client assertion failed signature validation. [Reason - The provided signature value did not "
                   "match the expected signature value.]");
    return false;
  }
  const absl::Time now = absl::Now();
  const auto exp = jwt.claims.find("exp");
  if (exp == jwt.claims.end() || !exp->is_number() || now > absl::FromUnixSeconds(exp->get<int64_t>()) + kClockSkew) {
    SendEntraError(
        ctx.response, 401, "invalid_client", 700024,
        absl::StrCat("Client assertion is not within its valid time range. Current time: ", IsoTime(now), "."));
    return false;
  }
  return true;
}

void EntraRoutes::Password(RequestContext& ctx, int tenant) {
  const std::string client_id = absl::AsciiStrToLower(Param(ctx.request, "client_id"));
  const std::string username = absl::AsciiStrToLower(Param(ctx.request, "username"));
  const std::string password = Param(ctx.request, "password");
  if (client_id.empty()) return MissingParameter(ctx, "client_id");
  if (username.empty()) return MissingParameter(ctx, "username");
  if (password.empty()) return MissingParameter(ctx, "password");
  if (tenant < 0) tenant = c_.directory.FindTenantOfUpn(username);
  if (tenant < 0) {
    return SendEntraError(ctx.response, 400, "invalid_grant", 50034,
                          "The user account {EUII Hidden} does not exist in the directory. To sign into this "
                          "application, the account must be added to the directory.");
  }
  const DirectoryTenant& directory_tenant = c_.directory.tenant(tenant);
  auto app = directory_tenant.apps.find(client_id);
  if (app == directory_tenant.apps.end()) {
    return SendEntraError(ctx.response, 400, "unauthorized_client", 700016,
                          absl::StrCat("Application with identifier '", client_id, "' was not found in the directory '",
                                       directory_tenant.seed.display_name, "'."));
  }
  const std::string secret = Param(ctx.request, "client_secret");
  if (app->second.seed.public_client && !secret.empty()) {
    return SendEntraError(ctx.response, 401, "invalid_client", 700025,
                          "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.");
  }
  if (!app->second.seed.public_client && (secret.empty() || secret != app->second.seed.secret)) {
    return SendEntraError(ctx.response, 401, "invalid_client", 7000218,
                          "The request body must contain the following parameter: 'client_assertion' or "
                          "'client_secret'.");
  }
  const int user = directory_tenant.FindUserIndex(username);
  if (user < 0) {
    return SendEntraError(
        ctx.response, 400, "invalid_grant", 50034,
        absl::StrCat("The user account {EUII Hidden} does not exist in the ", directory_tenant.seed.id,
                     " directory. To sign into this application, the account must be added to the "
                     "directory."));
  }
  const DirectoryUser& person = directory_tenant.users[user];
  if (!person.is_admin || person.password != password) {
    return SendEntraError(ctx.response, 400, "invalid_grant", 50126,
                          "Error validating credentials due to invalid username or password.");
  }
  const std::string scope = Param(ctx.request, "scope");
  if (person.mfa_required) {
    const ScopeRequest parsed = ParseScope(scope);
    return SendEntraError(
        ctx.response, 400, "invalid_grant", 50076,
        absl::StrCat("Due to a configuration change made by your administrator, or because you moved to a new "
                     "location, you must use multi-factor authentication to access '",
                     parsed.resource.empty() || absl::StrContains(parsed.resource, "graph.microsoft")
                         ? std::string(kGraphAppId)
                         : parsed.resource,
                     "'."),
        {{"suberror", "basic_action"}});
  }
  SendUserTokens(ctx, tenant, user, client_id, scope, "password");
}

void EntraRoutes::SendUserTokens(RequestContext& ctx, int tenant, int user, const std::string& client_id,
                                 const std::string& scope, const std::string& grant_type) {
  if (scope.empty()) return MissingParameter(ctx, "scope");
  ScopeRequest parsed = ParseScope(scope);
  if (parsed.several_resources) {
    return SendEntraError(ctx.response, 400, "invalid_scope", 70011,
                          absl::StrCat("The provided value for the input parameter 'scope' is not valid. The scope ",
                                       scope, " contains more than one resource."));
  }
  if (parsed.resource.empty()) parsed.resource = "https://graph.microsoft.com";
  const HostRoute resource_host = c_.directory.Route(absl::string_view(parsed.resource).substr(8));
  if (resource_host.kind != HostRoute::Kind::kGraph &&
      !(resource_host.kind == HostRoute::Kind::kSharePoint && resource_host.tenant == tenant)) {
    return SendEntraError(
        ctx.response, 400, "invalid_resource", 500011,
        absl::StrCat("The resource principal named ", parsed.resource, " was not found in the tenant named ",
                     c_.directory.tenant(tenant).seed.display_name, "."));
  }
  const DirectoryTenant& directory_tenant = c_.directory.tenant(tenant);
  auto app = directory_tenant.apps.find(client_id);
  const DirectoryApp* app_ptr = app == directory_tenant.apps.end() ? nullptr : &app->second;
  const int64_t lifetime = absl::ToInt64Seconds(c_.tokens.TokenLifetime());
  std::vector<std::string> granted;
  if (app_ptr != nullptr) {
    for (const std::string& p : app_ptr->seed.delegated_permissions)
      granted.push_back(absl::StrCat(parsed.resource, "/", p));
  }
  if (granted.empty()) granted.push_back(absl::StrCat(parsed.resource, "/User.Read"));
  if (parsed.openid) granted.insert(granted.end(), {"openid", "profile"});
  if (parsed.offline_access) granted.push_back("offline_access");
  nlohmann::json body = {{"token_type", "Bearer"},
                         {"scope", absl::StrJoin(granted, " ")},
                         {"expires_in", lifetime},
                         {"ext_expires_in", lifetime},
                         {"access_token", c_.tokens.IssueUserToken(tenant, user, app_ptr, client_id, parsed.resource)}};
  if (parsed.offline_access) {
    body["refresh_token"] = c_.tokens.NewRefreshToken({tenant, user, client_id, scope, absl::Time()});
  }
  if (parsed.openid) body["id_token"] = c_.tokens.IssueIdToken(tenant, user, client_id, ctx.host.host);
  if (Param(ctx.request, "client_info") == "1") {
    const nlohmann::json info = {{"uid", directory_tenant.users[user].id}, {"utid", directory_tenant.seed.id}};
    body["client_info"] = Base64UrlEncode(info.dump());
  }
  c_.metrics.RecordToken(grant_type);
  SendJson(ctx.response, 200, body);
}

void EntraRoutes::RefreshToken(RequestContext& ctx) {
  const std::string token = Param(ctx.request, "refresh_token");
  if (token.empty()) return MissingParameter(ctx, "refresh_token");
  const std::string client_id = absl::AsciiStrToLower(Param(ctx.request, "client_id"));
  if (client_id.empty()) return MissingParameter(ctx, "client_id");
  std::optional<RefreshGrant> grant = c_.tokens.FindRefreshToken(token);
  if (!grant || grant->client_id != client_id) {
    return SendEntraError(ctx.response, 400, "invalid_grant", 9002313,
                          "Invalid request. Request is malformed or invalid.");
  }
  if (absl::Now() >= grant->expires) {
    return SendEntraError(ctx.response, 400, "invalid_grant", 700082,
                          "The refresh token has expired due to inactivity. The token was issued on a date and was "
                          "inactive for the configured refresh token lifetime.");
  }
  std::string scope = Param(ctx.request, "scope");
  if (scope.empty()) scope = grant->scope;
  if (!absl::StrContains(scope, "offline_access")) scope += " offline_access";
  SendUserTokens(ctx, grant->tenant, grant->user, client_id, scope, "refresh_token");
}

void EntraRoutes::DeviceCodeRequest(RequestContext& ctx, const std::vector<std::string>& captures) {
  NoStore(ctx.response);
  const std::string& tenant_ref = captures[0];
  const int tenant = c_.directory.FindTenant(tenant_ref);
  if (tenant < 0 && !IsGenericTenant(tenant_ref)) {
    return SendEntraError(ctx.response, 400, "invalid_request", 90002,
                          absl::StrCat("Tenant '", tenant_ref, "' not found."));
  }
  const std::string client_id = absl::AsciiStrToLower(Param(ctx.request, "client_id"));
  if (client_id.empty()) return MissingParameter(ctx, "client_id");
  const std::string scope = Param(ctx.request, "scope");
  if (scope.empty()) return MissingParameter(ctx, "scope");
  bool known = false, is_public = false;
  for (const DirectoryTenant& t : c_.directory.tenants()) {
    if (tenant >= 0 && t.index != tenant) continue;
    auto app = t.apps.find(client_id);
    if (app == t.apps.end()) continue;
    known = true;
    is_public = is_public || app->second.seed.public_client;
  }
  if (!known) {
    return SendEntraError(
        ctx.response, 400, "unauthorized_client", 700016,
        absl::StrCat("Application with identifier '", client_id, "' was not found in the directory."));
  }
  if (!is_public) {
    return SendEntraError(ctx.response, 400, "invalid_client", 7000218,
                          "The request body must contain the following parameter: 'client_assertion' or "
                          "'client_secret'.");
  }
  const DeviceCode code = c_.tokens.NewDeviceCode(tenant, client_id, scope);
  SendJson(ctx.response, 200,
           {{"user_code", code.user_code},
            {"device_code", code.device_code},
            {"verification_uri", "https://microsoft.com/devicelogin"},
            {"expires_in", absl::ToInt64Seconds(c_.settings.device_code_lifetime)},
            {"interval", absl::ToInt64Seconds(code.interval)},
            {"message", absl::StrCat("To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
                                     "and enter the code ",
                                     code.user_code, " to authenticate.")}});
}

void EntraRoutes::DeviceCodeToken(RequestContext& ctx) {
  const std::string device_code = Param(ctx.request, "device_code");
  if (device_code.empty()) return MissingParameter(ctx, "device_code");
  const std::string client_id = absl::AsciiStrToLower(Param(ctx.request, "client_id"));
  const absl::Time now = c_.clock.Now();
  enum class Outcome {
    kUnknown,
    kExpired,
    kDeclined,
    kRedeemed,
    kSlowDown,
    kPending,
    kApproved
  } outcome = Outcome::kUnknown;
  int tenant = -1, user = -1;
  std::string scope;
  c_.tokens.WithDeviceCode(device_code, false, [&](DeviceCode& code) {
    if (code.client_id != client_id) return;
    if (now >= code.expires) {
      outcome = Outcome::kExpired;
    } else if (code.state == DeviceCode::State::kDeclined) {
      outcome = Outcome::kDeclined;
    } else if (code.state == DeviceCode::State::kRedeemed) {
      outcome = Outcome::kRedeemed;
    } else if (code.state == DeviceCode::State::kApproved) {
      outcome = Outcome::kApproved;
      code.state = DeviceCode::State::kRedeemed;
      tenant = code.approved_tenant;
      user = code.approved_user;
      scope = code.scope;
    } else if (now < code.last_poll + code.interval) {
      outcome = Outcome::kSlowDown;
      code.interval += absl::Seconds(5);
      code.last_poll = now;
    } else {
      outcome = Outcome::kPending;
      code.last_poll = now;
    }
  });
  switch (outcome) {
    case Outcome::kUnknown:
      return SendEntraError(ctx.response, 400, "bad_verification_code", 70018,
                            "Invalid verification code due to User typing in wrong user code for device code flow. "
                            "Authorization is not approved.");
    case Outcome::kExpired:
      return SendEntraError(ctx.response, 400, "expired_token", 70019, "Verification code expired.");
    case Outcome::kDeclined:
      return SendEntraError(ctx.response, 400, "authorization_declined", 65004,
                            "User declined to consent to access the app.");
    case Outcome::kRedeemed:
      return SendEntraError(ctx.response, 400, "invalid_grant", 54005,
                            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use "
                            "an existing refresh token.");
    case Outcome::kSlowDown:
      return SendEntraError(ctx.response, 400, "slow_down", 70016,
                            "OAuth 2.0 device flow error. Polling too frequently; wait for the interval, now 5 seconds "
                            "longer, before polling again.");
    case Outcome::kPending:
      return SendEntraError(ctx.response, 400, "authorization_pending", 70016,
                            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.");
    case Outcome::kApproved:
      return SendUserTokens(ctx, tenant, user, client_id, scope, "device_code");
  }
}

void EntraRoutes::OpenIdConfiguration(RequestContext& ctx, const std::vector<std::string>& captures, bool v2) {
  const std::string& ref = captures[0];
  const int tenant = c_.directory.FindTenant(ref);
  if (tenant < 0 && !IsGenericTenant(ref)) {
    return SendEntraError(ctx.response, 400, "invalid_tenant", 90002, absl::StrCat("Tenant '", ref, "' not found."));
  }
  const std::string tid = tenant >= 0 ? c_.directory.tenant(tenant).seed.id : "{tenantid}";
  const std::string path_tenant = tenant >= 0 ? tid : absl::AsciiStrToLower(ref);
  const std::string base = absl::StrCat("https://", ctx.host.host, "/", path_tenant);
  const std::string& host = ctx.host.host;
  std::string cloud = "microsoftonline.com", graph = "graph.microsoft.com";
  if (absl::EndsWith(host, ".us")) {
    cloud = "microsoftonline.us";
    graph = "graph.microsoft.us";
  } else if (absl::EndsWith(host, ".cn")) {
    cloud = "partner.microsoftonline.cn";
    graph = "microsoftgraph.chinacloudapi.cn";
  }
  const std::string oauth = v2 ? "/oauth2/v2.0" : "/oauth2";
  SendJson(ctx.response, 200,
           {{"token_endpoint", absl::StrCat(base, oauth, "/token")},
            {"token_endpoint_auth_methods_supported", {"client_secret_post", "private_key_jwt", "client_secret_basic"}},
            {"jwks_uri", absl::StrCat(base, v2 ? "/discovery/v2.0/keys" : "/discovery/keys")},
            {"response_modes_supported", {"query", "fragment", "form_post"}},
            {"subject_types_supported", {"pairwise"}},
            {"id_token_signing_alg_values_supported", {"RS256"}},
            {"response_types_supported", {"code", "id_token", "code id_token", "id_token token"}},
            {"scopes_supported", {"openid", "profile", "email", "offline_access"}},
            {"issuer", v2 ? absl::StrCat("https://", host, "/", tid, "/v2.0")
                          : absl::StrCat("https://sts.windows.net/", tid, "/")},
            {"request_uri_parameter_supported", false},
            {"userinfo_endpoint", absl::StrCat("https://", graph, "/oidc/userinfo")},
            {"authorization_endpoint", absl::StrCat(base, oauth, "/authorize")},
            {"device_authorization_endpoint", absl::StrCat(base, oauth, "/devicecode")},
            {"http_logout_supported", true},
            {"frontchannel_logout_supported", true},
            {"end_session_endpoint", absl::StrCat(base, oauth, "/logout")},
            {"claims_supported",
             {"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host",
              "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash",
              "c_hash", "email"}},
            {"kerberos_endpoint", absl::StrCat(base, "/kerberos")},
            {"tenant_region_scope", "NA"},
            {"cloud_instance_name", cloud},
            {"cloud_graph_host_name", "graph.windows.net"},
            {"msgraph_host", graph},
            {"rbac_url", "https://pas.windows.net"}});
}

void EntraRoutes::Keys(RequestContext& ctx) {
  nlohmann::json key = c_.tokens.key().PublicJwk();
  SendJson(ctx.response, 200, {{"keys", nlohmann::json::array({key})}});
}

void EntraRoutes::InstanceDiscovery(RequestContext& ctx) {
  // authorization_endpoint names the authority the client wants validated; a host of no cloud Entra
  // knows is refused, which is how MSAL learns that an authority is not trusted.
  std::string host = ctx.host.host, tenant = "common";
  const std::string authorization_endpoint = Param(ctx.request, "authorization_endpoint");
  if (!authorization_endpoint.empty()) {
    absl::string_view rest = authorization_endpoint;
    const bool https = absl::ConsumePrefix(&rest, "https://");
    std::vector<std::string> parts = absl::StrSplit(rest, '/');
    host = https ? absl::AsciiStrToLower(parts[0]) : "";
    if (parts.size() > 1 && !parts[1].empty()) tenant = parts[1];
  }
  nlohmann::json metadata = nlohmann::json::array();
  bool known = false;
  for (const LoginCloud& cloud : LoginClouds()) {
    nlohmann::json aliases = nlohmann::json::array();
    for (const char* alias : cloud.aliases) {
      aliases.push_back(alias);
      known = known || host == alias;
    }
    metadata.push_back({{"preferred_network", cloud.preferred_network},
                        {"preferred_cache", cloud.preferred_cache},
                        {"aliases", aliases}});
  }
  if (!known) return SendEntraError(ctx.response, 400, "invalid_instance", 50049, "Unknown or invalid instance.");
  SendJson(ctx.response, 200,
           {{"tenant_discovery_endpoint",
             absl::StrCat("https://", host, "/", tenant, "/v2.0/.well-known/openid-configuration")},
            {"api-version", "1.1"},
            {"metadata", metadata}});
}

void EntraRoutes::UserRealm(RequestContext& ctx, const std::vector<std::string>& captures) {
  const std::string& upn = captures[0];
  const int tenant = c_.directory.FindTenantOfUpn(upn);
  nlohmann::json body = {{"ver", "1.0"},
                         {"account_type", tenant >= 0 ? "Managed" : "Unknown"},
                         {"cloud_instance_name", "microsoftonline.com"},
                         {"cloud_audience_urn", "urn:federation:MicrosoftOnline"}};
  if (tenant >= 0) {
    body["domain_name"] = upn.substr(upn.find('@') + 1);
    body["federation_brand_name"] = c_.directory.tenant(tenant).seed.display_name;
  }
  SendJson(ctx.response, 200, body);
}

}  // namespace crosstenant::emulator
