#include "services/worker/grpc/grpc_clients.h"

#include "services/common/error_detail.h"
#include "services/common/grpc_client.h"
#include "services/common/logging.h"

namespace crosstenant::worker {
namespace {

namespace v1 = ::crosstenant::v1;

constexpr std::chrono::seconds kCallDeadline(30);

// Calls `method` on `stub` with a deadline `extra` past the default; the response on success. A failure
// keeps its google.rpc details (CallUnary): TaskRunner reads the connector's ErrorInfo reason from them.
template <typename Response, typename Stub, typename Request, typename Method>
absl::StatusOr<Response> Call(Stub* stub, Method method, const Request& request,
                              std::chrono::seconds extra = std::chrono::seconds(0)) {
  return CallUnary<Response>(stub, method, request, kCallDeadline + extra);
}

}  // namespace

absl::StatusOr<v1::LeaseTasksResponse> GrpcLeaseClient::LeaseTasks(const v1::LeaseTasksRequest& request) {
  // The call may be held for its wait time.
  return Call<v1::LeaseTasksResponse>(stub_.get(), &v1::Orchestrator::Stub::LeaseTasks, request,
                                      std::chrono::seconds(request.wait_time().seconds()));
}

absl::StatusOr<v1::RenewLeasesResponse> GrpcLeaseClient::RenewLeases(const v1::RenewLeasesRequest& request) {
  return Call<v1::RenewLeasesResponse>(stub_.get(), &v1::Orchestrator::Stub::RenewLeases, request);
}

absl::StatusOr<v1::CompleteTasksResponse> GrpcLeaseClient::CompleteTasks(const v1::CompleteTasksRequest& request) {
  if (!one_at_a_time_) {
    auto batched = Call<v1::CompleteTasksResponse>(stub_.get(), &v1::Orchestrator::Stub::CompleteTasks, request);
    if (!absl::IsUnimplemented(batched.status())) return batched;
    // An orchestrator of an earlier version (a rolling upgrade that reached the workers first).
    log::Warning("the orchestrator does not take results in batches (CompleteTasks): sending them one by one");
    one_at_a_time_ = true;
  }
  v1::CompleteTasksResponse response;
  for (const v1::CompleteTaskRequest& completion : request.completions()) {
    auto one = Call<v1::CompleteTaskResponse>(stub_.get(), &v1::Orchestrator::Stub::CompleteTask, completion);
    v1::TaskCompletionResult* result = response.add_results();
    result->set_task(completion.task());
    if (one.ok()) {
      result->set_user_move_state(one->user_move_state());
    } else {
      *result->mutable_error() = ErrorDetailOf(one.status());
    }
  }
  return response;
}

absl::StatusOr<v1::UserContentMove> GrpcTenantOperations::StartUserContentMove(
    const v1::StartUserContentMoveRequest& request) {
  auto response =
      Call<v1::StartUserContentMoveResponse>(stub_.get(), &v1::TenantConnector::Stub::StartUserContentMove, request);
  if (!response.ok()) return response.status();
  return response->move();
}

absl::StatusOr<v1::UserContentMove> GrpcTenantOperations::GetUserContentMove(
    const v1::GetUserContentMoveRequest& request) {
  auto response =
      Call<v1::GetUserContentMoveResponse>(stub_.get(), &v1::TenantConnector::Stub::GetUserContentMove, request);
  if (!response.ok()) return response.status();
  return response->move();
}

absl::StatusOr<v1::BatchStartUserContentMovesResponse> GrpcTenantOperations::BatchStartUserContentMoves(
    const v1::BatchStartUserContentMovesRequest& request) {
  return Call<v1::BatchStartUserContentMovesResponse>(stub_.get(),
                                                      &v1::TenantConnector::Stub::BatchStartUserContentMoves, request);
}

absl::StatusOr<v1::BatchGetUserContentMovesResponse> GrpcTenantOperations::BatchGetUserContentMoves(
    const v1::BatchGetUserContentMovesRequest& request) {
  return Call<v1::BatchGetUserContentMovesResponse>(stub_.get(), &v1::TenantConnector::Stub::BatchGetUserContentMoves,
                                                    request);
}

absl::StatusOr<v1::UserContentMove> GrpcTenantOperations::StopUserContentMove(
    const v1::StopUserContentMoveRequest& request) {
  auto response =
      Call<v1::StopUserContentMoveResponse>(stub_.get(), &v1::TenantConnector::Stub::StopUserContentMove, request);
  if (!response.ok()) return response.status();
  return response->move();
}

absl::StatusOr<v1::CheckUserResult> GrpcTenantOperations::CheckUser(const v1::CheckUserTask& task) {
  v1::CheckUserResult result;
  for (const auto& [connection, upn, out] :
       {std::tuple{&task.source_connection(), &task.source_user_principal_name(), result.mutable_source()},
        std::tuple{&task.target_connection(), &task.target_user_principal_name(), result.mutable_target()}}) {
    v1::BatchCheckUsersRequest request;
    request.set_connection(*connection);
    request.add_user_principal_names(*upn);
    auto response =
        Call<v1::BatchCheckUsersResponse>(stub_.get(), &v1::TenantConnector::Stub::BatchCheckUsers, request);
    if (!response.ok()) return response.status();
    if (response->checks_size() != 1) {
      return absl::InternalError("the connector answered a one-user check with another number of users");
    }
    *out = response->checks(0);
  }
  return result;
}

absl::Status GrpcTenantOperations::RemoveRedirectSite(const v1::RemoveRedirectSiteRequest& request) {
  return Call<v1::RemoveRedirectSiteResponse>(stub_.get(), &v1::TenantConnector::Stub::RemoveRedirectSite, request)
      .status();
}

}  // namespace crosstenant::worker
