#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_AUDIT_TRAIL_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_AUDIT_TRAIL_H_

// The orchestrator's audit trail (crosstenant/v1/audit.proto): one record for each call that creates,
// steers or stops a migration or stages an identity map (CreateMigration, UploadIdentityMap,
// PauseMigration, ResumeMigration, CancelMigration, ReconcileMigration), written to the migration store
// after the work ends and before the caller gets its answer, and the ListAuditRecords read of it. A call
// to a method that changes something which authorization refused is recorded too (the host's
// CallDenied), with no target or request id: its request was never read.
//
// A record keeps who asked (the client certificate's names), the action, what it acted on, the
// request and trace ids, and how it ended: never a request body, an identity-map row or a secret.
// Recording never changes an action's outcome: a record the store refuses is logged and counted
// (crosstenant_audit_write_failures_total), and the caller still gets the action's own answer.
//
//   AuditTrail trail(&store);
//   AuditedCall call{caller, "PauseMigration", "migrations/m-1", request_id, CurrentTraceId()};
//   absl::Status outcome = ...;  // the action
//   trail.Record(call, outcome);

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crosstenant/v1/audit.pb.h"
#include "services/orchestrator/core/orchestrator_metrics.h"
#include "services/orchestrator/store/migration_store.h"

namespace crosstenant::orchestrator {

// The service name the orchestrator's records carry.
inline constexpr char kOrchestratorAuditService[] = "orchestrator";

// What the adapter knows of an audited call, besides how it ended.
struct AuditedCall {
  std::string caller;      // the client certificate's names joined with ","; "" without TLS
  std::string action;      // the RPC's method name
  std::string target;      // the resource acted on; "" when the call failed before it had one
  std::string request_id;  // the caller's request_id; "" when none
  std::string trace_id;    // the call's W3C trace id; "" when none
};

class AuditTrail {
 public:
  struct Options {
    std::function<absl::Time()> now = absl::Now;
    // Counts the records the store refused; may be null.
    OrchestratorMetrics* metrics = nullptr;
  };

  explicit AuditTrail(MigrationStore* store) : AuditTrail(store, Options()) {}
  AuditTrail(MigrationStore* store, Options options) : store_(store), options_(std::move(options)) {}

  // Appends the record of `call`, which ended with `outcome` (the status the caller receives: its
  // code name and, when not OK, its message up to the first line break; the field violations that
  // follow it there describe the request's body, which the trail never keeps). A NUL byte in any of
  // the texts is kept as the two characters \0 (PostgreSQL refuses it). Blocks on the store: call
  // it from a worker thread, never from a gRPC callback. If the store refuses the record, logs an error
  // and counts it in the metrics; returns nothing either way.
  void Record(const AuditedCall& call, const absl::Status& outcome);

  // ListAuditRecords: INVALID_ARGUMENT with field violations for a negative after_sequence or
  // page_size, a since or until that is no valid timestamp, or since after until; otherwise the store's
  // page (MigrationStore::ListAuditRecords).
  absl::StatusOr<crosstenant::v1::ListAuditRecordsResponse> List(
      const crosstenant::v1::ListAuditRecordsRequest& request);

 private:
  MigrationStore* const store_;
  const Options options_;
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_AUDIT_TRAIL_H_
