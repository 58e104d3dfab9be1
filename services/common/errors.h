#ifndef CROSSTENANT_SERVICES_COMMON_ERRORS_H_
#define CROSSTENANT_SERVICES_COMMON_ERRORS_H_

// Builders for absl::Status values that carry machine-readable detail for clients.
//
// Business code has no gRPC types. It attaches google.rpc detail messages (BadRequest, RetryInfo) to
// an absl::Status as payloads keyed by their type URL; the gRPC adapter's one translation function
// (grpc_status.h) turns them into the `grpc-status-details-bin` trailer that grpcurl and every gRPC
// client library decode.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace crosstenant {

// One invalid field of a request or input file. `field` is a path such as "plan.window.begin",
// "identity_map[3].target_upn" or "users.csv:12:4"; `description` says what is wrong and what to give.
struct FieldViolation {
  std::string field;
  std::string description;
};

// Type URLs of the payloads attached by the functions below.
inline constexpr absl::string_view kBadRequestTypeUrl = "type.googleapis.com/google.rpc.BadRequest";
inline constexpr absl::string_view kRetryInfoTypeUrl = "type.googleapis.com/google.rpc.RetryInfo";

// INVALID_ARGUMENT listing every violation (at least one). The message is `summary` followed by the
// violations, so that a caller that reads only the message still learns what is wrong and where.
absl::Status InvalidArgumentWithViolations(absl::string_view summary,
                                           const std::vector<FieldViolation>& violations);

// The field violations attached to `status` by InvalidArgumentWithViolations (empty if none).
std::vector<FieldViolation> FieldViolationsOf(const absl::Status& status);

// RESOURCE_EXHAUSTED telling the caller to wait `retry_after` before trying again.
absl::Status ResourceExhaustedWithRetry(absl::string_view message, absl::Duration retry_after);

// The retry delay attached by ResourceExhaustedWithRetry, or absl::ZeroDuration() if none.
absl::Duration RetryDelayOf(const absl::Status& status);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_ERRORS_H_
