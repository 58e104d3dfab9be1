#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_MOVE_SIMULATOR_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_MOVE_SIMULATOR_H_

// Cross-tenant OneDrive moves over emulated time. A move is started through Graph's
// crossOrganizationMigrationTasks (Start), refused at once for request-level blockers (apostrophe,
// feature off, no trust, target OneDrive exists, duplicate, queue full) and failed in its Validation
// phase for content-level ones (read-only, legal hold, licence, incompatible tenant, Customer Key,
// size, items, path length). States follow Get-SPOCrossTenantUserContentMoveState:
//   NotStarted → Scheduled → ReadytoTrigger → InProgress (Validation, Backup, Restore, Cleanup) →
//   Success | Failed, with Rescheduled (back to Scheduled) and Stopped (cancelled).
// State is advanced lazily: every call first brings all moves up to the clock's now.

#include <functional>
#include <map>
#include <queue>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/tenant_emulator/cloud_state.h"
#include "services/tenant_emulator/directory.h"
#include "services/tenant_emulator/faults.h"
#include "services/tenant_emulator/scaled_clock.h"
#include "services/tenant_emulator/seed.h"

namespace crosstenant::emulator {

enum class MoveState {
  kNotStarted,
  kScheduled,
  kReadyToTrigger,
  kInProgress,
  kSuccess,
  kFailed,
  kRescheduled,
  kStopped
};
enum class MoveStage { kNone, kValidation, kBackup, kRestore, kCleanup };
const char* MoveStateName(MoveState state);
const char* MoveStageName(MoveStage stage);

struct MoveTask {
  std::string id;
  int source_tenant = -1, source_geo = -1, source_user = -1;
  int target_tenant = -1, target_geo = -1, target_user = -1;
  nlohmann::json parameters;  // as sent
  MoveState state = MoveState::kNotStarted;
  MoveStage stage = MoveStage::kNone;
  // Emulated instants: converted with ScaledClock::WallTimeOf before they are shown.
  absl::Time created, updated, next_at;
  std::optional<absl::Time> started, finished, latest_start;
  int reschedules_left = 0;
  std::string error_code, error_message;
  bool validate_only = false;
};

// An HTTP answer for the Graph routes: status, and either the task JSON or a Graph error.
struct MoveAnswer {
  int status = 200;
  std::string error_code;
  std::string message;
  nlohmann::json body;
};

class MoveSimulator {
 public:
  using TransitionListener = std::function<void(MoveState)>;

  MoveSimulator(const Directory& directory, const SeedSettings& settings, const ScaledClock& clock, CloudState& state,
                Accounting& accounting, TransitionListener on_transition);

  // POST crossOrganizationMigrationTasks by an admin or app of `source_tenant`.
  MoveAnswer Start(int source_tenant, const nlohmann::json& body, const std::set<int>& unreachable);
  MoveAnswer Get(int tenant, const std::string& id);
  MoveAnswer GetBySourceUpn(int tenant, const std::string& upn);
  MoveAnswer Cancel(int tenant, const std::string& id);

  // Get-SPOCrossTenantUserContentMoveState from geo (tenant, geo) about the partner geo at `partner_url`:
  // the moves from this geo to the partner and from the partner to this geo, oldest first, optionally
  // only those of one source UPN (case-insensitive) and one move id ("" = any), as rows
  //   {"SourceUserPrincipalName","TargetUserPrincipalName","MoveState" (NotStarted, Scheduled,
  //    ReadyToTrigger, InProgress, Success, Rescheduled, Failed, Stopped),"MoveStage" (Validation,
  //    Backup, Restore, Cleanup or ""),"MoveJobId","SourceSiteUrl","TargetSiteUrl","SourceDataLocation",
  //    "DestinationDataLocation","LastModified":"/Date(<ms since 1970>)/","ErrorMessage"}.
  // An unknown partner URL gives no rows.
  nlohmann::ordered_json MoveStates(int tenant, int geo, const std::string& partner_url, const std::string& upn,
                                    const std::string& move_id = "");
  // Every task, for /_emulator/moves.
  nlohmann::json AllTasks();

  // Brings every move up to now (also done by every call above). Cheap when nothing is due.
  void Tick();

 private:
  void TickLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu);
  void Advance(MoveTask& task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu);
  void Enter(MoveTask& task, MoveState state, MoveStage stage, absl::Time at, absl::Duration stay)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu);
  // The first content-level blocker of a move, as (code, message); empty code if none.
  std::pair<std::string, std::string> ContentBlocker(const MoveTask& task) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu);

  // The parts of Start. ReadStartRequest reads the users, the window and the target geo into `task`;
  // TargetRefusal says what refuses the move once source and target are known. Each returns the error
  // answer, or nullopt when the move may go on.
  std::optional<MoveAnswer> ReadStartRequest(int source_tenant, const nlohmann::json& body, MoveTask* task,
                                             absl::Time* preferred_start) const;
  std::optional<MoveAnswer> FindTargetGeo(const nlohmann::json& parameters, const std::string& target_upn, int* tenant,
                                          int* geo) const;
  std::optional<MoveAnswer> TargetRefusal(const MoveTask& task, absl::Time now, const std::set<int>& unreachable) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu);
  // An emulated instant as Microsoft writes it, on the real clock (ScaledClock::WallTimeOf).
  std::string WallIsoTime(absl::Time emulated) const;
  nlohmann::json TaskJson(const MoveTask& task) const;
  nlohmann::json StateJson(const MoveTask& task) const;
  nlohmann::ordered_json StateRow(const MoveTask& task) const;

  const Directory& directory_;
  const SeedSettings& settings_;
  const ScaledClock& clock_;
  CloudState& state_;
  Accounting& accounting_;
  TransitionListener on_transition_;

  std::vector<MoveTask> tasks_ ABSL_GUARDED_BY(state_.mu);
  std::map<std::string, std::size_t> task_by_id_ ABSL_GUARDED_BY(state_.mu);
  // (tenant, user) → index of the user's latest task
  std::map<std::pair<int, int>, std::size_t> latest_by_user_ ABSL_GUARDED_BY(state_.mu);
  // When each task that is not over next changes, earliest first, so that a tick looks only at the
  // tasks due (an entry whose time is no longer the task's next_at is stale and skipped).
  using Due = std::pair<absl::Time, std::size_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_ ABSL_GUARDED_BY(state_.mu);
  // (source tenant, source geo) → its tasks that are not over: the queue Microsoft caps.
  std::map<std::pair<int, int>, int> queued_in_geo_ ABSL_GUARDED_BY(state_.mu);
};

bool IsTerminal(MoveState state);

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_MOVE_SIMULATOR_H_
