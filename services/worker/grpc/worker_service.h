#ifndef CROSSTENANT_SERVICES_WORKER_GRPC_WORKER_SERVICE_H_
#define CROSSTENANT_SERVICES_WORKER_GRPC_WORKER_SERVICE_H_

// crosstenant.v1.Worker: the worker's own status and drain, over gRPC.

#include "crosstenant/v1/worker.grpc.pb.h"
#include "services/common/authorization.h"
#include "services/worker/core/worker_loop.h"

namespace crosstenant::worker {

// The role each method of crosstenant.v1.Worker needs (authorization.h).
const MethodRoles& WorkerMethodRoles();

class WorkerService final : public crosstenant::v1::Worker::CallbackService {
 public:
  explicit WorkerService(WorkerLoop* loop) : loop_(loop) {}

  grpc::ServerUnaryReactor* GetWorkerStatus(grpc::CallbackServerContext* context,
                                            const crosstenant::v1::GetWorkerStatusRequest* request,
                                            crosstenant::v1::GetWorkerStatusResponse* response) override;
  grpc::ServerUnaryReactor* Drain(grpc::CallbackServerContext* context, const crosstenant::v1::DrainRequest* request,
                                  crosstenant::v1::DrainResponse* response) override;

 private:
  WorkerLoop* loop_;
};

}  // namespace crosstenant::worker

#endif  // CROSSTENANT_SERVICES_WORKER_GRPC_WORKER_SERVICE_H_
