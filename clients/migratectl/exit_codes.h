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
  kInterrupted = 130,       // Ctrl-C (the shell's 128 + SIGINT; migratectl leaves SIGINT at its default)
};

// A usage problem (exit 2): unknown command, unknown flag, missing argument.
absl::Status UsageError(absl::string_view message);
// A negative answer (exit 10): the command worked and printed its result, which is not good to go.
absl::Status NotReadyError(absl::string_view message);

// The exit code for `status` (kOk for OK).
ExitCode ExitCodeOf(const absl::Status& status);

// What to print for a failed command, one or more lines ending in '\n':
//   NOT_FOUND: connection connections/contoso not found
//   INVALID_ARGUMENT: the identity map has 2 problems
//     plan.identity_map.csv:3:3: SourceUserUpn 'x' is not a user principal name
//   RESOURCE_EXHAUSTED: Graph throttled the tenant (retry after 12s)
// google.rpc.BadRequest field violations are printed one per line as `field: description`; a
// google.rpc.RetryInfo delay is named when the message does not already say it.
std::string DescribeError(const absl::Status& status);

// The table of exit codes for --help and the docs.
std::string ExitCodeHelp();

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_CLIENTS_MIGRATECTL_EXIT_CODES_H_
