#include "services/worker/grpc/worker_host.h"

#include <unistd.h>

#include <grpcpp/create_channel.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/tls.h"
#include "services/worker/core/task_runner.h"
#include "services/worker/core/worker_loop.h"
#include "services/worker/grpc/grpc_clients.h"
#include "services/worker/grpc/worker_service.h"

namespace crosstenant::worker {
namespace {

// The worker's own settings: top-level keys of its config file, and flags.
struct WorkerConfig {
  std::string orchestrator_address = "127.0.0.1:50052";
  std::string connector_address = "127.0.0.1:50051";
  std::string worker_id;  // default: host name and pid
  int concurrency = 4;
  int poll_batch = 20;                                // polls read together in one BatchGetUserContentMoves
  int start_batch = 20;                               // starts sent together in one BatchStartUserContentMoves
  int lease_batch = 4;                                // tasks a slot leases in one call
  absl::Duration lease_duration = absl::Seconds(60);  // a dead worker's tasks go to others after this
  ClientTlsConfig client_tls;                         // towards the orchestrator and the connector
  std::string server_name;  // TLS name to verify on both, when it differs from the address host
};

// `address` is HOST:PORT or a gRPC target naming several replicas (`dns:///orchestrator:50052`,
// `ipv4:10.0.0.1:50052,10.0.0.2:50052`): requests are spread over the replicas that answer, so one
// replica's death only moves the worker to the others.
std::shared_ptr<grpc::Channel> Channel(const WorkerConfig& config, const std::string& address) {
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  if (!config.server_name.empty()) args.SetSslTargetNameOverride(config.server_name);
  return grpc::CreateCustomChannel(address, MakeChannelCredentials(config.client_tls), args);
}

class WorkerHost : public ServiceHost {
 public:
  WorkerHost(const WorkerConfig& config, prometheus::Registry& metrics)
      : orchestrator_(Channel(config, config.orchestrator_address)),
        connector_(Channel(config, config.connector_address)),
        runner_(&connector_, WorkerId(config), {}),
        loop_(&orchestrator_, &runner_, LoopOptions(config, metrics)),
        service_(&loop_) {}

  std::vector<HostedService> Services() override {
    return {{&service_, crosstenant::v1::Worker::service_full_name(), WorkerMethodRoles()}};
  }
  absl::Status WarmUp() override {
    loop_.Start();
    return absl::OkStatus();
  }
  // No new leases; the tasks in hand finish while the server drains, and the loop is joined on exit.
  void BeginShutdown() override { loop_.Drain(); }

 private:
  static WorkerLoop::Options LoopOptions(const WorkerConfig& config, prometheus::Registry& metrics) {
    WorkerLoop::Options options;
    options.worker_id = WorkerId(config);
    options.concurrency = config.concurrency;
    options.poll_batch = config.poll_batch;
    options.start_batch = config.start_batch;
    options.lease_batch = config.lease_batch;
    options.lease_duration = config.lease_duration;
    options.metrics = &metrics;
    return options;
  }

  static std::string WorkerId(const WorkerConfig& config) {
    if (!config.worker_id.empty()) return config.worker_id;
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    return absl::StrCat(host, "-", getpid());
  }

  GrpcLeaseClient orchestrator_;
  GrpcTenantOperations connector_;
  TaskRunner runner_;
  WorkerLoop loop_;
  WorkerService service_;
};

}  // namespace

ServerDefinition WorkerDefinition() {
  auto config = std::make_shared<WorkerConfig>();
  ServerDefinition definition;
  definition.name = "worker";
  definition.summary =
      "Leases per-user migration tasks from the orchestrator and performs them through the tenant connector.";
  definition.metrics_prefix = "worker";
  definition.default_grpc_address = "127.0.0.1:50053";
  definition.default_metrics_address = "127.0.0.1:9466";
  definition.declare_settings = [config](SettingsTable& table) {
    table.Text("orchestrator_address", &config->orchestrator_address, "TARGET",
               "the orchestrator to lease tasks from: HOST:PORT, or a gRPC target naming every replica "
               "(dns:///orchestrator-headless:50052, ipv4:A:P,B:P), spread round-robin");
    table.Text("connector_address", &config->connector_address, "HOST:PORT",
               "the tenant connector to perform them through");
    table.Text("worker_id", &config->worker_id, "ID", "this worker's name in leases (default: host name and pid)");
    table.Int("concurrency", &config->concurrency, 1, 256, "tasks worked on at once");
    table.Int("poll_batch", &config->poll_batch, 1, 100,
              "polls of move states read together in one connector call, one Graph $batch request per 20 (1 reads "
              "one at a time)");
    table.Int("start_batch", &config->start_batch, 1, 20,
              "moves started together in one connector call, one Graph $batch request (1 starts one at a time)");
    table.Int("lease_batch", &config->lease_batch, 1, 100,
              "tasks a slot leases in one call and runs one after the other (1 leases one at a time)");
    table.Duration("lease_duration", &config->lease_duration, absl::Seconds(5),
                   "how long a leased task stays this worker's without a renewal; the tasks of a worker that died go "
                   "to others after it (at least the orchestrator's shortest lease, 5s)");
    table.Text("client_tls.ca", &config->client_tls.ca_file, "FILE",
               "CA that the orchestrator's and connector's certificates chain to");
    table.Text("client_tls.cert", &config->client_tls.cert_file, "FILE", "this worker's client certificate (mTLS)");
    table.Text("client_tls.key", &config->client_tls.key_file, "FILE", "this worker's client key (mTLS)");
    table.Text("client_tls.server_name", &config->server_name, "NAME", "TLS name to verify on the upstreams");
  };
  definition.validate_config = [config]() -> absl::Status {
    std::vector<FieldViolation> violations;
    std::string host;
    int port = 0;
    const std::string& orchestrator = config->orchestrator_address;
    const bool target = absl::StartsWith(orchestrator, "dns:") || absl::StartsWith(orchestrator, "ipv4:") ||
                        absl::StartsWith(orchestrator, "ipv6:");
    if (target ? orchestrator.find(':') + 1 == orchestrator.size()
               : !SplitHostPort(orchestrator, &host, &port) || port == 0) {
      violations.push_back(
          {"orchestrator_address", absl::StrCat("'", orchestrator,
                                                "' is neither HOST:PORT with a port nor a gRPC target such as "
                                                "dns:///orchestrator:50052 or ipv4:10.0.0.1:50052,10.0.0.2:50052")});
    }
    if (!SplitHostPort(config->connector_address, &host, &port) || port == 0) {
      violations.push_back(
          {"connector_address", absl::StrCat("'", config->connector_address, "' is not HOST:PORT with a port")});
    }
    const ClientTlsConfig& tls = config->client_tls;
    if ((!tls.cert_file.empty() || !tls.key_file.empty()) &&
        (tls.cert_file.empty() || tls.key_file.empty() || tls.ca_file.empty())) {
      violations.push_back({"client_tls", "a client certificate needs client_tls.cert, .key and .ca together"});
    }
    if (violations.empty()) return absl::OkStatus();
    return InvalidArgumentWithViolations("invalid worker settings", violations);
  };
  definition.create = [config](ServerEnvironment& environment) -> absl::StatusOr<std::unique_ptr<ServiceHost>> {
    return std::make_unique<WorkerHost>(*config, environment.metrics);
  };
  return definition;
}

}  // namespace crosstenant::worker
