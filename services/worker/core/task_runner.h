#ifndef CROSSTENANT_SERVICES_WORKER_CORE_TASK_RUNNER_H_
#define CROSSTENANT_SERVICES_WORKER_CORE_TASK_RUNNER_H_

// Performs one leased task through the tenant connector and turns what happened into the task's
// completion for the orchestrator. The outcome follows what the error means for the caller:
//   - throttled (RESOURCE_EXHAUSTED): RETRY after the connector's RetryInfo delay, exactly;
//   - transient (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, INTERNAL): RETRY after a short back-off;
//   - Microsoft's refusals (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, PERMISSION_DENIED,
//     ALREADY_EXISTS...): FAILED, with the connector's message as the user's error.

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crosstenant/v1/orchestrator.pb.h"
#include "crosstenant/v1/tenant_connector.pb.h"

namespace crosstenant::worker {

// The connector operations a worker performs (implemented over gRPC in ../grpc).
class TenantOperations {
 public:
  virtual ~TenantOperations() = default;
  virtual absl::StatusOr<crosstenant::v1::UserContentMove> StartUserContentMove(
      const crosstenant::v1::StartUserContentMoveRequest& request) = 0;
  virtual absl::StatusOr<crosstenant::v1::UserContentMove> GetUserContentMove(
      const crosstenant::v1::GetUserContentMoveRequest& request) = 0;
  virtual absl::StatusOr<crosstenant::v1::UserContentMove> StopUserContentMove(
      const crosstenant::v1::StopUserContentMoveRequest& request) = 0;
  virtual absl::StatusOr<crosstenant::v1::CheckUserResult> CheckUser(const crosstenant::v1::CheckUserTask& task) = 0;
  virtual absl::Status RemoveRedirectSite(const crosstenant::v1::RemoveRedirectSiteRequest& request) = 0;
};

class TaskRunner {
 public:
  struct Options {
    absl::Duration transient_backoff = absl::Seconds(5);
  };

  TaskRunner(TenantOperations* tenant, std::string worker_id, Options options)
      : tenant_(tenant), worker_id_(std::move(worker_id)), options_(options) {}

  // Runs `task` and returns its completion (worker id, task, lease id, outcome, result or error).
  crosstenant::v1::CompleteTaskRequest Run(const crosstenant::v1::Task& task);

 private:
  TenantOperations* tenant_;
  std::string worker_id_;
  Options options_;
};

}  // namespace crosstenant::worker

#endif  // CROSSTENANT_SERVICES_WORKER_CORE_TASK_RUNNER_H_
