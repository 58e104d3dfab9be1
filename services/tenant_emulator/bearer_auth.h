#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_BEARER_AUTH_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_BEARER_AUTH_H_

// The bearer-token check in front of every Graph and SharePoint call: signature, expiry, audience,
// tenant, then the permission (roles of app tokens, scp of user tokens) and, for admin operations
// under a user token, a directory role.

#include <optional>
#include <string>
#include <vector>

#include "services/tenant_emulator/emulator_context.h"
#include "services/tenant_emulator/http_util.h"

namespace crosstenant::emulator {

struct AccessRule {
  std::vector<std::string> app_permissions;        // roles claim: any one suffices
  std::vector<std::string> delegated_permissions;  // scp claim: any one suffices; empty = no scope needed
  bool delegated_only = false;                     // /me routes
  // Delegated callers must also hold one of these directory roles (template ids); empty = none needed.
  std::vector<std::string> admin_roles;
  // The 403 answer: Graph's generic one unless the API documents its own.
  std::string denied_code = "Authorization_RequestDenied";
  std::string denied_message = "Insufficient privileges to complete the operation.";
};

// Global Administrator or SharePoint Administrator.
std::vector<std::string> SharePointAdminRoles();

// Fills ctx.tenant and ctx.client from the (unverified) token, for faults and accounting.
void IdentifyBearer(const EmulatorContext& c, RequestContext& ctx);

// Checks the token for a Graph call on ctx.host; on failure answers 401/403 and returns nullopt.
std::optional<AccessClaims> AuthorizeGraph(EmulatorContext& c, RequestContext& ctx, const AccessRule& rule);
// Checks the token for a SharePoint call on a host of tenant ctx.host.tenant. As SharePoint Online does,
// an app-only token obtained with a client secret (appidacr "1") is refused: 401
// {"error_description":"Unsupported app only token."} with x-ms-diagnostics 3001000.
std::optional<AccessClaims> AuthorizeSharePoint(EmulatorContext& c, RequestContext& ctx, const AccessRule& rule);

// SharePoint's 401: body {"error_description":message} and the challenge that tells a client which
// tenant the host belongs to:
//   WWW-Authenticate: Bearer realm="<tenant id>",client_id="00000003-0000-0ff1-ce00-000000000000",
//     trusted_issuers="00000001-0000-0000-c000-000000000000@*",
//     authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"
void SendSharePointUnauthorized(const EmulatorContext& c, RequestContext& ctx, absl::string_view message);

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_BEARER_AUTH_H_
