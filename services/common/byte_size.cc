#include "services/common/byte_size.h"

#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace crosstenant {
namespace {

struct Unit {
  const char* name;  // lower case
  int64_t factor;
};

constexpr Unit kUnits[] = {
    {"", 1},
    {"b", 1},
    {"kib", int64_t{1} << 10},
    {"mib", int64_t{1} << 20},
    {"gib", int64_t{1} << 30},
    {"tib", int64_t{1} << 40},
    {"kb", 1000},
    {"mb", 1000 * 1000},
    {"gb", 1000 * 1000 * 1000},
    {"tb", int64_t{1000} * 1000 * 1000 * 1000},
};

absl::Status Invalid(absl::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrCat("'", text,
                   "' is not a size: expected a number of bytes with an optional unit, such as 4096, "
                   "64KiB, 512MiB, 2GiB or 1.5GB"));
}

}  // namespace

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  size_t number_end = 0;
  while (number_end < trimmed.size() &&
         (absl::ascii_isdigit(static_cast<unsigned char>(trimmed[number_end])) || trimmed[number_end] == '.')) {
    ++number_end;
  }
  const absl::string_view number = trimmed.substr(0, number_end);
  const std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(trimmed.substr(number_end)));
  if (number.empty()) return Invalid(text);
  const Unit* found = nullptr;
  for (const Unit& candidate : kUnits) {
    if (unit == candidate.name) found = &candidate;
  }
  if (found == nullptr) return Invalid(text);
  if (number.find('.') == absl::string_view::npos) {
    uint64_t whole = 0;
    if (!absl::SimpleAtoi(number, &whole)) return Invalid(text);
    if (whole > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / found->factor)) return Invalid(text);
    return static_cast<int64_t>(whole) * found->factor;
  }
  double value = 0;
  if (unit.empty() || unit == "b" || !absl::SimpleAtod(number, &value) || !std::isfinite(value) || value < 0) {
    return Invalid(text);  // fractions of a byte make no sense
  }
  const double bytes = std::floor(value * static_cast<double>(found->factor));
  if (bytes >= 9.2e18) return Invalid(text);
  return static_cast<int64_t>(bytes);
}

std::string FormatByteSize(int64_t bytes) {
  static constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (unit < 4 && bytes != 0 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return absl::StrCat(bytes, " ", kNames[unit]);
}

}  // namespace crosstenant
