#ifndef CROSSTENANT_CLIENTS_MIGRATECTL_EXIT_CODES_H_
#define CROSSTENANT_CLIENTS_MIGRATECTL_EXIT_CODES_H_

// migratectl's exit codes and the one translation from an absl::Status (a gRPC status from the mesh,
// or a local problem such as a bad plan file) to an exit code and the text printed on stderr.
//
//   absl::Status status = RunCommand(...);
//   if (!status.ok()) std::cerr << "migratectl: " << DescribeError(status);
//   return static_cast<int>(ExitCodeOf(status));
//
// Scripts branch on these codes, so they are part of the interface (listed by `migratectl --help`
// and in docs/migratectl.md) and never change meaning.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace crosstenant::migratectl {

enum class ExitCode : int {
  kOk = 0,                  // the command did what was asked
  kFailure = 1,             // an internal error (INTERNAL, UNKNOWN, DATA_LOSS, UNIMPLEMENTED)
  kUsage = 2,               // unknown command or flag, missing argument
  kInvalidInput = 3,        // INVALID_ARGUMENT / OUT_OF_RANGE, a bad plan file or identity map
  kNotFound = 4,            // NOT_FOUND: no such connection, migration, redirect site...
  kAlreadyExists = 5,       // ALREADY_EXISTS: connection or migration id taken
  kFailedPrecondition = 6,  // FAILED_PRECONDITION / ABORTED: wrong state (e.g. resume a running migration)
  kPermissionDenied = 7,    // PERMISSION_DENIED / UNAUTHENTICATED: certificate, role or permission refused
  kUnavailable = 8,         // UNAVAILABLE / DEADLINE_EXCEEDED / CANCELLED: a server or Microsoft unreachable
  kThrottled = 9,           // RESOURCE_EXHAUSTED: throttled; the message says how long to wait
  kNotReady = 10,           // ran fine, but the answer is "no": preflight errors, trust not GoodToProceed,
                            // a migration that ended with users not moved, failed or cancelled
  kAuditChainBroken = 11,   // `audit verify`: a trail's hash chain is broken (a record changed, deleted or
                            // inserted), DATA_LOSS naming the record
  kInterrupted = 130,       // Ctrl-C (the shell's 128 + SIGINT; migratectl leaves SIGINT at its default)
};

// A usage problem (exit 2): unknown command, unknown flag, missing argument.
absl::Status UsageError(absl::string_view message);
// A broken audit trail (exit 11, DATA_LOSS): `message` names the first broken record.
absl::Status AuditChainBrokenError(absl::string_view message);
// A negative answer (exit 10): the command worked and printed its result, which is not good to go.
absl::Status NotReadyError(absl::string_view message);

// ErrorInfo reasons (domain "migratectl") of failures migratectl decides itself, so that they are
// never read as a channel that reached no server (IsChannelFailure).
inline constexpr absl::string_view kMigratectlDomain = "migratectl";
inline constexpr absl::string_view kReasonTimeout = "TIMEOUT";         // --timeout passed while waiting
inline constexpr absl::string_view kReasonWatchEnded = "WATCH_ENDED";  // a server ended a watch early

// DEADLINE_EXCEEDED with reason kReasonTimeout (exit 8): --timeout passed while migratectl waited for
// a state (a migration to end, a sign-in to complete).
absl::Status TimeoutError(absl::string_view message);

// Whether `status` is gRPC's own failure of the call rather than a server's answer: UNAVAILABLE or
// DEADLINE_EXCEEDED with no google.rpc detail. A mesh server's UNAVAILABLE and DEADLINE_EXCEEDED
// always carry an ErrorInfo (kReasonUnavailable in services/common/errors.h), and so do migratectl's
// own (TimeoutError); what is left is a server not reached (refused, TLS handshake failed, no answer
// before --deadline).
bool IsChannelFailure(const absl::Status& status);

// The exit code for `status` (kOk for OK).
ExitCode ExitCodeOf(const absl::Status& status);

// What to print for a failed command, one or more lines ending in '\n':
//   NOT_FOUND: connection connections/contoso not found
//   INVALID_ARGUMENT: the identity map has 2 problems
//     plan.identity_map.csv:3:3: SourceUserUpn 'x' is not a user principal name
//   RESOURCE_EXHAUSTED: Graph throttled the tenant (retry after 12s)
// google.rpc.BadRequest field violations are printed one per line as `field: description`. A
// google.rpc.RetryInfo delay is in the message already (ResourceExhaustedWithRetry, the mesh's one
// way to attach it, names it there). A channel failure (IsChannelFailure) gets a hint to check the
// addresses and TLS flags.
std::string DescribeError(const absl::Status& status);

// The table of exit codes for --help and the docs.
std::string ExitCodeHelp();

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_CLIENTS_MIGRATECTL_EXIT_CODES_H_
