#include "services/orchestrator/grpc/orchestrator_host.h"

#include <grpcpp/create_channel.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/common/logging.h"
#include "services/common/tls.h"
#include "services/common/errors.h"
#include "services/common/status_macros.h"
#include "services/common/periodic_thread.h"
#include "services/orchestrator/core/event_follower.h"
#include "services/orchestrator/core/leader_election.h"
#include "services/orchestrator/core/migration_service.h"
#include "services/orchestrator/core/orchestrator_metrics.h"
#include "services/orchestrator/core/phase_driver.h"
#include "services/orchestrator/core/task_service.h"
#include "services/orchestrator/grpc/grpc_tenant_gateway.h"
#include "services/orchestrator/grpc/orchestrator_service.h"
#include "services/orchestrator/store/postgres_migration_store.h"
#include "services/orchestrator/store/sqlite_migration_store.h"

namespace crosstenant::orchestrator {
namespace {

// The orchestrator's own settings (YAML keys at the top level of its config file, and flags).
struct OrchestratorConfig {
  std::string store = "sqlite";
  std::string sqlite_path = "orchestrator.db";
  // PostgreSQL's connection string (it may hold a password): from this file, else from the
  // CROSSTENANT_POSTGRES_DSN environment variable. Never logged.
  std::string postgres_dsn_file;
  int postgres_pool_size = 4;
  std::string connector_address = "127.0.0.1:50051";
  ClientTlsConfig client_tls;  // towards the connector
  std::string server_name;     // TLS name to verify on the connector, when it differs from the host
  absl::Duration driver_tick = absl::Seconds(1);
  absl::Duration poll_interval = absl::Seconds(30);  // between two looks at a move in progress
  absl::Duration recheck_max = absl::Hours(1);       // longest wait between checks of trust, compatibility
  std::string replica_id;                            // default: host name and process id
  absl::Duration leader_lease = absl::Seconds(6);    // a dead leader is replaced within about this long
  absl::Duration follow_interval = absl::Milliseconds(250);  // how often other replicas' events are looked for
};

OrchestratorConfig& Config() {
  static OrchestratorConfig config;
  return config;
}

TaskService::Options TaskOptions(OrchestratorMetrics* metrics) {
  TaskService::Options options;
  options.poll_interval = Config().poll_interval;
  options.metrics = metrics;
  return options;
}

std::shared_ptr<grpc::Channel> ConnectorChannel() {
  grpc::ChannelArguments args;
  if (!Config().server_name.empty()) args.SetSslTargetNameOverride(Config().server_name);
  return grpc::CreateCustomChannel(Config().connector_address, MakeChannelCredentials(Config().client_tls), args);
}

LeaderElection::Options ElectionOptions() {
  LeaderElection::Options options;
  options.replica_id = Config().replica_id;
  options.lease = Config().leader_lease;
  return options;
}

// Every replica serves the API and workers; the one holding the leadership lease also drives the
// phases. With one replica it simply always leads.
class OrchestratorHost : public ServiceHost {
 public:
  OrchestratorHost(std::unique_ptr<MigrationStore> store, std::shared_ptr<OrchestratorMetrics> metrics)
      : store_(std::move(store)),
        metrics_(std::move(metrics)),
        migrations_(store_.get(), {}),
        tasks_(store_.get(), &migrations_.events(), &migrations_.write_mutex(), TaskOptions(metrics_.get())),
        connector_(ConnectorChannel()),
        election_(store_.get(), ElectionOptions()),
        driver_(&migrations_, &connector_, DriverOptions(&election_)),
        follower_(store_.get(), &migrations_.events()),
        service_(&migrations_, &tasks_) {}

  ~OrchestratorHost() override { BeginShutdown(); }

  std::vector<HostedService> Services() override {
    return {{&service_, crosstenant::v1::Orchestrator::service_full_name()}};
  }

  absl::Status WarmUp() override {
    campaign_.Start(election_.renew_interval(), [this] {
      absl::Status campaigned = election_.Campaign();
      if (!campaigned.ok()) log::Error("leadership", {{"error", std::string(campaigned.message())}});
      metrics_->SetLeadership(election_.term());
    });
    driver_thread_.Start(Config().driver_tick, [this] {
      if (!election_.leading()) return;
      absl::Status ticked = driver_.Tick();
      if (!ticked.ok()) log::Error("phase driver", {{"error", std::string(ticked.message())}});
    });
    follow_.Start(Config().follow_interval, [this] {
      absl::Status followed = follower_.PollOnce();
      if (!followed.ok()) log::Error("event follower", {{"error", std::string(followed.message())}});
    });
    return absl::OkStatus();
  }

