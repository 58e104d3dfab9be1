#ifndef CROSSTENANT_SERVICES_COMMON_GRPC_SERVER_METRICS_H_
#define CROSSTENANT_SERVICES_COMMON_GRPC_SERVER_METRICS_H_

// The go-grpc-prometheus server metrics, recorded by a server interceptor, with the same names,
// labels and Go code spellings that community dashboards and alerts expect:
//
//   grpc_server_started_total{grpc_service,grpc_method,grpc_type}
//   grpc_server_handled_total{grpc_service,grpc_method,grpc_type,grpc_code}
//   grpc_server_msg_received_total / grpc_server_msg_sent_total{grpc_service,grpc_method,grpc_type}
//   grpc_server_handling_seconds{grpc_service,grpc_method,grpc_type,grpc_code}   (histogram)
//
// grpc_type is unary | client_stream | server_stream | bidi_stream.

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace google::protobuf {
class ServiceDescriptor;
}

namespace crosstenant {

class GrpcServerMetrics {
 public:
  explicit GrpcServerMetrics(prometheus::Registry& registry);

  // Creates the started and handled series (every code) of each method at zero, as
  // go-grpc-prometheus does, so that rates and absent() work before the first call.
  void Preregister(const google::protobuf::ServiceDescriptor& service);

  // An interceptor factory for ServerBuilder::experimental().SetInterceptorCreators(); the factory
  // refers to this object, which must outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

  // The series of one method. Public for the interceptor; counters are created once and kept.
  struct MethodSeries {
    std::map<std::string, std::string> labels;
    prometheus::Counter* started = nullptr;
    prometheus::Counter* msg_received = nullptr;
    prometheus::Counter* msg_sent = nullptr;
    std::array<prometheus::Counter*, 17> handled{};
    std::array<prometheus::Histogram*, 17> handling{};  // created on first use: 14 buckets each
  };
  // The series of `full_method` ("/pkg.Service/Method"), created on first use.
  MethodSeries& SeriesFor(const std::string& full_method, const char* grpc_type);
  void RecordHandled(MethodSeries& series, int code, double seconds);

  // A call refused by authorization before any handler or interceptor ran: counted as started and
  // handled with PermissionDenied, as go-grpc-prometheus counts a call its auth interceptor refuses.
  // A method the server does not serve counts under grpc_service="unknown", grpc_method="unknown", so
  // that callers cannot create series with names of their own.
  void RecordDenied(const std::string& full_method);

 private:
  MethodSeries& CreateSeries(const std::string& full_method, const char* grpc_type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Counter>& msg_received_;
  prometheus::Family<prometheus::Counter>& msg_sent_;
  prometheus::Family<prometheus::Histogram>& handling_seconds_;

  absl::Mutex mutex_;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodSeries>> series_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_GRPC_SERVER_METRICS_H_
