#include "services/tenant_connector/core/audit_trail.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "crosstenant/v1/tenant_connector.pb.h"
#include "prometheus/family.h"
#include "services/common/audit_chain.h"
#include "services/common/errors.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/common/proto_time.h"
#include "services/common/trace_context.h"

namespace crosstenant::tenant_connector {
namespace {

// The request's `request_id`, read by reflection: every mutating request has one (AIP-155).
std::string RequestIdOf(const google::protobuf::Message& request) {
  const google::protobuf::FieldDescriptor* field = request.GetDescriptor()->FindFieldByName("request_id");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING || field->is_repeated()) {
    return "";
  }
  return request.GetReflection()->GetString(request, field);
}

}  // namespace

std::string AuditTargetOf(const google::protobuf::Message& request, const google::protobuf::Message& response) {
  if (const auto* create = dynamic_cast<const v1::CreateConnectionRequest*>(&request)) {
    // The id may be empty (the connector names it `<tenant>-<role>`): the created connection says.
    if (const auto* created = dynamic_cast<const v1::CreateConnectionResponse*>(&response);
        created != nullptr && !created->connection().name().empty()) {
      return created->connection().name();
    }
    return create->connection_id().empty() ? "" : absl::StrCat("connections/", create->connection_id());
  }
  if (const auto* r = dynamic_cast<const v1::ReauthenticateConnectionRequest*>(&request)) return r->name();
  if (const auto* r = dynamic_cast<const v1::DeleteConnectionRequest*>(&request)) return r->name();
  if (const auto* r = dynamic_cast<const v1::SetCrossTenantRelationshipRequest*>(&request)) return r->geo();
  if (const auto* r = dynamic_cast<const v1::RemoveCrossTenantRelationshipRequest*>(&request)) return r->geo();
  if (const auto* r = dynamic_cast<const v1::UploadIdentityMapRequest*>(&request)) return r->geo();
  if (const auto* r = dynamic_cast<const v1::StartUserContentMoveRequest*>(&request)) {
    return absl::StrCat(r->geo(), "/users/", r->source_user_principal_name());
  }
  if (const auto* r = dynamic_cast<const v1::StopUserContentMoveRequest*>(&request)) {
    return absl::StrCat(r->geo(), "/users/", r->source_user_principal_name());
  }
  if (const auto* r = dynamic_cast<const v1::RemoveRedirectSiteRequest*>(&request)) return r->url();
  return "";
}

AuditTrail::AuditTrail(ConnectionStore* store, prometheus::Registry& registry)
    : store_(store),
      write_failures_(prometheus::BuildCounter()
                          .Name("crosstenant_audit_write_failures_total")
                          .Help("Audit records that could not be written (the actions themselves went ahead).")
                          .Register(registry)
                          .Add({})) {}

void AuditTrail::Record(const google::protobuf::Message& request, const google::protobuf::Message& response,
                        absl::string_view caller, const absl::Status& outcome) {
  v1::AuditRecord record;
  record.set_action(std::string(absl::StripSuffix(request.GetDescriptor()->name(), "Request")));
  record.set_target(AuditTargetOf(request, response));
  record.set_request_id(RequestIdOf(request));
  record.set_trace_id(CurrentTraceId());
  Append(std::move(record), caller, outcome);
}

void AuditTrail::RecordRefused(absl::string_view action, absl::string_view caller, const absl::Status& refusal) {
  v1::AuditRecord record;
  record.set_action(std::string(action));
  Append(std::move(record), caller, refusal);
}

void AuditTrail::Append(v1::AuditRecord record, absl::string_view caller, const absl::Status& outcome) {
  SetTimestamp(absl::Now(), record.mutable_time());
  record.set_service(std::string(kAuditService));
  record.set_caller(std::string(caller));
  record.set_outcome(absl::StatusCodeToString(outcome.code()));
  record.set_outcome_message(std::string(outcome.message()));
  const std::string action = record.action();
  absl::StatusOr<v1::AuditRecord> stored = store_->AppendAudit(std::move(record));
  if (!stored.ok()) {
    write_failures_.Increment();
    // Names and codes only: the store's error is SQLite's, and the record holds no secret either.
    log::Error("audit record not written; the action itself went ahead",
               {{"action", action},
                {"outcome", absl::StatusCodeToString(outcome.code())},
                {"error", std::string(stored.status().message())}});
  }
}

absl::StatusOr<v1::ListAuditRecordsResponse> AuditTrail::List(const v1::ListAuditRecordsRequest& request) {
  RETURN_IF_ERROR(CheckAuditQuery(request));
  return store_->ListAudit(request);
}

}  // namespace crosstenant::tenant_connector
