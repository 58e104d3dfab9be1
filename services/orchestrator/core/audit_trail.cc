#include "services/orchestrator/core/audit_trail.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "services/common/audit_chain.h"
#include "services/common/errors.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/common/proto_time.h"

namespace crosstenant::orchestrator {
namespace {

// `text` as a record keeps it: a NUL byte (valid in a protobuf string, refused by PostgreSQL's text) as
// the two characters \0, so that no request can make its own record unwritable.
std::string Storable(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\0') {
      out += "\\0";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void AuditTrail::Record(const AuditedCall& call, const absl::Status& outcome) {
  crosstenant::v1::AuditRecord record;
  SetTimestamp(options_.now(), record.mutable_time());
  record.set_service(kOrchestratorAuditService);
  record.set_caller(Storable(call.caller));
  record.set_action(Storable(call.action));
  record.set_target(Storable(call.target));
  record.set_request_id(Storable(call.request_id));
  record.set_trace_id(Storable(call.trace_id));
  // A code the mesh never sends (ToGrpcStatus makes UNKNOWN INTERNAL) is the adapter's to translate;
  // the name is absl's, which is gRPC's canonical one.
  record.set_outcome(absl::StatusCodeToString(outcome.code()));
  const absl::string_view message = outcome.message();
  record.set_outcome_message(Storable(message.substr(0, message.find('\n'))));
  absl::StatusOr<crosstenant::v1::AuditRecord> appended = store_->AppendAuditRecord(std::move(record));
  if (appended.ok()) return;
  // The action itself is done (or refused) whatever happens here: its caller gets its answer, and the
  // lost record is made visible to whoever watches the logs and the metrics instead.
  log::Error("audit record not written", {{"action", call.action},
                                          {"target", call.target},
                                          {"request_id", call.request_id},
                                          {"outcome", absl::StatusCodeToString(outcome.code())},
                                          {"code", absl::StatusCodeToString(appended.status().code())},
                                          {"error", std::string(appended.status().message())}});
  if (options_.metrics != nullptr) options_.metrics->AuditWriteFailed();
}

absl::StatusOr<crosstenant::v1::ListAuditRecordsResponse> AuditTrail::List(
    const crosstenant::v1::ListAuditRecordsRequest& request) {
  RETURN_IF_ERROR(CheckAuditQuery(request));
  return store_->ListAuditRecords(request);
}

}  // namespace crosstenant::orchestrator
