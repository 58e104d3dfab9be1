#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_ORCHESTRATOR_HOST_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_ORCHESTRATOR_HOST_H_

// The wiring of the orchestrator server: which gRPC services it registers and how they are built.

#include <memory>

#include "absl/status/statusor.h"
#include "services/common/server.h"

namespace crosstenant::orchestrator {

// The program's definition for RunServer (name, defaults, settings, host factory).
ServerDefinition OrchestratorDefinition();

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_ORCHESTRATOR_HOST_H_
