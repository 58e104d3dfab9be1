#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_GRAPH_ROUTES_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_GRAPH_ROUTES_H_

// Microsoft Graph on graph.microsoft.com (and the sovereign Graph hosts): organization, users (by id
// or UPN, paged), a user's drive, the signed-in admin's directory roles, $batch, and the beta
// cross-organization identity mappings and migration tasks. Every call checks the bearer token.

#include <string>
#include <vector>

#include "services/tenant_emulator/emulator_context.h"
#include "services/tenant_emulator/http_util.h"

namespace crosstenant::emulator {

class GraphRoutes {
 public:
  explicit GraphRoutes(EmulatorContext& context);

  void Register(Router& router);

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
  nlohmann::json UserJson(int tenant, int user, const std::string& host, const std::string& version) const;

  EmulatorContext& c_;
  const Router* router_ = nullptr;  // for $batch
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_GRAPH_ROUTES_H_
