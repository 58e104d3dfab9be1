#include "services/worker/grpc/worker_service.h"

#include "services/common/build_info.h"

namespace crosstenant::worker {

grpc::ServerUnaryReactor* WorkerService::GetWorkerStatus(grpc::CallbackServerContext* context,
                                                         const crosstenant::v1::GetWorkerStatusRequest* /*request*/,
                                                         crosstenant::v1::GetWorkerStatusResponse* response) {
  *response->mutable_status() = loop_->Status();
  response->mutable_status()->set_version(kVersion);
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::Drain(grpc::CallbackServerContext* context,
                                               const crosstenant::v1::DrainRequest* /*request*/,
                                               crosstenant::v1::DrainResponse* response) {
  loop_->Drain();
  *response->mutable_status() = loop_->Status();
  response->mutable_status()->set_version(kVersion);
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

const MethodRoles& WorkerMethodRoles() {
  static const auto* const roles = new MethodRoles{
      {"GetWorkerStatus", Role::kRead},
      // Stops this worker taking new tasks: an operational action, not a change to any migration.
      {"Drain", Role::kOperate},
  };
  return *roles;
}

}  // namespace crosstenant::worker
