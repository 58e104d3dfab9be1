#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_TASK_SERVICE_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_TASK_SERVICE_H_

// The worker side of the orchestrator: per-user tasks leased to workers, leases renewed, and results
// applied to the user's state machine. A lease id is a fencing token: a result that arrives after its
// lease expired (the task may be with another worker by then) is refused with ABORTED and changes
// nothing, so a user is never started twice or moved to a state from a stale answer.
//
// The phase driver (phase_driver.h) creates the tasks; this class runs them to their end.

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crosstenant/v1/orchestrator.pb.h"
#include "services/orchestrator/core/event_hub.h"
#include "services/orchestrator/core/orchestrator_metrics.h"
#include "services/orchestrator/store/migration_store.h"
#include "services/common/store_health.h"

namespace crosstenant::orchestrator {

// Tries in a row of one task left without an answer (UNAVAILABLE, DEADLINE_EXCEEDED; IsUnansweredCode)
// after which its user notes the error, like a connection's refusal: the phase driver then holds new
// starts and says the migration is WAITING, until an answer comes. One such try is a blip (a restart of
// the connector, one slow call); a second, 5 s later, comes after the connector's own retries of
// Microsoft's 503s failed twice over: with a tenant out of reach the migration says so within a minute.
inline constexpr int kUnansweredTriesBeforeWaiting = 2;

// The task that asks Microsoft for `user`'s move in `migration`: `base` (geo, partner host) keyed by
// Microsoft's task id when the user has one, else by the source UPN.
crosstenant::v1::Task PollTaskOf(const std::string& migration, const crosstenant::v1::UserMove& user,
                                 crosstenant::v1::GetUserContentMoveRequest base);

class TaskService {
 public:
  struct Options {
    std::function<absl::Time()> now = absl::Now;
    // How long after a non-terminal move state its next poll is due.
    absl::Duration poll_interval = absl::Seconds(30);
    // Counts completions when set.
    OrchestratorMetrics* metrics = nullptr;
    // When set, LeaseTasks hands out nothing while the state database is full (RESOURCE_EXHAUSTED):
    // a worker would do work whose result could not be recorded. Renewals and completions still go
    // through, so that results in hand are recorded as soon as they fit.
    StoreHealth* health = nullptr;
  };

  // `write_mutex` is the one MigrationService holds while it changes a migration (see there).
  TaskService(MigrationStore* store, EventHub* events, absl::Mutex* write_mutex, Options options);

  absl::StatusOr<crosstenant::v1::LeaseTasksResponse> LeaseTasks(const crosstenant::v1::LeaseTasksRequest& request);
  absl::StatusOr<crosstenant::v1::RenewLeasesResponse> RenewLeases(const crosstenant::v1::RenewLeasesRequest& request);
  absl::StatusOr<crosstenant::v1::CompleteTaskResponse> CompleteTask(
      const crosstenant::v1::CompleteTaskRequest& request);
  // Several completions, each applied as CompleteTask applies it and answered on its own; those of one
  // migration are written in one change (one transaction), so that a worker's batch of results costs the
  // store about what one result does. INVALID_ARGUMENT only for a malformed request as a whole.
  absl::StatusOr<crosstenant::v1::CompleteTasksResponse> CompleteTasks(
      const crosstenant::v1::CompleteTasksRequest& request);

  // The user state a move state from Microsoft stands for.
  static crosstenant::v1::UserMoveState UserStateOf(crosstenant::v1::MoveState state);

 private:
  using Completions = std::vector<const crosstenant::v1::CompleteTaskRequest*>;
  using CompletionResults = std::vector<absl::StatusOr<crosstenant::v1::UserMoveState>>;
  // The results of `completions` (checked, of one migration, of distinct tasks), one per completion, in
  // order. Written in one change; when that change is refused because one of its leases is lost, each
  // completion is applied alone, so that only the stale one is refused.
  CompletionResults CompleteTogether(const Completions& completions);
  // One try of the change of CompleteTogether: ConcurrentChangeError if another replica changed the
  // migration meanwhile. A completion whose user another one of this try already changes is left out
  // (`deferred`), for a next try.
  struct Round {
    std::vector<std::pair<size_t, absl::StatusOr<crosstenant::v1::UserMoveState>>> answered;  // by index
    std::vector<size_t> deferred;
  };
  absl::StatusOr<Round> CompleteRound(const Completions& completions, const std::vector<size_t>& indices);
  // The outcome of `request` applied to its task's user in `context`, with its lease, its event and the
  // tasks that follow added to `change` (whose migration record is `migration`). INVALID_ARGUMENT when
  // the result does not fit the task; nothing is added then.
  absl::Status ApplyCompletion(const crosstenant::v1::CompleteTaskRequest& request, TaskContext& context,
                               crosstenant::v1::Migration& migration, absl::Time now, MigrationChange& change) const;
  // A move's answer from Microsoft (`move`, for a start, poll or stop `task`) applied to `user`, with
  // the next poll added to `next` while the move goes on. INVALID_ARGUMENT for an unknown state.
  absl::Status ApplyMoveAnswer(const crosstenant::v1::Task& task, const crosstenant::v1::UserContentMove& move,
                               const std::string& migration, absl::Time now, crosstenant::v1::UserMove& user,
                               std::vector<NewTask>& next) const;
  // `migration`'s trace id (Migration.trace_id), from a read of the store at most a second old: every
  // lease carries it, and a store read per lease was a quarter of PostgreSQL's round trips.
  std::string TraceIdOf(const std::string& migration);

  MigrationStore* store_;
  EventHub* events_;
  absl::Mutex* write_mutex_;
  Options options_;
  absl::Mutex trace_ids_mutex_;
  // By migration: its trace id and when it was read.
  std::map<std::string, std::pair<std::string, absl::Time>> trace_ids_ ABSL_GUARDED_BY(trace_ids_mutex_);
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_TASK_SERVICE_H_
