#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_AUDIT_TRAIL_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_AUDIT_TRAIL_H_

// The connector's audit trail (docs/audit.md): one record per mutating call, written after the action
// ended and before the caller gets its answer, kept in the state database (ConnectionStore) and read
// back with ListAuditRecords.
//
//   AuditTrail trail(store, registry);
//   absl::Status outcome = ...;                                  // the action's own outcome
//   trail.Record(request, response, "spiffe://.../sa/migratectl", outcome);
//
// A record that cannot be written is logged and counted (crosstenant_audit_write_failures_total), and
// never changes the action's outcome: the action has happened already.
//
// Thread-safe.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crosstenant/v1/audit.pb.h"
#include "google/protobuf/message.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "services/tenant_connector/core/store.h"

namespace crosstenant::tenant_connector {

// The service name the connector's records carry.
inline constexpr absl::string_view kAuditService = "tenant-connector";

// The resource a mutating connector request acts on, as an audit record names it: the connection for
// CreateConnection (the created one's name, else `connections/{connection_id}`), ReauthenticateConnection
// and DeleteConnection; the geo for the trust calls and UploadIdentityMap; `{geo}/users/{source UPN}`
// for the moves; the site URL for RemoveRedirectSite. Never a body or a credential; "" for any other
// request, or when the request names nothing.
std::string AuditTargetOf(const google::protobuf::Message& request, const google::protobuf::Message& response);

class AuditTrail {
 public:
  // `store` keeps the records and must outlive the trail; the failure counter is registered on
  // `registry`.
  AuditTrail(ConnectionStore* store, prometheus::Registry& registry);

  // Records one call: the action is the RPC named by the request's type ("DeleteConnectionRequest" is
  // DeleteConnection), the target AuditTargetOf, the request id the request's `request_id`, the trace
  // the current one (trace_context.h), the outcome `outcome`'s code name and message. `caller` is the
  // caller's certificate names joined with ",".
  void Record(const google::protobuf::Message& request, const google::protobuf::Message& response,
              absl::string_view caller, const absl::Status& outcome);

  // Records a call refused by authorization before its request was read: `action` is the method's
  // name ("DeleteConnection"), the target, request id and trace are empty, the outcome is `refusal`.
  void RecordRefused(absl::string_view action, absl::string_view caller, const absl::Status& refusal);

  // A page of the trail. INVALID_ARGUMENT with field violations for a negative `after_sequence` or
  // `page_size`, or `since` after `until`.
  absl::StatusOr<v1::ListAuditRecordsResponse> List(const v1::ListAuditRecordsRequest& request);

 private:
  // Completes `record` (time, service, caller, outcome) and appends it; counts a failure.
  void Append(v1::AuditRecord record, absl::string_view caller, const absl::Status& outcome);

  ConnectionStore* const store_;
  prometheus::Counter& write_failures_;
};

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_AUDIT_TRAIL_H_
