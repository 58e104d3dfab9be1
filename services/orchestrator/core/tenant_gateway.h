#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_TENANT_GATEWAY_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_TENANT_GATEWAY_H_

// The migration-wide tenant operations the orchestrator performs itself, through the tenant connector
// (implemented over gRPC in ../grpc). Per-user work goes through workers instead (TaskService).
// Thread-safe: the users of the source and of the target are checked at the same time.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "crosstenant/v1/tenant_connector.pb.h"

namespace crosstenant::orchestrator {

class TenantGateway {
 public:
  virtual ~TenantGateway() = default;

  virtual absl::StatusOr<crosstenant::v1::Connection> GetConnection(const std::string& name) = 0;
  // Records that `holder` (a migration's name) uses connection `name`, so that it is not deleted
  // under the migration (TenantConnector.HoldConnection). Holding twice is one hold.
  virtual absl::Status HoldConnection(const std::string& name, const std::string& holder) = 0;
  // Ends `holder`'s hold on `name`; releasing what is not held succeeds.
  virtual absl::Status ReleaseConnection(const std::string& name, const std::string& holder) = 0;
  virtual absl::StatusOr<crosstenant::v1::PreflightReport> Preflight(const std::string& source_connection,
                                                                     const std::string& target_connection) = 0;
  virtual absl::StatusOr<std::string> GetCrossTenantHostUrl(const std::string& geo) = 0;
  virtual absl::Status SetCrossTenantRelationship(
      const crosstenant::v1::SetCrossTenantRelationshipRequest& request) = 0;
  virtual absl::StatusOr<crosstenant::v1::TrustStatus> VerifyCrossTenantRelationship(
      const crosstenant::v1::VerifyCrossTenantRelationshipRequest& request) = 0;
  virtual absl::Status RemoveCrossTenantRelationship(
      const crosstenant::v1::RemoveCrossTenantRelationshipRequest& request) = 0;
  // One check per name, in the order given.
  virtual absl::StatusOr<std::vector<crosstenant::v1::UserCheck>> BatchCheckUsers(
      const std::string& connection, const std::vector<std::string>& user_principal_names) = 0;
  virtual absl::Status UploadIdentityMap(const crosstenant::v1::UploadIdentityMapRequest& request) = 0;
  virtual absl::StatusOr<crosstenant::v1::CompatibilityStatus> GetCompatibilityStatus(
      const crosstenant::v1::GetCompatibilityStatusRequest& request) = 0;
  virtual absl::Status RemoveRedirectSite(const crosstenant::v1::RemoveRedirectSiteRequest& request) = 0;
};

// Why `source` and `target` cannot make a cross-tenant migration: they are the same tenant (same Entra
// tenant id, or, while an id is not known yet, the same SharePoint tenant name). "" when they differ.
inline std::string SameTenantProblem(const crosstenant::v1::Connection& source,
                                     const crosstenant::v1::Connection& target) {
  const bool same_id = !source.tenant_id().empty() && source.tenant_id() == target.tenant_id();
  const bool same_name = (source.tenant_id().empty() || target.tenant_id().empty()) && !source.tenant_name().empty() &&
                         source.tenant_name() == target.tenant_name();
  if (!same_id && !same_name) return "";
  const std::string& tenant_name = source.tenant_name().empty() ? target.tenant_name() : source.tenant_name();
  const std::string& tenant_id = source.tenant_id().empty() ? target.tenant_id() : source.tenant_id();
  std::string tenant = tenant_name;
  if (!tenant_id.empty()) absl::StrAppend(&tenant, tenant.empty() ? "" : ", ", "tenant id ", tenant_id);
  return absl::StrCat(source.name(), " and ", target.name(), " are the same tenant (", tenant,
                      "): a cross-tenant migration needs the source and the target in two different tenants");
}

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_TENANT_GATEWAY_H_
