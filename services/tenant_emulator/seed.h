#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_SEED_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_SEED_H_

// The seed file: the tenants, geos, app registrations, admins and users the emulator starts with.
// Its format is documented field by field in docs/tenant-emulator.md; deploy/local/emulator-seed.yaml
// is a sample.
//
//   ASSIGN_OR_RETURN(Seed seed, LoadSeedFile("deploy/local/emulator-seed.yaml"));
//
// Every problem is reported as "file:line:col: tenants[0].users[3].upn: why".

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace crosstenant::emulator {

// Directory role template ids (Entra built-in roles).
inline constexpr absl::string_view kGlobalAdministratorRole = "62e90394-69f5-4237-9190-012177145e10";
inline constexpr absl::string_view kSharePointAdministratorRole = "f28a1f50-f6e7-4571-818b-6a12f2af6b6c";
inline constexpr absl::string_view kMigrationAdministratorRole = "8c8b803f-96e1-4129-9349-20738d9f9652";
inline constexpr absl::string_view kGlobalReaderRole = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";

// The facts about one user's OneDrive that decide whether a move can run.
struct OneDriveFacts {
  bool exists = true;
  int64_t size_bytes = 1 << 20;
  int64_t items = 100;
  bool read_only = false;
  bool legal_hold = false;
  // Length of the longest folder + file path inside the OneDrive (the 400-character rule).
  int longest_path = 60;
  // How many times a move of this OneDrive ends its Restore phase as Rescheduled before it succeeds.
  int reschedules = 0;
};

struct SeedUser {
  std::string id;  // object id; derived from the tenant id and the UPN when not given
  std::string upn;
  std::string display_name;
  std::string geo;       // data location code of the user's geo; empty = the tenant's default geo
  bool licensed = true;  // holds the Cross Tenant User Data Migration licence
  OneDriveFacts onedrive;
};

struct SeedAdmin {
  std::string id;
  std::string upn;
  std::string display_name;
  std::string password;
  std::vector<std::string> role_template_ids;
  bool mfa_required = false;
};

// Workload identity federation: a token from an external issuer (e.g. a Kubernetes projected service
// account token) accepted as the client assertion.
struct SeedFederatedCredential {
  std::string issuer;
  std::string subject;
  std::string audience = "api://AzureADTokenExchange";
  std::string key_pem;  // certificate or public key (PEM) whose private key signs the issuer's tokens
};

struct SeedApp {
  std::string client_id;
  std::string display_name;
  std::string secret;                         // empty: no secret registered
  std::vector<std::string> certificate_pems;  // registered certificates (PEM), for client assertions
  std::vector<SeedFederatedCredential> federated_credentials;
  std::vector<std::string> application_permissions;  // roles claim of app-only tokens
  std::vector<std::string> delegated_permissions;    // scp claim of user tokens
  bool public_client = false;                        // may use device code and password grants without a secret
};

struct SeedGeo {
  std::string location;  // data location code: NAM, EUR, ...
  std::string name;      // SharePoint label: <name>-admin.sharepoint.com, <name>-my.sharepoint.com
};

struct SeedFeatures {
  bool cross_tenant_move_enabled = true;
  bool customer_key = false;
  std::string compatibility = "Compatible";  // Compatible | Warning | Incompatible
  // When non-zero, `compatibility` holds only for this much emulated time after start-up and the
  // tenant is Compatible from then on: Microsoft's "wait up to 48 hours and check again".
  absl::Duration compatible_after = absl::ZeroDuration();

  // The compatibility status `elapsed` emulated time after start-up.
  const std::string& CompatibilityAt(absl::Duration elapsed) const {
    static const std::string kCompatible = "Compatible";
    if (compatible_after > absl::ZeroDuration() && elapsed >= compatible_after) return kCompatible;
    return compatibility;
  }
};

struct SeedTenant {
  std::string name;  // the default geo's SharePoint label
  std::string id;
  std::string display_name;
  std::string initial_domain;    // <name>.onmicrosoft.com unless given
  std::string cloud = "global";  // global | usgov | usgovdod | china
  SeedFeatures features;
  std::vector<SeedGeo> geos;  // the first is the default geo
  std::vector<SeedApp> apps;
  std::vector<SeedAdmin> admins;
  std::vector<SeedUser> users;
};

// Durations are in emulated time (see --time-scale) unless said otherwise.
struct SeedSettings {
  absl::Duration token_lifetime = absl::Hours(1);  // real time
  absl::Duration refresh_token_lifetime = absl::Hours(24 * 90);
  absl::Duration device_code_lifetime = absl::Minutes(15);
  absl::Duration device_code_interval = absl::Seconds(5);
  absl::Duration dormant_period = absl::Hours(24 * 7);
  int max_queued_per_geo = 4000;
  int64_t max_onedrive_bytes = int64_t{5} << 40;  // 5 TB
  int64_t max_onedrive_items = 1000000;
  int max_path_length = 400;
  int users_page_size = 100;
  // How long a move spends in each state or phase.
  absl::Duration scheduled_duration = absl::Minutes(2);
  absl::Duration ready_duration = absl::Minutes(1);
  absl::Duration validation_duration = absl::Minutes(1);
  absl::Duration backup_duration = absl::Minutes(5);
  absl::Duration restore_duration = absl::Minutes(5);
  absl::Duration cleanup_duration = absl::Minutes(1);
  absl::Duration reschedule_delay = absl::Minutes(10);
};

struct Seed {
  std::string path;
  SeedSettings settings;
  std::vector<SeedTenant> tenants;
};

// Reads and validates a seed file. Relative certificate paths are resolved against the file's
// directory. INVALID_ARGUMENT lists every problem found.
absl::StatusOr<Seed> LoadSeedFile(const std::string& path);
// The same, from text; certificate paths are resolved against `base_dir`.
absl::StatusOr<Seed> LoadSeedText(absl::string_view text, absl::string_view source_name, const std::string& base_dir);

// A stable GUID-shaped id derived from `parts` (the same input always gives the same id).
std::string DerivedGuid(absl::string_view a, absl::string_view b);

// The role template id for a role name (GlobalAdministrator, SharePointAdministrator,
// MigrationAdministrator, GlobalReader) or a role template GUID; empty if neither.
std::string RoleTemplateId(absl::string_view name_or_id);
// The display name of a role template id ("Global Administrator"), or the id itself.
std::string RoleDisplayName(absl::string_view template_id);

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_SEED_H_
