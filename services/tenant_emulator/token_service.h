#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_TOKEN_SERVICE_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_TOKEN_SERVICE_H_

// Issues and verifies the emulator's tokens: RS256 JWT access tokens (app-only and delegated), ID
// tokens, refresh tokens and device codes.
// The OAuth protocol (form fields, grants, AADSTS errors) is in entra_routes.h.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/tenant_emulator/directory.h"
#include "services/tenant_emulator/faults.h"
#include "services/tenant_emulator/jwt.h"
#include "services/tenant_emulator/scaled_clock.h"

namespace crosstenant::emulator {

inline constexpr absl::string_view kGraphAppId = "00000003-0000-0000-c000-000000000000";

// What a verified access token says.
struct AccessClaims {
  int tenant = -1;
  std::string tenant_id;
  std::string audience;
  std::string app_id;
  bool app_only = false;
  std::string object_id;  // user oid, or the app's service principal id for app-only tokens
  std::string appidacr;   // how the client authenticated: "0" public, "1" secret, "2" certificate/assertion
  std::string upn;
  std::set<std::string> roles;   // application permissions
  std::set<std::string> scopes;  // delegated permissions
  std::set<std::string> wids;    // directory role template ids
  absl::Time expires;
};

// The caller's identity for throttling and accounting: "tenant/app/<appid>" or "tenant/user/<oid>".
std::string ClientKeyOf(const AccessClaims& claims, const std::string& tenant_name);

// How a confidential client proved itself on the token endpoint; Entra writes it into app-only tokens
// as appidacr ("1" client secret, "2" certificate or other client assertion).
enum class ClientCredential { kSecret, kAssertion };

// A pending device authorization.
struct DeviceCode {
  std::string device_code;
  std::string user_code;
  int tenant = -1;  // -1 for common/organizations: the approving user decides
  std::string client_id;
  std::string scope;
  absl::Time expires;       // emulated
  absl::Duration interval;  // grows by 5 s on each slow_down
  absl::Time last_poll;     // emulated; InfinitePast before the first poll
  enum class State { kPending, kApproved, kDeclined, kRedeemed } state = State::kPending;
  int approved_tenant = -1;
  int approved_user = -1;
};

struct RefreshGrant {
  int tenant = -1;
  int user = -1;
  std::string client_id;
  std::string scope;   // as first granted
  absl::Time expires;  // real time
};

class TokenService {
 public:
  TokenService(const Directory& directory, const SeedSettings& settings, const Faults& faults, const ScaledClock& clock,
               SigningKey key);

  const SigningKey& key() const { return key_; }

  // The access token lifetime now (the fault override, else the seed's).
  absl::Duration TokenLifetime() const;

  // An app-only access token for `resource` (e.g. "https://graph.microsoft.com"), obtained with `credential`.
  std::string IssueAppToken(int tenant, const DirectoryApp& app, const std::string& resource,
                            ClientCredential credential) const;
  // A delegated access token for `user` of `tenant`.
  std::string IssueUserToken(int tenant, int user, const DirectoryApp* app, const std::string& client_id,
                             const std::string& resource) const;
  std::string IssueIdToken(int tenant, int user, const std::string& client_id, const std::string& issuer_host) const;

  // Verifies signature, expiry and shape; UNAUTHENTICATED with Graph-style text otherwise.
  absl::StatusOr<AccessClaims> VerifyAccessToken(absl::string_view token) const;

  std::string NewRefreshToken(RefreshGrant grant);
  std::optional<RefreshGrant> FindRefreshToken(const std::string& token) const;

  DeviceCode NewDeviceCode(int tenant, const std::string& client_id, const std::string& scope);
  // Runs `fn` on the device code with that device_code (or user_code) under the lock; false if unknown.
  bool WithDeviceCode(const std::string& code, bool by_user_code, const std::function<void(DeviceCode&)>& fn);

 private:
  nlohmann::json BaseClaims(int tenant, const std::string& audience) const;

  const Directory& directory_;
  const SeedSettings& settings_;
  const Faults& faults_;
  const ScaledClock& clock_;
  const SigningKey key_;

  mutable absl::Mutex mu_;
  std::map<std::string, RefreshGrant> refresh_tokens_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, DeviceCode> device_codes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> device_code_by_user_code_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_TOKEN_SERVICE_H_
