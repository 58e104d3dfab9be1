#include "services/orchestrator/core/task_service.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/proto_time.h"
#include "services/common/request_fingerprint.h"
#include "services/common/status_macros.h"
#include "services/common/trace_context.h"
#include "services/orchestrator/core/user_transition.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;

constexpr int kMaxTasksPerLease = 100;
const absl::Duration kDefaultLease = absl::Seconds(60);
const absl::Duration kMinLease = absl::Seconds(5);
const absl::Duration kMaxLease = absl::Minutes(10);

absl::Status CheckLeaseDuration(const google::protobuf::Duration& given, bool present, const char* field,
                                std::vector<FieldViolation>& violations, absl::Duration* out) {
  *out = present ? DurationOf(given) : kDefaultLease;
  if (*out < kMinLease || *out > kMaxLease) {
    violations.push_back({field, "must be between 5s and 10m (unset means 60s)"});
  }
  return absl::OkStatus();
}

bool IsTerminal(v1::UserMoveState state) {
  return state == v1::USER_MOVE_STATE_SUCCESS || state == v1::USER_MOVE_STATE_FAILED ||
         state == v1::USER_MOVE_STATE_STOPPED || state == v1::USER_MOVE_STATE_VALIDATED ||
         state == v1::USER_MOVE_STATE_BLOCKED;
}

// INVALID_ARGUMENT naming every field of `request` that is missing: those every result needs, and (with
// the leased `task`) the answer its kind needs when it succeeded.
absl::Status CheckCompleteTaskRequest(const v1::CompleteTaskRequest& request, const v1::Task* task) {
  std::vector<FieldViolation> violations;
  if (task == nullptr) {
    if (request.worker_id().empty()) violations.push_back({"worker_id", "is required"});
    if (request.task().empty()) violations.push_back({"task", "is required: the name of the leased task"});
    if (request.lease_id().empty()) violations.push_back({"lease_id", "is required: the lease's fencing token"});
    if (request.outcome() == v1::TASK_OUTCOME_UNSPECIFIED) {
      violations.push_back({"outcome", "is required: SUCCEEDED, RETRY, FAILED or ABANDONED"});
    }
  } else if (request.outcome() == v1::TASK_OUTCOME_SUCCEEDED) {
    const bool wants_move = task->kind() == v1::TASK_KIND_START_MOVE || task->kind() == v1::TASK_KIND_POLL_MOVE ||
                            task->kind() == v1::TASK_KIND_STOP_MOVE;
    if (wants_move && !request.has_move()) violations.push_back({"move", "is required for a move task"});
    if (task->kind() == v1::TASK_KIND_CHECK_USER && !request.has_check_user()) {
      violations.push_back({"check_user", "is required for a check-user task"});
    }
  }
  if (violations.empty()) return absl::OkStatus();
  return InvalidArgumentWithViolations("invalid CompleteTaskRequest", violations);
}

// A target user checked by a worker: QUEUED when it can take a OneDrive, else BLOCKED saying why.
void ApplyUserCheck(const v1::UserCheck& target, absl::Time now, v1::UserMove& user) {
  std::string blocker;
  if (!target.found()) {
    blocker = "the target user does not exist: create it first (step 4)";
  } else if (!target.onedrive_licensed()) {
    blocker = "the target user has no OneDrive licence";
  } else if (target.has_onedrive() && target.onedrive().exists()) {
    blocker = "the target user already has a OneDrive: Microsoft refuses to move onto it";
  }
  if (blocker.empty()) {
    user.set_state(v1::USER_MOVE_STATE_QUEUED);
    SetTimestamp(now, user.mutable_queue_time());
    return;
  }
  user.set_state(v1::USER_MOVE_STATE_BLOCKED);
  user.mutable_error()->set_code("TARGET_USER_NOT_READY");
  user.mutable_error()->set_message(blocker);
}

}  // namespace

