#include "services/tenant_connector/grpc/tenant_connector_service.h"

#include <chrono>
#include <deque>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/common/audit_chain.h"
#include "services/common/error_detail.h"
#include "services/common/errors.h"
#include "services/common/grpc_status.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"
#include "services/common/tls.h"
#include "services/tenant_connector/core/connector.h"
#include "services/tenant_connector/core/upstream_error.h"

namespace crosstenant::tenant_connector {
namespace {

absl::Time DeadlineOf(const grpc::CallbackServerContext* context) {
  auto deadline = context->deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// `status` of the start at `index` of a BatchStartUserContentMoves: its field violations named as the
// batch's fields (`requests[index].<field>`).
absl::Status OfBatchItem(size_t index, absl::Status status) {
  std::vector<FieldViolation> violations = FieldViolationsOf(status);
  if (violations.empty()) return status;
  for (FieldViolation& violation : violations)
    violation.field = absl::StrCat("requests[", index, "].", violation.field);
  return InvalidArgumentWithViolations("invalid request", violations);
}

// A start's failure as a BatchStartUserContentMoves result carries it: ErrorDetailOf (the message of an
// INVALID_ARGUMENT names its fields), and Microsoft's code and HTTP status when Microsoft answered.
v1::ErrorDetail StartErrorOf(const absl::Status& status) {
  v1::ErrorDetail error = ErrorDetailOf(status);
  int http_status = 0;
  if (absl::SimpleAtoi(ErrorInfoMetadataOf(status, kMetadataHttpStatus), &http_status)) {
    error.set_upstream_http_status(http_status);
    const std::string reason = ErrorInfoReasonOf(status);
    error.set_upstream_code(absl::StartsWith(reason, "HTTP_") ? "" : reason);
  }
  return error;
}

}  // namespace

// One WatchConnections stream: a queue of events written one at a time.
class TenantConnectorService::Watch final : public grpc::ServerWriteReactor<v1::WatchConnectionsResponse> {
 public:
  Watch(TenantConnectorService* service, const v1::WatchConnectionsRequest& request) : service_(service) {
    std::vector<std::string> names(request.names().begin(), request.names().end());
    std::vector<v1::Connection> snapshot;
    // Not under mu_: the connector calls Enqueue under its own watch lock. Events that arrive before
    // the snapshot is queued wait in pending_.
    int64_t id = service_->connector_->Subscribe(
        names, [this](v1::ConnectionEventType type, const v1::Connection& connection) { Enqueue(type, connection); },
        &snapshot);
    absl::MutexLock lock(&mu_);
    id_ = id;
    for (const v1::Connection& connection : snapshot) {
      EnqueueLocked(v1::CONNECTION_EVENT_TYPE_SNAPSHOT, connection);
    }
    for (v1::WatchConnectionsResponse& event : pending_) queue_.push_back(std::move(event));
    pending_.clear();
    ready_ = true;
    MaybeWriteLocked();
  }

  void End() {
    absl::MutexLock lock(&mu_);
    ending_ = true;
    if (!writing_ && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
      }
      return;
    }
    queue_.pop_front();
    if (ending_ && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
      return;
    }
    MaybeWriteLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (!finished_) {
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
    }
  }

  void OnDone() override {
    service_->connector_->Unsubscribe(id_);
    {
      absl::MutexLock lock(&service_->mu_);
      service_->watches_.erase(this);
    }
    delete this;
  }

 private:
  void Enqueue(v1::ConnectionEventType type, const v1::Connection& connection) {
    absl::MutexLock lock(&mu_);
    EnqueueLocked(type, connection);
    MaybeWriteLocked();
  }
  void EnqueueLocked(v1::ConnectionEventType type, const v1::Connection& connection) {
    if (finished_) return;
    v1::WatchConnectionsResponse event;
    event.set_type(type);
    *event.mutable_connection() = connection;
    SetTimestamp(absl::Now(), event.mutable_event_time());
    if (!ready_ && type != v1::CONNECTION_EVENT_TYPE_SNAPSHOT) {
      pending_.push_back(std::move(event));
      return;
    }
    queue_.push_back(std::move(event));
  }
  void MaybeWriteLocked() {
    if (!ready_ || writing_ || finished_ || queue_.empty()) return;
    writing_ = true;
    StartWrite(&queue_.front());
  }

