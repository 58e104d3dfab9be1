#ifndef CROSSTENANT_SERVICES_COMMON_ERRORS_H_
#define CROSSTENANT_SERVICES_COMMON_ERRORS_H_

// Builders for absl::Status values that carry machine-readable detail for clients.
//
// Business code has no gRPC types. It attaches google.rpc detail messages (BadRequest, RetryInfo) to
// an absl::Status as payloads keyed by their type URL; the gRPC adapter's one translation function
// (grpc_status.h) turns them into the `grpc-status-details-bin` trailer that grpcurl and every gRPC
// client library decode.

#include <string>
#include <utility>
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
inline constexpr absl::string_view kErrorInfoTypeUrl = "type.googleapis.com/google.rpc.ErrorInfo";

// INVALID_ARGUMENT listing every violation (at least one). The message is `summary` followed by the
// violations, so that a caller that reads only the message still learns what is wrong and where.
absl::Status InvalidArgumentWithViolations(absl::string_view summary, const std::vector<FieldViolation>& violations);

// The field violations attached to `status` by InvalidArgumentWithViolations (empty if none).
std::vector<FieldViolation> FieldViolationsOf(const absl::Status& status);

// RESOURCE_EXHAUSTED telling the caller to wait `retry_after` before trying again. The message gets
// " (retry after 2.2s)" (so `message` should not name the delay itself); the RetryInfo detail keeps
// the exact delay. This is the one way the mesh attaches a RetryInfo, so a client that finds one knows
// the message names the delay already.
absl::Status ResourceExhaustedWithRetry(absl::string_view message, absl::Duration retry_after);

// A delay as people read it, rounded up: "250ms" under a second, "2.2s" under a minute, "1m3s" above.
std::string FormatRetryDelay(absl::Duration delay);

// The retry delay attached by ResourceExhaustedWithRetry, or absl::ZeroDuration() if none.
absl::Duration RetryDelayOf(const absl::Status& status);

// `status` with a google.rpc.ErrorInfo detail: why (`reason`, UPPER_SNAKE or an upstream type name),
// whose (`domain`, e.g. "sharepoint.microsoft.com") and facts a support engineer needs (`metadata`).
absl::Status WithErrorInfo(absl::Status status, absl::string_view reason, absl::string_view domain,
                           const std::vector<std::pair<std::string, std::string>>& metadata);

// ErrorInfo reasons (domain "crosstenant") of a refusal caused by the connection itself, not by
// Microsoft: the connection does not exist at the connector, or it exists but cannot be used now
// (EXPIRED, FAILED, PENDING_SIGN_IN, DISCONNECTED, or its token refused). A caller that asked about
// a move must not read them as Microsoft's answer about that move.
inline constexpr absl::string_view kReasonConnectionNotFound = "CONNECTION_NOT_FOUND";
inline constexpr absl::string_view kReasonConnectionNotUsable = "CONNECTION_NOT_USABLE";

// Whether `reason` (an ErrorInfo reason, or an ErrorDetail.code copied from one) names the connection
// as the cause: the two above, and SharePoint's SHAREPOINT_TOKEN_REJECTED and
// SHAREPOINT_NEEDS_CERTIFICATE (the connection's token or credential kind refused).
bool IsConnectionReason(absl::string_view reason);

// Whether `code`, the ErrorDetail.code of a task a worker gives back to be tried again, says that no
// answer came: UNAVAILABLE or DEADLINE_EXCEEDED, from the connector (Microsoft, or what the connector
// needed, did not answer in time) or from the worker's own channel to the connector.
bool IsUnansweredCode(absl::string_view code);

// Whether `code`, a user's ErrorDetail.code, says the user waits for its connection (a refusal,
// IsConnectionReason, or tries left without an answer, IsUnansweredCode) rather than being Microsoft's
// word about its move: the next answer from Microsoft clears it.
bool IsConnectionWait(absl::string_view code);

// The domain of the mesh's own reasons; an upstream reason has Microsoft's (e.g.
// "sharepoint.microsoft.com", "graph.microsoft.com", "login.microsoftonline.com").
inline constexpr absl::string_view kCrosstenantDomain = "crosstenant";

// ErrorInfo reasons (domain "crosstenant") that ToGrpcStatus gives a server's own UNAVAILABLE or
// DEADLINE_EXCEEDED that has no reason yet: what the server needed (Microsoft, its store, another
// service) did not answer, or not in time. Every such answer of a mesh server so carries a detail,
// and a client tells it from a failure of its own channel (no server answered), which has none.
inline constexpr absl::string_view kReasonUnavailable = "UNAVAILABLE";
inline constexpr absl::string_view kReasonDeadlineExceeded = "DEADLINE_EXCEEDED";

// ErrorInfo reason (domain "crosstenant") of a call a server refused before doing anything, because
// calls of its kind already fill their share of the server's threads (Executor::TryRun). It carries a
// RetryInfo; the call never reached Microsoft, so a caller may send it again as it was.
inline constexpr absl::string_view kReasonServerBusy = "SERVER_BUSY";

// The reason of the ErrorInfo attached by WithErrorInfo, or "" if none.
std::string ErrorInfoReasonOf(const absl::Status& status);

// The metadata value `key` of the ErrorInfo attached by WithErrorInfo, or "" if none.
std::string ErrorInfoMetadataOf(const absl::Status& status, absl::string_view key);

// Every metadata entry of the ErrorInfo attached by WithErrorInfo, sorted by key (empty if none):
// for a caller that names a reason of its own for an error and keeps the facts of the first.
std::vector<std::pair<std::string, std::string>> ErrorInfoMetadataListOf(const absl::Status& status);

// Whether `status` carries any google.rpc detail (ErrorInfo, RetryInfo, BadRequest, ...). A mesh
// server's UNAVAILABLE and DEADLINE_EXCEEDED always do (see kReasonUnavailable); the same codes
// without one are gRPC's own: the call never reached a server, or its deadline passed on the way.
bool HasErrorDetails(const absl::Status& status);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_ERRORS_H_
