#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_CLOUD_STATE_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_CLOUD_STATE_H_

// What changes while the emulator runs, under one lock: each user's OneDrive, each geo's
// cross-tenant relationships, redirect sites and recycle bin, and each tenant's identity mappings. Trust
// verification, which reads both partners' relationships, is here too.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/tenant_emulator/directory.h"

namespace crosstenant::emulator {

struct Relationship {
  std::string partner_url;   // normalized my-site host URL of the partner geo
  std::string partner_role;  // "Source" or "Target": the role of the partner
  absl::Time created;        // emulated
};

struct RedirectSite {
  std::string url;
  std::string redirect_url;
  absl::Time created;  // emulated (the move's completion); shown through ScaledClock::WallTimeOf
};

struct GeoState {
  std::vector<Relationship> relationships;
  std::vector<RedirectSite> redirects;
  std::vector<RedirectSite> recycle_bin;  // removed with RemoveSite, until RemoveDeletedSite purges them
};

struct CloudState {
  explicit CloudState(const Directory& directory);

  absl::Mutex mu;
  std::vector<std::vector<OneDriveFacts>> drives ABSL_GUARDED_BY(mu);  // [tenant][user]
  std::vector<std::vector<GeoState>> geos ABSL_GUARDED_BY(mu);         // [tenant][geo]
  // [tenant] source UPN (lowercase) → sharePointUserIdentityMapping JSON
  std::vector<std::map<std::string, nlohmann::json>> user_mappings ABSL_GUARDED_BY(mu);
};

// The values Verify-SPOCrossTenantRelationship prints.
enum class TrustStatus {
  kNotEstablished,
  kNotEstablishedByPartner,
  kDormantByPartner,
  kCouldNotContactPartner,
  kGoodToProceed
};
const char* TrustStatusName(TrustStatus status);

// The trust from geo (tenant, geo) to the partner at `partner_url` whose role is `partner_role`, as
// seen at emulated time `now`. `unreachable` holds tenant indexes that cannot be contacted.
// Requires state.mu held.
TrustStatus VerifyTrust(const Directory& directory, const CloudState& state, int tenant, int geo,
                        const std::string& partner_role, const std::string& partner_url, absl::Time now,
                        absl::Duration dormant_period, const std::set<int>& unreachable);

// "Source" ↔ "Target".
std::string OppositeRole(const std::string& role);
// Canonical spelling of a role ("target" → "Target"); "" if it is neither.
std::string CanonicalRole(const std::string& role);

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_CLOUD_STATE_H_
