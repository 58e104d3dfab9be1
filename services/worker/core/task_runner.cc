#include "services/worker/core/task_runner.h"

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"

namespace crosstenant::worker {
namespace {

namespace v1 = ::crosstenant::v1;

void SetDuration(absl::Duration duration, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(duration);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

bool IsTransient(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kAborted || code == absl::StatusCode::kInternal ||
         code == absl::StatusCode::kUnknown || code == absl::StatusCode::kCancelled;
}

}  // namespace

v1::CompleteTaskRequest TaskRunner::Run(const v1::Task& task) {
  v1::CompleteTaskRequest completion;
  completion.set_worker_id(worker_id_);
  completion.set_task(task.name());
  completion.set_lease_id(task.lease_id());
  // The task's own name is a stable idempotency key: a retried completion is recognised.
  completion.set_request_id(absl::StrCat(task.name(), "#", task.attempt()));

  absl::Status status;
  switch (task.spec_case()) {
    case v1::Task::kStartMove: {
      v1::StartUserContentMoveRequest request = task.start_move();
      // A start retried on another worker reaches the connector with the same key: never started twice.
      if (request.request_id().empty()) request.set_request_id(task.name());
      auto move = tenant_->StartUserContentMove(request);
      status = move.status();
      if (move.ok()) *completion.mutable_move() = *std::move(move);
      break;
    }
    case v1::Task::kPollMove: {
      auto move = tenant_->GetUserContentMove(task.poll_move());
      status = move.status();
      if (move.ok()) *completion.mutable_move() = *std::move(move);
      break;
    }
    case v1::Task::kStopMove: {
      auto move = tenant_->StopUserContentMove(task.stop_move());
      status = move.status();
      if (move.ok()) *completion.mutable_move() = *std::move(move);
      break;
    }
    case v1::Task::kCheckUser: {
      auto result = tenant_->CheckUser(task.check_user());
      status = result.status();
      if (result.ok()) *completion.mutable_check_user() = *std::move(result);
      break;
    }
    case v1::Task::kRemoveRedirect:
      status = tenant_->RemoveRedirectSite(task.remove_redirect());
      break;
    case v1::Task::SPEC_NOT_SET:
      status = absl::InvalidArgumentError("the task has no spec: this worker does not know what to do with it");
      break;
  }

  if (status.ok()) {
    completion.set_outcome(v1::TASK_OUTCOME_SUCCEEDED);
    return completion;
  }
  v1::ErrorDetail* error = completion.mutable_error();
  error->set_code(absl::StatusCodeToString(status.code()));
  error->set_message(std::string(status.message()));
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
  return completion;
}

}  // namespace crosstenant::worker