v1::Task PollTaskOf(const std::string& migration, const v1::UserMove& user, v1::GetUserContentMoveRequest base) {
  v1::Task poll;
  poll.set_name(UserTaskName(migration, "poll", user.name()));
  poll.set_kind(v1::TASK_KIND_POLL_MOVE);
  poll.set_user_move(user.name());
  v1::GetUserContentMoveRequest* get = poll.mutable_poll_move();
  *get = std::move(base);
  if (!user.task_id().empty()) {
    get->set_task_id(user.task_id());
  } else {
    get->set_source_user_principal_name(user.source_user_principal_name());
  }
  return poll;
}

TaskService::TaskService(MigrationStore* store, EventHub* events, absl::Mutex* write_mutex, Options options)
    : store_(store), events_(events), write_mutex_(write_mutex), options_(std::move(options)) {}

v1::UserMoveState TaskService::UserStateOf(v1::MoveState state) {
  switch (state) {
    case v1::MOVE_STATE_NOT_STARTED:
      return v1::USER_MOVE_STATE_NOT_STARTED;
    case v1::MOVE_STATE_SCHEDULED:
      return v1::USER_MOVE_STATE_SCHEDULED;
    case v1::MOVE_STATE_READY_TO_TRIGGER:
      return v1::USER_MOVE_STATE_READY_TO_TRIGGER;
    case v1::MOVE_STATE_IN_PROGRESS:
      return v1::USER_MOVE_STATE_IN_PROGRESS;
    case v1::MOVE_STATE_SUCCESS:
      return v1::USER_MOVE_STATE_SUCCESS;
    case v1::MOVE_STATE_RESCHEDULED:
      return v1::USER_MOVE_STATE_RESCHEDULED;
    case v1::MOVE_STATE_FAILED:
      return v1::USER_MOVE_STATE_FAILED;
    case v1::MOVE_STATE_STOPPED:
      return v1::USER_MOVE_STATE_STOPPED;
    case v1::MOVE_STATE_NOT_SUPPORTED:
      return v1::USER_MOVE_STATE_FAILED;
    default:
      return v1::USER_MOVE_STATE_UNSPECIFIED;
  }
}

