#ifndef CROSSTENANT_SERVICES_COMMON_REFLECTION_V1_H_
#define CROSSTENANT_SERVICES_COMMON_REFLECTION_V1_H_

// grpc.reflection.v1.ServerReflection, served beside the v1alpha service that gRPC 1.51's plugin
// provides. grpcurl, buf curl and Postman ask for v1 first; answering it spares them a failed call
// and keeps working once they drop v1alpha. The answers come from the generated descriptor pool, as
// v1alpha's do:
//
//   ReflectionV1Service reflection({"crosstenant.v1.Orchestrator", "grpc.health.v1.Health", ...});
//   builder.RegisterService(&reflection);
//
// A file is sent with the files it imports, each at most once per stream (clients cache them), as
// the reference implementations do.

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace crosstenant {

class ReflectionV1Service final : public grpc::reflection::v1::ServerReflection::CallbackService {
 public:
  // `services`: the full names listed by list_services (every service the server hosts).
  explicit ReflectionV1Service(std::vector<std::string> services);

  grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                          grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

  // The answer to one request; `sent` holds the files already sent on this stream (and is updated).
  grpc::reflection::v1::ServerReflectionResponse Answer(const grpc::reflection::v1::ServerReflectionRequest& request,
                                                        std::vector<std::string>& sent) const;

 private:
  class Stream;
  std::vector<std::string> services_;
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_REFLECTION_V1_H_
