#include "services/tenant_emulator/sharepoint_admin_routes.h"

#include "absl/strings/str_cat.h"
#include "services/tenant_emulator/bearer_auth.h"

namespace crosstenant::emulator {
namespace {

const AccessRule kSharePointAdmin{{"Sites.FullControl.All"}, {}, false, SharePointAdminRoles(), "", ""};
constexpr absl::string_view kNotEnabled = "The Cross-Tenant content move feature is not enabled for this tenant.";

}  // namespace

SharePointAdminRoutes::SharePointAdminRoutes(EmulatorContext& context) : c_(context) {}

void SharePointAdminRoutes::Register(Router& router) {
  auto add = [&](const char* method, const char* name, void (SharePointAdminRoutes::*handler)(RequestContext&)) {
    router.Add(method, absl::StrCat("/_api/SPO.Tenant/", name), absl::StrCat("sharepoint.", name),
               [this, handler](RequestContext& ctx, const std::vector<std::string>&) {
                 if (Authorize(ctx)) (this->*handler)(ctx);
               });
  };
  add("GET", "CrossTenantHostUrl", &SharePointAdminRoutes::HostUrl);
  add("POST", "SetCrossTenantRelationship", &SharePointAdminRoutes::SetRelationship);
  add("POST", "VerifyCrossTenantRelationship", &SharePointAdminRoutes::VerifyRelationship);
  add("POST", "RemoveCrossTenantRelationship", &SharePointAdminRoutes::RemoveRelationship);
  add("GET", "CrossTenantRelationships", &SharePointAdminRoutes::ListRelationships);
  add("GET", "CrossTenantCompatibilityStatus", &SharePointAdminRoutes::CompatibilityStatus);
  add("GET", "GeoLocations", &SharePointAdminRoutes::GeoLocations);
  add("GET", "RedirectSites", &SharePointAdminRoutes::RedirectSites);
  add("POST", "RemoveRedirectSite", &SharePointAdminRoutes::RemoveRedirectSite);
  add("GET", "CrossTenantUserContentMoveStates", &SharePointAdminRoutes::MoveStates);
}

bool SharePointAdminRoutes::Authorize(RequestContext& ctx) {
  return AuthorizeSharePoint(c_, ctx, kSharePointAdmin).has_value();
}

bool SharePointAdminRoutes::ParseRelationshipBody(RequestContext& ctx, std::string* role, std::string* partner_url) {
  const nlohmann::json body = nlohmann::json::parse(ctx.request.body, nullptr, false);
  if (!body.is_object()) {
    SendSharePointError(ctx.response, 400, "The request body must be a JSON object.");
    return false;
  }
  if (body.value("scenario", "") != "MnA") {
    SendSharePointError(ctx.response, 400, "Cannot bind parameter 'Scenario': it must be MnA.");
    return false;
  }
  *role = CanonicalRole(body.value("partnerRole", ""));
  if (role->empty()) {
    SendSharePointError(ctx.response, 400, "Cannot bind parameter 'PartnerRole': it must be Source or Target.");
    return false;
  }
  *partner_url = body.value("partnerCrossTenantHostUrl", "");
  if (partner_url->empty()) {
    SendSharePointError(ctx.response, 400, "The parameter 'PartnerCrossTenantHostUrl' is required.");
    return false;
  }
  return true;
}

void SharePointAdminRoutes::HostUrl(RequestContext& ctx) {
  if (!c_.directory.tenant(ctx.host.tenant).seed.features.cross_tenant_move_enabled) {
    return SendSharePointError(ctx.response, 403, kNotEnabled);
  }
  SendJson(ctx.response, 200, {{"value", c_.directory.MySiteHostUrl(ctx.host.tenant, ctx.host.geo)}});
}

void SharePointAdminRoutes::SetRelationship(RequestContext& ctx) {
  std::string role, partner_url;
  if (!ParseRelationshipBody(ctx, &role, &partner_url)) return;
  if (!c_.directory.tenant(ctx.host.tenant).seed.features.cross_tenant_move_enabled) {
    return SendSharePointError(ctx.response, 403, kNotEnabled);
  }
  int partner_tenant = -1, partner_geo = -1;
  if (!c_.directory.FindGeoByUrl(partner_url, &partner_tenant, &partner_geo)) {
    return SendSharePointError(ctx.response, 400,
                               absl::StrCat("The partner cross-tenant host URL ", partner_url, " is not valid."));
  }
  if (partner_tenant == ctx.host.tenant) {
    return SendSharePointError(ctx.response, 400, "A tenant cannot have a cross-tenant relationship with itself.");
  }
  const std::string normalized = NormalizeUrl(c_.directory.MySiteHostUrl(partner_tenant, partner_geo));
  const absl::Time now = c_.clock.Now();
  absl::MutexLock lock(&c_.cloud.mu);
  std::vector<Relationship>& relationships = c_.cloud.geos[ctx.host.tenant][ctx.host.geo].relationships;
  Relationship* existing = nullptr;
  for (Relationship& r : relationships) {
    if (r.partner_url == normalized) existing = &r;
  }
  if (existing == nullptr) {
    relationships.push_back({normalized, role, now});
    existing = &relationships.back();
  } else if (existing->partner_role != role) {
    existing->partner_role = role;
    existing->created = now;
  }
  SendJson(ctx.response, 200,
           {{"scenario", "MnA"},
            {"partnerRole", existing->partner_role},
            {"partnerCrossTenantHostUrl", c_.directory.MySiteHostUrl(partner_tenant, partner_geo)},
            {"createdDateTime", IsoTime(existing->created)}});
}

void SharePointAdminRoutes::VerifyRelationship(RequestContext& ctx) {
  std::string role, partner_url;
  if (!ParseRelationshipBody(ctx, &role, &partner_url)) return;
  const std::set<int> unreachable = c_.UnreachableTenants();
  const absl::Time now = c_.clock.Now();
  absl::MutexLock lock(&c_.cloud.mu);
  const TrustStatus status = VerifyTrust(c_.directory, c_.cloud, ctx.host.tenant, ctx.host.geo, role, partner_url, now,
                                         c_.settings.dormant_period, unreachable);
  SendJson(ctx.response, 200, {{"value", TrustStatusName(status)}});
}

void SharePointAdminRoutes::RemoveRelationship(RequestContext& ctx) {
  std::string role, partner_url;
  if (!ParseRelationshipBody(ctx, &role, &partner_url)) return;
  int partner_tenant = -1, partner_geo = -1;
  std::string normalized = NormalizeUrl(partner_url);
  if (c_.directory.FindGeoByUrl(partner_url, &partner_tenant, &partner_geo)) {
    normalized = NormalizeUrl(c_.directory.MySiteHostUrl(partner_tenant, partner_geo));
  }
  absl::MutexLock lock(&c_.cloud.mu);
  std::vector<Relationship>& relationships = c_.cloud.geos[ctx.host.tenant][ctx.host.geo].relationships;
  const std::size_t before = relationships.size();
  relationships.erase(std::remove_if(relationships.begin(), relationships.end(),
                                     [&](const Relationship& r) {
                                       return r.partner_url == normalized && r.partner_role == role;
                                     }),
                      relationships.end());
  SendJson(ctx.response, 200, {{"value", relationships.size() != before}});
}

void SharePointAdminRoutes::ListRelationships(RequestContext& ctx) {
  nlohmann::json value = nlohmann::json::array();
  absl::MutexLock lock(&c_.cloud.mu);
  for (const Relationship& r : c_.cloud.geos[ctx.host.tenant][ctx.host.geo].relationships) {
    value.push_back({{"scenario", "MnA"},
                     {"partnerRole", r.partner_role},
                     {"partnerCrossTenantHostUrl", r.partner_url + "/"},
                     {"createdDateTime", IsoTime(r.created)}});
  }
  SendJson(ctx.response, 200, {{"value", value}});
}

void SharePointAdminRoutes::CompatibilityStatus(RequestContext& ctx) {
  const std::string partner_url = ctx.request.has_param("partnerCrossTenantHostUrl")
                                      ? ctx.request.get_param_value("partnerCrossTenantHostUrl")
                                      : "";
  if (partner_url.empty()) {
    return SendSharePointError(ctx.response, 400, "The parameter 'PartnerCrossTenantHostUrl' is required.");
  }
  int partner_tenant = -1, partner_geo = -1;
  if (!c_.directory.FindGeoByUrl(partner_url, &partner_tenant, &partner_geo)) {
    return SendSharePointError(ctx.response, 400,
                               absl::StrCat("The partner cross-tenant host URL ", partner_url, " is not valid."));
  }
  if (c_.UnreachableTenants().count(partner_tenant)) {
    return SendSharePointError(ctx.response, 503, "The partner tenant could not be contacted.");
  }
  auto rank = [](const std::string& status) { return status == "Incompatible" ? 2 : status == "Warning" ? 1 : 0; };
  const absl::Duration elapsed = c_.clock.Elapsed();
  const std::string& mine = c_.directory.tenant(ctx.host.tenant).seed.features.CompatibilityAt(elapsed);
  const std::string& theirs = c_.directory.tenant(partner_tenant).seed.features.CompatibilityAt(elapsed);
  SendJson(ctx.response, 200, {{"value", rank(mine) >= rank(theirs) ? mine : theirs}});
}

void SharePointAdminRoutes::GeoLocations(RequestContext& ctx) {
  const int tenant = ctx.host.tenant;
  nlohmann::json value = nlohmann::json::array();
  const auto& geos = c_.directory.tenant(tenant).seed.geos;
  for (std::size_t g = 0; g < geos.size(); ++g) {
    const int geo = static_cast<int>(g);
    value.push_back({{"dataLocationCode", geos[g].location},
                     {"isDefault", g == 0},
                     {"tenantAdminUrl", c_.directory.AdminUrl(tenant, geo)},
                     {"mySiteHostUrl", c_.directory.MySiteHostUrl(tenant, geo)},
                     {"rootSiteUrl", c_.directory.RootUrl(tenant, geo)}});
  }
  SendJson(ctx.response, 200, {{"value", value}});
}

void SharePointAdminRoutes::RedirectSites(RequestContext& ctx) {
  c_.moves.Tick();
  nlohmann::json value = nlohmann::json::array();
  absl::MutexLock lock(&c_.cloud.mu);
  for (const RedirectSite& site : c_.cloud.geos[ctx.host.tenant][ctx.host.geo].redirects) {
    value.push_back({{"url", site.url},
                     {"redirectUrl", site.redirect_url},
                     {"template", "RedirectSite#0"},
                     {"createdDateTime", IsoTime(site.created)}});
  }
  SendJson(ctx.response, 200, {{"value", value}});
}

void SharePointAdminRoutes::RemoveRedirectSite(RequestContext& ctx) {
  const nlohmann::json body = nlohmann::json::parse(ctx.request.body, nullptr, false);
  const std::string url = body.is_object() ? body.value("url", "") : "";
  if (url.empty()) return SendSharePointError(ctx.response, 400, "The parameter 'Identity' (url) is required.");
  c_.moves.Tick();
  absl::MutexLock lock(&c_.cloud.mu);
  std::vector<RedirectSite>& redirects = c_.cloud.geos[ctx.host.tenant][ctx.host.geo].redirects;
  auto it = std::find_if(redirects.begin(), redirects.end(),
                         [&](const RedirectSite& site) { return NormalizeUrl(site.url) == NormalizeUrl(url); });
  if (it == redirects.end()) {
    return SendSharePointError(ctx.response, 404, absl::StrCat("Cannot get site ", url, "."));
  }
  redirects.erase(it);
  SendJson(ctx.response, 200, {{"value", true}});
}

void SharePointAdminRoutes::MoveStates(RequestContext& ctx) {
  const std::string partner_url = ctx.request.has_param("partnerCrossTenantHostUrl")
                                      ? ctx.request.get_param_value("partnerCrossTenantHostUrl")
                                      : "";
  if (partner_url.empty()) {
    return SendSharePointError(ctx.response, 400, "The parameter 'PartnerCrossTenantHostUrl' is required.");
  }
  const std::string upn =
      ctx.request.has_param("sourceUserPrincipalName") ? ctx.request.get_param_value("sourceUserPrincipalName") : "";
  SendJson(ctx.response, 200, c_.moves.MoveStates(ctx.host.tenant, ctx.host.geo, partner_url, upn));
}

}  // namespace crosstenant::emulator
