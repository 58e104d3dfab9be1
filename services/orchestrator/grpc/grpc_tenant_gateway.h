#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_GRPC_TENANT_GATEWAY_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_GRPC_TENANT_GATEWAY_H_

#include <memory>

#include <grpcpp/channel.h>

#include "crosstenant/v1/tenant_connector.grpc.pb.h"
#include "services/orchestrator/core/tenant_gateway.h"

namespace crosstenant::orchestrator {

// TenantGateway over the tenant connector's gRPC API. A call the connector refuses as busy (ErrorInfo
// SERVER_BUSY: it never ran) is sent again for up to 30 s before that refusal is the answer.
class GrpcTenantGateway : public TenantGateway {
 public:
  explicit GrpcTenantGateway(std::shared_ptr<grpc::Channel> channel)
      : stub_(crosstenant::v1::TenantConnector::NewStub(channel)) {}

  absl::StatusOr<crosstenant::v1::Connection> GetConnection(const std::string& name) override;
  absl::Status HoldConnection(const std::string& name, const std::string& holder) override;
  absl::Status ReleaseConnection(const std::string& name, const std::string& holder) override;
  absl::StatusOr<crosstenant::v1::PreflightReport> Preflight(const std::string& source_connection,
                                                             const std::string& target_connection) override;
  absl::StatusOr<std::string> GetCrossTenantHostUrl(const std::string& geo) override;
  absl::Status SetCrossTenantRelationship(const crosstenant::v1::SetCrossTenantRelationshipRequest& request) override;
  absl::StatusOr<crosstenant::v1::TrustStatus> VerifyCrossTenantRelationship(
      const crosstenant::v1::VerifyCrossTenantRelationshipRequest& request) override;
  absl::Status RemoveCrossTenantRelationship(
      const crosstenant::v1::RemoveCrossTenantRelationshipRequest& request) override;
  absl::Status RemoveRedirectSite(const crosstenant::v1::RemoveRedirectSiteRequest& request) override;
  absl::StatusOr<std::vector<crosstenant::v1::UserCheck>> BatchCheckUsers(
      const std::string& connection, const std::vector<std::string>& user_principal_names) override;
  absl::Status UploadIdentityMap(const crosstenant::v1::UploadIdentityMapRequest& request) override;
  absl::StatusOr<crosstenant::v1::CompatibilityStatus> GetCompatibilityStatus(
      const crosstenant::v1::GetCompatibilityStatusRequest& request) override;

 private:
  std::unique_ptr<crosstenant::v1::TenantConnector::Stub> stub_;
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_GRPC_TENANT_GATEWAY_H_
