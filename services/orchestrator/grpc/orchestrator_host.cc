#include "services/orchestrator/grpc/orchestrator_host.h"

#include "crosstenant/v1/orchestrator.grpc.pb.h"

namespace crosstenant::orchestrator {
namespace {

class OrchestratorHost : public ServiceHost {
 public:
  std::vector<HostedService> Services() override {
    return {{&service_, crosstenant::v1::Orchestrator::service_full_name()}};
  }

 private:
  crosstenant::v1::Orchestrator::CallbackService service_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeOrchestratorHost(ServerEnvironment& /*environment*/) {
  return std::make_unique<OrchestratorHost>();
}

ServerDefinition OrchestratorDefinition() {
  ServerDefinition definition;
  definition.name = "orchestrator";
  definition.summary = "Drives cross-tenant OneDrive migrations (steps 2-7) as durable, resumable state machines and leases per-user work to workers.";
  definition.metrics_prefix = "orchestrator";
  definition.default_grpc_address = "127.0.0.1:50052";
  definition.default_metrics_address = "127.0.0.1:9465";
  definition.create = MakeOrchestratorHost;
  return definition;
}

}  // namespace crosstenant::orchestrator
