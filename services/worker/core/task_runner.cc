#include "services/worker/core/task_runner.h"

#include <algorithm>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/common/busy_retry.h"
#include "services/common/error_detail.h"
#include "services/common/errors.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"

namespace crosstenant::worker {
namespace {

namespace v1 = ::crosstenant::v1;

bool IsTransient(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kAborted || code == absl::StatusCode::kInternal ||
         code == absl::StatusCode::kUnknown || code == absl::StatusCode::kCancelled;
}

// Whether Microsoft may already know of `task`'s move: a start that an earlier attempt may have sent,
// a poll or a stop.
bool MayBeAtMicrosoft(const v1::Task& task) {
  return (task.spec_case() == v1::Task::kStartMove && task.attempt() != 1) || task.spec_case() == v1::Task::kPollMove ||
         task.spec_case() == v1::Task::kStopMove;
}

}  // namespace

v1::CompleteTaskRequest TaskRunner::NewCompletion(const v1::Task& task) const {
  v1::CompleteTaskRequest completion;
  completion.set_worker_id(worker_id_);
  completion.set_task(task.name());
  completion.set_lease_id(task.lease_id());
  // The task's own name is a stable idempotency key: a retried completion is recognised.
  completion.set_request_id(absl::StrCat(task.name(), "#", task.attempt()));
  return completion;
}

v1::StartUserContentMoveRequest TaskRunner::StartRequestOf(const v1::Task& task) {
  v1::StartUserContentMoveRequest request = task.start_move();
  // A start retried on another worker reaches the connector with the same key: never started twice.
  if (request.request_id().empty()) request.set_request_id(task.name());
  // Attempt 1 is the task's first lease: no earlier attempt can have reached Microsoft, so the
  // connector starts without looking for an existing move first. From attempt 2 on (a retry, or a
  // lease lost while the start may have been in flight) it looks first.
  request.set_attempt(task.attempt());
  return request;
}

v1::CompleteTaskRequest TaskRunner::Run(const v1::Task& task) {
  v1::CompleteTaskRequest completion = NewCompletion(task);
  absl::Status status;
  switch (task.spec_case()) {
    case v1::Task::kStartMove: {
      const v1::StartUserContentMoveRequest request = StartRequestOf(task);
      auto move = RetryWhileBusy(options_.busy_wait, [&] { return tenant_->StartUserContentMove(request); });
      status = move.status();
      if (move.ok()) *completion.mutable_move() = *std::move(move);
      break;
    }
    case v1::Task::kPollMove: {
      auto move = RetryWhileBusy(options_.busy_wait, [&] { return tenant_->GetUserContentMove(task.poll_move()); });
      status = move.status();
      if (move.ok()) *completion.mutable_move() = *std::move(move);
      break;
    }
    case v1::Task::kStopMove: {
      auto move = RetryWhileBusy(options_.busy_wait, [&] { return tenant_->StopUserContentMove(task.stop_move()); });
      status = move.status();
      if (move.ok()) *completion.mutable_move() = *std::move(move);
      break;
    }
    case v1::Task::kCheckUser: {
      auto result = RetryWhileBusy(options_.busy_wait, [&] { return tenant_->CheckUser(task.check_user()); });
      status = result.status();
      if (result.ok()) *completion.mutable_check_user() = *std::move(result);
      break;
    }
    case v1::Task::kRemoveRedirect:
      status = RetryWhileBusy(options_.busy_wait, [&] { return tenant_->RemoveRedirectSite(task.remove_redirect()); });
      break;
    case v1::Task::SPEC_NOT_SET:
      status = absl::InvalidArgumentError("the task has no spec: this worker does not know what to do with it");
      break;
  }

  Conclude(task, status, completion);
  return completion;
}

void TaskRunner::Conclude(const v1::Task& task, const absl::Status& status, v1::CompleteTaskRequest& completion) const {
  if (status.ok()) {
    completion.set_outcome(v1::TASK_OUTCOME_SUCCEEDED);
    return;
  }
  v1::ErrorDetail* error = completion.mutable_error();
  error->set_code(absl::StatusCodeToString(status.code()));
  error->set_message(std::string(status.message()));
  // Typed, not read from the message: the connector names the connection as the cause.
  std::string reason = ErrorInfoReasonOf(status);
  if (!IsConnectionReason(reason) && MayBeAtMicrosoft(task) &&
      (status.code() == absl::StatusCode::kPermissionDenied || status.code() == absl::StatusCode::kUnauthenticated)) {
    // The connection's access refused while the move may be running: Microsoft said nothing about it.
    reason = std::string(kReasonConnectionNotUsable);
  }
  if (IsConnectionReason(reason)) {
    error->set_code(reason);
    completion.set_outcome(v1::TASK_OUTCOME_RETRY);
    SetDuration(options_.connection_backoff, completion.mutable_retry_after());
    return;
  }
  if (status.code() == absl::StatusCode::kResourceExhausted) {
    completion.set_outcome(v1::TASK_OUTCOME_RETRY);
    const absl::Duration delay = RetryDelayOf(status);
    SetDuration(delay > absl::ZeroDuration() ? delay : options_.transient_backoff, completion.mutable_retry_after());
  } else if (IsTransient(status.code())) {
    completion.set_outcome(v1::TASK_OUTCOME_RETRY);
    SetDuration(options_.transient_backoff, completion.mutable_retry_after());
  } else {
    completion.set_outcome(v1::TASK_OUTCOME_FAILED);
  }
}

bool TaskRunner::BatchablePoll(const v1::Task& task) {
  if (task.spec_case() != v1::Task::kPollMove) return false;
  const v1::GetUserContentMoveRequest& poll = task.poll_move();
  return poll.partner_host_url().empty() && poll.key_case() != v1::GetUserContentMoveRequest::KEY_NOT_SET;
}

std::vector<v1::CompleteTaskRequest> TaskRunner::RunTogether(const std::vector<v1::Task>& tasks, size_t poll_batch,
                                                             size_t start_batch) {
  std::vector<v1::CompleteTaskRequest> completions(tasks.size());
  std::vector<bool> done(tasks.size(), false);
  RunPollBatches(tasks, std::clamp<size_t>(poll_batch, 1, kMaxPollBatch), completions, done);
  RunStartBatches(tasks, std::clamp<size_t>(start_batch, 1, kMaxStartBatch), completions, done);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (!done[i]) completions[i] = Run(tasks[i]);
  }
  return completions;
}

