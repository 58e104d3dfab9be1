#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_WIRE_LOG_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_WIRE_LOG_H_

// The SharePoint admin wire log: an opt-in file (`--sharepoint-wire-log`) where every SharePoint admin
// request and answer is appended as one JSON line, so that an admin with a real tenant can see what
// Microsoft answered (and confirm the assumed enum numbers, docs/sharepoint-admin-protocol.md).
// Tokens, form digests and anything shaped like a credential are removed before a line is written;
// headers are never written. Thread-safe.

#include <cstdio>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace crosstenant::tenant_connector::sharepoint {

class WireLog {
 public:
  // Opens (creates with mode 0600, or appends to) `path`. A path that is not a regular file, or that
  // cannot be opened, is INVALID_ARGUMENT naming it.
  static absl::StatusOr<std::unique_ptr<WireLog>> Open(const std::string& path);
  ~WireLog();

  // Appends one exchange. `status` is the HTTP status (0 when no answer came).
  void Write(absl::Time time, absl::string_view connection, absl::string_view method, absl::string_view url, int status,
             absl::string_view request_body, absl::string_view response_body);

 private:
  explicit WireLog(std::FILE* file) : file_(file) {}

  absl::Mutex mu_;
  std::FILE* file_ ABSL_GUARDED_BY(mu_);
};

// `text` with bearer tokens, JWTs, form digests, secrets and passwords replaced by "[REDACTED]".
std::string RedactSecrets(absl::string_view text);

}  // namespace crosstenant::tenant_connector::sharepoint

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_WIRE_LOG_H_
