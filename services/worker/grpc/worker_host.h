#ifndef CROSSTENANT_SERVICES_WORKER_GRPC_WORKER_HOST_H_
#define CROSSTENANT_SERVICES_WORKER_GRPC_WORKER_HOST_H_

// The wiring of the worker server: which gRPC services it registers and how they are built.

#include <memory>

#include "absl/status/statusor.h"
#include "services/common/server.h"

namespace crosstenant::worker {

// Builds the worker host: the lease loop over the orchestrator and the connector, and the
// crosstenant.v1.Worker service (status, drain).
absl::StatusOr<std::unique_ptr<ServiceHost>> MakeWorkerHost(ServerEnvironment& environment);

// The program's definition for RunServer (name, defaults, flags, host factory).
ServerDefinition WorkerDefinition();

}  // namespace crosstenant::worker

#endif  // CROSSTENANT_SERVICES_WORKER_GRPC_WORKER_HOST_H_