void TaskRunner::RunStartBatches(const std::vector<v1::Task>& tasks, size_t batch,
                                 std::vector<v1::CompleteTaskRequest>& completions, std::vector<bool>& done) {
  std::map<std::string, std::vector<size_t>> by_geo;  // the starts, by geo, in lease order
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].spec_case() == v1::Task::kStartMove) by_geo[tasks[i].start_move().geo()].push_back(i);
  }
  for (const auto& [geo, members] : by_geo) {
    for (size_t from = 0; from < members.size(); from += batch) {
      const size_t to = std::min(members.size(), from + batch);
      if (to - from < 2) continue;  // a lone start goes through Run
      v1::BatchStartUserContentMovesRequest request;
      request.set_geo(geo);
      for (size_t k = from; k < to; ++k) *request.add_requests() = StartRequestOf(tasks[members[k]]);
      absl::StatusOr<v1::BatchStartUserContentMovesResponse> response =
          RetryWhileBusy(options_.busy_wait, [&] { return tenant_->BatchStartUserContentMoves(request); });
      // A connector that predates batched starts, or an answer that is not for this request: one by one.
      if (response.status().code() == absl::StatusCode::kUnimplemented) continue;
      if (response.ok() && response->results_size() != static_cast<int>(to - from)) continue;
      for (size_t k = from; k < to; ++k) {
        const size_t i = members[k];
        v1::CompleteTaskRequest completion = NewCompletion(tasks[i]);
        absl::Status status = response.status();
        if (response.ok()) {
          const v1::StartUserContentMoveResult& result = response->results(static_cast<int>(k - from));
          if (result.has_response()) {
            *completion.mutable_move() = result.response().move();
          } else {
            status = StatusOfErrorDetail(result.error());
          }
        }
        Conclude(tasks[i], status, completion);
        completions[i] = std::move(completion);
        done[i] = true;
      }
    }
  }
}

