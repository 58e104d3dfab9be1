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
  absl::Duration lease_duration = absl::Seconds(60);  // a dead worker's tasks go to others after this
  ClientTlsConfig client_tls;                         // towards the orchestrator and the connector
  std::string server_name;  // TLS name to verify on both, when it differs from the address host
};

WorkerConfig& Config() {
  static WorkerConfig config;
  return config;
}

// `address` is HOST:PORT or a gRPC target naming several replicas (`dns:///orchestrator:50052`,
// `ipv4:10.0.0.1:50052,10.0.0.2:50052`): requests are spread over the replicas that answer, so one
// replica's death only moves the worker to the others.
std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  if (!Config().server_name.empty()) args.SetSslTargetNameOverride(Config().server_name);
  return grpc::CreateCustomChannel(address, MakeChannelCredentials(Config().client_tls), args);
}

class WorkerHost : public ServiceHost {
 public:
  explicit WorkerHost(prometheus::Registry& metrics)
      : orchestrator_(Channel(Config().orchestrator_address)),
        connector_(Channel(Config().connector_address)),
        runner_(&connector_, WorkerId(), {}),
        loop_(&orchestrator_, &runner_, LoopOptions(metrics)),
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
  static WorkerLoop::Options LoopOptions(prometheus::Registry& metrics) {
    WorkerLoop::Options options;
    options.worker_id = WorkerId();
    options.concurrency = Config().concurrency;
    options.poll_batch = Config().poll_batch;
    options.lease_duration = Config().lease_duration;
    options.metrics = &metrics;
    return options;
  }

  static std::string WorkerId() {
    if (!Config().worker_id.empty()) return Config().worker_id;
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

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeWorkerHost(ServerEnvironment& environment) {
  return std::make_unique<WorkerHost>(environment.metrics);
}

ServerDefinition WorkerDefinition() {
  ServerDefinition definition;
  definition.name = "worker";
  definition.summary =
      "Leases per-user migration tasks from the orchestrator and performs them through the tenant connector.";
  definition.metrics_prefix = "worker";
  definition.default_grpc_address = "127.0.0.1:50053";
  definition.default_metrics_address = "127.0.0.1:9466";
  definition.add_flags = [](FlagSet& flags) {
    flags.Add("orchestrator-address", "TARGET",
              "the orchestrator to lease tasks from: HOST:PORT, or a gRPC target naming every replica "
              "(dns:///orchestrator-headless:50052, ipv4:A:P,B:P), spread round-robin",
              FlagSet::StoreText(&Config().orchestrator_address));
    flags.Add("connector-address", "HOST:PORT", "the tenant connector to perform them through",
              FlagSet::StoreText(&Config().connector_address));
    flags.Add("worker-id", "ID", "this worker's name in leases (default: host name and pid)",
              FlagSet::StoreText(&Config().worker_id));
    flags.Add("concurrency", "N", "tasks worked on at once (default 4)",
              FlagSet::StoreInt(&Config().concurrency, 1, 256));
    flags.Add("poll-batch", "N",
              "polls of move states read together in one connector call, one Graph $batch request per 20 "
              "(default 20, 1 reads one at a time)",
              FlagSet::StoreInt(&Config().poll_batch, 1, 100));
    flags.Add("lease-duration", "DURATION",
              "how long a leased task stays this worker's without a renewal; the tasks of a worker that died go to "
              "others after it (default 60s, at least 5s)",
              FlagSet::StoreDuration(&Config().lease_duration));
    flags.Add("client-tls-ca", "FILE", "CA that the orchestrator's and connector's certificates chain to",
              FlagSet::StoreText(&Config().client_tls.ca_file));
    flags.Add("client-tls-cert", "FILE", "this worker's client certificate (mTLS)",
              FlagSet::StoreText(&Config().client_tls.cert_file));
    flags.Add("client-tls-key", "FILE", "this worker's client key (mTLS)",
              FlagSet::StoreText(&Config().client_tls.key_file));
    flags.Add("client-tls-server-name", "NAME", "TLS name to verify on the upstreams",
              FlagSet::StoreText(&Config().server_name));
  };
  definition.read_config = [](ConfigReader& reader) {
    reader.Read("orchestrator_address", &Config().orchestrator_address);
    reader.Read("connector_address", &Config().connector_address);
    reader.Read("worker_id", &Config().worker_id);
    reader.Read("concurrency", &Config().concurrency, 1, 256);
    reader.Read("poll_batch", &Config().poll_batch, 1, 100);
    reader.Read("lease_duration", &Config().lease_duration);
    ConfigReader tls = reader.Section("client_tls");
    tls.Read("ca", &Config().client_tls.ca_file);
    tls.Read("cert", &Config().client_tls.cert_file);
    tls.Read("key", &Config().client_tls.key_file);
    tls.Read("server_name", &Config().server_name);
  };
  definition.validate_config = []() -> absl::Status {
    std::vector<FieldViolation> violations;
    std::string host;
    int port = 0;
    const std::string& orchestrator = Config().orchestrator_address;
    const bool target = absl::StartsWith(orchestrator, "dns:") || absl::StartsWith(orchestrator, "ipv4:") ||
                        absl::StartsWith(orchestrator, "ipv6:");
    if (target ? orchestrator.find(':') + 1 == orchestrator.size()
               : !SplitHostPort(orchestrator, &host, &port) || port == 0) {
      violations.push_back(
          {"orchestrator_address", absl::StrCat("'", orchestrator,
                                                "' is neither HOST:PORT with a port nor a gRPC target such as "
                                                "dns:///orchestrator:50052 or ipv4:10.0.0.1:50052,10.0.0.2:50052")});
    }
    if (!SplitHostPort(Config().connector_address, &host, &port) || port == 0) {
      violations.push_back(
          {"connector_address", absl::StrCat("'", Config().connector_address, "' is not HOST:PORT with a port")});
    }
    if (Config().concurrency < 1 || Config().concurrency > 256) {
      violations.push_back({"concurrency", "must be between 1 and 256"});
    }
    if (Config().poll_batch < 1 || Config().poll_batch > 100) {
      violations.push_back({"poll_batch", "must be between 1 and 100"});
    }
    if (Config().lease_duration < absl::Seconds(5)) {
      violations.push_back({"lease_duration", "must be at least 5s (the orchestrator's shortest lease)"});
    }
    const ClientTlsConfig& tls = Config().client_tls;
    if ((!tls.cert_file.empty() || !tls.key_file.empty()) &&
        (tls.cert_file.empty() || tls.key_file.empty() || tls.ca_file.empty())) {
      violations.push_back({"client_tls", "a client certificate needs client_tls.cert, .key and .ca together"});
    }
    if (violations.empty()) return absl::OkStatus();
    return InvalidArgumentWithViolations("invalid worker settings", violations);
  };
  definition.create = MakeWorkerHost;
  return definition;
}

}  // namespace crosstenant::worker