absl::StatusOr<v1::LeaseTasksResponse> TaskService::LeaseTasks(const v1::LeaseTasksRequest& request) {
  std::vector<FieldViolation> violations;
  if (request.worker_id().empty()) violations.push_back({"worker_id", "is required: a stable name of the worker"});
  if (request.max_tasks() < 0 || request.max_tasks() > kMaxTasksPerLease) {
    violations.push_back({"max_tasks", "must be between 1 and 100 (0 means 10)"});
  }
  LeaseQuery query;
  RETURN_IF_ERROR(CheckLeaseDuration(request.lease_duration(), request.has_lease_duration(), "lease_duration",
                                     violations, &query.lease_duration));
  if (std::string problem = RequestIdProblem(request.request_id()); !problem.empty()) {
    violations.push_back({"request_id", problem});
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid LeaseTasksRequest", violations);
  if (options_.health != nullptr) RETURN_IF_ERROR(options_.health->CheckWritable());
  query.worker_id = request.worker_id();
  query.request_id = request.request_id();
  query.max_tasks = request.max_tasks() == 0 ? 10 : request.max_tasks();
  for (int kind : request.kinds()) query.kinds.push_back(static_cast<v1::TaskKind>(kind));
  query.now = options_.now();
  ASSIGN_OR_RETURN(std::vector<v1::Task> tasks, store_->LeaseTasks(query));
  v1::LeaseTasksResponse response;
  // Each task carries the trace of the operator call behind its migration, with a span of this lease,
  // so that the worker's calls for the user can be found by the operator's trace id.
  std::map<std::string, std::string> trace_ids;  // by migration: one read each
  for (v1::Task& task : tasks) {
    const std::string migration = task.name().substr(0, task.name().find("/tasks/"));
    auto [it, fresh] = trace_ids.try_emplace(migration);
    if (fresh) {
      absl::StatusOr<v1::Migration> record = store_->GetMigration(migration);
      if (record.ok()) it->second = record->trace_id();
    }
    if (std::optional<TraceContext> trace = ContinueTrace(it->second)) task.set_traceparent(FormatTraceparent(*trace));
    *response.add_tasks() = std::move(task);
  }
  return response;
}

absl::StatusOr<v1::RenewLeasesResponse> TaskService::RenewLeases(const v1::RenewLeasesRequest& request) {
  std::vector<FieldViolation> violations;
  if (request.worker_id().empty()) violations.push_back({"worker_id", "is required"});
  absl::Duration duration;
  RETURN_IF_ERROR(CheckLeaseDuration(request.lease_duration(), request.has_lease_duration(), "lease_duration",
                                     violations, &duration));
  for (int i = 0; i < request.leases_size(); ++i) {
    if (request.leases(i).task().empty() || request.leases(i).lease_id().empty()) {
      violations.push_back({absl::StrCat("leases[", i, "]"), "needs both task and lease_id"});
    }
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid RenewLeasesRequest", violations);
  v1::RenewLeasesResponse response;
  const absl::Time now = options_.now();
  for (const v1::TaskLease& lease : request.leases()) {
    ASSIGN_OR_RETURN(v1::LeaseRenewal renewal,
                     store_->RenewLease(lease.task(), lease.lease_id(), request.worker_id(), duration, now));
    *response.add_renewals() = std::move(renewal);
  }
  return response;
}

absl::StatusOr<v1::CompleteTaskResponse> TaskService::CompleteTask(const v1::CompleteTaskRequest& request) {
  return RetryOnConcurrentChange([&] { return CompleteTaskOnce(request); });
}

absl::StatusOr<v1::CompleteTaskResponse> TaskService::CompleteTaskOnce(const v1::CompleteTaskRequest& request) {
  // The task, its migration and its user are read together, under the lock (one round trip on
  // PostgreSQL), and the change is written in one transaction: a result costs the store two or three
  // round trips whatever the migration's size.
  RETURN_IF_ERROR(CheckCompleteTaskRequest(request, nullptr));
  // One writer per migration at a time: the record's event sequence is read, advanced and written back.
  absl::MutexLock lock(write_mutex_);
  ASSIGN_OR_RETURN(std::optional<TaskContext> found, store_->GetTaskContext(request.task()));
  if (!found) {
    if (options_.metrics) options_.metrics->StaleCompletion();
    return absl::AbortedError(
        absl::StrCat(request.task(), " is no longer leased to ", request.worker_id(), ": drop the result"));
  }
  const v1::Task& task = found->task;
  RETURN_IF_ERROR(CheckCompleteTaskRequest(request, &task));

  const absl::Time now = options_.now();
  v1::Migration& migration = found->migration;
  v1::UserMove& user = found->user_move;
  const v1::UserMoveState before = user.state();
  MigrationChange change;
  change.completed = CompletedLease{request.task(), request.lease_id(), request.worker_id(), now};
  switch (request.outcome()) {
    case v1::TASK_OUTCOME_RETRY:
      change.new_tasks.push_back({task, now + std::max(absl::Seconds(1), DurationOf(request.retry_after()))});
      // Refused because of a connection of the mesh: the user keeps the state Microsoft last reported
      // and notes what it waits for, so that the phase driver can say so (and hold new starts).
      if (IsConnectionReason(request.error().code()) && !IsTerminal(user.state())) {
        *user.mutable_error() = request.error();
      }
      break;
    case v1::TASK_OUTCOME_ABANDONED:
      change.new_tasks.push_back({task, now});
      break;
    case v1::TASK_OUTCOME_FAILED:
      // Microsoft refused to stop a move past the point of no return: the user's poll task follows it.
      if (task.kind() == v1::TASK_KIND_STOP_MOVE) break;
      user.set_state(v1::USER_MOVE_STATE_FAILED);
      *user.mutable_error() = request.error();
      SetTimestamp(now, user.mutable_end_time());
      break;
    case v1::TASK_OUTCOME_SUCCEEDED:
      if (request.has_check_user()) {
        ApplyUserCheck(request.check_user().target(), now, user);
      } else if (request.has_move()) {
        RETURN_IF_ERROR(ApplyMoveAnswer(task, request.move(), migration.name(), now, user, change));
      }
      break;
    default:
      break;
  }
  user.set_attempts(std::max(user.attempts(), task.attempt()));
  SetTimestamp(now, user.mutable_update_time());
  if (user.state() != before) {
    v1::MigrationEvent event;
    event.set_name(migration.name());
    event.set_sequence(migration.last_event_sequence() + 1);
    migration.set_last_event_sequence(event.sequence());
    SetTimestamp(now, event.mutable_event_time());
    event.set_message(
        absl::StrCat("user ", v1::UserMoveState_Name(before), " -> ", v1::UserMoveState_Name(user.state())));
    SetUserTransition(user, before, &event);
    change.events.push_back(std::move(event));
  }
  SetTimestamp(now, migration.mutable_update_time());
  change.migration = migration;
  change.user_moves.push_back(user);
  absl::Status applied = store_->Apply(change);
  if (absl::IsAborted(applied) && !IsConcurrentChange(applied) && options_.metrics) options_.metrics->StaleCompletion();
  RETURN_IF_ERROR(applied);
  if (options_.metrics) options_.metrics->TaskCompleted(task.kind(), request.outcome());
  if (!change.events.empty()) events_->Notify(migration.name());
  events_->NotifyTasks(change.new_tasks);  // a retry or the next poll
  v1::CompleteTaskResponse response;
  response.set_user_move_state(user.state());
  return response;
}

absl::Status TaskService::ApplyMoveAnswer(const v1::Task& task, const v1::UserContentMove& move,
                                          const std::string& migration, absl::Time now, v1::UserMove& user,
                                          MigrationChange& change) const {
  const v1::UserMoveState state =
      task.kind() == v1::TASK_KIND_STOP_MOVE && UserStateOf(move.state()) == v1::USER_MOVE_STATE_UNSPECIFIED
          ? v1::USER_MOVE_STATE_STOPPED
          : UserStateOf(move.state());
  if (state == v1::USER_MOVE_STATE_UNSPECIFIED) {
    return InvalidArgumentWithViolations("invalid CompleteTaskRequest", {{"move.state", "must be a known move state"}});
  }
  user.set_state(move.validate_only() && state == v1::USER_MOVE_STATE_SUCCESS ? v1::USER_MOVE_STATE_VALIDATED : state);
  user.set_stage(move.stage());
  user.set_raw_state(move.raw_state());
  if (!move.task_id().empty()) user.set_task_id(move.task_id());
  if (!move.source_site_url().empty()) user.set_source_site_url(move.source_site_url());
  if (!move.target_site_url().empty()) user.set_target_site_url(move.target_site_url());
  // Microsoft answered: whatever connection the user waited on is back.
  if (IsConnectionReason(user.error().code())) user.clear_error();
  if (move.has_error()) *user.mutable_error() = move.error();
  // One clock per row: the user's times are the mesh's, so that queued <= started <= ended holds
  // whatever Microsoft's clock says; Microsoft's own times are kept beside them for an audit.
  if (task.kind() == v1::TASK_KIND_START_MOVE) {
    // A new start (also of a user that failed before): Microsoft's times of an earlier move go.
    SetTimestamp(now, user.mutable_start_time());
    user.clear_microsoft_start_time();
    user.clear_microsoft_end_time();
  } else if (!user.has_start_time() && task.kind() == v1::TASK_KIND_POLL_MOVE) {
    SetTimestamp(now, user.mutable_start_time());  // first seen started (its start's answer was lost)
  }
  if (move.has_start_time()) *user.mutable_microsoft_start_time() = move.start_time();
  if (move.has_end_time()) *user.mutable_microsoft_end_time() = move.end_time();
  if (IsTerminal(user.state())) {
    SetTimestamp(now, user.mutable_end_time());
    return absl::OkStatus();
  }
  user.clear_end_time();  // an earlier move's end, when a failed user was started again
  // Follow the move: the next poll of this user, by Microsoft's task id when there is one.
  v1::GetUserContentMoveRequest base;
  if (task.has_start_move()) base.set_geo(task.start_move().geo());
  if (task.has_poll_move()) base = task.poll_move();
  change.new_tasks.push_back({PollTaskOf(migration, user, base), now + options_.poll_interval});
  return absl::OkStatus();
}

}  // namespace crosstenant::orchestrator
