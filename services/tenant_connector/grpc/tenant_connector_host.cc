#include "services/tenant_connector/grpc/tenant_connector_host.h"

#include "crosstenant/v1/tenant_connector.grpc.pb.h"

namespace crosstenant::tenant_connector {
namespace {

class TenantConnectorHost : public ServiceHost {
 public:
  std::vector<HostedService> Services() override {
    return {{&service_, crosstenant::v1::TenantConnector::service_full_name()}};
  }

 private:
  crosstenant::v1::TenantConnector::CallbackService service_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeTenantConnectorHost(ServerEnvironment& /*environment*/) {
  return std::make_unique<TenantConnectorHost>();
}

ServerDefinition TenantConnectorDefinition() {
  ServerDefinition definition;
  definition.name = "tenant-connector";
  definition.summary = "Holds the source and target Microsoft 365 tenant connections (every geo) and serves the tenant operations of the migration steps.";
  definition.metrics_prefix = "tenant_connector";
  definition.default_grpc_address = "127.0.0.1:50051";
  definition.default_metrics_address = "127.0.0.1:9464";
  definition.create = MakeTenantConnectorHost;
  return definition;
}

}  // namespace crosstenant::tenant_connector
