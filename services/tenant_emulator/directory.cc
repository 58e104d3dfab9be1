#include "services/tenant_emulator/directory.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace crosstenant::emulator {
namespace {

// A personal site's last path segment: the owner's UPN with "@" and "." as "_" (lower case, as UPNs are
// kept).
std::string PersonalSiteSlug(absl::string_view upn) { return absl::StrReplaceAll(upn, {{"@", "_"}, {".", "_"}}); }

constexpr absl::string_view kLoginHosts[] = {"login.microsoftonline.com",
                                             "login.microsoftonline.us",
                                             "login.chinacloudapi.cn",
                                             "login.partner.microsoftonline.cn",
                                             "login.windows.net",
                                             "login.microsoft.com",
                                             "sts.windows.net"};
constexpr absl::string_view kGraphHosts[] = {"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us",
                                             "microsoftgraph.chinacloudapi.cn"};
constexpr absl::string_view kSharePointSuffixes[] = {".sharepoint.com", ".sharepoint.us", ".sharepoint-mil.us",
                                                     ".sharepoint.cn"};

}  // namespace

std::string NormalizeHost(absl::string_view host_header) {
  absl::string_view host = host_header;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else if (std::size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  return absl::AsciiStrToLower(host);
}

std::string NormalizeUrl(absl::string_view url) {
  std::string out = absl::AsciiStrToLower(absl::StripAsciiWhitespace(url));
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

const DirectoryUser* DirectoryTenant::FindUser(absl::string_view id_or_upn) const {
  const int index = FindUserIndex(id_or_upn);
  return index < 0 ? nullptr : &users[index];
}

int DirectoryTenant::FindUserIndex(absl::string_view id_or_upn) const {
  const std::string key = absl::AsciiStrToLower(id_or_upn);
  if (auto it = user_by_id.find(key); it != user_by_id.end()) return it->second;
  if (auto it = user_by_upn.find(key); it != user_by_upn.end()) return it->second;
  return -1;
}

absl::StatusOr<Directory> Directory::Build(const Seed& seed) {
  Directory directory;
  for (const SeedTenant& source : seed.tenants) {
    DirectoryTenant tenant;
    tenant.index = static_cast<int>(directory.tenants_.size());
    tenant.seed = source;
    tenant.seed.users.clear();
    tenant.seed.admins.clear();
    for (const SeedAdmin& admin : source.admins) {
      DirectoryUser user;
      user.id = admin.id;
      user.upn = admin.upn;
      user.display_name = admin.display_name;
      user.is_admin = true;
      user.password = admin.password;
      user.role_template_ids = admin.role_template_ids;
      user.mfa_required = admin.mfa_required;
      user.initial_onedrive.exists = false;
      tenant.users.push_back(std::move(user));
    }
    for (const SeedUser& seed_user : source.users) {
      DirectoryUser user;
      user.id = seed_user.id;
      user.upn = seed_user.upn;
      user.display_name = seed_user.display_name;
      user.licensed = seed_user.licensed;
      user.initial_onedrive = seed_user.onedrive;
      for (std::size_t g = 0; g < source.geos.size(); ++g) {
        if (source.geos[g].location == seed_user.geo) user.geo = static_cast<int>(g);
      }
      tenant.users.push_back(std::move(user));
    }
    for (std::size_t i = 0; i < tenant.users.size(); ++i) {
      tenant.user_by_id[tenant.users[i].id] = static_cast<int>(i);
      tenant.user_by_upn[tenant.users[i].upn] = static_cast<int>(i);
      tenant.user_by_site_slug.emplace(PersonalSiteSlug(tenant.users[i].upn), static_cast<int>(i));
    }
    for (const SeedApp& seed_app : source.apps) {
      DirectoryApp app;
      app.seed = seed_app;
      for (const std::string& pem : seed_app.certificate_pems) {
        absl::StatusOr<Certificate> certificate = Certificate::FromPem(pem);
        if (!certificate.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(seed.path, ": tenant ", source.name, " app ",
                                                         seed_app.client_id, ": ", certificate.status().message()));
        }
        app.certificates.push_back(*certificate);
      }
      for (const SeedFederatedCredential& federated : seed_app.federated_credentials) {
        absl::StatusOr<std::shared_ptr<EVP_PKEY>> key = PublicKeyFromPem(federated.key_pem);
        if (!key.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(seed.path, ": tenant ", source.name, " app ",
                                                         seed_app.client_id, " federated credential ",
                                                         federated.subject, ": ", key.status().message()));
        }
        app.federated_credentials.push_back({federated, *key});
      }
      tenant.apps[seed_app.client_id] = std::move(app);
    }
    directory.tenant_by_reference_[tenant.seed.id] = tenant.index;
    directory.tenant_by_reference_[tenant.seed.initial_domain] = tenant.index;
    directory.tenant_by_reference_[absl::StrCat(tenant.seed.name, ".onmicrosoft.com")] = tenant.index;
    directory.tenant_by_reference_[tenant.seed.name] = tenant.index;
    for (std::size_t g = 0; g < source.geos.size(); ++g) {
      directory.geo_by_label_[source.geos[g].name] = {tenant.index, static_cast<int>(g)};
    }
    directory.tenants_.push_back(std::move(tenant));
  }
  return directory;
}

