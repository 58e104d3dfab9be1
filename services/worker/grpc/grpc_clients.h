#ifndef CROSSTENANT_SERVICES_WORKER_GRPC_GRPC_CLIENTS_H_
#define CROSSTENANT_SERVICES_WORKER_GRPC_GRPC_CLIENTS_H_

// The worker's two upstreams over gRPC: the orchestrator's lease calls and the connector's tenant
// operations. Each call has a deadline; statuses come back through the one translation.

#include <atomic>
#include <memory>

#include <grpcpp/channel.h>

#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "crosstenant/v1/tenant_connector.grpc.pb.h"
#include "services/worker/core/task_runner.h"
#include "services/worker/core/worker_loop.h"

namespace crosstenant::worker {

class GrpcLeaseClient : public LeaseClient {
 public:
  explicit GrpcLeaseClient(std::shared_ptr<grpc::Channel> channel)
      : stub_(crosstenant::v1::Orchestrator::NewStub(channel)) {}

  absl::StatusOr<crosstenant::v1::LeaseTasksResponse> LeaseTasks(
      const crosstenant::v1::LeaseTasksRequest& request) override;
  absl::StatusOr<crosstenant::v1::RenewLeasesResponse> RenewLeases(
      const crosstenant::v1::RenewLeasesRequest& request) override;
  // One CompleteTasks call; against an orchestrator that does not have it yet (UNIMPLEMENTED), one
  // CompleteTask per result from then on, each answered as CompleteTasks would answer it.
  absl::StatusOr<crosstenant::v1::CompleteTasksResponse> CompleteTasks(
      const crosstenant::v1::CompleteTasksRequest& request) override;

 private:
  std::unique_ptr<crosstenant::v1::Orchestrator::Stub> stub_;
  std::atomic<bool> one_at_a_time_{false};
};

class GrpcTenantOperations : public TenantOperations {
 public:
  explicit GrpcTenantOperations(std::shared_ptr<grpc::Channel> channel)
      : stub_(crosstenant::v1::TenantConnector::NewStub(channel)) {}

  absl::StatusOr<crosstenant::v1::UserContentMove> StartUserContentMove(
      const crosstenant::v1::StartUserContentMoveRequest& request) override;
  absl::StatusOr<crosstenant::v1::UserContentMove> GetUserContentMove(
      const crosstenant::v1::GetUserContentMoveRequest& request) override;
  absl::StatusOr<crosstenant::v1::BatchStartUserContentMovesResponse> BatchStartUserContentMoves(
      const crosstenant::v1::BatchStartUserContentMovesRequest& request) override;
  absl::StatusOr<crosstenant::v1::BatchGetUserContentMovesResponse> BatchGetUserContentMoves(
      const crosstenant::v1::BatchGetUserContentMovesRequest& request) override;
  absl::StatusOr<crosstenant::v1::UserContentMove> StopUserContentMove(
      const crosstenant::v1::StopUserContentMoveRequest& request) override;
  absl::StatusOr<crosstenant::v1::CheckUserResult> CheckUser(const crosstenant::v1::CheckUserTask& task) override;
  absl::Status RemoveRedirectSite(const crosstenant::v1::RemoveRedirectSiteRequest& request) override;

 private:
  std::unique_ptr<crosstenant::v1::TenantConnector::Stub> stub_;
};

}  // namespace crosstenant::worker

#endif  // CROSSTENANT_SERVICES_WORKER_GRPC_GRPC_CLIENTS_H_
