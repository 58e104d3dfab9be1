#include "services/common/user_text.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace crosstenant {
namespace {

// Length of the valid UTF-8 sequence at the start of `text` (1-4), or 0 if it is not one. Overlong
// forms, surrogates and code points past U+10FFFF are invalid.
size_t Utf8SequenceLength(absl::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  unsigned char min_second = 0x80, max_second = 0xBF;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;
    if (lead == 0xED) max_second = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;
    if (lead == 0xF4) max_second = 0x8F;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (byte(1) < min_second || byte(1) > max_second) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

}  // namespace

std::string QuoteForMessage(absl::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 24);
  size_t i = 0;
  while (i < text.size()) {
    const size_t length = Utf8SequenceLength(text.substr(i));
    const unsigned char c = static_cast<unsigned char>(text[i]);
    std::string piece;
    if (length == 0 || (length == 1 && (c < 0x20 || c == 0x7F))) {
      piece = absl::StrFormat("\\x%02X", c);
      i += 1;
    } else {
      piece = std::string(text.substr(i, length));
      i += length;
    }
    if (out.size() + piece.size() > max_bytes) {
      // Cut here; the size tells the reader how much is missing.
      absl::StrAppend(&out, "… (", text.size(), " bytes)");
      return out;
    }
    out += piece;
  }
  return out;
}

std::string RedactUrlUserinfo(absl::string_view url) {
  size_t authority = url.find("://");
  authority = authority == absl::string_view::npos ? 0 : authority + 3;
  size_t end = url.find_first_of("/?#", authority);
  if (end == absl::string_view::npos) end = url.size();
  const size_t at = url.substr(authority, end - authority).rfind('@');
  if (at == absl::string_view::npos) return std::string(url);
  return absl::StrCat(url.substr(0, authority), "***", url.substr(authority + at));
}

std::string QuoteUrlForMessage(absl::string_view url, size_t max_bytes) {
  return QuoteForMessage(RedactUrlUserinfo(url), max_bytes);
}

}  // namespace crosstenant