  // Stops driving phases, hands the leadership on at once and ends every watch stream with
  // UNAVAILABLE, so that watchers resume on another replica. Requests in flight still complete.
  void BeginShutdown() override {
    driver_thread_.Stop();
    campaign_.Stop();
    follow_.Stop();
    if (absl::Status resigned = election_.Resign(); !resigned.ok()) {
      log::Error("leadership", {{"error", std::string(resigned.message())}});
    }
    metrics_->SetLeadership(0);
    migrations_.events().Close();
  }

 private:
  static PhaseDriver::Options DriverOptions(LeaderElection* election) {
    PhaseDriver::Options options;
    options.max_recheck = Config().recheck_max;
    options.first_recheck = std::min(options.first_recheck, options.max_recheck);
    options.leader_term = [election] { return election->term(); };
    return options;
  }

  std::unique_ptr<MigrationStore> store_;
  std::shared_ptr<OrchestratorMetrics> metrics_;  // shared with the metrics exposer
  MigrationService migrations_;
  TaskService tasks_;
  GrpcTenantGateway connector_;
  LeaderElection election_;
  PhaseDriver driver_;
  EventFollower follower_;
  OrchestratorService service_;
  PeriodicThread campaign_;
  PeriodicThread driver_thread_;
  PeriodicThread follow_;
};

absl::StatusOr<std::unique_ptr<MigrationStore>> OpenStore() {
  if (Config().store == "sqlite") {
    ASSIGN_OR_RETURN(std::unique_ptr<SqliteMigrationStore> store, SqliteMigrationStore::Open(Config().sqlite_path));
    return std::unique_ptr<MigrationStore>(std::move(store));
  }
  std::string dsn;
  if (!Config().postgres_dsn_file.empty()) {
    std::ifstream file(Config().postgres_dsn_file);
    if (!file) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read postgres_dsn_file ", Config().postgres_dsn_file));
    }
    std::getline(file, dsn);
  } else if (const char* from_environment = std::getenv("CROSSTENANT_POSTGRES_DSN")) {
    dsn = from_environment;
  }
  if (dsn.empty()) {
    return absl::FailedPreconditionError(
        "store is postgres but no connection string was given: set postgres_dsn_file (--postgres-dsn-file) "
        "or the CROSSTENANT_POSTGRES_DSN environment variable");
  }
  PostgresMigrationStore::Options options;
  options.pool_size = Config().postgres_pool_size;
  ASSIGN_OR_RETURN(std::unique_ptr<PostgresMigrationStore> store, PostgresMigrationStore::Open(dsn, options));
  return std::unique_ptr<MigrationStore>(std::move(store));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeOrchestratorHost(ServerEnvironment& environment) {
  if (Config().replica_id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    Config().replica_id = absl::StrCat(host, "-", getpid());
  }
  ASSIGN_OR_RETURN(std::unique_ptr<MigrationStore> store, OpenStore());
  auto metrics = std::make_shared<OrchestratorMetrics>(store.get(), environment.metrics);
  environment.add_collectable(metrics);
  return std::make_unique<OrchestratorHost>(std::move(store), std::move(metrics));
}

ServerDefinition OrchestratorDefinition() {
  ServerDefinition definition;
  definition.name = "orchestrator";
  definition.summary =
      "Drives cross-tenant OneDrive migrations (steps 2-7) as durable, resumable state machines and leases "
      "per-user work to workers.";
  definition.metrics_prefix = "orchestrator";
  definition.default_grpc_address = "127.0.0.1:50052";
  definition.default_metrics_address = "127.0.0.1:9465";
  definition.add_flags = [](FlagSet& flags) {
    flags.Add("store", "sqlite|postgres",
              "where migrations are kept: sqlite (one replica, a local file) or postgres (several replicas "
              "sharing one database; default sqlite)",
              FlagSet::StoreText(&Config().store));
    flags.Add("postgres-dsn-file", "FILE",
              "file holding PostgreSQL's connection string (libpq; sslmode=verify-full sslrootcert=... for TLS); "
              "default: the CROSSTENANT_POSTGRES_DSN environment variable",
              FlagSet::StoreText(&Config().postgres_dsn_file));
    flags.Add("postgres-pool-size", "N", "connections to PostgreSQL (default 4)",
              FlagSet::StoreInt(&Config().postgres_pool_size, 1, 64));
    flags.Add("sqlite-path", "FILE", "the SQLite state file (default ./orchestrator.db)", FlagSet::StoreText(&Config().sqlite_path));
    flags.Add("connector-address", "HOST:PORT", "the tenant connector (default 127.0.0.1:50051)",
              FlagSet::StoreText(&Config().connector_address));
    flags.Add("client-tls-ca", "FILE", "CA that the connector's certificate chains to (turns TLS on)",
              FlagSet::StoreText(&Config().client_tls.ca_file));
    flags.Add("client-tls-cert", "FILE", "the orchestrator's client certificate (mTLS)",
              FlagSet::StoreText(&Config().client_tls.cert_file));
    flags.Add("client-tls-key", "FILE", "the orchestrator's client key (mTLS)", FlagSet::StoreText(&Config().client_tls.key_file));
    flags.Add("client-tls-server-name", "NAME", "TLS name to verify on the connector", FlagSet::StoreText(&Config().server_name));
    flags.Add("poll-interval", "DURATION", "how often a move in progress is looked at (default 30s)",
              FlagSet::StoreDuration(&Config().poll_interval));
    flags.Add("recheck-max", "DURATION",
              "longest wait between two checks of trust or compatibility, which back off up to it (default 1h)",
              FlagSet::StoreDuration(&Config().recheck_max));
    flags.Add("replica-id", "NAME",
              "this replica's unique name among the orchestrators sharing a store (default: host name and pid; "
              "the pod name on Kubernetes)",
              FlagSet::StoreText(&Config().replica_id));
    flags.Add("leader-lease", "DURATION",
              "how long the driving replica's lease lasts: another replica takes over this long after it dies "
              "(default 6s)",
              FlagSet::StoreDuration(&Config().leader_lease));
  };
  definition.read_config = [](ConfigReader& reader) {
    reader.Read("store", &Config().store);
    reader.Read("sqlite_path", &Config().sqlite_path);
    reader.Read("postgres_dsn_file", &Config().postgres_dsn_file);
    reader.Read("postgres_pool_size", &Config().postgres_pool_size, 1, 64);
    reader.Read("connector_address", &Config().connector_address);
    reader.Read("driver_tick", &Config().driver_tick);
    reader.Read("poll_interval", &Config().poll_interval);
    reader.Read("recheck_max", &Config().recheck_max);
    reader.Read("replica_id", &Config().replica_id);
    reader.Read("leader_lease", &Config().leader_lease);
    ConfigReader tls = reader.Section("client_tls");
    tls.Read("ca", &Config().client_tls.ca_file);
    tls.Read("cert", &Config().client_tls.cert_file);
    tls.Read("key", &Config().client_tls.key_file);
    tls.Read("server_name", &Config().server_name);
  };
  definition.validate_config = []() -> absl::Status {
    std::vector<FieldViolation> violations;
    if (Config().store != "sqlite" && Config().store != "postgres") {
      violations.push_back({"store", absl::StrCat("'", Config().store, "' is not supported: use sqlite or postgres")});
    }
    if (Config().store == "sqlite" && Config().sqlite_path.empty()) {
      violations.push_back({"sqlite_path", "must name a file"});
    }

    std::string host;
    int port = 0;
    if (!SplitHostPort(Config().connector_address, &host, &port) || port == 0) {
      violations.push_back(
          {"connector_address", absl::StrCat("'", Config().connector_address, "' is not HOST:PORT with a port")});
    }
    if (Config().driver_tick < absl::Milliseconds(10)) violations.push_back({"driver_tick", "must be at least 10ms"});
    if (Config().poll_interval < absl::Milliseconds(100)) {
      violations.push_back({"poll_interval", "must be at least 100ms"});
    }
    if (Config().recheck_max < absl::Milliseconds(100)) violations.push_back({"recheck_max", "must be at least 100ms"});
    if (Config().leader_lease < absl::Seconds(1) || Config().leader_lease > absl::Minutes(5)) {
      violations.push_back({"leader_lease", "must be between 1s and 5m"});
    }
    if (violations.empty()) return absl::OkStatus();
    return InvalidArgumentWithViolations("invalid orchestrator settings", violations);
  };
  definition.create = MakeOrchestratorHost;
  return definition;
}

}  // namespace crosstenant::orchestrator
