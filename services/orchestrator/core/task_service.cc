#include "services/orchestrator/core/task_service.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/common/error_detail.h"
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
constexpr int kMaxCompletionsPerCall = 100;
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
  for (v1::Task& task : tasks) {
    const std::string trace_id = TraceIdOf(task.name().substr(0, task.name().find("/tasks/")));
    if (std::optional<TraceContext> trace = ContinueTrace(trace_id)) task.set_traceparent(FormatTraceparent(*trace));
    *response.add_tasks() = std::move(task);
  }
  return response;
}

std::string TaskService::TraceIdOf(const std::string& migration) {
  // A second: a call that resumes a migration under a new trace is seen by the leases a second later
  // at most, on every replica.
  constexpr absl::Duration kFresh = absl::Seconds(1);
  const absl::Time now = options_.now();
  {
    absl::MutexLock lock(&trace_ids_mutex_);
    auto it = trace_ids_.find(migration);
    if (it != trace_ids_.end() && now - it->second.second < kFresh) return it->second.first;
  }
  absl::StatusOr<v1::Migration> record = store_->GetMigration(migration);
  const std::string trace_id = record.ok() ? record->trace_id() : "";
  absl::MutexLock lock(&trace_ids_mutex_);
  // Those of migrations no longer leased from go too: the map holds the migrations of the last second.
  for (auto it = trace_ids_.begin(); it != trace_ids_.end();) {
    it = now - it->second.second >= kFresh ? trace_ids_.erase(it) : std::next(it);
  }
  if (record.ok()) trace_ids_[migration] = {trace_id, now};
  return trace_id;
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
  RETURN_IF_ERROR(CheckCompleteTaskRequest(request, nullptr));
  CompletionResults results = CompleteTogether({&request});
  RETURN_IF_ERROR(results.front().status());
  v1::CompleteTaskResponse response;
  response.set_user_move_state(*results.front());
  return response;
}

