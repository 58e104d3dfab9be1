#include "services/common/errors.h"

#include <algorithm>
#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"

namespace crosstenant {

absl::Status InvalidArgumentWithViolations(absl::string_view summary, const std::vector<FieldViolation>& violations) {
  google::rpc::BadRequest bad_request;
  std::string message(summary);
  for (const FieldViolation& violation : violations) {
    auto* added = bad_request.add_field_violations();
    added->set_field(violation.field);
    added->set_description(violation.description);
    absl::StrAppend(&message, "\n  ", violation.field, ": ", violation.description);
  }
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kBadRequestTypeUrl, absl::Cord(bad_request.SerializeAsString()));
  return status;
}

std::vector<FieldViolation> FieldViolationsOf(const absl::Status& status) {
  std::vector<FieldViolation> violations;
  auto payload = status.GetPayload(kBadRequestTypeUrl);
  google::rpc::BadRequest bad_request;
  if (!payload || !bad_request.ParseFromString(std::string(*payload))) return violations;
  for (const auto& violation : bad_request.field_violations()) {
    violations.push_back({violation.field(), violation.description()});
  }
  return violations;
}

absl::Status ResourceExhaustedWithRetry(absl::string_view message, absl::Duration retry_after) {
  google::rpc::RetryInfo retry_info;
  const int64_t nanos = absl::ToInt64Nanoseconds(retry_after);
  retry_info.mutable_retry_delay()->set_seconds(nanos / 1000000000);
  retry_info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  absl::Status status =
      absl::ResourceExhaustedError(absl::StrCat(message, " (retry after ", FormatRetryDelay(retry_after), ")"));
  status.SetPayload(kRetryInfoTypeUrl, absl::Cord(retry_info.SerializeAsString()));
  return status;
}

std::string FormatRetryDelay(absl::Duration delay) {
  if (delay <= absl::ZeroDuration()) return "0s";
  // Nanoseconds mean nothing to a person waiting; rounding up never invites an early retry.
  if (delay < absl::Seconds(1)) return absl::FormatDuration(absl::Ceil(delay, absl::Milliseconds(1)));
  if (delay < absl::Minutes(1)) return absl::FormatDuration(absl::Ceil(delay, absl::Milliseconds(100)));
  return absl::FormatDuration(absl::Ceil(delay, absl::Seconds(1)));
}

absl::Duration RetryDelayOf(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryInfoTypeUrl);
  google::rpc::RetryInfo retry_info;
  if (!payload || !retry_info.ParseFromString(std::string(*payload))) return absl::ZeroDuration();
  return absl::Seconds(retry_info.retry_delay().seconds()) + absl::Nanoseconds(retry_info.retry_delay().nanos());
}

absl::Status WithErrorInfo(absl::Status status, absl::string_view reason, absl::string_view domain,
                           const std::vector<std::pair<std::string, std::string>>& metadata) {
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(domain));
  for (const auto& [key, value] : metadata) (*info.mutable_metadata())[key] = value;
  status.SetPayload(kErrorInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

bool IsUnansweredCode(absl::string_view code) {
  return code == absl::StatusCodeToString(absl::StatusCode::kUnavailable) ||
         code == absl::StatusCodeToString(absl::StatusCode::kDeadlineExceeded);
}

bool IsConnectionReason(absl::string_view reason) {
  return reason == kReasonConnectionNotFound || reason == kReasonConnectionNotUsable ||
         reason == "SHAREPOINT_TOKEN_REJECTED" || reason == "SHAREPOINT_NEEDS_CERTIFICATE";
}

bool IsConnectionWait(absl::string_view code) { return IsConnectionReason(code) || IsUnansweredCode(code); }

std::string ErrorInfoReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(kErrorInfoTypeUrl);
  google::rpc::ErrorInfo info;
  if (!payload || !info.ParseFromString(std::string(*payload))) return "";
  return info.reason();
}

std::string ErrorInfoMetadataOf(const absl::Status& status, absl::string_view key) {
  auto payload = status.GetPayload(kErrorInfoTypeUrl);
  google::rpc::ErrorInfo info;
  if (!payload || !info.ParseFromString(std::string(*payload))) return "";
  auto it = info.metadata().find(std::string(key));
  return it == info.metadata().end() ? "" : it->second;
}

std::vector<std::pair<std::string, std::string>> ErrorInfoMetadataListOf(const absl::Status& status) {
  std::vector<std::pair<std::string, std::string>> entries;
  auto payload = status.GetPayload(kErrorInfoTypeUrl);
  google::rpc::ErrorInfo info;
  if (!payload || !info.ParseFromString(std::string(*payload))) return entries;
  for (const auto& [key, value] : info.metadata()) entries.emplace_back(key, value);
  std::sort(entries.begin(), entries.end());
  return entries;
}

bool HasErrorDetails(const absl::Status& status) {
  bool found = false;
  status.ForEachPayload([&found](absl::string_view type_url, const absl::Cord&) {
    if (absl::StartsWith(type_url, "type.googleapis.com/google.rpc.")) found = true;
  });
  return found;
}

}  // namespace crosstenant
