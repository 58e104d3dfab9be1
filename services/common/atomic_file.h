#ifndef CROSSTENANT_SERVICES_COMMON_ATOMIC_FILE_H_
#define CROSSTENANT_SERVICES_COMMON_ATOMIC_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace crosstenant {

// Writes `content` to `path` so that a reader sees either no file or the whole content: it writes a
// temporary file in the same directory, flushes it to disk, and renames it over `path`.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_ATOMIC_FILE_H_
