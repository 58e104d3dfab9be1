#ifndef CROSSTENANT_SERVICES_COMMON_SERVER_H_
#define CROSSTENANT_SERVICES_COMMON_SERVER_H_

// The one bootstrap every crosstenant server runs, so that a service's main() is a few lines:
//
//   int main(int argc, char** argv) {
//     crosstenant::ServerDefinition definition;
//     definition.name = "orchestrator";
//     ...
//     definition.create = [](crosstenant::ServerEnvironment& env) { /* ... */ };
//     return crosstenant::RunServer(argc, argv, definition);
//   }
//
// RunServer reads the settings table (the common settings and the service's declare_settings) from
// the command line and the --config file (flags win), then serves:
//   - the service's gRPC services, plus grpc.health.v1, reflection (v1 and v1alpha) and
//     crosstenant.v1.Diagnostics, on --grpc-address, with mTLS when TLS files are configured; with
//     mTLS every call is authorized before any handler runs: the caller's certificate must pass
//     tls.allowed_peers and have the role the method's table names (authorization.h);
//   - Prometheus /metrics on --metrics-address: go-grpc-prometheus server metrics, process_*,
//     <metrics_prefix>_build_info and whatever the service registers;
//   - grpc.health.v1 alone, in plaintext, on --health-address when given (Kubernetes probes).
// Health reports NOT_SERVING until the host's WarmUp() succeeds; then --ready-file is written.
// SIGTERM or SIGINT: health goes NOT_SERVING, the host's BeginShutdown() runs, new RPCs are refused,
// in-flight ones get --shutdown-grace to finish, and the process exits 0. A call still running 2 s after
// the grace (a handler that ignores its cancellation) is abandoned: the process logs it and exits.
//
// Exit codes: 0 clean stop, 1 start-up failure (warm-up, bind), 2 invalid flags or config.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/impl/service_type.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/registry.h"
#include "services/common/authorization.h"
#include "services/common/config_reader.h"
#include "services/common/settings_table.h"
#include "services/common/health.h"
#include "services/common/server_config.h"
#include "services/common/tls.h"

namespace crosstenant {

// A gRPC service a host registers, with its fully qualified name ("crosstenant.v1.Orchestrator") and
// the role each of its methods needs (authorization.h). Every method must be in `roles`, or the
// server does not start.
struct HostedService {
  grpc::Service* service;
  std::string full_name;
  MethodRoles roles;
};

// What a service is made of: its gRPC services and the hooks the bootstrap calls. It is the
// "wiring" of the service (userver's component): business classes live elsewhere.
class ServiceHost {
 public:
  virtual ~ServiceHost() = default;

  // The services to register. The host keeps ownership; they must outlive the server.
  virtual std::vector<HostedService> Services() = 0;

  // Runs once the server is bound, before readiness: connect to dependencies, load state. An error
  // stops start-up (exit 1).
  virtual absl::Status WarmUp() { return absl::OkStatus(); }

  // Told of a call refused by authorization before any handler ran (its request was never read), when
  // the method changes something (its role is operate or administer): the place for an audit trail to
  // record the attempt. `caller` is the certificate's names, `method` the method's name without its
  // service ("CancelMigration": a host serves one API), `refusal` the PERMISSION_DENIED the caller got.
  // Runs on a gRPC thread: hand any write to a thread of the host's own. At most 60 calls a minute
  // reach it one by one; the refusals beyond come once the minute is over (and at shutdown), one call
  // per caller and method whose `refusal` says how many there were, between which times, and the last.
  virtual void CallDenied(const std::vector<std::string>& /*caller*/, absl::string_view /*method*/,
                          const absl::Status& /*refusal*/) {}

  // Runs every 10 s on a thread of the server's own, alongside RPCs: give back what is kept only for
  // speed (a database's page cache), so that a service that was busy idles at the memory it started with.
  virtual void ReleaseMemory() {}

  // Runs on SIGTERM/SIGINT before the server stops taking RPCs: end watch streams, stop starting
  // new work. In-flight unary RPCs still complete afterwards, within the shutdown grace.
  virtual void BeginShutdown() {}
};

// What a host gets to build itself.
struct ServerEnvironment {
  const ServerConfig& config;
  // Register service metrics here (prefixed with the service's metrics prefix).
  prometheus::Registry& metrics;
  // Flip readiness of a name when a dependency comes and goes.
  HealthRegistry& health;
  // Metrics computed at scrape time (a prometheus::Collectable), exported beside `metrics`.
  std::function<void(std::shared_ptr<prometheus::Collectable>)> add_collectable;
};

struct ServerDefinition {
  // Program name: "tenant-connector", "orchestrator", "worker".
  std::string name;
  // One line for --help.
  std::string summary;
  // Prefix of the service's own metrics: "tenant_connector" gives tenant_connector_build_info.
  std::string metrics_prefix;
  // Defaults that work on a laptop; a config file or flags override them.
  std::string default_grpc_address;
  std::string default_metrics_address;
  // Declares the service's own settings (optional): each once, for its flag, config key and --help.
  std::function<void(SettingsTable&)> declare_settings;
  // Checks what the table cannot: settings that depend on each other (optional); field violations.
  std::function<absl::Status()> validate_config;
  // Builds the host once the settings are final.
  std::function<absl::StatusOr<std::unique_ptr<ServiceHost>>(ServerEnvironment&)> create;
  // The SQLite file holding the service's durable state once the settings are final, or "" when the
  // settings keep none in SQLite (optional). With it, `--backup-to=FILE` writes a consistent copy of
  // that file (while another process serves from it, too) and exits instead of serving.
  std::function<std::string()> state_database;
};

// Runs a server until SIGTERM/SIGINT; returns the process exit code. Call it first thing in main(),
// before any thread exists, because it blocks the stop signals for every thread it starts. On glibc,
// unless GLIBC_TUNABLES already sets glibc.malloc.tcache_count, it first executes the binary again in
// place (same pid, arguments, environment) with that set to 0, so that idle threads keep no freed
// memory resident; `argv` must be main()'s, ending in nullptr.
int RunServer(int argc, char** argv, const ServerDefinition& definition);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_SERVER_H_
