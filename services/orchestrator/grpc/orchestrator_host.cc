#include "services/orchestrator/grpc/orchestrator_host.h"

#include <grpcpp/create_channel.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/common/audit_chain.h"
#include "services/common/byte_size.h"
#include "services/common/logging.h"
#include "services/common/tls.h"
#include "services/common/errors.h"
#include "services/common/executor.h"
#include "services/common/status_macros.h"
#include "services/common/periodic_thread.h"
#include "services/orchestrator/core/audit_trail.h"
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
#include "services/common/store_health.h"

namespace crosstenant::orchestrator {
namespace {

// The orchestrator's own settings (YAML keys at the top level of its config file, and flags).
struct OrchestratorConfig {
  std::string store = "sqlite";
  std::string sqlite_path = "orchestrator.db";
  int64_t sqlite_max_size = 0;  // bytes; 0: no cap
  // PostgreSQL's connection string (it may hold a password): from this file, else from the
  // CROSSTENANT_POSTGRES_DSN environment variable. Never logged.
  std::string postgres_dsn_file;
  int postgres_pool_size = 4;
  std::string connector_address = "127.0.0.1:50051";
  ClientTlsConfig client_tls;  // towards the connector
  std::string server_name;     // TLS name to verify on the connector, when it differs from the host
  absl::Duration driver_tick = absl::Seconds(1);
  absl::Duration poll_interval = absl::Seconds(30);          // between two looks at a move in progress
  absl::Duration recheck_max = absl::Hours(1);               // longest wait between checks of trust, compatibility
  std::string replica_id;                                    // default: host name and process id
  absl::Duration leader_lease = absl::Seconds(6);            // a dead leader is replaced within about this long
  absl::Duration follow_interval = absl::Milliseconds(250);  // how often other replicas' events are looked for
};

// The state file's cap, when set: room for the schema and a small migration, at most what SQLite can
// address with 4 KiB pages.
constexpr int64_t kMinSqliteSize = int64_t{1} << 20;
constexpr int64_t kMaxSqliteSize = int64_t{16} << 40;

TaskService::Options TaskOptions(const OrchestratorConfig& config, OrchestratorMetrics* metrics, StoreHealth* health) {
  TaskService::Options options;
  options.poll_interval = config.poll_interval;
  options.metrics = metrics;
  options.health = health;
  return options;
}

// Logs what a periodic task (the phase driver's tick, the leadership campaign) fails with: a new error at
// once, the same one again at most once a minute (with how many times it happened since), so that an
// error that lasts does not flood the log. RESOURCE_EXHAUSTED is not logged here: it is the state
// database refusing writes, and StoreHealth logs that episode once.
class RepeatedErrorLog {
 public:
  explicit RepeatedErrorLog(std::string what) : what_(std::move(what)) {}

  void Report(const absl::Status& status) {
    if (absl::IsResourceExhausted(status)) return;
    if (status.ok()) {
      if (repeats_ > 0)
        log::Info(absl::StrCat(what_, " succeeds again"), {{"failures_not_logged", absl::StrCat(repeats_)}});
      last_.clear();
      repeats_ = 0;
      return;
    }
    const std::string message(status.message());
    const absl::Time now = absl::Now();
    if (message == last_ && now - logged_ < absl::Minutes(1)) {
      ++repeats_;
      return;
    }
    log::Fields fields = {{"error", message}, {"code", absl::StatusCodeToString(status.code())}};
    if (message == last_ && repeats_ > 0) fields.push_back({"failures_not_logged", absl::StrCat(repeats_)});
    log::Error(what_, fields);
    last_ = message;
    logged_ = now;
    repeats_ = 0;
  }

