#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_ENTRA_ROUTES_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_ENTRA_ROUTES_H_

// Entra ID on login.microsoftonline.com (and the sovereign login hosts): the v2.0 token endpoint
// (client credentials with a secret or a certificate assertion, password, refresh token, device
// code), the device authorization endpoint, OpenID Connect discovery, the signing keys, instance
// discovery and user realm discovery. Errors carry AADSTS codes in Entra's JSON shape.

#include <string>

#include "services/tenant_emulator/emulator_context.h"
#include "services/tenant_emulator/http_util.h"

namespace crosstenant::emulator {

class EntraRoutes {
 public:
  explicit EntraRoutes(EmulatorContext& context);

  void Register(Router& router);
  // Fills ctx.tenant and ctx.client (path tenant + client_id) before faults are drawn.
  void Identify(RequestContext& ctx) const;

 private:
  void Token(RequestContext& ctx, const std::vector<std::string>& captures);
  void DeviceCodeRequest(RequestContext& ctx, const std::vector<std::string>& captures);
  void OpenIdConfiguration(RequestContext& ctx, const std::vector<std::string>& captures, bool v2);
  void Keys(RequestContext& ctx);
  void InstanceDiscovery(RequestContext& ctx);
  void UserRealm(RequestContext& ctx, const std::vector<std::string>& captures);

  void ClientCredentials(RequestContext& ctx, int tenant, const std::string& tenant_ref);
  void Password(RequestContext& ctx, int tenant);
  void RefreshToken(RequestContext& ctx);
  void DeviceCodeToken(RequestContext& ctx);
  // Checks a client assertion for `app`; on failure answers and returns false.
  bool CheckAssertion(RequestContext& ctx, int tenant, const std::string& tenant_ref, const DirectoryApp& app);
  // Checks a workload identity federation assertion (no x5t: an external issuer's token).
  bool CheckFederatedAssertion(RequestContext& ctx, const Jwt& jwt, const DirectoryApp& app);
  // Answers a delegated token response.
  void SendUserTokens(RequestContext& ctx, int tenant, int user, const std::string& client_id, const std::string& scope,
                      const std::string& grant_type);

  EmulatorContext& c_;
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_ENTRA_ROUTES_H_
