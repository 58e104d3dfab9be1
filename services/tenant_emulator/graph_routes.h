#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_GRAPH_ROUTES_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_GRAPH_ROUTES_H_

// Microsoft Graph on graph.microsoft.com (and the sovereign Graph hosts): organization, users (by id
// or UPN, paged; v1.0's default properties or exactly the $select), a user's drive, the signed-in
// admin's directory roles, $batch (dependsOn with 424 for the dependants of a failure, faults drawn per
// request), and the beta cross-organization identity mappings and migration tasks. Every call checks
// the bearer token; unknown versions, segments and methods get Graph's status and code.

#include <string>
#include <vector>

#include "services/tenant_emulator/emulator_context.h"
#include "services/tenant_emulator/http_util.h"

namespace crosstenant::emulator {

class GraphRoutes {
 public:
  explicit GraphRoutes(EmulatorContext& context);

  void Register(Router& router);

  // Graph's answer to a request no route takes (`path` is its path): 400 `BadRequest` "Invalid version."
  // when the first segment is not v1.0 or beta; 405 `Request_BadRequest` for a path that exists with
  // other methods; otherwise 400 `BadRequest` "Resource not found for the segment '<s>'." naming the
  // first segment no route knows. Valid after Register.
  void SendUnrouted(const httplib::Request& request, httplib::Response& response, const std::string& path) const;

 private:
  void Organization(RequestContext& ctx, const std::vector<std::string>& captures);
  void ListUsers(RequestContext& ctx, const std::vector<std::string>& captures);
  void GetUser(RequestContext& ctx, const std::vector<std::string>& captures);
  void GetDrive(RequestContext& ctx, const std::vector<std::string>& captures);
  void Me(RequestContext& ctx, const std::vector<std::string>& captures);
  void MyDirectoryRoles(RequestContext& ctx, const std::vector<std::string>& captures);
  void Batch(RequestContext& ctx, const std::vector<std::string>& captures);
  void PatchUserMappings(RequestContext& ctx, const std::vector<std::string>& captures);
  void GetUserMapping(RequestContext& ctx, const std::vector<std::string>& captures);
  void CreateTask(RequestContext& ctx, const std::vector<std::string>& captures);
  void GetTask(RequestContext& ctx, const std::vector<std::string>& captures);
  void GetTaskByUpn(RequestContext& ctx, const std::vector<std::string>& captures);
  void CancelTask(RequestContext& ctx, const std::vector<std::string>& captures);

  // False (and a 400 answer) unless captures[0] is v1.0 or beta.
  bool CheckVersion(RequestContext& ctx, const std::string& version);
  // A user as Graph returns it: without `$select` (empty `select`) the version's default properties (v1.0:
  // businessPhones, displayName, givenName, jobTitle, mail, mobilePhone, officeLocation, preferredLanguage,
  // surname, userPrincipalName, id), with it exactly the selected properties the emulator models.
  nlohmann::json UserJson(int tenant, int user, const std::string& version,
                          const std::vector<std::string>& select) const;
  // 200 with the user as UserJson gives it, and its @odata.context.
  void RespondUser(RequestContext& ctx, int tenant, int user, const std::string& version);
  // Answers one request of a $batch (`sub`, made from the envelope `ctx`) into `sub_response`: throttled
  // on its own draw of the faults, else run by its route.
  void RunBatchStep(RequestContext& ctx, const httplib::Request& sub, httplib::Response& sub_response);

  EmulatorContext& c_;
  const Router* router_ = nullptr;  // for $batch
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_GRAPH_ROUTES_H_
