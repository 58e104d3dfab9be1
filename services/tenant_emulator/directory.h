#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_DIRECTORY_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_DIRECTORY_H_

// The tenants as loaded from the seed, indexed for the request path: tenants by id, domain or name;
// users by object id or UPN; apps by client id; every served hostname. Immutable after construction,
// so readers need no lock (what changes at run time lives in CloudState).

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/tenant_emulator/jwt.h"
#include "services/tenant_emulator/seed.h"

namespace crosstenant::emulator {

struct DirectoryUser {
  std::string id;
  std::string upn;  // lowercase
  std::string display_name;
  int geo = 0;  // index into the tenant's geos
  bool licensed = true;
  bool is_admin = false;
  std::string password;
  std::vector<std::string> role_template_ids;
  bool mfa_required = false;
  OneDriveFacts initial_onedrive;
};

struct FederatedCredential {
  SeedFederatedCredential seed;
  std::shared_ptr<EVP_PKEY> key;
};

struct DirectoryApp {
  SeedApp seed;
  std::vector<Certificate> certificates;
  std::vector<FederatedCredential> federated_credentials;
};

struct DirectoryTenant {
  int index = 0;
  SeedTenant seed;  // name, id, domains, features, geos (users and admins moved into `users`)
  std::vector<DirectoryUser> users;
  absl::flat_hash_map<std::string, int> user_by_id;
  absl::flat_hash_map<std::string, int> user_by_upn;
  absl::flat_hash_map<std::string, int> user_by_site_slug;  // "pat_contoso_com": the first user it names
  absl::flat_hash_map<std::string, DirectoryApp> apps;

  const DirectoryUser* FindUser(absl::string_view id_or_upn) const;
  int FindUserIndex(absl::string_view id_or_upn) const;
};

// Which surface a Host header addresses.
struct HostRoute {
  enum class Kind { kUnknown, kLogin, kGraph, kSharePoint };
  Kind kind = Kind::kUnknown;
  int tenant = -1;  // SharePoint hosts only
  int geo = -1;
  std::string host;  // lowercase, without port
};

class Directory {
 public:
  static absl::StatusOr<Directory> Build(const Seed& seed);

  const std::vector<DirectoryTenant>& tenants() const { return tenants_; }
  const DirectoryTenant& tenant(int index) const { return tenants_[index]; }
  // By tenant id, initial domain, <name>.onmicrosoft.com or name (case-insensitive); -1 if none.
  int FindTenant(absl::string_view reference) const;
  // The tenant whose domain the UPN carries; -1 if none.
  int FindTenantOfUpn(absl::string_view upn) const;

  HostRoute Route(absl::string_view host_header) const;
  // (tenant, geo) of a SharePoint URL or host such as "https://fabrikam-my.sharepoint.com/"; false if
  // it names no known geo.
  bool FindGeoByUrl(absl::string_view url, int* tenant, int* geo) const;

  // https://<name>-my.sharepoint.com/ style URLs of a geo, with the tenant's cloud suffix; MySiteHost
  // ends with "/" (as Get-SPOCrossTenantHostUrl prints it).
  std::string MySiteHostUrl(int tenant, int geo) const;
  std::string AdminUrl(int tenant, int geo) const;
  std::string RootUrl(int tenant, int geo) const;
  // https://<name>-my.sharepoint.com/personal/<upn with @ and . as _>
  std::string PersonalSiteUrl(int tenant, int geo, absl::string_view upn) const;
  // The user whose OneDrive is the personal site at `url` (any case, with or without a trailing path)
  // in that geo; -1 if none.
  int FindPersonalSiteOwner(int tenant, int geo, absl::string_view url) const;

 private:
  std::string SharePointSuffix(int tenant) const;

  std::vector<DirectoryTenant> tenants_;
  absl::flat_hash_map<std::string, int> tenant_by_reference_;
  // SharePoint label ("contosoeur") → (tenant, geo)
  absl::flat_hash_map<std::string, std::pair<int, int>> geo_by_label_;
};

// Lowercase host without a port ("Graph.Microsoft.com:443" → "graph.microsoft.com").
std::string NormalizeHost(absl::string_view host_header);
// "https://Fabrikam-my.sharepoint.com/" → "https://fabrikam-my.sharepoint.com" (for comparisons).
std::string NormalizeUrl(absl::string_view url);

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_DIRECTORY_H_
