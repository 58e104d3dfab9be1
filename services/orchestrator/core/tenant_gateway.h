#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_TENANT_GATEWAY_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_TENANT_GATEWAY_H_

// The migration-wide tenant operations the orchestrator performs itself, through the tenant connector
// (implemented over gRPC in ../grpc). Per-user work goes through workers instead (TaskService).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
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
  virtual absl::Status SetCrossTenantRelationship(const crosstenant::v1::SetCrossTenantRelationshipRequest& request) = 0;
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

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_TENANT_GATEWAY_H_
