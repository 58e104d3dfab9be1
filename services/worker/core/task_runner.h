#ifndef CROSSTENANT_SERVICES_WORKER_CORE_TASK_RUNNER_H_
#define CROSSTENANT_SERVICES_WORKER_CORE_TASK_RUNNER_H_

// Performs one leased task through the tenant connector and turns what happened into the task's
// completion for the orchestrator. The outcome follows what the error means for the caller:
//   - refused by the connector as busy (ErrorInfo SERVER_BUSY: calls of that kind fill its share of
//     threads, and this one never reached Microsoft): sent again within the lease, after part of the
//     RetryInfo delay, for up to `busy_wait`, so that a start keeps its attempt number and is not
//     looked up at Microsoft for nothing; after that, as throttled;
//   - throttled (RESOURCE_EXHAUSTED): RETRY after the connector's RetryInfo delay, exactly;
//   - transient (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, INTERNAL): RETRY after a short back-off;
//   - the mesh's own refusals, told apart by the google.rpc.ErrorInfo reason the connector attaches
//     (CONNECTION_NOT_FOUND, CONNECTION_NOT_USABLE, SHAREPOINT_TOKEN_REJECTED,
//     SHAREPOINT_NEEDS_CERTIFICATE): RETRY after `connection_backoff`, with that reason as the error's
//     code, whatever the task (IsConnectionReason in services/common/errors.h). They say nothing
//     about the user's move, which stays in the state Microsoft last reported;
//   - for a task whose move may already be at Microsoft (a start from attempt 2 on, a poll, a stop),
//     PERMISSION_DENIED and UNAUTHENTICATED without such a reason are the connection's access being
//     refused, not an answer about the move: also RETRY, with code CONNECTION_NOT_USABLE;
//   - Microsoft's refusals (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, PERMISSION_DENIED,
//     ALREADY_EXISTS...): FAILED, with the connector's message as the user's error.

#include <vector>

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
  virtual absl::StatusOr<crosstenant::v1::BatchStartUserContentMovesResponse> BatchStartUserContentMoves(
      const crosstenant::v1::BatchStartUserContentMovesRequest& request) = 0;
  virtual absl::StatusOr<crosstenant::v1::BatchGetUserContentMovesResponse> BatchGetUserContentMoves(
      const crosstenant::v1::BatchGetUserContentMovesRequest& request) = 0;
  virtual absl::StatusOr<crosstenant::v1::UserContentMove> StopUserContentMove(
      const crosstenant::v1::StopUserContentMoveRequest& request) = 0;
  virtual absl::StatusOr<crosstenant::v1::CheckUserResult> CheckUser(const crosstenant::v1::CheckUserTask& task) = 0;
  virtual absl::Status RemoveRedirectSite(const crosstenant::v1::RemoveRedirectSiteRequest& request) = 0;
};

class TaskRunner {
 public:
  struct Options {
    absl::Duration transient_backoff = absl::Seconds(5);
    // Wait before a task refused because of its connection is tried again: the connection comes back
    // only when an operator acts (re-creates, re-authenticates it), so polling it hard helps nobody.
    absl::Duration connection_backoff = absl::Seconds(15);
    // Longest time a call refused by the connector as busy is sent again before the task is given back.
    absl::Duration busy_wait = absl::Seconds(20);
  };

  TaskRunner(TenantOperations* tenant, std::string worker_id, Options options)
      : tenant_(tenant), worker_id_(std::move(worker_id)), options_(options) {}

  // Runs `task` and returns its completion (worker id, task, lease id, outcome, result or error). A start
  // is sent with the task's attempt number, so the connector skips its duplicate-start look-up on the
  // first attempt only.
  crosstenant::v1::CompleteTaskRequest Run(const crosstenant::v1::Task& task);

  // Whether `task` is a poll that RunTogether can read in a batch: POLL_MOVE by task id or UPN, without a
  // partner host URL (those read SharePoint's move states, one user at a time).
  static bool BatchablePoll(const crosstenant::v1::Task& task);

  // Runs several tasks, one completion per task in the same order, those that can go together in one
  // connector call together:
  //   - batchable polls of the same geo in one BatchGetUserContentMoves (upstream, one Graph $batch
  //     request per 20 polls instead of one GET each); a user's result maps to an outcome as Run's
  //     GetUserContentMove would: found -> SUCCEEDED; not found -> FAILED (NOT_FOUND); throttled or
  //     unavailable -> RETRY;
  //   - starts of the same geo, up to 20 at a time, in one BatchStartUserContentMoves (upstream, one $batch of
  //     first attempts instead of one POST each); each start's result maps to an outcome as Run's
  //     StartUserContentMove would, and a failure of the whole call concludes each start as Run would
  //     conclude that failure. A connector without that RPC gets the starts one by one;
  //   - every other task (and a lone poll or start) through Run.
  // At most `poll_batch` polls (`start_batch` starts) go in one call; a batch of 1 is a lone task.
  static constexpr size_t kMaxPollBatch = 1000;  // the connector's limit of a BatchGetUserContentMoves
  static constexpr size_t kMaxStartBatch = 20;   // and of a BatchStartUserContentMoves
  std::vector<crosstenant::v1::CompleteTaskRequest> RunTogether(const std::vector<crosstenant::v1::Task>& tasks,
                                                                size_t poll_batch = kMaxPollBatch,
                                                                size_t start_batch = kMaxStartBatch);

 private:
  crosstenant::v1::CompleteTaskRequest NewCompletion(const crosstenant::v1::Task& task) const;
  // The connector request of a START_MOVE task: its request id (the task's name unless set) and attempt.
  static crosstenant::v1::StartUserContentMoveRequest StartRequestOf(const crosstenant::v1::Task& task);
  // RunTogether's two kinds of batches: each fills the completions of the tasks it ran and marks them done.
  void RunPollBatches(const std::vector<crosstenant::v1::Task>& tasks, size_t batch,
                      std::vector<crosstenant::v1::CompleteTaskRequest>& completions, std::vector<bool>& done);
  void RunStartBatches(const std::vector<crosstenant::v1::Task>& tasks, size_t batch,
                       std::vector<crosstenant::v1::CompleteTaskRequest>& completions, std::vector<bool>& done);
  // Sets the outcome (and error, retry delay) of `completion` from `status`, the result of `task`.
  void Conclude(const crosstenant::v1::Task& task, const absl::Status& status,
                crosstenant::v1::CompleteTaskRequest& completion) const;

  TenantOperations* tenant_;
  std::string worker_id_;
  Options options_;
};

}  // namespace crosstenant::worker

#endif  // CROSSTENANT_SERVICES_WORKER_CORE_TASK_RUNNER_H_
