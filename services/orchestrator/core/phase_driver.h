#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_PHASE_DRIVER_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_PHASE_DRIVER_H_

// Runs Microsoft's steps 2-7 for every running migration, unattended:
//
//   CONNECTIONS_CHECK  both connections exist, have the right roles, are connected; preflight clean
//   TRUST              Set-SPOCrossTenantRelationship on both sides of every source geo / target pair
//   TRUST_VERIFICATION until every side says GoodToProceed (DormantByPartner can last days: back off)
//   TARGET_USERS       source and target users checked in batches; users that cannot move are BLOCKED
//                      with the reason, the others QUEUED with their source geo
//   IDENTITY_MAP       the whole map uploaded to every target geo
//   COMPATIBILITY      the source checked against each target; Incompatible waits and checks again
//   MOVES              inside the window, each source geo's queue kept full up to its limit with start
//                      tasks for workers; results and polls come back through TaskService. Users
//                      whose tasks are refused because of a connection (deleted, expired, needing a
//                      sign-in) stay in flight: the migration is WAITING, naming the connection, and
//                      starts nothing new until they are answered by Microsoft again. MOVES ends only
//                      once no user is queued or at Microsoft (while reconciling: at Microsoft)
//   POST_MIGRATION     optional redirect clean-up (each moved user's redirect site removed, noted
//                      on the user as a finding), optional trust removal verified NOT_ESTABLISHED;
//                      then COMPLETED or COMPLETED_WITH_ERRORS
//
// A migration cancelled while moves were at Microsoft is CANCELLING: every move Microsoft still lets
// stop (NotStarted, Scheduled, ReadyToTrigger) gets a stop task, the others are followed until they
// end, start tasks no worker has taken are dropped, and the migration is CANCELLED once no move is
// active any more.
//
// While a migration is driven (RUNNING, WAITING, PAUSED, CANCELLING) it holds both its connections
// (TenantConnector.HoldConnection, holder = the migration's name), so that they are not deleted under
// its users; the holds are released, best effort, when it ends.
//
// Every step is idempotent (requests carry keys derived from the migration), so a driver that dies
// mid-step and runs the step again after a restart does no harm. Upstream calls are made without
// holding the write lock; each result is applied only if the migration is still running.

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/orchestrator/core/migration_service.h"
#include "services/orchestrator/core/tenant_gateway.h"

namespace crosstenant::orchestrator {

class PhaseDriver {
 public:
  struct Options {
    std::function<absl::Time()> now = absl::Now;
    // First and longest wait between checks of something that clears by itself (trust, compatibility,
    // a connection that must be signed in again); the wait doubles in between.
    absl::Duration first_recheck = absl::Seconds(5);
    absl::Duration max_recheck = absl::Hours(1);
    // How often a migration in MOVES is looked at to release more users.
    absl::Duration moves_tick = absl::Seconds(1);
    // Users checked per BatchCheckUsers call.
    int check_batch = 200;
    // Identity map rows sent per UploadIdentityMap call: the connector holds one call's rows at a time.
    int identity_map_page = 2000;
    // The leadership term this replica drives under (MigrationChange::leader_term); unset: no fencing.
    std::function<int64_t()> leader_term;
  };

  PhaseDriver(MigrationService* migrations, TenantGateway* tenant, Options options);

  // Advances one migration as far as it can go now. Returns OK when it had to stop to wait (the
  // migration's next_check_time says until when), or an error from the store.
  absl::Status Advance(const std::string& name);

  // Advances every running or waiting migration whose next check is due.
  absl::Status Tick();