void TaskRunner::RunPollBatches(const std::vector<v1::Task>& polls, size_t batch,
                                std::vector<v1::CompleteTaskRequest>& completions, std::vector<bool>& done) {
  // The batchable polls, by geo, in lease order.
  std::map<std::string, std::vector<size_t>> by_geo;
  for (size_t i = 0; i < polls.size(); ++i) {
    if (BatchablePoll(polls[i])) by_geo[polls[i].poll_move().geo()].push_back(i);
  }
  for (const auto& [geo, members] : by_geo) {
    for (size_t from = 0; from < members.size(); from += batch) {
      const std::vector<size_t> chunk(
          members.begin() + static_cast<std::ptrdiff_t>(from),
          members.begin() + static_cast<std::ptrdiff_t>(std::min(members.size(), from + batch)));
      if (chunk.size() < 2) continue;  // a lone poll goes through Run
      // The connector answers the UPNs first, then the task ids, each in request order.
      v1::BatchGetUserContentMovesRequest request;
      request.set_geo(geo);
      std::vector<size_t> order;
      for (size_t i : chunk) {
        if (polls[i].poll_move().key_case() == v1::GetUserContentMoveRequest::kSourceUserPrincipalName) {
          request.add_source_user_principal_names(polls[i].poll_move().source_user_principal_name());
          order.push_back(i);
        }
      }
      for (size_t i : chunk) {
        if (polls[i].poll_move().key_case() == v1::GetUserContentMoveRequest::kTaskId) {
          request.add_task_ids(polls[i].poll_move().task_id());
          order.push_back(i);
        }
      }
      absl::StatusOr<v1::BatchGetUserContentMovesResponse> response =
          RetryWhileBusy(options_.busy_wait, [&] { return tenant_->BatchGetUserContentMoves(request); });
      if (response.ok() && response->results_size() != static_cast<int>(order.size())) {
        // Not the answer this worker asked for (e.g. a connector that predates task ids): one by one.
        continue;
      }
      for (size_t k = 0; k < order.size(); ++k) {
        const size_t i = order[k];
        v1::CompleteTaskRequest completion = NewCompletion(polls[i]);
        absl::Status status = response.status();
        if (response.ok()) {
          const v1::UserContentMoveResult& result = response->results(static_cast<int>(k));
          if (result.has_error()) {
            const v1::ErrorDetail& error = result.error();
            const int http = error.upstream_http_status();
            const std::string message = absl::StrCat(error.code(), ": ", error.message());
            // Microsoft's own delay for this item, not the worker's default back-off.
            status = error.code() == "THROTTLED" || http == 429
                         ? ResourceExhaustedWithRetry(message, DurationOf(error.retry_delay()))
                     : http >= 500 || http == 0   ? absl::UnavailableError(message)
                     : http == 404                ? absl::NotFoundError(message)
                     : http == 401 || http == 403 ? absl::PermissionDeniedError(message)
                                                  : absl::FailedPreconditionError(message);
          } else if (!result.found()) {
            status = absl::NotFoundError(absl::StrCat("Microsoft has no move ",
                                                      result.task_id().empty()
                                                          ? absl::StrCat("of ", result.source_user_principal_name())
                                                          : absl::StrCat("with task id ", result.task_id()),
                                                      " (HTTP 404)"));
          } else {
            *completion.mutable_move() = result.move();
          }
        }
        Conclude(polls[i], status, completion);
        completions[i] = std::move(completion);
        done[i] = true;
      }
    }
  }
}

}  // namespace crosstenant::worker
