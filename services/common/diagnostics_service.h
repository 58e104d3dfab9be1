#ifndef CROSSTENANT_SERVICES_COMMON_DIAGNOSTICS_SERVICE_H_
#define CROSSTENANT_SERVICES_COMMON_DIAGNOSTICS_SERVICE_H_

// crosstenant.v1.Diagnostics, which the server bootstrap registers on every server.

#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crosstenant/v1/diagnostics.grpc.pb.h"

namespace crosstenant {

class DiagnosticsService final : public crosstenant::v1::Diagnostics::CallbackService {
 public:
  // What GetServerInfo reports; filled in by the bootstrap once the addresses are bound.
  struct Info {
    std::string service;
    std::string version;
    std::string revision;
    absl::Time start_time;
    std::string grpc_address;
    std::string metrics_address;
    std::string health_address;
    bool mtls = false;
  };

  void SetInfo(Info info);

  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* context,
                                          const crosstenant::v1::GetServerInfoRequest* request,
                                          crosstenant::v1::GetServerInfoResponse* response) override;
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context, const crosstenant::v1::EchoRequest* request,
                                 crosstenant::v1::EchoResponse* response) override;

 private:
  absl::Mutex mutex_;
  Info info_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_DIAGNOSTICS_SERVICE_H_
