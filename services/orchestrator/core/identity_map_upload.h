#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_IDENTITY_MAP_UPLOAD_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_IDENTITY_MAP_UPLOAD_H_

// One Orchestrator.UploadIdentityMap stream: the CSV arrives in pieces, each row is checked as it
// completes (the identity map library's CsvStream), and the rows go to the store a page at a time, so a
// map of any size costs a page of rows in memory. Duplicates across the whole map are found by asking
// the store which of a page's keys an earlier page already holds (no set of every key is kept). The
// SHA-256 of the canonical CSV is computed as rows arrive: users as they come, groups (which the
// canonical form puts after every user) read back from the store a page at a time at the end.
//
// Not thread-safe: one stream's messages are handled one after the other.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crosstenant/v1/orchestrator.pb.h"
#include "services/identity_map/identity_map.h"
#include "services/orchestrator/store/migration_store.h"

namespace crosstenant::orchestrator {

class IdentityMapUploadStream {
 public:
  // The most one message may carry.
  static constexpr size_t kMaxChunkBytes = size_t{1} << 20;
  // The longest row: six fields of at most 1,024 bytes fit many times over; more is a quote never closed.
  static constexpr size_t kMaxRowBytes = size_t{64} << 10;
  // Rows checked against the store and written together.
  static constexpr int kPageRows = 1000;
  // How long an upload no migration was created from is kept.
  static constexpr absl::Duration kUnusedLifetime = absl::Hours(24);

  // `name` is the upload's, identityMapUploads/{id}; it is created in `store` with the first message.
  IdentityMapUploadStream(MigrationStore* store, std::string name, absl::Time now);
  ~IdentityMapUploadStream();
  IdentityMapUploadStream(const IdentityMapUploadStream&) = delete;
  IdentityMapUploadStream& operator=(const IdentityMapUploadStream&) = delete;

  // The next message. INVALID_ARGUMENT (with field violations) for a piece over kMaxChunkBytes, a row
  // over kMaxRowBytes or bad options; errors of the store as they are. After an error the stream is of
  // no further use (the caller ends the call; the unfinished upload is deleted with the unused ones).
  absl::Status Add(const crosstenant::v1::OrchestratorUploadIdentityMapRequest& request);
  // The client has sent everything: the response. An invalid map is deleted at once and named nowhere.
  absl::StatusOr<crosstenant::v1::OrchestratorUploadIdentityMapResponse> Finish();

 private:
  // Checks the page's rows for duplicates (among themselves and against the stored rows), hashes its
  // users and writes it.
  absl::Status Flush();

  MigrationStore* const store_;
  const std::string name_;
  const absl::Time create_time_;
  int max_problems_ = 1000;
  std::optional<identity_map::CsvStream> csv_;  // from the first message, with its options
  identity_map::IdentityMap page_;              // rows read but not written yet
  int64_t users_ = 0;
  int64_t groups_ = 0;
  struct Hash;
  std::unique_ptr<Hash> hash_;
};

// A new upload name, identityMapUploads/{random id}.
std::string NewIdentityMapUploadName();

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_IDENTITY_MAP_UPLOAD_H_