int Directory::FindTenant(absl::string_view reference) const {
  auto it = tenant_by_reference_.find(absl::AsciiStrToLower(reference));
  return it == tenant_by_reference_.end() ? -1 : it->second;
}

int Directory::FindTenantOfUpn(absl::string_view upn) const {
  const std::size_t at = upn.find('@');
  if (at == absl::string_view::npos) return -1;
  return FindTenant(upn.substr(at + 1));
}

HostRoute Directory::Route(absl::string_view host_header) const {
  HostRoute route;
  route.host = NormalizeHost(host_header);
  for (absl::string_view login : kLoginHosts) {
    if (route.host == login) route.kind = HostRoute::Kind::kLogin;
  }
  for (absl::string_view graph : kGraphHosts) {
    if (route.host == graph) route.kind = HostRoute::Kind::kGraph;
  }
  if (route.kind != HostRoute::Kind::kUnknown) return route;
  int tenant = -1, geo = -1;
  if (FindGeoByUrl(route.host, &tenant, &geo)) {
    route.kind = HostRoute::Kind::kSharePoint;
    route.tenant = tenant;
    route.geo = geo;
  }
  return route;
}

bool Directory::FindGeoByUrl(absl::string_view url, int* tenant, int* geo) const {
  std::string host = NormalizeUrl(url);
  absl::string_view view = host;
  absl::ConsumePrefix(&view, "https://");
  view = view.substr(0, view.find('/'));
  bool matched = false;
  for (absl::string_view suffix : kSharePointSuffixes) {
    if (absl::ConsumeSuffix(&view, suffix)) {
      matched = true;
      break;
    }
  }
  if (!matched) return false;
  if (!absl::ConsumeSuffix(&view, "-admin")) absl::ConsumeSuffix(&view, "-my");
  auto it = geo_by_label_.find(view);
  if (it == geo_by_label_.end()) return false;
  *tenant = it->second.first;
  *geo = it->second.second;
  return true;
}

std::string Directory::SharePointSuffix(int tenant) const {
  const std::string& cloud = tenants_[tenant].seed.cloud;
  if (cloud == "usgov") return ".sharepoint.us";
  if (cloud == "usgovdod") return ".sharepoint-mil.us";
  if (cloud == "china") return ".sharepoint.cn";
  return ".sharepoint.com";
}

std::string Directory::MySiteHostUrl(int tenant, int geo) const {
  return absl::StrCat("https://", tenants_[tenant].seed.geos[geo].name, "-my", SharePointSuffix(tenant), "/");
}

std::string Directory::AdminUrl(int tenant, int geo) const {
  return absl::StrCat("https://", tenants_[tenant].seed.geos[geo].name, "-admin", SharePointSuffix(tenant));
}

std::string Directory::RootUrl(int tenant, int geo) const {
  return absl::StrCat("https://", tenants_[tenant].seed.geos[geo].name, SharePointSuffix(tenant));
}

std::string Directory::PersonalSiteUrl(int tenant, int geo, absl::string_view upn) const {
  return absl::StrCat(MySiteHostUrl(tenant, geo), "personal/", PersonalSiteSlug(upn));
}

int Directory::FindPersonalSiteOwner(int tenant, int geo, absl::string_view url) const {
  const std::string wanted = absl::AsciiStrToLower(url);
  absl::string_view rest = wanted;
  if (!absl::ConsumePrefix(&rest, absl::AsciiStrToLower(absl::StrCat(MySiteHostUrl(tenant, geo), "personal/")))) {
    return -1;
  }
  const absl::string_view slug = rest.substr(0, rest.find('/'));
  auto found = tenants_[tenant].user_by_site_slug.find(slug);
  if (found == tenants_[tenant].user_by_site_slug.end() || tenants_[tenant].users[found->second].geo != geo) return -1;
  return found->second;
}

}  // namespace crosstenant::emulator