  TenantConnectorService* const service_;
  absl::Mutex mu_;
  int64_t id_ = 0;
  std::deque<v1::WatchConnectionsResponse> queue_;
  std::vector<v1::WatchConnectionsResponse> pending_;
  bool ready_ = false;
  bool writing_ = false;
  bool finished_ = false;
  bool ending_ = false;
};

TenantConnectorService::TenantConnectorService(Connector* connector, Executor* executor, AuditTrail* audit,
                                               AnswerStore* answers)
    : connector_(connector), executor_(executor), audit_(audit), requests_(answers) {}

TenantConnectorService::~TenantConnectorService() = default;

void TenantConnectorService::EndStreams() {
  absl::MutexLock lock(&mu_);
  ending_ = true;
  for (Watch* watch : watches_) watch->End();
}

template <typename Work>
grpc::ServerUnaryReactor* TenantConnectorService::Offload(grpc::CallbackServerContext* context, Work work,
                                                          absl::string_view method) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Time deadline = connector_->Budget(DeadlineOf(context));
  // Each RPC is its own kind: a flood of one (or calls that block) cannot take every thread.
  absl::Status queued = executor_->TryRun(
      method, [reactor, deadline, work = std::move(work)]() mutable { reactor->Finish(ToGrpcStatus(work(deadline))); });
  if (!queued.ok()) reactor->Finish(ToGrpcStatus(queued));
  return reactor;
}

template <typename Work>
grpc::ServerUnaryReactor* TenantConnectorService::OffloadOnce(grpc::CallbackServerContext* context,
                                                              const google::protobuf::Message& request,
                                                              google::protobuf::Message* response, Work work,
                                                              std::vector<absl::string_view> retry_fields) {
  // Each RPC has its own request type: "StartUserContentMoveRequest" names StartUserContentMove.
  std::string method(absl::StripSuffix(request.GetDescriptor()->name(), "Request"));
  const std::string kind = method;  // the RPC is the executor's kind, as for Offload's other callers
  std::string caller = AuditCaller(PeerNamesOf(*context->auth_context()));
  return Offload(
      context,
      [this, method = std::move(method), caller = std::move(caller), &request, response, work = std::move(work),
       retry_fields = std::move(retry_fields)](absl::Time deadline) mutable {
        absl::Status outcome = requests_.Run(
            method, request, response, [&] { return work(deadline); }, retry_fields);
        // Before the answer leaves: a caller that got its answer finds the call in the trail.
        audit_->Record(request, *response, caller, outcome);
        return outcome;
      },
      kind);
}

