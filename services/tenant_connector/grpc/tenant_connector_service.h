#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_GRPC_TENANT_CONNECTOR_SERVICE_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_GRPC_TENANT_CONNECTOR_SERVICE_H_

// The thin gRPC adapter of crosstenant.v1.TenantConnector on the callback API: each RPC hands its
// request to the core Connector on the connector's Executor (upstream calls never block gRPC's
// callback threads), finishes its reactor from there, and translates the absl::Status once, with
// ToGrpcStatus. Cached reads (GetConnection, ListConnections) answer inline. Who may call what is
// TenantConnectorMethodRoles(), checked by the server bootstrap before any handler runs. Each RPC holds
// at most the executor's kind_limit() threads; beyond it the call ends RESOURCE_EXHAUSTED with RetryInfo.
// Every mutating RPC (the ones with a `request_id`) leaves one record in the AuditTrail once its work
// has ended, before its answer is sent.

#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "crosstenant/v1/tenant_connector.grpc.pb.h"
#include "services/common/authorization.h"
#include "services/common/request_log.h"
#include "services/tenant_connector/core/audit_trail.h"
#include "services/tenant_connector/core/connector.h"
#include "services/common/executor.h"

namespace crosstenant::tenant_connector {

// The role each method of crosstenant.v1.TenantConnector needs (authorization.h): the connector's own
// state (connections) is read; everything that calls Microsoft, even to read, is operate (it spends
// the tenant's request budget and reads its directory), which the orchestrator and the workers
// have; connecting, deleting and re-authenticating connections is administer (the operator).
const MethodRoles& TenantConnectorMethodRoles();

class TenantConnectorService final : public crosstenant::v1::TenantConnector::CallbackService {
 public:
  // `audit` records every mutating call and serves ListAuditRecords; it must outlive the service.
  // `answers` keeps the answers to requests with a request_id (RequestLog).
  TenantConnectorService(Connector* connector, Executor* executor, AuditTrail* audit, AnswerStore* answers);
  ~TenantConnectorService() override;

  // Ends every WatchConnections stream (on SIGTERM).
  void EndStreams();

