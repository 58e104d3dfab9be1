#ifndef CROSSTENANT_SERVICES_COMMON_LOGGING_H_
#define CROSSTENANT_SERVICES_COMMON_LOGGING_H_

// Structured logging to stderr, one line per event, as JSON (for log collectors) or as text (for a
// terminal). Abseil 20220623 has no logging library; this is the smallest thing that serves.
//
//   log::Info("serving", {{"grpc_address", address}, {"pid", std::to_string(getpid())}});
//
// Never pass a secret in a message or a field: lines are written as given. A line written while a
// trace is current (trace_context.h) gets a `trace_id` field.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace crosstenant::log {

enum class Format { kText, kJson };
enum class Severity { kDebug, kInfo, kWarning, kError };

using Fields = std::vector<std::pair<std::string, std::string>>;

// Process-wide settings; call once at start-up, before other threads log.
void Configure(Format format, absl::string_view service, Severity min_severity = Severity::kInfo);

// Parses "json" or "text".
bool ParseFormat(absl::string_view text, Format* format);

// Parses "debug", "info", "warning" or "error".
bool ParseSeverity(absl::string_view text, Severity* severity);

void Write(Severity severity, absl::string_view message, const Fields& fields = {});
inline void Debug(absl::string_view message, const Fields& fields = {}) { Write(Severity::kDebug, message, fields); }
inline void Info(absl::string_view message, const Fields& fields = {}) { Write(Severity::kInfo, message, fields); }
inline void Warning(absl::string_view message, const Fields& fields = {}) {
  Write(Severity::kWarning, message, fields);
}
inline void Error(absl::string_view message, const Fields& fields = {}) { Write(Severity::kError, message, fields); }

// The line Write would print (without the trailing newline), for tests.
std::string FormatLine(Format format, absl::string_view service, Severity severity, absl::string_view message,
                       const Fields& fields);

}  // namespace crosstenant::log

#endif  // CROSSTENANT_SERVICES_COMMON_LOGGING_H_
