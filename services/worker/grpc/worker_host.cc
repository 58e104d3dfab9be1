#include "services/worker/grpc/worker_host.h"

#include "crosstenant/v1/worker.grpc.pb.h"

namespace crosstenant::worker {
namespace {

class WorkerHost : public ServiceHost {
 public:
  std::vector<HostedService> Services() override {
    return {{&service_, crosstenant::v1::Worker::service_full_name()}};
  }

 private:
  crosstenant::v1::Worker::CallbackService service_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeWorkerHost(ServerEnvironment& /*environment*/) {
  return std::make_unique<WorkerHost>();
}

ServerDefinition WorkerDefinition() {
  ServerDefinition definition;
  definition.name = "worker";
  definition.summary = "Leases per-user migration tasks from the orchestrator and performs them through the tenant connector.";
  definition.metrics_prefix = "worker";
  definition.default_grpc_address = "127.0.0.1:50053";
  definition.default_metrics_address = "127.0.0.1:9466";
  definition.create = MakeWorkerHost;
  return definition;
}

}  // namespace crosstenant::worker
