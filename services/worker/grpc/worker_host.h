#ifndef CROSSTENANT_SERVICES_WORKER_GRPC_WORKER_HOST_H_
#define CROSSTENANT_SERVICES_WORKER_GRPC_WORKER_HOST_H_

// The wiring of the worker server: which gRPC services it registers and how they are built.

#include <memory>

#include "absl/status/statusor.h"
#include "services/common/server.h"

namespace crosstenant::worker {

// The program's definition for RunServer (name, defaults, settings, host factory).
ServerDefinition WorkerDefinition();

}  // namespace crosstenant::worker

#endif  // CROSSTENANT_SERVICES_WORKER_GRPC_WORKER_HOST_H_
