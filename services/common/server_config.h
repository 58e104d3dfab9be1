#ifndef CROSSTENANT_SERVICES_COMMON_SERVER_CONFIG_H_
#define CROSSTENANT_SERVICES_COMMON_SERVER_CONFIG_H_

// The settings every crosstenant server shares: listen addresses, TLS, logging, shutdown. They are
// read from the top level of the service's YAML config file and overridden by the common flags
// (DeclareServerSettings).
//
//   grpc_address: 0.0.0.0:50051        # gRPC API (mTLS when tls is set)
//   metrics_address: 0.0.0.0:9464      # Prometheus /metrics; "" turns it off
//   health_address: 0.0.0.0:50061      # plaintext grpc.health.v1 only, for Kubernetes probes; "" = none
//   ready_file: /run/crosstenant/ready.json
//   log_format: json                   # json | text
//   log_level: info                    # debug | info | warning | error
//   shutdown_grace: 10s                # how long in-flight RPCs may take after SIGTERM
//   tls:
//     cert: /etc/crosstenant/tls/tls.crt
//     key: /etc/crosstenant/tls/tls.key
//     ca: /etc/crosstenant/tls/ca.crt  # clients must present a certificate signed by it
//     reload_interval: 60s             # how often the files are re-read (rotation without restart)
//     allowed_peers: [orchestrator.crosstenant.svc]  # certificate names allowed to call; empty = any
//   authorization:                     # roles of certificate names, per call (authorization.h)
//     read: [dashboard]
//     operate: [worker]
//     administer: [migratectl]
//     allow_plaintext: false           # without TLS, serve on a non-loopback address anyway

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/common/authorization.h"
#include "services/common/config_reader.h"
#include "services/common/logging.h"
#include "services/common/settings_table.h"

namespace crosstenant {

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  absl::Duration reload_interval = absl::Seconds(60);
  // DNS or URI subject alternative names, or subject common names, allowed to call. Empty: any client
  // whose certificate chains to `ca_file`.
  std::vector<std::string> allowed_peers;

  bool enabled() const { return !cert_file.empty() || !key_file.empty() || !ca_file.empty(); }
};

struct ServerConfig {
  std::string grpc_address;
  std::string metrics_address;
  std::string health_address;
  std::string ready_file;
  log::Format log_format = log::Format::kText;
  log::Severity log_level = log::Severity::kInfo;
  absl::Duration shutdown_grace = absl::Seconds(10);
  TlsConfig tls;
  AuthorizationConfig authorization;
};

// Declares the common settings (the keys above, and their flags --grpc-address, --tls-cert, ...) in
// `table`, writing into `config`.
void DeclareServerSettings(SettingsTable& table, ServerConfig* config);

// Checks a fully assembled config: addresses are HOST:PORT, TLS has all three files (each readable),
// and a gRPC address other than loopback has TLS unless authorization.allow_plaintext is set.
// Every problem is a field violation named after its config key.
absl::Status ValidateServerConfig(const ServerConfig& config);

// True for "localhost", "[::1]" and 127.0.0.0/8.
bool IsLoopbackHost(const std::string& host);

// Splits "HOST:PORT" ("[::1]:0" allowed). Returns false if it is not of that form.
bool SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_SERVER_CONFIG_H_
