#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_CONNECTOR_INTERNAL_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_CONNECTOR_INTERNAL_H_

// Private to the connector's .cc files: the per-connection entry and small helpers.

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "nlohmann/json.hpp"
#include "services/common/bounded_file.h"
#include "services/common/errors.h"
#include "services/common/proto_time.h"
#include "services/tenant_connector/core/connector.h"
#include "services/tenant_connector/core/json_read.h"
#include "services/tenant_connector/core/upstream_error.h"

namespace crosstenant::tenant_connector {

struct Connector::Entry {
  absl::Mutex mu;
  v1::Connection connection;  // public view (no secrets)
  v1::Credential credential;  // with secrets; never leaves the connector except sealed
  AdminUrl admin;
  std::string tenant_key;            // throttle governor key: the tenant's SharePoint name (of its default geo)
  std::string sharepoint_tenant_id;  // the tenant SharePoint names for the admin URL (its realm)
  std::string graph_host;            // from the cloud profile
  std::string graph_scope;           // "https://graph.microsoft.com/.default"
  uint64_t generation = 0;           // bumped by reauthentication and deletion; stale polls and probes stop
  bool deleted = false;
  bool registered = false;                                // in the registry: changes are persisted and published
  absl::Time health_refresh_time = absl::InfinitePast();  // last RefreshHealth
  // Device code sign-in in progress.
  std::string device_code;
  absl::Duration poll_interval = absl::Seconds(5);
  absl::Time device_code_expire_time;

  absl::Mutex token_mu;                       // serialises token acquisition for this connection
  std::map<std::string, AccessToken> tokens;  // by scope
  std::string refresh_token;
  nlohmann::json claims;  // of the latest Graph token
};

namespace internal {

std::vector<FieldViolation> CheckCredential(const v1::Credential& credential, const std::string& prefix);
// The limits of a file a caller names in a credential (`what`, e.g. "client secret"): at most
// kMaxCredentialFileBytes, read within 5 s, a regular file inside one of `dirs` (the setting
// credential_file_dirs; none refuses every file).
inline constexpr int64_t kMaxCredentialFileBytes = 64 * 1024;
BoundedFileOptions CredentialFileOptions(const std::string& what, const std::vector<std::string>& dirs);
// The content of the file at `path`, read with `options`; a file that is not one to read (a FIFO, a
// device, a directory, too large, outside the directories) is INVALID_ARGUMENT with a violation of
// `field` (e.g. "credential.client_secret.secret.file_path").
absl::StatusOr<std::string> ReadFileText(const std::string& path, const std::string& field,
                                         const BoundedFileOptions& options);
// A secret given inline or as a file (then read as ReadFileText, under `field`.file_path, without
// its trailing line break).
absl::StatusOr<std::string> ReadSecret(const v1::SecretValue& secret, const std::string& what, const std::string& field,
                                       const std::vector<std::string>& dirs);

using json_read::Array;
using json_read::Bool;
using json_read::Int;
using json_read::Str;

using ::crosstenant::tenant_connector::MapUpstreamError;
using ::crosstenant::tenant_connector::UpstreamMessage;

// The standing finding of a connection whose credential is a client secret (`client_id` its app):
// SharePoint refuses app-only tokens from a secret. Code SHAREPOINT_NEEDS_CERTIFICATE.
v1::Finding SharePointNeedsCertificate(const std::string& connection, const std::string& client_id,
                                       v1::Severity severity);

// What a failed probe (`status`, not OK) makes of a connection, from its code and ErrorInfo reason:
// DEGRADED with THROTTLED or UPSTREAM_UNAVAILABLE when the failure is transient; FAILED with
// VERIFICATION_FAILED when access is refused (PERMISSION_DENIED) or the tenant does not match
// (kReasonTenantMismatch, kReasonTenantChanged); EXPIRED with TOKEN_EXPIRED otherwise.
struct ProbeVerdict {
  v1::ConnectionState state;
  const char* code;
};
ProbeVerdict ProbeVerdictOf(const absl::Status& status);

// Whether `status`, the answer to creating a migration task, says that Microsoft has one for the user
// already (FAILED_PRECONDITION with reason kReasonMigrationTaskExists): the start is then a duplicate,
// not a failure.
bool MoveTaskExists(const absl::Status& status);

// Whether `status`, the answer to GetCrossTenantHostUrl, says that the cross-tenant feature is not
// enabled for the tenant: PERMISSION_DENIED, or SharePoint's refusal with reason
// csom::kReasonFeatureNotEnabled.
bool FeatureNotEnabled(const absl::Status& status);

// Parses "2024-08-31T16:00:00Z"-style times; InfinitePast if empty or unreadable.
absl::Time ParseIsoTime(const std::string& text);

}  // namespace internal
}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_CONNECTOR_INTERNAL_H_
