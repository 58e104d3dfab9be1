#include "services/orchestrator/grpc/grpc_tenant_gateway.h"

#include "services/common/busy_retry.h"
#include "services/common/grpc_client.h"
#include "services/common/status_macros.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;
using Stub = v1::TenantConnector::Stub;

// Identity map uploads of 100,000 rows take many upstream requests; everything else is quick.
constexpr std::chrono::seconds kDeadline(60);
constexpr std::chrono::minutes kUploadDeadline(30);
// How long a call the connector refuses as busy is sent again before its refusal is the answer. The
// phases make concurrent calls (both tenants' user checks at once): a connector with room for one call
// of a kind would otherwise refuse one of them on every attempt of the phase.
constexpr absl::Duration kBusyWait = absl::Seconds(30);

// CallUnary, sent again while the connector refuses it as busy.
template <typename Response, typename Request, typename Method>
absl::StatusOr<Response> Call(Stub* stub, Method method, const Request& request, std::chrono::milliseconds deadline) {
  return RetryWhileBusy(kBusyWait, [&] { return CallUnary<Response>(stub, method, request, deadline); });
}

}  // namespace

absl::StatusOr<v1::Connection> GrpcTenantGateway::GetConnection(const std::string& name) {
  v1::GetConnectionRequest request;
  request.set_name(name);
  ASSIGN_OR_RETURN(auto response,
                   Call<v1::GetConnectionResponse>(stub_.get(), &Stub::GetConnection, request, kDeadline));
  return response.connection();
}

absl::Status GrpcTenantGateway::HoldConnection(const std::string& name, const std::string& holder) {
  v1::HoldConnectionRequest request;
  request.set_name(name);
  request.set_holder(holder);
  return Call<v1::HoldConnectionResponse>(stub_.get(), &Stub::HoldConnection, request, kDeadline).status();
}

absl::Status GrpcTenantGateway::ReleaseConnection(const std::string& name, const std::string& holder) {
  v1::ReleaseConnectionRequest request;
  request.set_name(name);
  request.set_holder(holder);
  return Call<v1::ReleaseConnectionResponse>(stub_.get(), &Stub::ReleaseConnection, request, kDeadline).status();
}

absl::StatusOr<v1::PreflightReport> GrpcTenantGateway::Preflight(const std::string& source_connection,
                                                                 const std::string& target_connection) {
  v1::PreflightRequest request;
  request.set_source_connection(source_connection);
  request.set_target_connection(target_connection);
  ASSIGN_OR_RETURN(auto response, Call<v1::PreflightResponse>(stub_.get(), &Stub::Preflight, request, kDeadline));
  return response.report();
}

absl::StatusOr<std::string> GrpcTenantGateway::GetCrossTenantHostUrl(const std::string& geo) {
  v1::GetCrossTenantHostUrlRequest request;
  request.set_geo(geo);
  ASSIGN_OR_RETURN(auto response, Call<v1::GetCrossTenantHostUrlResponse>(stub_.get(), &Stub::GetCrossTenantHostUrl,
                                                                          request, kDeadline));
  return response.host_url();
}

absl::Status GrpcTenantGateway::SetCrossTenantRelationship(const v1::SetCrossTenantRelationshipRequest& request) {
  return Call<v1::SetCrossTenantRelationshipResponse>(stub_.get(), &Stub::SetCrossTenantRelationship, request,
                                                      kDeadline)
      .status();
}

absl::StatusOr<v1::TrustStatus> GrpcTenantGateway::VerifyCrossTenantRelationship(
    const v1::VerifyCrossTenantRelationshipRequest& request) {
  ASSIGN_OR_RETURN(auto response, Call<v1::VerifyCrossTenantRelationshipResponse>(
                                      stub_.get(), &Stub::VerifyCrossTenantRelationship, request, kDeadline));
  return response.status();
}

absl::Status GrpcTenantGateway::RemoveCrossTenantRelationship(const v1::RemoveCrossTenantRelationshipRequest& request) {
  return Call<v1::RemoveCrossTenantRelationshipResponse>(stub_.get(), &Stub::RemoveCrossTenantRelationship, request,
                                                         kDeadline)
      .status();
}

absl::Status GrpcTenantGateway::RemoveRedirectSite(const v1::RemoveRedirectSiteRequest& request) {
  return Call<v1::RemoveRedirectSiteResponse>(stub_.get(), &Stub::RemoveRedirectSite, request, kDeadline).status();
}

absl::StatusOr<std::vector<v1::UserCheck>> GrpcTenantGateway::BatchCheckUsers(
    const std::string& connection, const std::vector<std::string>& user_principal_names) {
  v1::BatchCheckUsersRequest request;
  request.set_connection(connection);
  for (const std::string& upn : user_principal_names) request.add_user_principal_names(upn);
  ASSIGN_OR_RETURN(auto response,
                   Call<v1::BatchCheckUsersResponse>(stub_.get(), &Stub::BatchCheckUsers, request, kDeadline));
  return std::vector<v1::UserCheck>(response.checks().begin(), response.checks().end());
}

absl::Status GrpcTenantGateway::UploadIdentityMap(const v1::UploadIdentityMapRequest& request) {
  return Call<v1::UploadIdentityMapResponse>(stub_.get(), &Stub::UploadIdentityMap, request, kUploadDeadline).status();
}

absl::StatusOr<v1::CompatibilityStatus> GrpcTenantGateway::GetCompatibilityStatus(
    const v1::GetCompatibilityStatusRequest& request) {
  ASSIGN_OR_RETURN(auto response, Call<v1::GetCompatibilityStatusResponse>(stub_.get(), &Stub::GetCompatibilityStatus,
                                                                           request, kDeadline));
  return response.status();
}

}  // namespace crosstenant::orchestrator
