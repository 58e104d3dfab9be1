#ifndef CROSSTENANT_CLIENTS_MIGRATECTL_COMMANDS_H_
#define CROSSTENANT_CLIENTS_MIGRATECTL_COMMANDS_H_

// migratectl's commands, one function each, grouped by the step of Microsoft's procedure they do.
// Each registers its flags on the Invocation, parses, calls the mesh and prints the result.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/migratectl/invocation.h"
#include "crosstenant/v1/connection.pb.h"
#include "services/identity_map/identity_map.h"

namespace crosstenant::migratectl {

// Step 1 (commands_connections.cc).
absl::Status RunConnect(Invocation& in);
absl::Status RunConnections(Invocation& in);  // list, or --watch
absl::Status RunConnectionsShow(Invocation& in);
absl::Status RunConnectionsCheck(Invocation& in);
absl::Status RunConnectionsDelete(Invocation& in);
absl::Status RunPreflight(Invocation& in);

// Steps 2, 3, 5 and 7: trust and compatibility (commands_trust.cc).
absl::Status RunTrustEstablish(Invocation& in);
absl::Status RunTrustVerify(Invocation& in);
absl::Status RunTrustRemove(Invocation& in);
absl::Status RunCompatibility(Invocation& in);

// Steps 4 and 5: the identity map (commands_identity_map.cc).
absl::Status RunIdentityMapValidate(Invocation& in);
absl::Status RunIdentityMapUpload(Invocation& in);
absl::Status RunIdentityMapGenerate(Invocation& in);

// Step 6: migrations (commands_migrate.cc).
absl::Status RunMigrateStart(Invocation& in);
absl::Status RunMigrateStatus(Invocation& in);
absl::Status RunMigratePause(Invocation& in);
absl::Status RunMigrateResume(Invocation& in);
absl::Status RunMigrateCancel(Invocation& in);
absl::Status RunMigrateReconcile(Invocation& in);
absl::Status RunMigrateReport(Invocation& in);

// Step 7: redirect sites (commands_redirects.cc).
absl::Status RunRedirectsList(Invocation& in);
absl::Status RunRedirectsRemove(Invocation& in);

// Who changed what: the audit trails (commands_audit.cc).
absl::Status RunAuditList(Invocation& in);
absl::Status RunAuditVerify(Invocation& in);

// Shared by the commands: a connection, and the geos of a connection that its principal can
// administer (all of them for a tenant admin), each with its cross-tenant host URL.
absl::StatusOr<crosstenant::v1::Connection> GetConnection(Invocation& in, const std::string& name);
std::vector<crosstenant::v1::Geo> AccessibleGeos(const crosstenant::v1::Connection& connection);

// Reads an identity-map file; INVALID_ARGUMENT naming it when it cannot be read.
absl::StatusOr<std::string> ReadIdentityMapFile(const std::string& path);
// INVALID_ARGUMENT with one google.rpc.BadRequest field violation per problem (the first 100), each
// named `FILE:LINE:COLUMN`.
absl::Status IdentityMapError(const std::string& path, const std::vector<identity_map::Problem>& problems);

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_CLIENTS_MIGRATECTL_COMMANDS_H_