absl::StatusOr<v1::CompleteTasksResponse> TaskService::CompleteTasks(const v1::CompleteTasksRequest& request) {
  if (request.completions().empty() || request.completions_size() > kMaxCompletionsPerCall) {
    return InvalidArgumentWithViolations("invalid CompleteTasksRequest",
                                         {{"completions", absl::StrCat("must hold 1 to ", kMaxCompletionsPerCall)}});
  }
  std::vector<FieldViolation> violations;
  std::map<std::string, std::vector<int>> by_migration;  // indices into the request
  std::set<std::string> tasks;
  for (int i = 0; i < request.completions_size(); ++i) {
    const v1::CompleteTaskRequest& completion = request.completions(i);
    const std::string at = absl::StrCat("completions[", i, "]");
    if (!completion.task().empty() && !tasks.insert(completion.task()).second) {
      violations.push_back({absl::StrCat(at, ".task"), "is given twice: one result per task"});
    }
    for (const FieldViolation& violation : FieldViolationsOf(CheckCompleteTaskRequest(completion, nullptr))) {
      violations.push_back({absl::StrCat(at, ".", violation.field), violation.description});
    }
    if (!violations.empty()) continue;
    by_migration[completion.task().substr(0, completion.task().find("/tasks/"))].push_back(i);
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid CompleteTasksRequest", violations);

  std::vector<absl::StatusOr<v1::UserMoveState>> outcomes(request.completions_size(),
                                                          absl::InternalError("no outcome"));
  for (const auto& [migration, indices] : by_migration) {
    Completions completions;
    for (int i : indices) completions.push_back(&request.completions(i));
    CompletionResults results = CompleteTogether(completions);
    for (size_t k = 0; k < indices.size(); ++k) outcomes[indices[k]] = std::move(results[k]);
  }
  v1::CompleteTasksResponse response;
  for (int i = 0; i < request.completions_size(); ++i) {
    v1::TaskCompletionResult* result = response.add_results();
    result->set_task(request.completions(i).task());
    const absl::StatusOr<v1::UserMoveState>& outcome = outcomes[i];
    if (outcome.ok()) {
      result->set_user_move_state(*outcome);
      continue;
    }
    *result->mutable_error() = ErrorDetailOf(outcome.status());
  }
  return response;
}

TaskService::CompletionResults TaskService::CompleteTogether(const Completions& completions) {
  CompletionResults results(completions.size(), absl::UnknownError("not applied"));
  std::vector<size_t> left(completions.size());
  for (size_t i = 0; i < left.size(); ++i) left[i] = i;
  while (!left.empty()) {
    absl::StatusOr<Round> round = RetryOnConcurrentChange([&] { return CompleteRound(completions, left); });
    if (!round.ok()) {
      if (absl::IsAborted(round.status()) && left.size() > 1 && !IsConcurrentChange(round.status())) {
        // A lease among them is lost, which fences off the whole change: alone, each gets its own answer.
        for (size_t i : left) results[i] = std::move(CompleteTogether({completions[i]}).front());
        return results;
      }
      for (size_t i : left) results[i] = round.status();
      return results;
    }
    for (auto& [i, result] : round->answered) results[i] = std::move(result);
    left = std::move(round->deferred);
  }
  return results;
}

absl::StatusOr<TaskService::Round> TaskService::CompleteRound(const Completions& completions,
                                                              const std::vector<size_t>& indices) {
  Round round;
  // One writer per migration at a time: the record's event sequence is read, advanced and written back.
  absl::MutexLock lock(write_mutex_);
  const absl::Time now = options_.now();
  std::optional<v1::Migration> migration;  // as first read; every completion here is of this migration
  std::set<std::string> users;
  std::vector<std::pair<size_t, TaskContext>> applied;
  MigrationChange change;
  // Each task with its migration and its user, all read together (one round trip on PostgreSQL).
  std::vector<std::string> names;
  for (size_t i : indices) names.push_back(completions[i]->task());
  ASSIGN_OR_RETURN(std::vector<absl::StatusOr<std::optional<TaskContext>>> contexts, store_->GetTaskContexts(names));
  for (size_t k = 0; k < indices.size(); ++k) {
    const size_t i = indices[k];
    const v1::CompleteTaskRequest& request = *completions[i];
    absl::StatusOr<std::optional<TaskContext>>& found = contexts[k];
    if (!found.ok()) {
      round.answered.emplace_back(i, found.status());
      continue;
    }
    if (!found->has_value()) {
      if (options_.metrics) options_.metrics->StaleCompletion();
      round.answered.emplace_back(i, absl::AbortedError(absl::StrCat(request.task(), " is no longer leased to ",
                                                                     request.worker_id(), ": drop the result")));
      continue;
    }
    TaskContext& context = **found;
    if (!users.insert(context.user_move.name()).second) {
      round.deferred.push_back(i);  // its user's row is already changed by this round: the next one reads it anew
      continue;
    }
    if (!migration) migration = context.migration;
    if (absl::Status status = ApplyCompletion(request, context, *migration, now, change); !status.ok()) {
      round.answered.emplace_back(i, status);
      continue;
    }
    applied.emplace_back(i, std::move(context));
  }
  if (applied.empty()) return round;
  SetTimestamp(now, migration->mutable_update_time());
  change.migration = *migration;
  absl::Status written = store_->Apply(change);
  if (IsConcurrentChange(written)) return written;
  if (absl::IsAborted(written) && applied.size() > 1) return written;  // a lease among several: see CompleteTogether
  if (absl::IsAborted(written) && options_.metrics) options_.metrics->StaleCompletion();
  for (auto& [i, context] : applied) {
    if (!written.ok()) {
      round.answered.emplace_back(i, written);
      continue;
    }
    if (options_.metrics) options_.metrics->TaskCompleted(context.task.kind(), completions[i]->outcome());
    round.answered.emplace_back(i, context.user_move.state());
  }
  if (!written.ok()) return round;
  if (!change.events.empty()) events_->Notify(change.migration.name());
  events_->NotifyTasks(change.new_tasks);  // retries and next polls
  return round;
}

absl::Status TaskService::ApplyCompletion(const v1::CompleteTaskRequest& request, TaskContext& context,
                                          v1::Migration& migration, absl::Time now, MigrationChange& change) const {
  const v1::Task& task = context.task;
  RETURN_IF_ERROR(CheckCompleteTaskRequest(request, &task));
  v1::UserMove user = context.user_move;  // changed here, and kept in `context` only once it all fits
  const v1::UserMoveState before = user.state();
  std::vector<NewTask> next;
  switch (request.outcome()) {
    case v1::TASK_OUTCOME_RETRY:
      next.push_back({task, now + std::max(absl::Seconds(1), DurationOf(request.retry_after()))});
      // Refused because of a connection of the mesh, or left without an answer try after try (Microsoft
      // or the connector out of reach; one unanswered try is a blip): the user keeps the state Microsoft
      // last reported and notes what it waits for, so that the phase driver can say so (and hold new
      // starts). The task keeps its attempt count when retried, so it counts the tries in a row.
      if (!IsTerminal(user.state()) &&
          (IsConnectionReason(request.error().code()) ||
           (IsUnansweredCode(request.error().code()) && task.attempt() >= kUnansweredTriesBeforeWaiting))) {
        *user.mutable_error() = request.error();
      }
      break;
    case v1::TASK_OUTCOME_ABANDONED:
      next.push_back({task, now});
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
        RETURN_IF_ERROR(ApplyMoveAnswer(task, request.move(), migration.name(), now, user, next));
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
  change.completed.push_back({request.task(), request.lease_id(), request.worker_id(), now});
  for (NewTask& added : next) change.new_tasks.push_back(std::move(added));
  change.user_moves.push_back(user);
  context.user_move = std::move(user);
  return absl::OkStatus();
}
absl::Status TaskService::ApplyMoveAnswer(const v1::Task& task, const v1::UserContentMove& move,
                                          const std::string& migration, absl::Time now, v1::UserMove& user,
                                          std::vector<NewTask>& next) const {
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
  if (IsConnectionWait(user.error().code())) user.clear_error();
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
  next.push_back({PollTaskOf(migration, user, base), now + options_.poll_interval});
  return absl::OkStatus();
}

}  // namespace crosstenant::orchestrator