  grpc::ServerUnaryReactor* CreateConnection(grpc::CallbackServerContext* context,
                                             const v1::CreateConnectionRequest* request,
                                             v1::CreateConnectionResponse* response) override;
  grpc::ServerUnaryReactor* GetConnection(grpc::CallbackServerContext* context, const v1::GetConnectionRequest* request,
                                          v1::GetConnectionResponse* response) override;
  grpc::ServerUnaryReactor* ListConnections(grpc::CallbackServerContext* context,
                                            const v1::ListConnectionsRequest* request,
                                            v1::ListConnectionsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteConnection(grpc::CallbackServerContext* context,
                                             const v1::DeleteConnectionRequest* request,
                                             v1::DeleteConnectionResponse* response) override;
  grpc::ServerUnaryReactor* HoldConnection(grpc::CallbackServerContext* context,
                                           const v1::HoldConnectionRequest* request,
                                           v1::HoldConnectionResponse* response) override;
  grpc::ServerUnaryReactor* ReleaseConnection(grpc::CallbackServerContext* context,
                                              const v1::ReleaseConnectionRequest* request,
                                              v1::ReleaseConnectionResponse* response) override;
  grpc::ServerWriteReactor<v1::WatchConnectionsResponse>* WatchConnections(
      grpc::CallbackServerContext* context, const v1::WatchConnectionsRequest* request) override;
  grpc::ServerUnaryReactor* CheckConnection(grpc::CallbackServerContext* context,
                                            const v1::CheckConnectionRequest* request,
                                            v1::CheckConnectionResponse* response) override;
  grpc::ServerUnaryReactor* ReauthenticateConnection(grpc::CallbackServerContext* context,
                                                     const v1::ReauthenticateConnectionRequest* request,
                                                     v1::ReauthenticateConnectionResponse* response) override;
  grpc::ServerUnaryReactor* Preflight(grpc::CallbackServerContext* context, const v1::PreflightRequest* request,
                                      v1::PreflightResponse* response) override;
  grpc::ServerUnaryReactor* GetCrossTenantHostUrl(grpc::CallbackServerContext* context,
                                                  const v1::GetCrossTenantHostUrlRequest* request,
                                                  v1::GetCrossTenantHostUrlResponse* response) override;
  grpc::ServerUnaryReactor* SetCrossTenantRelationship(grpc::CallbackServerContext* context,
                                                       const v1::SetCrossTenantRelationshipRequest* request,
                                                       v1::SetCrossTenantRelationshipResponse* response) override;
  grpc::ServerUnaryReactor* VerifyCrossTenantRelationship(grpc::CallbackServerContext* context,
                                                          const v1::VerifyCrossTenantRelationshipRequest* request,
                                                          v1::VerifyCrossTenantRelationshipResponse* response) override;
  grpc::ServerUnaryReactor* RemoveCrossTenantRelationship(grpc::CallbackServerContext* context,
                                                          const v1::RemoveCrossTenantRelationshipRequest* request,
                                                          v1::RemoveCrossTenantRelationshipResponse* response) override;
  grpc::ServerUnaryReactor* GetCompatibilityStatus(grpc::CallbackServerContext* context,
                                                   const v1::GetCompatibilityStatusRequest* request,
                                                   v1::GetCompatibilityStatusResponse* response) override;
  grpc::ServerUnaryReactor* ListTenantUsers(grpc::CallbackServerContext* context,
                                            const v1::ListTenantUsersRequest* request,
                                            v1::ListTenantUsersResponse* response) override;
  grpc::ServerUnaryReactor* BatchCheckUsers(grpc::CallbackServerContext* context,
                                            const v1::BatchCheckUsersRequest* request,
                                            v1::BatchCheckUsersResponse* response) override;
  grpc::ServerUnaryReactor* UploadIdentityMap(grpc::CallbackServerContext* context,
                                              const v1::UploadIdentityMapRequest* request,
                                              v1::UploadIdentityMapResponse* response) override;
  grpc::ServerUnaryReactor* GetIdentityMapEntry(grpc::CallbackServerContext* context,
                                                const v1::GetIdentityMapEntryRequest* request,
                                                v1::GetIdentityMapEntryResponse* response) override;
  grpc::ServerUnaryReactor* StartUserContentMove(grpc::CallbackServerContext* context,
                                                 const v1::StartUserContentMoveRequest* request,
                                                 v1::StartUserContentMoveResponse* response) override;
  grpc::ServerUnaryReactor* GetUserContentMove(grpc::CallbackServerContext* context,
                                               const v1::GetUserContentMoveRequest* request,
                                               v1::GetUserContentMoveResponse* response) override;
  grpc::ServerUnaryReactor* BatchStartUserContentMoves(grpc::CallbackServerContext* context,
                                                       const v1::BatchStartUserContentMovesRequest* request,
                                                       v1::BatchStartUserContentMovesResponse* response) override;
  grpc::ServerUnaryReactor* BatchGetUserContentMoves(grpc::CallbackServerContext* context,
                                                     const v1::BatchGetUserContentMovesRequest* request,
                                                     v1::BatchGetUserContentMovesResponse* response) override;
  grpc::ServerUnaryReactor* ListUserContentMoves(grpc::CallbackServerContext* context,
                                                 const v1::ListUserContentMovesRequest* request,
                                                 v1::ListUserContentMovesResponse* response) override;
  grpc::ServerUnaryReactor* StopUserContentMove(grpc::CallbackServerContext* context,
                                                const v1::StopUserContentMoveRequest* request,
                                                v1::StopUserContentMoveResponse* response) override;
  grpc::ServerUnaryReactor* ListRedirectSites(grpc::CallbackServerContext* context,
                                              const v1::ListRedirectSitesRequest* request,
                                              v1::ListRedirectSitesResponse* response) override;
  grpc::ServerUnaryReactor* RemoveRedirectSite(grpc::CallbackServerContext* context,
                                               const v1::RemoveRedirectSiteRequest* request,
                                               v1::RemoveRedirectSiteResponse* response) override;
  grpc::ServerUnaryReactor* ListAuditRecords(grpc::CallbackServerContext* context,
                                             const v1::ListAuditRecordsRequest* request,
                                             v1::ListAuditRecordsResponse* response) override;

 private:
  class Watch;
  // Runs `work(deadline)` on the executor and finishes the reactor with its status.
  // Runs `work` on the executor as the kind `method` (by default the calling handler's name), or
  // finishes the call with RESOURCE_EXHAUSTED when that kind is at its limit.
  template <typename Work>
  grpc::ServerUnaryReactor* Offload(grpc::CallbackServerContext* context, Work work,
                                    absl::string_view method = __builtin_FUNCTION());
  // Offload for a mutating RPC with a `request_id`: through `requests_`, so that a retry is answered as
  // the first call was and another request under the same id is refused (see RequestLog); then the
  // call is recorded in `audit_` (a retry answered from `requests_` too: it is a call).
  template <typename Work>
  grpc::ServerUnaryReactor* OffloadOnce(grpc::CallbackServerContext* context, const google::protobuf::Message& request,
                                        google::protobuf::Message* response, Work work,
                                        std::vector<absl::string_view> retry_fields = {});
  Connector* const connector_;
  Executor* const executor_;
  AuditTrail* const audit_;
  RequestLog requests_;
  absl::Mutex mu_;
  std::set<Watch*> watches_ ABSL_GUARDED_BY(mu_);
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_GRPC_TENANT_CONNECTOR_SERVICE_H_
