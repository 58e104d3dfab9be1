#ifndef CROSSTENANT_SERVICES_COMMON_GRPC_CLIENT_H_
#define CROSSTENANT_SERVICES_COMMON_GRPC_CLIENT_H_

// Calling another service of the mesh from business-facing code: one blocking unary call with a
// deadline and the current trace, its status through the one translation (RetryInfo and BadRequest
// details kept).
//
//   ASSIGN_OR_RETURN(auto response, CallUnary<v1::GetConnectionResponse>(
//       stub.get(), &v1::TenantConnector::Stub::GetConnection, request, std::chrono::seconds(30)));

#include <chrono>
#include <string>

#include <grpcpp/client_context.h>

#include "absl/status/statusor.h"
#include "services/common/grpc_status.h"
#include "services/common/trace_context.h"

namespace crosstenant {

// Sends `traceparent` on `context`: the current trace (trace_context.h) with a new span id, so that
// the callee's log lines carry the same trace id. Nothing when no trace is current.
inline void AddTraceparent(grpc::ClientContext* context) {
  if (std::string traceparent = OutgoingTraceparent(); !traceparent.empty()) {
    context->AddMetadata(kTraceparentKey, traceparent);
  }
}

template <typename Response, typename Stub, typename Request, typename Method>
absl::StatusOr<Response> CallUnary(Stub* stub, Method method, const Request& request,
                                   std::chrono::milliseconds deadline) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  AddTraceparent(&context);
  Response response;
  grpc::Status status = (stub->*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_GRPC_CLIENT_H_