grpc::ServerUnaryReactor* TenantConnectorService::CreateConnection(grpc::CallbackServerContext* context,
                                                                   const v1::CreateConnectionRequest* request,
                                                                   v1::CreateConnectionResponse* response) {
  return OffloadOnce(context, *request, response, [this, request, response](absl::Time deadline) -> absl::Status {
    absl::StatusOr<v1::Connection> connection = connector_->Create(*request, deadline);
    if (!connection.ok()) return connection.status();
    *response->mutable_connection() = *std::move(connection);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::GetConnection(grpc::CallbackServerContext* context,
                                                                const v1::GetConnectionRequest* request,
                                                                v1::GetConnectionResponse* response) {
  // Cache only: answered inline.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Connection> connection = connector_->Get(request->name());
  if (connection.ok()) *response->mutable_connection() = *std::move(connection);
  reactor->Finish(ToGrpcStatus(connection.status()));
  return reactor;
}

grpc::ServerUnaryReactor* TenantConnectorService::ListConnections(grpc::CallbackServerContext* context,
                                                                  const v1::ListConnectionsRequest* request,
                                                                  v1::ListConnectionsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::ListConnectionsResponse> list = connector_->List(*request);
  if (list.ok()) *response = *std::move(list);
  reactor->Finish(ToGrpcStatus(list.status()));
  return reactor;
}

grpc::ServerUnaryReactor* TenantConnectorService::DeleteConnection(grpc::CallbackServerContext* context,
                                                                   const v1::DeleteConnectionRequest* request,
                                                                   v1::DeleteConnectionResponse* response) {
  return OffloadOnce(context, *request, response, [this, request](absl::Time) { return connector_->Delete(*request); });
}

grpc::ServerUnaryReactor* TenantConnectorService::HoldConnection(grpc::CallbackServerContext* context,
                                                                 const v1::HoldConnectionRequest* request,
                                                                 v1::HoldConnectionResponse* response) {
  return Offload(context, [this, request, response](absl::Time) -> absl::Status {
    absl::StatusOr<v1::Connection> connection = connector_->Hold(*request);
    if (!connection.ok()) return connection.status();
    *response->mutable_connection() = *std::move(connection);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::ReleaseConnection(grpc::CallbackServerContext* context,
                                                                    const v1::ReleaseConnectionRequest* request,
                                                                    v1::ReleaseConnectionResponse* /*response*/) {
  return Offload(context, [this, request](absl::Time) { return connector_->Release(*request); });
}

grpc::ServerWriteReactor<v1::WatchConnectionsResponse>* TenantConnectorService::WatchConnections(
    grpc::CallbackServerContext* /*context*/, const v1::WatchConnectionsRequest* request) {
  auto* watch = new Watch(this, *request);
  absl::MutexLock lock(&mu_);
  watches_.insert(watch);
  if (ending_) watch->End();
  return watch;
}

grpc::ServerUnaryReactor* TenantConnectorService::CheckConnection(grpc::CallbackServerContext* context,
                                                                  const v1::CheckConnectionRequest* request,
                                                                  v1::CheckConnectionResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    absl::StatusOr<v1::Connection> connection = connector_->Check(request->name(), deadline);
    if (!connection.ok()) return connection.status();
    *response->mutable_connection() = *std::move(connection);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::ReauthenticateConnection(
    grpc::CallbackServerContext* context, const v1::ReauthenticateConnectionRequest* request,
    v1::ReauthenticateConnectionResponse* response) {
  return OffloadOnce(context, *request, response, [this, request, response](absl::Time deadline) -> absl::Status {
    absl::StatusOr<v1::Connection> connection = connector_->Reauthenticate(*request, deadline);
    if (!connection.ok()) return connection.status();
    *response->mutable_connection() = *std::move(connection);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::Preflight(grpc::CallbackServerContext* context,
                                                            const v1::PreflightRequest* request,
                                                            v1::PreflightResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    absl::StatusOr<v1::PreflightReport> report = connector_->Preflight(*request, deadline);
    if (!report.ok()) return report.status();
    *response->mutable_report() = *std::move(report);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::GetCrossTenantHostUrl(grpc::CallbackServerContext* context,
                                                                        const v1::GetCrossTenantHostUrlRequest* request,
                                                                        v1::GetCrossTenantHostUrlResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    absl::StatusOr<std::string> url = connector_->GetCrossTenantHostUrl(request->geo(), deadline);
    if (!url.ok()) return url.status();
    response->set_host_url(*url);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::SetCrossTenantRelationship(
    grpc::CallbackServerContext* context, const v1::SetCrossTenantRelationshipRequest* request,
    v1::SetCrossTenantRelationshipResponse* response) {
  return OffloadOnce(context, *request, response, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->SetRelationship(request->geo(), request->relationship(), deadline);
    if (!result.ok()) return result.status();
    *response->mutable_relationship() = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::VerifyCrossTenantRelationship(
    grpc::CallbackServerContext* context, const v1::VerifyCrossTenantRelationshipRequest* request,
    v1::VerifyCrossTenantRelationshipResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->VerifyRelationship(request->geo(), request->relationship(), deadline);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::RemoveCrossTenantRelationship(
    grpc::CallbackServerContext* context, const v1::RemoveCrossTenantRelationshipRequest* request,
    v1::RemoveCrossTenantRelationshipResponse* response) {
  return OffloadOnce(context, *request, response, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->RemoveRelationship(request->geo(), request->relationship(), deadline);
    if (!result.ok()) return result.status();
    *response->mutable_relationship() = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::GetCompatibilityStatus(
    grpc::CallbackServerContext* context, const v1::GetCompatibilityStatusRequest* request,
    v1::GetCompatibilityStatusResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->GetCompatibility(*request, deadline);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::ListTenantUsers(grpc::CallbackServerContext* context,
                                                                  const v1::ListTenantUsersRequest* request,
                                                                  v1::ListTenantUsersResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->ListTenantUsers(*request, deadline);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::BatchCheckUsers(grpc::CallbackServerContext* context,
                                                                  const v1::BatchCheckUsersRequest* request,
                                                                  v1::BatchCheckUsersResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->BatchCheckUsers(*request, deadline);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::UploadIdentityMap(grpc::CallbackServerContext* context,
                                                                    const v1::UploadIdentityMapRequest* request,
                                                                    v1::UploadIdentityMapResponse* response) {
  return OffloadOnce(context, *request, response, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->UploadIdentityMap(*request, deadline);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::GetIdentityMapEntry(grpc::CallbackServerContext* context,
                                                                      const v1::GetIdentityMapEntryRequest* request,
                                                                      v1::GetIdentityMapEntryResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->GetIdentityMapEntry(*request, deadline);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::StartUserContentMove(grpc::CallbackServerContext* context,
                                                                       const v1::StartUserContentMoveRequest* request,
                                                                       v1::StartUserContentMoveResponse* response) {
  return OffloadOnce(context, *request, response,
                     [this, request, response](absl::Time deadline) -> absl::Status {
                       auto result = connector_->StartMove(*request, deadline);
                       if (!result.ok()) return result.status();
                       *response = *std::move(result);
                       return absl::OkStatus();
                     },
                     {"attempt"});
}

grpc::ServerUnaryReactor* TenantConnectorService::BatchStartUserContentMoves(
    grpc::CallbackServerContext* context, const v1::BatchStartUserContentMovesRequest* request,
    v1::BatchStartUserContentMovesResponse* response) {
  std::string caller = AuditCaller(PeerNamesOf(*context->auth_context()));
  return Offload(context, [this, caller = std::move(caller), request, response](absl::Time deadline) -> absl::Status {
    // Each start is a StartUserContentMove: its request_id is honoured against both RPCs (a start the
    // batch made and a worker retries alone is answered from memory), and it gets its own audit record.
    RETURN_IF_ERROR(Connector::CheckStartCount(request->requests().size()));
    const int count = request->requests_size();
    std::vector<v1::StartUserContentMoveRequest> starts(request->requests().begin(), request->requests().end());
    std::vector<v1::StartUserContentMoveResponse> answers(static_cast<size_t>(count));
    std::vector<absl::Status> outcomes(static_cast<size_t>(count));
    std::vector<size_t> run;
    std::vector<v1::StartUserContentMoveRequest> running;
    for (size_t i = 0; i < starts.size(); ++i) {
      if (starts[i].geo().empty()) starts[i].set_geo(request->geo());
      absl::StatusOr<bool> must_run = requests_.Begin("StartUserContentMove", starts[i], &answers[i], {"attempt"});
      if (!must_run.ok()) {
        outcomes[i] = OfBatchItem(i, must_run.status());
      } else if (*must_run) {
        run.push_back(i);
        running.push_back(starts[i]);
      }
    }
    absl::StatusOr<std::vector<absl::StatusOr<v1::StartUserContentMoveResponse>>> results =
        running.empty() ? std::vector<absl::StatusOr<v1::StartUserContentMoveResponse>>()
                        : connector_->StartMoves(request->geo(), running, deadline);
    for (size_t k = 0; k < run.size(); ++k) {
      const size_t i = run[k];
      outcomes[i] = results.ok() ? OfBatchItem(i, results->at(k).status()) : results.status();
      if (outcomes[i].ok()) answers[i] = *std::move(results->at(k));
      requests_.Finish(starts[i], answers[i], outcomes[i]);
    }
    for (size_t i = 0; i < starts.size(); ++i) {
      audit_->Record(starts[i], answers[i], caller, outcomes[i]);
      if (!results.ok()) continue;
      v1::StartUserContentMoveResult* result = response->add_results();
      if (outcomes[i].ok()) {
        *result->mutable_response() = std::move(answers[i]);
      } else {
        *result->mutable_error() = StartErrorOf(outcomes[i]);
      }
    }
    return results.status();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::GetUserContentMove(grpc::CallbackServerContext* context,
                                                                     const v1::GetUserContentMoveRequest* request,
                                                                     v1::GetUserContentMoveResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->GetMove(*request, deadline);
    if (!result.ok()) return result.status();
    *response->mutable_move() = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::BatchGetUserContentMoves(
    grpc::CallbackServerContext* context, const v1::BatchGetUserContentMovesRequest* request,
    v1::BatchGetUserContentMovesResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->BatchGetMoves(*request, deadline);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::ListUserContentMoves(grpc::CallbackServerContext* context,
                                                                       const v1::ListUserContentMovesRequest* request,
                                                                       v1::ListUserContentMovesResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->ListMoves(*request, deadline);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::StopUserContentMove(grpc::CallbackServerContext* context,
                                                                      const v1::StopUserContentMoveRequest* request,
                                                                      v1::StopUserContentMoveResponse* response) {
  return OffloadOnce(context, *request, response, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->StopMove(*request, deadline);
    if (!result.ok()) return result.status();
    *response->mutable_move() = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::ListRedirectSites(grpc::CallbackServerContext* context,
                                                                    const v1::ListRedirectSitesRequest* request,
                                                                    v1::ListRedirectSitesResponse* response) {
  return Offload(context, [this, request, response](absl::Time deadline) -> absl::Status {
    auto result = connector_->ListRedirectSites(*request, deadline);
    if (!result.ok()) return result.status();
    *response = *std::move(result);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::RemoveRedirectSite(grpc::CallbackServerContext* context,
                                                                     const v1::RemoveRedirectSiteRequest* request,
                                                                     v1::RemoveRedirectSiteResponse* response) {
  return OffloadOnce(context, *request, response, [this, request](absl::Time deadline) {
    return connector_->RemoveRedirectSite(*request, deadline);
  });
}

grpc::ServerUnaryReactor* TenantConnectorService::ListAuditRecords(grpc::CallbackServerContext* context,
                                                                   const v1::ListAuditRecordsRequest* request,
                                                                   v1::ListAuditRecordsResponse* response) {
  // A database read: on the executor, as the other store reads.
  return Offload(context, [this, request, response](absl::Time) -> absl::Status {
    absl::StatusOr<v1::ListAuditRecordsResponse> page = audit_->List(*request);
    if (!page.ok()) return page.status();
    *response = *std::move(page);
    return absl::OkStatus();
  });
}

const MethodRoles& TenantConnectorMethodRoles() {
  static const auto* const roles = new MethodRoles{
      {"CreateConnection", Role::kAdminister},
      {"GetConnection", Role::kRead},
      {"ListConnections", Role::kRead},
      {"DeleteConnection", Role::kAdminister},
      // Holds are taken and released by the orchestrator for the migrations it runs.
      {"HoldConnection", Role::kOperate},
      {"ReleaseConnection", Role::kOperate},
      {"WatchConnections", Role::kRead},
      {"CheckConnection", Role::kOperate},
      {"ReauthenticateConnection", Role::kAdminister},
      {"Preflight", Role::kOperate},
      {"GetCrossTenantHostUrl", Role::kOperate},
      {"SetCrossTenantRelationship", Role::kOperate},
      {"VerifyCrossTenantRelationship", Role::kOperate},
      // The orchestrator removes the trust it set up when a migration is cancelled or finished.
      {"RemoveCrossTenantRelationship", Role::kOperate},
      {"GetCompatibilityStatus", Role::kOperate},
      {"ListTenantUsers", Role::kOperate},
      {"BatchCheckUsers", Role::kOperate},
      {"UploadIdentityMap", Role::kOperate},
      {"GetIdentityMapEntry", Role::kOperate},
      {"StartUserContentMove", Role::kOperate},
      {"BatchStartUserContentMoves", Role::kOperate},
      {"GetUserContentMove", Role::kOperate},
      {"BatchGetUserContentMoves", Role::kOperate},
      {"ListUserContentMoves", Role::kOperate},
      {"StopUserContentMove", Role::kOperate},
      {"ListRedirectSites", Role::kOperate},
      // Redirect sites are cleaned up by the workers once a migration allows it.
      {"RemoveRedirectSite", Role::kOperate},
      // Who did what: no secret is in it, and auditors need not be operators.
      {"ListAuditRecords", Role::kRead},
  };
  return *roles;
}

}  // namespace crosstenant::tenant_connector
