#include "services/common/error_detail.h"

#include <string>

#include "services/common/errors.h"
#include "services/common/proto_time.h"

namespace crosstenant {

crosstenant::v1::ErrorDetail ErrorDetailOf(const absl::Status& status) {
  crosstenant::v1::ErrorDetail error;
  error.set_code(absl::StatusCodeToString(status.code()));
  error.set_message(std::string(status.message()));
  if (const absl::Duration delay = RetryDelayOf(status); delay > absl::ZeroDuration()) {
    SetDuration(delay, error.mutable_retry_delay());
  }
  return error;
}

absl::Status StatusOfErrorDetail(const crosstenant::v1::ErrorDetail& error) {
  absl::StatusCode code = absl::StatusCode::kUnknown;
  for (int i = 0; i <= static_cast<int>(absl::StatusCode::kUnauthenticated); ++i) {
    if (absl::StatusCodeToString(static_cast<absl::StatusCode>(i)) == error.code()) {
      code = static_cast<absl::StatusCode>(i);
    }
  }
  if (code == absl::StatusCode::kOk) return absl::OkStatus();
  absl::Status status(code, error.message());
  if (error.has_retry_delay()) {
    // The delay rides on a RetryInfo payload, which ResourceExhaustedWithRetry attaches.
    const absl::Status with_delay = ResourceExhaustedWithRetry("", DurationOf(error.retry_delay()));
    with_delay.ForEachPayload([&](absl::string_view type, const absl::Cord& payload) {
      if (type == kRetryInfoTypeUrl) status.SetPayload(type, payload);
    });
  }
  return status;
}

}  // namespace crosstenant
