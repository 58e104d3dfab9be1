#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_MIGRATION_SERVICE_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_MIGRATION_SERVICE_H_

// The orchestrator's business class: creates migrations from plans (validating the plan and the whole
// identity map first), answers reads, and applies the operator's pause, resume and cancel as durable
// transitions. It has no gRPC types; the adapter in ../grpc translates requests and statuses.
//
// The phases themselves are run by PhaseDriver; per-user work by TaskService and the workers.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crosstenant/v1/orchestrator.pb.h"
#include "services/common/errors.h"
#include "services/orchestrator/core/event_hub.h"
#include "services/orchestrator/core/identity_map_input.h"
#include "services/orchestrator/core/identity_map_upload.h"
#include "services/orchestrator/core/tenant_gateway.h"
#include "services/orchestrator/store/migration_store.h"

namespace crosstenant::orchestrator {

// Finding codes ReconcileMigration leaves on a migration it sent back to MOVES; the phase driver
// starts no new move while one is there, ends MOVES once the reconciled users are settled (users
// never started are left as they are) and removes it. RECONCILING_CANCELLED: the migration had been
// cancelled, and ends CANCELLED again rather than going through POST_MIGRATION.
inline constexpr char kReconcilingFinding[] = "RECONCILING";
inline constexpr char kReconcilingCancelledFinding[] = "RECONCILING_CANCELLED";

class MigrationService {
 public:
  // How many identity-map problems CreateMigration returns as field violations.
  static constexpr int kMaxViolations = 100;
  // The most rows (CSV lines) an inline identity map may have; a larger one is staged with
  // UploadIdentityMap, so that no request carries it whole.
  static constexpr int kMaxInlineRows = 10000;

  struct Options {
    std::function<absl::Time()> now = absl::Now;
    // Generates ids for migrations created without one.
    std::function<std::string()> new_id;
    // Reads the plan's two connections so that CreateMigration refuses a migration within one tenant;
    // nullptr leaves that check to the CONNECTIONS_CHECK phase alone.
    TenantGateway* tenant = nullptr;
  };

  MigrationService(MigrationStore* store, Options options);

  // Watchers subscribe here; every committed change of a migration notifies it.
  EventHub& events() { return events_; }
  // Held by every writer of a migration's record (this class and TaskService): each change reads the
  // record, advances its event sequence and writes it back.
  absl::Mutex& write_mutex() { return write_mutex_; }
  MigrationStore& store() { return *store_; }

  // CreateMigration, PauseMigration, ResumeMigration and CancelMigration honour `request_id` (AIP-155): a
  // retry with the same id and the same body is answered with the migration as it is now, without doing
  // the work twice; the same id with another body (or on another method) is INVALID_ARGUMENT. Ids are
  // remembered in the store, with a fingerprint of the body, for as long as their migration exists.
  absl::StatusOr<crosstenant::v1::Migration> CreateMigration(const crosstenant::v1::CreateMigrationRequest& request);
  absl::StatusOr<crosstenant::v1::Migration> GetMigration(const std::string& name);
  absl::StatusOr<crosstenant::v1::ListMigrationsResponse> ListMigrations(
      const crosstenant::v1::ListMigrationsRequest& request);
  absl::StatusOr<crosstenant::v1::Migration> PauseMigration(const crosstenant::v1::PauseMigrationRequest& request);
  absl::StatusOr<crosstenant::v1::Migration> ResumeMigration(const crosstenant::v1::ResumeMigrationRequest& request);
  absl::StatusOr<crosstenant::v1::Migration> CancelMigration(const crosstenant::v1::CancelMigrationRequest& request);
  // Asks Microsoft again about every user in doubt: a user whose move Microsoft has reported (it has
  // a task id or a raw state) but who ended FAILED without Microsoft reporting the move Failed or
  // NotSupported (an older build failed users on the mesh's own errors: connection deleted, expired,
  // unreachable); a user FAILED with a connection refusal as its error code; and, in a migration that
  // has ended, a user still at Microsoft (NOT_STARTED to RESCHEDULED) whose polls stopped with it.
  // Each gets a poll task at once and goes back to the state Microsoft last reported (its raw state;
  // NOT_STARTED if none). A migration that has ended (or is in POST_MIGRATION) goes back to
  // MOVES/RUNNING, end time and error cleared, with a RECONCILING finding (see above); a running,
  // waiting or paused one keeps its state. No user in doubt: nothing changes.
  // FAILED_PRECONDITION while CANCELLING.
  absl::StatusOr<crosstenant::v1::ReconcileMigrationResponse> ReconcileMigration(
      const crosstenant::v1::ReconcileMigrationRequest& request);
  absl::StatusOr<crosstenant::v1::GetMigrationReportResponse> GetMigrationReport(
      const crosstenant::v1::GetMigrationReportRequest& request);
  absl::StatusOr<crosstenant::v1::ListUserMovesResponse> ListUserMoves(
      const crosstenant::v1::ListUserMovesRequest& request);
  absl::StatusOr<crosstenant::v1::UserMove> GetUserMove(const std::string& name);
  absl::StatusOr<crosstenant::v1::ValidateIdentityMapResponse> ValidateIdentityMap(
      const crosstenant::v1::ValidateIdentityMapRequest& request);
  // A new UploadIdentityMap stream, its upload named at random.
  std::unique_ptr<IdentityMapUploadStream> NewIdentityMapUpload() {
    return std::make_unique<IdentityMapUploadStream>(store_, NewIdentityMapUploadName(), options_.now());
  }

