#ifndef CROSSTENANT_SERVICES_COMMON_BYTE_SIZE_H_
#define CROSSTENANT_SERVICES_COMMON_BYTE_SIZE_H_

// Sizes in bytes as operators write them in flags and config files: "512MiB", "2GiB", "1.5GB", "64 KiB",
// "4096". Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (kB, MB, GB, TB) powers of
// 1000; "B" or no unit means bytes. Units are case-insensitive. A fractional number is allowed with a
// unit and rounded down to whole bytes.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace crosstenant {

// INVALID_ARGUMENT, saying what is accepted, for anything else (negative, overflowing, unknown unit).
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text);

// The shortest exact binary spelling ("512 MiB", "1536 KiB", "1000 B"), so messages show what was set.
std::string FormatByteSize(int64_t bytes);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_BYTE_SIZE_H_
