#include "services/tenant_connector/core/sharepoint/states.h"

#include <initializer_list>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "services/tenant_connector/core/sharepoint/csom.h"
#include "services/tenant_connector/core/sharepoint/enums.h"

namespace crosstenant::tenant_connector::sharepoint {
namespace {

using ::google::protobuf::util::TimeUtil;

// A field of a move row by name without case; a number as its text.
std::string Field(const nlohmann::json& row, absl::string_view name) {
  if (!row.is_object()) return "";
  for (const auto& [key, value] : row.items()) {
    if (!absl::EqualsIgnoreCase(key, name)) continue;
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
    return "";
  }
  return "";
}

// The first of `names` the row has.
std::string AnyField(const nlohmann::json& row, std::initializer_list<absl::string_view> names) {
  for (absl::string_view name : names) {
    if (std::string value = Field(row, name); !value.empty()) return value;
  }
  return "";
}

}  // namespace

WireState<v1::TrustStatus> TrustStatusFromWire(int64_t number) {
  std::optional<std::string> name = EnumName("OrgRelationVerificationStatus", number);
  if (!name) return {v1::TRUST_STATUS_UNKNOWN, UnknownValue(number)};
  v1::TrustStatus status = v1::TRUST_STATUS_UNKNOWN;
  if (*name == "NotEstablished") status = v1::TRUST_STATUS_NOT_ESTABLISHED;
  if (*name == "NotEstablishedByPartner") status = v1::TRUST_STATUS_NOT_ESTABLISHED_BY_PARTNER;
  if (*name == "Dormant") status = v1::TRUST_STATUS_DORMANT;
  if (*name == "DormantByPartner") status = v1::TRUST_STATUS_DORMANT_BY_PARTNER;
  if (*name == "GoodToProceed") status = v1::TRUST_STATUS_GOOD_TO_PROCEED;
  if (*name == "CouldNotContactPartner") status = v1::TRUST_STATUS_COULD_NOT_CONTACT_PARTNER;
  return {status, *name};
}

WireState<v1::CompatibilityStatus> CompatibilityFromWire(std::optional<int64_t> number) {
  if (!number) return {v1::COMPATIBILITY_STATUS_UNKNOWN, ""};
  std::optional<std::string> name = EnumName("XTenantMoveCompatibilityResult", *number);
  if (!name) return {v1::COMPATIBILITY_STATUS_UNKNOWN, UnknownValue(*number)};
  v1::CompatibilityStatus status = v1::COMPATIBILITY_STATUS_UNKNOWN;  // "Error" too
  if (*name == "Compatible") status = v1::COMPATIBILITY_STATUS_COMPATIBLE;
  if (*name == "Warning") status = v1::COMPATIBILITY_STATUS_WARNING;
  if (*name == "Incompatible") status = v1::COMPATIBILITY_STATUS_INCOMPATIBLE;
  return {status, *name};
}

v1::MoveState MoveStateOfName(const std::string& name) {
  const std::string state = absl::AsciiStrToLower(name);
  if (state == "notstarted") return v1::MOVE_STATE_NOT_STARTED;
  if (state == "scheduled" || state == "queued") return v1::MOVE_STATE_SCHEDULED;
  if (state == "readytotrigger") return v1::MOVE_STATE_READY_TO_TRIGGER;
  if (state == "inprogress") return v1::MOVE_STATE_IN_PROGRESS;
  if (state == "success" || state == "completed") return v1::MOVE_STATE_SUCCESS;
  if (state == "rescheduled") return v1::MOVE_STATE_RESCHEDULED;
  if (state == "failed") return v1::MOVE_STATE_FAILED;
  if (state == "stopped" || state == "cancelled" || state == "canceled") return v1::MOVE_STATE_STOPPED;
  if (state == "notsupported") return v1::MOVE_STATE_NOT_SUPPORTED;
  return v1::MOVE_STATE_UNKNOWN;
}

v1::MoveStage MoveStageOfName(const std::string& name) {
  const std::string stage = absl::AsciiStrToLower(name);
  if (stage == "validation") return v1::MOVE_STAGE_VALIDATION;
  if (stage == "backup") return v1::MOVE_STAGE_BACKUP;
  if (stage == "restore") return v1::MOVE_STAGE_RESTORE;
  if (stage == "cleanup") return v1::MOVE_STAGE_CLEANUP;
  return v1::MOVE_STAGE_UNSPECIFIED;
}

v1::UserContentMove MoveFromStateRow(const nlohmann::json& row, const std::string& partner_host) {
  v1::UserContentMove move;
  move.set_source_user_principal_name(AnyField(row, {"SourceUserPrincipalName", "SourceUpn", "SourceContentKey"}));
  move.set_target_user_principal_name(AnyField(row, {"TargetUserPrincipalName", "TargetUpn", "TargetContentKey"}));
  move.set_target_host_url(partner_host);
  std::string raw = AnyField(row, {"MoveState", "State", "Status"});
  int64_t number = 0;
  if (absl::SimpleAtoi(raw, &number)) {
    std::optional<std::string> name = EnumName("MoveState", number);
    raw = name ? *name : UnknownValue(number);
  }
  move.set_raw_state(raw);
  move.set_state(MoveStateOfName(raw));
  if (move.state() == v1::MOVE_STATE_IN_PROGRESS) move.set_stage(MoveStageOfName(Field(row, "MoveStage")));
  move.set_task_id(AnyField(row, {"MoveJobId", "JobId", "MoveId"}));
  move.set_source_site_url(Field(row, "SourceSiteUrl"));
  move.set_target_site_url(Field(row, "TargetSiteUrl"));
  move.set_source_location_code(Field(row, "SourceDataLocation"));
  move.set_target_location_code(Field(row, "DestinationDataLocation"));
  const std::string modified = AnyField(row, {"LastModified", "TimeStamp", "LastModifiedDateTime"});
  absl::Time time;
  std::string error;
  if (std::optional<absl::Time> date = csom::ParseDate(modified)) {
    *move.mutable_update_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(*date));
  } else if (absl::ParseTime(absl::RFC3339_full, modified, &time, &error)) {
    *move.mutable_update_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(time));
  }
  if (std::string message = Field(row, "ErrorMessage"); !message.empty()) {
    move.mutable_error()->set_code("MOVE_FAILED");
    move.mutable_error()->set_message(message);
  }
  return move;
}

}  // namespace crosstenant::tenant_connector::sharepoint