 private:
  // Loads a migration, applies `change` to it (which may also return user moves it changed and a
  // message), records a state-change event and commits everything in one transaction.
  // A resume with a new window sets `window` in the same transaction. `request`, when set, is
  // remembered with the change.
  struct TransitionRequest {
    std::string name;
    crosstenant::v1::MigrationState to;
    std::string reason;
    const crosstenant::v1::MoveWindow* window = nullptr;
    std::optional<RequestRecord> request;
  };
  absl::StatusOr<crosstenant::v1::Migration> Transition(const TransitionRequest& transition);
  // One try of Transition: ConcurrentChangeError if another replica changed the migration meanwhile.
  absl::StatusOr<crosstenant::v1::Migration> TransitionOnce(const TransitionRequest& step);
  // The record to remember `request` by (nullopt without a request_id), made by `method` on `migration`.
  static std::optional<RequestRecord> RecordOf(absl::string_view method, const google::protobuf::Message& request,
                                               const std::string& request_id, const std::string& migration);
  // What an earlier request under `record`'s id did: nullopt when the id is new; the migration it
  // created or changed when it was this same request; INVALID_ARGUMENT when it was another one.
  absl::StatusOr<std::optional<std::string>> EarlierRequest(const std::optional<RequestRecord>& record);
  // CreateMigration's identity map: a staged upload (its summary; the rows stay in the store) or an
  // inline map (parsed). Problems with the request go to `violations`; an upload that is missing, used
  // or unfinished is an error.
  absl::Status ReadIdentityMap(const crosstenant::v1::IdentityMapInput& map_input,
                               std::optional<IdentityMapUpload>& upload, ParsedIdentityMap& identity_map,
                               std::vector<FieldViolation>& violations);
  // What other state refuses a plan: source and target connected to one tenant (a violation), or a
  // user of the map (staged `upload`, else the inline `identity_map`) already in another live migration
  // from the same source (FAILED_PRECONDITION naming up to 10 of them).
  absl::Status CheckAgainstOtherMigrations(const crosstenant::v1::MigrationPlan& plan,
                                           const std::optional<IdentityMapUpload>& upload,
                                           const ParsedIdentityMap& identity_map,
                                           std::vector<FieldViolation>& violations);
  // Fills the live parts of `migration`: counts by state and each source geo's queue.
  absl::Status FillLiveFields(crosstenant::v1::Migration& migration);
  crosstenant::v1::MigrationEvent NewEvent(crosstenant::v1::Migration& migration, const std::string& message);
  // One try of ReconcileMigration: ConcurrentChangeError if another replica changed the migration.
  absl::StatusOr<crosstenant::v1::ReconcileMigrationResponse> ReconcileMigrationOnce(const std::string& name);

  MigrationStore* store_;
  Options options_;
  EventHub events_;
  absl::Mutex write_mutex_;
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_MIGRATION_SERVICE_H_
