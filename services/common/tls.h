#ifndef CROSSTENANT_SERVICES_COMMON_TLS_H_
#define CROSSTENANT_SERVICES_COMMON_TLS_H_

// Mutual TLS between the services of the mesh, with certificates re-read from disk as they rotate
// (a Kubernetes Secret volume swaps its files atomically; cert-manager renews them). Everything
// here uses gRPC's experimental TLS stack, the only one with reload, so it stays in this one file.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/common/server_config.h"

namespace crosstenant {

// The names a client certificate carries, as identities are matched against them: its URI SANs
// (SPIFFE IDs such as `spiffe://cluster.local/ns/crosstenant/sa/migratectl`), its DNS SANs and its common
// name. A name with "://" in it can only have come from a URI SAN (a common name that looks like a URI is
// left out), so an identity written as a SPIFFE ID binds the caller to its namespace and service account:
// a certificate from the same CA with the same bare name, or a forged common name, does not match it.
struct PeerIdentity {
  std::vector<std::string> names;
};

// Decides whether a caller with a verified certificate may call `full_method`
// ("/crosstenant.v1.Orchestrator/CancelMigration"): OK, or the error the call fails with.
using PeerAuthorizer = std::function<absl::Status(const PeerIdentity&, absl::string_view full_method)>;

// True if any of the peer's names is in `allowed` (exact match); an empty list allows every peer
// whose certificate chains to the configured CA.
bool PeerAllowed(const PeerIdentity& peer, const std::vector<std::string>& allowed);

// Insecure credentials if TLS is not configured; otherwise TLS that requires and verifies a client
// certificate against `tls.ca_file`, re-reads all three files every `tls.reload_interval`, and
// runs `authorize` on every call before any handler (a call it refuses fails with its status).
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsConfig& tls, PeerAuthorizer authorize);

// The names of the caller's certificate as seen by a server handler; empty without TLS.
std::vector<std::string> PeerNamesOf(const grpc::AuthContext& auth_context);

// Credentials for calling another service of the mesh: plaintext when `ca_file` is empty, else TLS
// verifying the server against `ca_file`, presenting `cert_file`/`key_file` when given (both are
// re-read as they rotate).
struct ClientTlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ClientTlsConfig& tls);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_TLS_H_