 private:
  const std::string what_;
  std::string last_;  // the last error logged
  absl::Time logged_ = absl::InfinitePast();
  int64_t repeats_ = 0;  // failures with that error since
};

std::shared_ptr<grpc::Channel> ConnectorChannel(const OrchestratorConfig& config) {
  grpc::ChannelArguments args;
  if (!config.server_name.empty()) args.SetSslTargetNameOverride(config.server_name);
  return grpc::CreateCustomChannel(config.connector_address, MakeChannelCredentials(config.client_tls), args);
}

LeaderElection::Options ElectionOptions(const OrchestratorConfig& config) {
  LeaderElection::Options options;
  options.replica_id = config.replica_id;
  options.lease = config.leader_lease;
  return options;
}

// Every replica serves the API and workers; the one holding the leadership lease also drives the
// phases. With one replica it simply always leads.
class OrchestratorHost : public ServiceHost {
 public:
  OrchestratorHost(const OrchestratorConfig& config, absl::Duration grace, std::shared_ptr<StoreHealth> health,
                   std::unique_ptr<MigrationStore> store, std::shared_ptr<OrchestratorMetrics> metrics)
      : config_(config),
        grace_(grace),
        health_(std::move(health)),
        store_(std::move(store)),
        metrics_(std::move(metrics)),
        migrations_(store_.get(), MigrationOptions(&connector_)),
        tasks_(store_.get(), &migrations_.events(), &migrations_.write_mutex(),
               TaskOptions(config, metrics_.get(), health_.get())),
        connector_(ConnectorChannel(config)),
        election_(store_.get(), ElectionOptions(config)),
        driver_(&migrations_, &connector_, DriverOptions(config, &election_)),
        follower_(store_.get(), &migrations_.events()),
        audit_(store_.get(), AuditOptions(metrics_.get())),
        service_(&migrations_, &tasks_, {}, ServiceOptionsWith(&audit_)) {}

  // After the gRPC server's Shutdown, which waited (up to the grace) for the calls the service's
  // executor finishes: what still runs there gets as long again, then is abandoned.
  ~OrchestratorHost() override {
    BeginShutdown();
    service_.Shutdown(grace_);
  }

  std::vector<HostedService> Services() override {
    return {{&service_, crosstenant::v1::Orchestrator::service_full_name(), OrchestratorMethodRoles()}};
  }

  void CallDenied(const std::vector<std::string>& caller, absl::string_view method,
                  const absl::Status& refusal) override {
    AuditedCall call{AuditCaller(caller), std::string(method), "", "", ""};
    denied_calls_.Run([this, call = std::move(call), refusal] { audit_.Record(call, refusal); });
  }

  absl::Status WarmUp() override {
    campaign_.Start(election_.renew_interval(), [this] {
      campaign_errors_.Report(election_.Campaign());
      metrics_->SetLeadership(election_.term());
    });
    driver_thread_.Start(config_.driver_tick, [this] {
      if (!election_.leading()) return;
      // While the state database is full no step is taken: each would call Microsoft and then fail to
      // record what it did. The first tick after space returns picks up where the last one stopped.
      absl::Status ticked = health_->CheckWritable();
      if (ticked.ok()) ticked = driver_.Tick();
      tick_errors_.Report(ticked);
    });
    follow_.Start(config_.follow_interval, [this] {
      absl::Status followed = follower_.PollOnce();
      if (!followed.ok()) log::Error("event follower", {{"error", std::string(followed.message())}});
    });
    return absl::OkStatus();
  }

  void ReleaseMemory() override { store_->ReleaseMemory(); }

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
  static MigrationService::Options MigrationOptions(TenantGateway* tenant) {
    MigrationService::Options options;
    options.tenant = tenant;  // constructed later; used only once requests arrive
    return options;
  }

  static AuditTrail::Options AuditOptions(OrchestratorMetrics* metrics) {
    AuditTrail::Options options;
    options.metrics = metrics;
    return options;
  }

  static ServiceOptions ServiceOptionsWith(AuditTrail* audit) {
    ServiceOptions options;
    options.audit = audit;
    return options;
  }

  static PhaseDriver::Options DriverOptions(const OrchestratorConfig& config, LeaderElection* election) {
    PhaseDriver::Options options;
    options.max_recheck = config.recheck_max;
    options.first_recheck = std::min(options.first_recheck, options.max_recheck);
    options.leader_term = [election] { return election->term(); };
    return options;
  }

