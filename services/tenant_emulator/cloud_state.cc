#include "services/tenant_emulator/cloud_state.h"

#include "absl/strings/ascii.h"

namespace crosstenant::emulator {

CloudState::CloudState(const Directory& directory) {
  absl::MutexLock lock(&mu);
  for (const DirectoryTenant& tenant : directory.tenants()) {
    std::vector<OneDriveFacts> tenant_drives;
    for (const DirectoryUser& user : tenant.users) tenant_drives.push_back(user.initial_onedrive);
    drives.push_back(std::move(tenant_drives));
    geos.emplace_back(tenant.seed.geos.size());
    user_mappings.emplace_back();
  }
}

const char* TrustStatusName(TrustStatus status) {
  switch (status) {
    case TrustStatus::kNotEstablished:
      return "NotEstablished";
    case TrustStatus::kNotEstablishedByPartner:
      return "NotEstablishedByPartner";
    case TrustStatus::kDormantByPartner:
      return "DormantByPartner";
    case TrustStatus::kCouldNotContactPartner:
      return "CouldNotContactPartner";
    case TrustStatus::kGoodToProceed:
      return "GoodToProceed";
  }
  return "NotEstablished";
}

std::string OppositeRole(const std::string& role) { return role == "Source" ? "Target" : "Source"; }

std::string CanonicalRole(const std::string& role) {
  const std::string lower = absl::AsciiStrToLower(role);
  if (lower == "source") return "Source";
  if (lower == "target") return "Target";
  return "";
}

TrustStatus VerifyTrust(const Directory& directory, const CloudState& state, int tenant, int geo,
                        const std::string& partner_role, const std::string& partner_url, absl::Time now,
                        absl::Duration dormant_period,
                        const std::set<int>& unreachable) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  int partner_tenant = -1, partner_geo = -1;
  if (!directory.FindGeoByUrl(partner_url, &partner_tenant, &partner_geo) || unreachable.count(partner_tenant)) {
    return TrustStatus::kCouldNotContactPartner;
  }
  const std::string wanted = NormalizeUrl(directory.MySiteHostUrl(partner_tenant, partner_geo));
  bool local = false;
  for (const Relationship& r : state.geos[tenant][geo].relationships) {
    if (r.partner_url == wanted && r.partner_role == partner_role) local = true;
  }
  if (!local) return TrustStatus::kNotEstablished;
  const std::string self = NormalizeUrl(directory.MySiteHostUrl(tenant, geo));
  for (const Relationship& r : state.geos[partner_tenant][partner_geo].relationships) {
    if (r.partner_url == self && r.partner_role == OppositeRole(partner_role)) {
      return now - r.created < dormant_period ? TrustStatus::kDormantByPartner : TrustStatus::kGoodToProceed;
    }
  }
  return TrustStatus::kNotEstablishedByPartner;
}

}  // namespace crosstenant::emulator
