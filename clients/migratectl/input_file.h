#ifndef CROSSTENANT_CLIENTS_MIGRATECTL_INPUT_FILE_H_
#define CROSSTENANT_CLIENTS_MIGRATECTL_INPUT_FILE_H_

// The files migratectl reads (plans, identity maps, secrets, certificates) go through one bounded
// reader: a regular file only (a directory, a FIFO or a device such as /dev/zero is refused at
// once), never more than its limit, within 30 s. Every refusal is INVALID_ARGUMENT (exit 3) naming
// the file and why: "the plan file /tmp is a directory, not a regular file".

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace crosstenant::migratectl {

inline constexpr int64_t kMaxPlanFileBytes = int64_t{1} << 20;          // 1 MiB
inline constexpr int64_t kMaxIdentityMapFileBytes = int64_t{64} << 20;  // 64 MiB, read whole (validate, upload)
// An identity map streamed to the orchestrator (migrate start) is read a piece at a time, never whole.
inline constexpr int64_t kMaxStagedIdentityMapFileBytes = int64_t{1} << 30;  // 1 GiB: millions of rows
inline constexpr int64_t kMaxSecretFileBytes = int64_t{64} << 10;            // 64 KiB
inline constexpr int64_t kMaxCertificateFileBytes = int64_t{1} << 20;        // 1 MiB: a certificate with its chain

// The content of the file at `path`; `what` names it in messages ("plan", "identity map").
absl::StatusOr<std::string> ReadInputFile(const std::string& path, const std::string& what, int64_t max_bytes);

// Reads the regular file at `path` (at most `max_bytes`) in pieces of at most `piece_bytes`, handing each
// to `on_piece` as it is read, so that a large file is never held whole. Stops at the first error of
// `on_piece` and returns it. A file that is not regular, over the limit or unreadable is refused as
// ReadInputFile refuses it (INVALID_ARGUMENT naming the file).
absl::Status ReadInputFileInPieces(const std::string& path, const std::string& what, int64_t max_bytes,
                                   size_t piece_bytes, const std::function<absl::Status(absl::string_view)>& on_piece);

// Standard input, up to `max_bytes` (INVALID_ARGUMENT past that).
absl::StatusOr<std::string> ReadStandardInput(const std::string& what, int64_t max_bytes);

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_CLIENTS_MIGRATECTL_INPUT_FILE_H_
