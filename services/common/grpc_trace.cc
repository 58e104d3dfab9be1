#include "services/common/grpc_trace.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "services/common/logging.h"
#include "services/common/trace_context.h"

namespace crosstenant {
namespace {

class TraceInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit TraceInterceptor(const char* method) : method_(method == nullptr ? "" : method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (!trace_ && methods->QueryInterceptionHookPoint(Hook::POST_RECV_INITIAL_METADATA)) {
      absl::string_view header;
      if (const auto* metadata = methods->GetRecvInitialMetadata(); metadata != nullptr) {
        if (auto it = metadata->find(kTraceparentKey); it != metadata->end()) {
          header = absl::string_view(it->second.data(), it->second.size());
        }
      }
      trace_ = TraceFromHeaderOrNew(header);
    }
    // gRPC runs the handler from within the last interceptor's Proceed() on this thread (the
    // callback and the synchronous API alike), so the scope covers the handler and whatever it
    // schedules, and ends before the thread serves another call.
    ScopedTrace scope(trace_);
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
      // One line per call at debug level, so that a trace shows every call it made through the mesh.
      log::Debug(
          "call handled",
          {{"method", method_},
           {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(methods->GetSendStatus().error_code()))}});
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  std::optional<TraceContext> trace_;
};

class TraceInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new TraceInterceptor(info->method());
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewTraceInterceptorFactory() {
  return std::make_unique<TraceInterceptorFactory>();
}

}  // namespace crosstenant
