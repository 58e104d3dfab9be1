#include "services/orchestrator/grpc/orchestrator_host.h"

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/status_macros.h"
#include "services/orchestrator/core/migration_service.h"
#include "services/orchestrator/core/task_service.h"
#include "services/orchestrator/grpc/orchestrator_service.h"
#include "services/orchestrator/store/sqlite_migration_store.h"

namespace crosstenant::orchestrator {
namespace {

// The orchestrator's own settings (YAML keys at the top level of its config file, and flags).
struct OrchestratorConfig {
  std::string store = "sqlite";
  std::string sqlite_path = "orchestrator.db";
};

OrchestratorConfig& Config() {
  static OrchestratorConfig config;
  return config;
}

class OrchestratorHost : public ServiceHost {
 public:
  explicit OrchestratorHost(std::unique_ptr<MigrationStore> store)
      : store_(std::move(store)),
        migrations_(store_.get(), {}),
        tasks_(store_.get(), &migrations_.events(), &migrations_.write_mutex(), {}),
        service_(&migrations_, &tasks_) {}

  std::vector<HostedService> Services() override {
    return {{&service_, crosstenant::v1::Orchestrator::service_full_name()}};
  }

  // Ends every watch stream with UNAVAILABLE, so that watchers resume on another replica.
  void BeginShutdown() override { migrations_.events().Close(); }

 private:
  std::unique_ptr<MigrationStore> store_;
  MigrationService migrations_;
  TaskService tasks_;
  OrchestratorService service_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeOrchestratorHost(ServerEnvironment& /*environment*/) {
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteMigrationStore> store, SqliteMigrationStore::Open(Config().sqlite_path));
  return std::make_unique<OrchestratorHost>(std::move(store));
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
    flags.Add("store", "sqlite", "where migrations are kept (sqlite; postgres comes with issue 9)",
              [](absl::string_view value) {
                Config().store = std::string(value);
                return absl::OkStatus();
              });
    flags.Add("sqlite-path", "FILE", "the SQLite state file (default ./orchestrator.db)", [](absl::string_view value) {
      Config().sqlite_path = std::string(value);
      return absl::OkStatus();
    });
  };
  definition.read_config = [](ConfigReader& reader) {
    reader.Read("store", &Config().store);
    reader.Read("sqlite_path", &Config().sqlite_path);
  };
  definition.validate_config = []() -> absl::Status {
    std::vector<FieldViolation> violations;
    if (Config().store != "sqlite") {
      violations.push_back({"store", absl::StrCat("'", Config().store, "' is not supported: use sqlite")});
    }
    if (Config().sqlite_path.empty()) violations.push_back({"sqlite_path", "must name a file"});
    if (violations.empty()) return absl::OkStatus();
    return InvalidArgumentWithViolations("invalid orchestrator settings", violations);
  };
  definition.create = MakeOrchestratorHost;
  return definition;
}

}  // namespace crosstenant::orchestrator
