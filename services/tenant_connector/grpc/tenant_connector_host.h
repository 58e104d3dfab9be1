#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_GRPC_TENANT_CONNECTOR_HOST_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_GRPC_TENANT_CONNECTOR_HOST_H_

// The wiring of the tenant-connector server: which gRPC services it registers and how they are built.

#include <memory>

#include "absl/status/statusor.h"
#include "services/common/server.h"

namespace crosstenant::tenant_connector {

// Builds the tenant-connector host. Until its issue lands, crosstenant.v1.TenantConnector answers every RPC with
// UNIMPLEMENTED; health, reflection, metrics, config and shutdown are served by the bootstrap.
absl::StatusOr<std::unique_ptr<ServiceHost>> MakeTenantConnectorHost(ServerEnvironment& environment);

// The program's definition for RunServer (name, defaults, flags, host factory).
ServerDefinition TenantConnectorDefinition();

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_GRPC_TENANT_CONNECTOR_HOST_H_
