#include "services/tenant_connector/grpc/tenant_connector_host.h"

int main(int argc, char** argv) {
  return crosstenant::RunServer(argc, argv, crosstenant::tenant_connector::TenantConnectorDefinition());
}
