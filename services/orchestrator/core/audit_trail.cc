#include "services/orchestrator/core/audit_trail.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "services/common/errors.h"
#include "services/common/logging.h"
#include "services/common/proto_time.h"

namespace crosstenant::orchestrator {
namespace {

// The range google.protobuf.Timestamp allows: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

bool ValidTimestamp(const google::protobuf::Timestamp& time) {
  return time.seconds() >= kMinTimestampSeconds && time.seconds() <= kMaxTimestampSeconds && time.nanos() >= 0 &&
         time.nanos() <= 999999999;
}

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
  std::vector<FieldViolation> violations;
  if (request.after_sequence() < 0) {
    violations.push_back({"after_sequence", "must not be negative: 0 lists from the first record"});
  }
  if (request.page_size() < 0) {
    violations.push_back({"page_size", absl::StrCat("must not be negative: 0 means ", kDefaultAuditPageSize,
                                                    ", at most ", kMaxAuditPageSize)});
  }
  const bool since_valid = !request.has_since() || ValidTimestamp(request.since());
  const bool until_valid = !request.has_until() || ValidTimestamp(request.until());
  if (!since_valid) violations.push_back({"since", "is not a valid timestamp"});
  if (!until_valid) violations.push_back({"until", "is not a valid timestamp"});
  if (request.has_since() && request.has_until() && since_valid && until_valid &&
      TimeOf(request.since()) > TimeOf(request.until())) {
    violations.push_back({"until", "must not be before since"});
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid ListAuditRecordsRequest", violations);
  return store_->ListAuditRecords(request);
}

}  // namespace crosstenant::orchestrator
