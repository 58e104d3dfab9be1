#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_GRPC_TENANT_CONNECTOR_HOST_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_GRPC_TENANT_CONNECTOR_HOST_H_

// The wiring of the tenant-connector server: its settings (config keys and flags), the core objects
// (executor, upstream transport, state store and seal key, metrics, connector) and the gRPC service.
// See docs/tenant-connector.md for every key and flag.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/server.h"

namespace crosstenant::tenant_connector {

// Service-specific settings; every default works on a laptop.
struct ConnectorSettings {
  // Directory of the SQLite state file; empty keeps connections in memory only.
  std::string state_dir;
  // 32-byte key sealing stored secrets; empty means <state_dir>/seal.key (created when absent and no
  // sealed secret exists yet).
  std::string seal_key_file;
  // libcurl connect-to rules ("HOST:PORT:TO_HOST:TO_PORT", HOST "*" for any) and CA file for upstream.
  std::vector<std::string> connect_to;
  std::string ca_file;
  // HTTP CONNECT proxy for every upstream request ("http://HOST:PORT" or "https://HOST:PORT"; empty:
  // direct), the host suffixes that go direct despite it, and a file holding "user:password" for the
  // proxy's Basic authentication (empty: none). HTTPS_PROXY and NO_PROXY in the environment are ignored.
  // `proxy_ca_file`: the CAs trusted for TLS to an https:// proxy itself (empty: the system store).
  std::string proxy;
  std::vector<std::string> no_proxy;
  std::string proxy_credentials_file;
  std::string proxy_ca_file;
  absl::Duration probe_interval = absl::Minutes(5);
  absl::Duration refresh_margin = absl::Minutes(5);
  absl::Duration upstream_budget = absl::Seconds(60);
  int max_attempts = 5;
  // Upstream requests in flight per tenant and API group.
  int max_concurrency = 1;
  absl::Duration backoff_base = absl::Seconds(5);
  absl::Duration backoff_max = absl::Seconds(60);
  absl::Duration credential_warning = absl::Hours(24 * 30);
  int executor_threads = 16;
  // Directories from which credential files named in a request may be read (after resolving links);
  // empty: credentials must be passed inline.
  std::vector<std::string> credential_file_dirs;
  // File where every SharePoint admin request and answer is appended (secrets removed); empty: none.
  std::string sharepoint_wire_log;
};

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeTenantConnectorHost(ServerEnvironment& environment,
                                                                     const ConnectorSettings& settings);

// The program's definition for RunServer (name, defaults, flags, config keys, host factory).
ServerDefinition TenantConnectorDefinition();

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_GRPC_TENANT_CONNECTOR_HOST_H_
