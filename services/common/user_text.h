#ifndef CROSSTENANT_SERVICES_COMMON_USER_TEXT_H_
#define CROSSTENANT_SERVICES_COMMON_USER_TEXT_H_

// Quoting what a caller typed inside an error message or a log line. A status message travels in
// gRPC metadata (a few KiB at most), must be valid UTF-8, and must not repeat a password, so user
// input is never echoed raw:
//
//   return absl::InvalidArgumentError(absl::StrCat("admin_url \"", QuoteUrlForMessage(url), "\" has a path"));
//
// - invalid UTF-8 bytes and control characters become \xNN;
// - text longer than `max_bytes` is cut at a character boundary and ends with "…" and the full size;
// - QuoteUrlForMessage also replaces a URL's user information (`user:password@`) with `***@`.

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace crosstenant {

// The default limit of an echoed input, in bytes of the quoted text (before the "…" suffix).
inline constexpr size_t kMaxEchoBytes = 200;

// `text` made safe to embed in a message: valid UTF-8, no control characters, at most `max_bytes`
// (plus a short suffix "… (N bytes)" when cut).
std::string QuoteForMessage(absl::string_view text, size_t max_bytes = kMaxEchoBytes);

// `url` with the user information of its authority replaced: "https://u:p@host/x" -> "https://***@host/x",
// "u:p@host" -> "***@host". Anything else is returned unchanged.
std::string RedactUrlUserinfo(absl::string_view url);

// RedactUrlUserinfo, then QuoteForMessage.
std::string QuoteUrlForMessage(absl::string_view url, size_t max_bytes = kMaxEchoBytes);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_USER_TEXT_H_
