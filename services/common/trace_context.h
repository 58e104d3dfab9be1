#ifndef CROSSTENANT_SERVICES_COMMON_TRACE_CONTEXT_H_
#define CROSSTENANT_SERVICES_COMMON_TRACE_CONTEXT_H_

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header that every call
// between the mesh's services carries, and the trace of the work a thread is doing now.
//
//   traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//                version-trace id (32 hex)-parent (span) id (16 hex)-flags
//
// A server takes the caller's trace (or starts one) for each call (grpc_trace.h); every log line
// written while a trace is current carries its `trace_id` (logging.h); Executor carries the current
// trace onto the thread that runs a task; outgoing calls send the current trace with a new span id.
//
//   ScopedTrace scope(TraceFromHeaderOrNew(header));
//   log::Info("working");                 // ... "trace_id":"4bf9..."
//   std::string header = OutgoingTraceparent();

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace crosstenant {

// The metadata key (gRPC) and header name (HTTP) of the trace context.
inline constexpr char kTraceparentKey[] = "traceparent";

struct TraceContext {
  std::string trace_id;  // 32 lowercase hex digits, not all zero
  std::string span_id;   // 16 lowercase hex digits, not all zero: the span of this side
  uint8_t flags = 0x01;  // trace-flags; bit 0 is "sampled"
};

// The trace context of a `traceparent` value, or nullopt when it is malformed: a version other than
// two lowercase hex digits, version ff, version 00 with anything after the flags, ids of the wrong
// length, upper-case or non-hex digits, or an all-zero trace or parent id. A later version is read by
// its first four fields, as the specification asks.
std::optional<TraceContext> ParseTraceparent(absl::string_view header);

// "00-<trace id>-<span id>-<flags>".
std::string FormatTraceparent(const TraceContext& context);

// A new trace with random ids, sampled.
TraceContext NewTrace();

// The same trace and flags with a new random span id: the context to send on a call made within
// `parent`.
TraceContext ChildSpan(const TraceContext& parent);

// A context continuing the trace `trace_id` (as kept in a record) with a new span, sampled; nullopt
// when `trace_id` is not 32 lowercase hex digits, not all zero.
std::optional<TraceContext> ContinueTrace(absl::string_view trace_id);

// A server's context for a call carrying `header`: the caller's trace with a new span, or a new trace
// when the header is absent or malformed (never an error: a bad header must not fail the call).
TraceContext TraceFromHeaderOrNew(absl::string_view header);

// The trace of the work on this thread, or null.
const TraceContext* CurrentTrace();

// The current trace id, or "" when no trace is current.
std::string CurrentTraceId();

// The `traceparent` for a call made now: the current trace with a new span id, or "" when no trace is
// current (the callee then starts one).
std::string OutgoingTraceparent();

// Makes `context` the current trace of this thread until destroyed, then restores the one before.
// A nullopt context leaves no trace current within the scope.
class ScopedTrace {
 public:
  explicit ScopedTrace(std::optional<TraceContext> context);
  ~ScopedTrace();
  ScopedTrace(const ScopedTrace&) = delete;
  ScopedTrace& operator=(const ScopedTrace&) = delete;

 private:
  std::optional<TraceContext> previous_;
};

// `task` wrapped so that it runs under the trace current now (unchanged when none is).
std::function<void()> WithCurrentTrace(std::function<void()> task);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_TRACE_CONTEXT_H_
