#include "services/common/trace_context.h"

#include <random>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace crosstenant {
namespace {

thread_local std::optional<TraceContext> current_trace;

bool IsLowerHex(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

bool AllZero(absl::string_view text) { return text.find_first_not_of('0') == absl::string_view::npos; }

// `digits` random lowercase hex digits, never all zero. Ids only need to be unique, not secret.
std::string RandomHex(size_t digits) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  do {
    out.clear();
    while (out.size() < digits) {
      uint64_t bits = generator();
      for (int i = 0; i < 16 && out.size() < digits; ++i, bits >>= 4) out.push_back(kHex[bits & 0xf]);
    }
  } while (AllZero(out));
  return out;
}

int HexValue(char c) { return absl::ascii_isdigit(c) ? c - '0' : c - 'a' + 10; }

}  // namespace

std::optional<TraceContext> ParseTraceparent(absl::string_view header) {
  // version(2) '-' trace-id(32) '-' parent-id(16) '-' flags(2): 55 characters.
  constexpr size_t kLength = 55;
  if (header.size() < kLength) return std::nullopt;
  const absl::string_view version = header.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return std::nullopt;
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  // Version 00 has exactly four fields; a later one may add more after another '-'.
  if (version == "00" ? header.size() != kLength : header.size() > kLength && header[kLength] != '-') {
    return std::nullopt;
  }
  const absl::string_view trace_id = header.substr(3, 32);
  const absl::string_view span_id = header.substr(36, 16);
  const absl::string_view flags = header.substr(53, 2);
  if (!IsLowerHex(trace_id) || !IsLowerHex(span_id) || !IsLowerHex(flags)) return std::nullopt;
  if (AllZero(trace_id) || AllZero(span_id)) return std::nullopt;
  TraceContext context;
  context.trace_id = std::string(trace_id);
  context.span_id = std::string(span_id);
  context.flags = static_cast<uint8_t>(HexValue(flags[0]) * 16 + HexValue(flags[1]));
  return context;
}

std::string FormatTraceparent(const TraceContext& context) {
  static constexpr char kHex[] = "0123456789abcdef";
  return absl::StrCat("00-", context.trace_id, "-", context.span_id, "-",
                      std::string{kHex[context.flags >> 4], kHex[context.flags & 0xf]});
}

TraceContext NewTrace() { return TraceContext{RandomHex(32), RandomHex(16), 0x01}; }

TraceContext ChildSpan(const TraceContext& parent) {
  return TraceContext{parent.trace_id, RandomHex(16), parent.flags};
}

std::optional<TraceContext> ContinueTrace(absl::string_view trace_id) {
  if (trace_id.size() != 32 || !IsLowerHex(trace_id) || AllZero(trace_id)) return std::nullopt;
  return TraceContext{std::string(trace_id), RandomHex(16), 0x01};
}

TraceContext TraceFromHeaderOrNew(absl::string_view header) {
  std::optional<TraceContext> parent = ParseTraceparent(header);
  return parent ? ChildSpan(*parent) : NewTrace();
}

const TraceContext* CurrentTrace() { return current_trace ? &*current_trace : nullptr; }

std::string CurrentTraceId() { return current_trace ? current_trace->trace_id : std::string(); }

std::string OutgoingTraceparent() {
  return current_trace ? FormatTraceparent(ChildSpan(*current_trace)) : std::string();
}

ScopedTrace::ScopedTrace(std::optional<TraceContext> context) : previous_(std::move(current_trace)) {
  current_trace = std::move(context);
}

ScopedTrace::~ScopedTrace() { current_trace = std::move(previous_); }

std::function<void()> WithCurrentTrace(std::function<void()> task) {
  if (!current_trace) return task;
  return [trace = *current_trace, task = std::move(task)] {
    ScopedTrace scope(trace);
    task();
  };
}

}  // namespace crosstenant