  const OrchestratorConfig config_;
  const absl::Duration grace_;
  std::shared_ptr<StoreHealth> health_;  // outlives the store, which reports to it
  std::unique_ptr<MigrationStore> store_;
  std::shared_ptr<OrchestratorMetrics> metrics_;    // shared with the metrics exposer
  RepeatedErrorLog campaign_errors_{"leadership"};  // used by campaign_ only
  RepeatedErrorLog tick_errors_{"phase driver"};    // used by driver_thread_ only
  MigrationService migrations_;
  TaskService tasks_;
  GrpcTenantGateway connector_;
  LeaderElection election_;
  PhaseDriver driver_;
  EventFollower follower_;
  AuditTrail audit_;
  Executor denied_calls_{1};  // records calls refused by authorization, off gRPC's threads (CallDenied)
  OrchestratorService service_;
  PeriodicThread campaign_;
  PeriodicThread driver_thread_;
  PeriodicThread follow_;
};

absl::StatusOr<std::unique_ptr<MigrationStore>> OpenStore(const OrchestratorConfig& config, StoreHealth* health) {
  if (config.store == "sqlite") {
    SqliteDatabase::Options options;
    options.max_size_bytes = config.sqlite_max_size;
    options.health = health;
    ASSIGN_OR_RETURN(std::unique_ptr<SqliteMigrationStore> store,
                     SqliteMigrationStore::Open(config.sqlite_path, options));
    if (config.sqlite_max_size > 0) {
      log::Info("state database capped",
                {{"database", config.sqlite_path}, {"sqlite_max_size", FormatByteSize(config.sqlite_max_size)}});
    }
    return std::unique_ptr<MigrationStore>(std::move(store));
  }
  std::string dsn;
  if (!config.postgres_dsn_file.empty()) {
    std::ifstream file(config.postgres_dsn_file);
    if (!file) {
      return absl::FailedPreconditionError(absl::StrCat("cannot read postgres_dsn_file ", config.postgres_dsn_file));
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
  options.pool_size = config.postgres_pool_size;
  options.health = health;
  ASSIGN_OR_RETURN(std::unique_ptr<PostgresMigrationStore> store, PostgresMigrationStore::Open(dsn, options));
  return std::unique_ptr<MigrationStore>(std::move(store));
}

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeOrchestratorHost(ServerEnvironment& environment,
                                                                  OrchestratorConfig config) {
  if (config.replica_id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    config.replica_id = absl::StrCat(host, "-", getpid());
  }
  auto health = std::make_shared<StoreHealth>(config.store == "sqlite" ? config.sqlite_path : "postgres");
  ASSIGN_OR_RETURN(std::unique_ptr<MigrationStore> store, OpenStore(config, health.get()));
  auto metrics = std::make_shared<OrchestratorMetrics>(store.get(), environment.metrics, health.get());
  environment.add_collectable(metrics);
  return std::make_unique<OrchestratorHost>(config, environment.config.shutdown_grace, std::move(health),
                                            std::move(store), std::move(metrics));
}

}  // namespace

ServerDefinition OrchestratorDefinition() {
  auto config = std::make_shared<OrchestratorConfig>();
  ServerDefinition definition;
  definition.name = "orchestrator";
  definition.summary =
      "Drives cross-tenant OneDrive migrations (steps 2-7) as durable, resumable state machines and leases "
      "per-user work to workers.";
  definition.metrics_prefix = "orchestrator";
  definition.state_database = [config] { return config->store == "sqlite" ? config->sqlite_path : std::string(); };
  definition.default_grpc_address = "127.0.0.1:50052";
  definition.default_metrics_address = "127.0.0.1:9465";
  definition.declare_settings = [config](SettingsTable& table) {
    OrchestratorConfig& c = *config;
    table.Custom(
        "store", "sqlite|postgres", c.store,
        "where migrations are kept: sqlite (one replica, a local file) or postgres (several replicas sharing "
        "one database)",
        [config](absl::string_view value) {
          if (value != "sqlite" && value != "postgres") {
            return absl::InvalidArgumentError(absl::StrCat("'", value, "' is not supported: use sqlite or postgres"));
          }
          config->store = std::string(value);
          return absl::OkStatus();
        });
    table.Text("sqlite_path", &c.sqlite_path, "FILE", "the SQLite state file");
    table.ByteSize("sqlite_max_size", &c.sqlite_max_size, 0, kMaxSqliteSize,
                   "cap on the SQLite state file, e.g. 512MiB or 2GiB (0: none); at the cap writes are refused "
                   "RESOURCE_EXHAUSTED as on a full disk, and work resumes once pages are free");
    table.Text("postgres_dsn_file", &c.postgres_dsn_file, "FILE",
               "file holding PostgreSQL's connection string (libpq; sslmode=verify-full sslrootcert=... for TLS); "
               "default: the CROSSTENANT_POSTGRES_DSN environment variable");
    table.Int("postgres_pool_size", &c.postgres_pool_size, 1, 64, "connections to PostgreSQL");
    table.Text("connector_address", &c.connector_address, "HOST:PORT", "the tenant connector");
    table.Text("client_tls.ca", &c.client_tls.ca_file, "FILE",
               "CA that the connector's certificate chains to (turns TLS on)");
    table.Text("client_tls.cert", &c.client_tls.cert_file, "FILE", "the orchestrator's client certificate (mTLS)");
    table.Text("client_tls.key", &c.client_tls.key_file, "FILE", "the orchestrator's client key (mTLS)");
    table.Text("client_tls.server_name", &c.server_name, "NAME", "TLS name to verify on the connector");
    table.Duration("driver_tick", &c.driver_tick, absl::Milliseconds(10), "how often the phases are driven");
    table.Duration("poll_interval", &c.poll_interval, absl::Milliseconds(100),
                   "how often a move in progress is looked at");
    table.Duration("recheck_max", &c.recheck_max, absl::Milliseconds(100),
                   "longest wait between two checks of trust or compatibility, which back off up to it");
    table.Text("replica_id", &c.replica_id, "NAME",
               "this replica's unique name among the orchestrators sharing a store (default: host name and pid; the "
               "pod name on Kubernetes)");
    table.Duration("leader_lease", &c.leader_lease, absl::Seconds(1),
                   "how long the driving replica's lease lasts: another replica takes over this long after it dies "
                   "(at most 5m)");
    table.Duration("follow_interval", &c.follow_interval, absl::Milliseconds(10),
                   "how often the events other replicas wrote are looked for (watch streams of this replica)");
  };
  definition.validate_config = [config]() -> absl::Status {
    std::vector<FieldViolation> violations;
    if (config->store == "sqlite" && config->sqlite_path.empty()) {
      violations.push_back({"sqlite_path", "must name a file"});
    }
    if (config->sqlite_max_size != 0 &&
        (config->sqlite_max_size < kMinSqliteSize || config->sqlite_max_size > kMaxSqliteSize)) {
      violations.push_back(
          {"sqlite_max_size",
           absl::StrCat("must be 0 (no cap) or from ", FormatByteSize(kMinSqliteSize), " to ",
                        FormatByteSize(kMaxSqliteSize), ", got ", FormatByteSize(config->sqlite_max_size))});
    }

    std::string host;
    int port = 0;
    if (!SplitHostPort(config->connector_address, &host, &port) || port == 0) {
      violations.push_back(
          {"connector_address", absl::StrCat("'", config->connector_address, "' is not HOST:PORT with a port")});
    }
    if (config->leader_lease > absl::Minutes(5)) violations.push_back({"leader_lease", "must be at most 5m"});
    if (violations.empty()) return absl::OkStatus();
    return InvalidArgumentWithViolations("invalid orchestrator settings", violations);
  };
  definition.create = [config](ServerEnvironment& environment) { return MakeOrchestratorHost(environment, *config); };
  return definition;
}

}  // namespace crosstenant::orchestrator
