#ifndef CROSSTENANT_SERVICES_COMMON_GRPC_TRACE_H_
#define CROSSTENANT_SERVICES_COMMON_GRPC_TRACE_H_

// The trace of every call a server receives (trace_context.h): a server interceptor takes the
// caller's `traceparent` metadata, or starts a new trace when it is absent or malformed, and makes it
// the current trace while the handler runs. Work the handler hands to an Executor keeps it. Each
// call is logged at debug level ("call handled", with its method and code) under its trace.
//
//   interceptors.push_back(NewTraceInterceptorFactory());
//   builder.experimental().SetInterceptorCreators(std::move(interceptors));

#include <memory>

#include <grpcpp/support/server_interceptor.h>

namespace crosstenant {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewTraceInterceptorFactory();

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_GRPC_TRACE_H_