 private:
  // Each step either moves the migration to its next phase or records why it waits.
  struct StepResult {
    bool advanced = false;
  };
  absl::StatusOr<StepResult> CheckConnections(crosstenant::v1::Migration& migration);
  absl::StatusOr<StepResult> EstablishTrust(crosstenant::v1::Migration& migration);
  absl::StatusOr<StepResult> VerifyTrust(crosstenant::v1::Migration& migration);
  absl::StatusOr<StepResult> CheckTargetUsers(crosstenant::v1::Migration& migration);
  absl::StatusOr<StepResult> UploadIdentityMap(crosstenant::v1::Migration& migration);
  absl::StatusOr<StepResult> CheckCompatibility(crosstenant::v1::Migration& migration);
  absl::StatusOr<StepResult> RunMoves(crosstenant::v1::Migration& migration);
  // Users whose last task was refused because of a connection (TaskService notes the refusal as the
  // user's error, code CONNECTION_NOT_FOUND, CONNECTION_NOT_USABLE...), by connection: users at
  // Microsoft (in doubt until it is back) and queued users whose start it refused.
  struct ConnectionWait {
    int users = 0;        // at Microsoft
    int starts = 0;       // queued, their start refused
    std::string message;  // the latest refusal's
    absl::Time latest = absl::InfinitePast();
  };
  absl::StatusOr<std::map<std::string, ConnectionWait>> UsersWaitingOnConnections(
      const crosstenant::v1::Migration& migration);
  absl::StatusOr<StepResult> FinishMigration(crosstenant::v1::Migration& migration);
  absl::Status FinishCancellation(crosstenant::v1::Migration& migration);
  // Removes the redirect sites of moved users not done yet, committing as it goes; true when none
  // is left.
  absl::StatusOr<bool> RemoveRedirects(crosstenant::v1::Migration& migration);

  // Commits `migration` (with user moves, events and tasks) if it is still running or waiting (or,
  // for the cancellation step, still cancelling); false if an operator changed its state meanwhile.
  absl::StatusOr<bool> Commit(
      crosstenant::v1::Migration& migration, MigrationChange change,
      crosstenant::v1::MigrationState expected_state = crosstenant::v1::MIGRATION_STATE_UNSPECIFIED);
  absl::StatusOr<bool> CommitOnce(crosstenant::v1::Migration& migration, MigrationChange& change,
                                  crosstenant::v1::MigrationState expected_state);
  // Moves `migration` to `to` for `reason` and returns the event that records it.
  crosstenant::v1::MigrationEvent ChangeState(crosstenant::v1::Migration& migration, crosstenant::v1::MigrationState to,
                                              const std::string& reason);
  absl::StatusOr<StepResult> Advanced(crosstenant::v1::Migration& migration, crosstenant::v1::MigrationPhase next);
  // Records that `migration` waits for `reason` and when to look again: after `retry_after` (at least a
  // small floor) when Microsoft named the time (throttling), otherwise after a back-off that doubles
  // while the same obstacle stays.
  absl::StatusOr<StepResult> Wait(crosstenant::v1::Migration& migration, const std::string& reason,
                                  std::optional<absl::Duration> retry_after = std::nullopt);
  // Wait for a failed upstream call: Microsoft's delay for throttling (RESOURCE_EXHAUSTED with
  // RetryInfo), the back-off for anything else.
  absl::StatusOr<StepResult> WaitForUpstream(crosstenant::v1::Migration& migration, const std::string& what,
                                             const absl::Status& status);
  absl::StatusOr<StepResult> Fail(crosstenant::v1::Migration& migration, const std::string& code,
                                  const std::string& reason);
  crosstenant::v1::MigrationEvent NewEvent(crosstenant::v1::Migration& migration, const std::string& message);

  // Holds both connections of `migration` for it, unless this driver already did (held_). A failure is
  // logged and tried again at the next Advance; it never stops the migration.
  void HoldConnections(const crosstenant::v1::Migration& migration);
  // Releases both holds of an ended `migration`, best effort (a failure is logged).
  void ReleaseConnections(const crosstenant::v1::Migration& migration);
  // Advances the held migrations that Tick did not list (`listed`): paused ones stay held, ended ones
  // (an operator cancelled them before their moves) are released.
  absl::Status SweepHeld(const std::set<std::string>& listed);

  // When Tick next deletes the staged identity maps left unused.
  absl::Time next_upload_sweep_ = absl::InfinitePast();
  MigrationService* migrations_;
  MigrationStore* store_;
  TenantGateway* tenant_;
  Options options_;
  absl::Mutex held_mu_;
  std::set<std::string> held_ ABSL_GUARDED_BY(held_mu_);  // migrations whose holds this driver took
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_PHASE_DRIVER_H_
