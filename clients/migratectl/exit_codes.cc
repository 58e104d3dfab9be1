#include "clients/migratectl/exit_codes.h"

#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "services/common/errors.h"

namespace crosstenant::migratectl {
namespace {

// Payload keys that mark migratectl's own outcomes on a status (never sent over the wire).
constexpr absl::string_view kUsageKey = "migratectl/usage";
constexpr absl::string_view kNotReadyKey = "migratectl/not-ready";
constexpr absl::string_view kAuditChainBrokenKey = "migratectl/audit-chain-broken";

absl::Status Marked(absl::StatusCode code, absl::string_view message, absl::string_view key) {
  absl::Status status(code, message);
  status.SetPayload(key, absl::Cord("1"));
  return status;
}

}  // namespace

absl::Status UsageError(absl::string_view message) {
  return Marked(absl::StatusCode::kInvalidArgument, message, kUsageKey);
}

absl::Status NotReadyError(absl::string_view message) {
  return Marked(absl::StatusCode::kFailedPrecondition, message, kNotReadyKey);
}

absl::Status AuditChainBrokenError(absl::string_view message) {
  return Marked(absl::StatusCode::kDataLoss, message, kAuditChainBrokenKey);
}

absl::Status TimeoutError(absl::string_view message) {
  return WithErrorInfo(absl::DeadlineExceededError(message), kReasonTimeout, kMigratectlDomain, {});
}

bool IsChannelFailure(const absl::Status& status) {
  return (status.code() == absl::StatusCode::kUnavailable || status.code() == absl::StatusCode::kDeadlineExceeded) &&
         !HasErrorDetails(status);
}

ExitCode ExitCodeOf(const absl::Status& status) {
  if (status.ok()) return ExitCode::kOk;
  if (status.GetPayload(kUsageKey)) return ExitCode::kUsage;
  if (status.GetPayload(kNotReadyKey)) return ExitCode::kNotReady;
  if (status.GetPayload(kAuditChainBrokenKey)) return ExitCode::kAuditChainBroken;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return ExitCode::kInvalidInput;
    case absl::StatusCode::kNotFound:
      return ExitCode::kNotFound;
    case absl::StatusCode::kAlreadyExists:
      return ExitCode::kAlreadyExists;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return ExitCode::kFailedPrecondition;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return ExitCode::kPermissionDenied;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
      return ExitCode::kUnavailable;
    case absl::StatusCode::kResourceExhausted:
      return ExitCode::kThrottled;
    default:
      return ExitCode::kFailure;
  }
}

std::string DescribeError(const absl::Status& status) {
  if (status.ok()) return "";
  if (status.GetPayload(kUsageKey) || status.GetPayload(kNotReadyKey)) {
    return absl::StrCat(status.message(), "\n");
  }
  std::string message(status.message());
  const std::vector<FieldViolation> violations = FieldViolationsOf(status);
  // The servers spell the violations out in the message too; print them once, from the detail.
  if (!violations.empty()) {
    if (size_t newline = message.find('\n'); newline != std::string::npos) message.resize(newline);
  }
  std::string text = absl::StrCat(absl::StatusCodeToString(status.code()), ": ", message, "\n");
  for (const FieldViolation& violation : violations) {
    absl::StrAppend(&text, "  ", violation.field, ": ", violation.description, "\n");
  }
  // A RetryInfo delay needs no line of its own: ResourceExhaustedWithRetry named it in the message.
  if (IsChannelFailure(status)) {
    absl::StrAppend(&text, "  (is the server running, and are --connector/--orchestrator and the TLS flags right?)\n");
  }
  return text;
}

std::string ExitCodeHelp() {
  return "Exit codes:\n"
         "  0    success\n"
         "  1    internal error\n"
         "  2    usage: unknown command or flag, missing argument\n"
         "  3    invalid input (INVALID_ARGUMENT): flag value, plan file, identity map; each problem named\n"
         "  4    not found (NOT_FOUND): connection, migration, redirect site\n"
         "  5    already exists (ALREADY_EXISTS)\n"
         "  6    failed precondition (FAILED_PRECONDITION, ABORTED): wrong state for the request\n"
         "  7    permission denied (PERMISSION_DENIED, UNAUTHENTICATED)\n"
         "  8    unavailable (UNAVAILABLE, DEADLINE_EXCEEDED): a server, or a tenant at Microsoft, unreachable\n"
         "       (HTTP 503 without Retry-After, no answer); retry\n"
         "  9    throttled (RESOURCE_EXHAUSTED): Microsoft throttled the tenant (429, 503 with Retry-After);\n"
         "       wait the time named, then retry\n"
         "  10   not ready: preflight errors, trust not GoodToProceed, users not moved, migration failed\n"
         "  11   audit trail broken (DATA_LOSS): `audit verify` found a record changed, deleted or inserted\n"
         "  130  interrupted (Ctrl-C)\n";
}

}  // namespace crosstenant::migratectl
