#include "services/common/grpc_server_metrics.h"

#include <chrono>

#include <google/protobuf/descriptor.h>

#include "services/common/grpc_status.h"

namespace crosstenant {
namespace {

// Prometheus' default buckets, which go-grpc-prometheus uses too.
const prometheus::Histogram::BucketBoundaries kHandlingBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                  0.5,   1,    2.5,   5,    10};

const char* TypeName(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::UNARY:
      return "unary";
    case Type::CLIENT_STREAMING:
      return "client_stream";
    case Type::SERVER_STREAMING:
      return "server_stream";
    case Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unary";
}

class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcServerMetrics* metrics, grpc::experimental::ServerRpcInfo* info)
      : metrics_(metrics),
        series_(metrics->SeriesFor(info->method(), TypeName(info->type()))),
        start_(std::chrono::steady_clock::now()) {
    series_.started->Increment();
  }

  // An RPC that ends without a status sent (the client went away) counts as Canceled.
  ~MetricsInterceptor() override {
    if (!status_recorded_) metrics_->RecordHandled(series_, static_cast<int>(grpc::StatusCode::CANCELLED), Elapsed());
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE)) series_.msg_received->Increment();
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_MESSAGE)) series_.msg_sent->Increment();
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS) && !status_recorded_) {
      status_recorded_ = true;
      metrics_->RecordHandled(series_, static_cast<int>(methods->GetSendStatus().error_code()), Elapsed());
    }
    methods->Proceed();
  }

 private:
  double Elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

  GrpcServerMetrics* metrics_;
  GrpcServerMetrics::MethodSeries& series_;
  std::chrono::steady_clock::time_point start_;
  bool status_recorded_ = false;
};

class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(GrpcServerMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info);
  }

 private:
  GrpcServerMetrics* metrics_;
};

}  // namespace

GrpcServerMetrics::GrpcServerMetrics(prometheus::Registry& registry)
    : started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("Total number of RPCs started on the server.")
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("Total number of RPCs completed on the server, regardless of success or failure.")
                   .Register(registry)),
      msg_received_(prometheus::BuildCounter()
                        .Name("grpc_server_msg_received_total")
                        .Help("Total number of RPC stream messages received on the server.")
                        .Register(registry)),
      msg_sent_(prometheus::BuildCounter()
                    .Name("grpc_server_msg_sent_total")
                    .Help("Total number of gRPC stream messages sent by the server.")
                    .Register(registry)),
      handling_seconds_(prometheus::BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help("Histogram of response latency (seconds) of gRPC that had been application-level "
                                  "handled by the server.")
                            .Register(registry)) {}

void GrpcServerMetrics::Preregister(const google::protobuf::ServiceDescriptor& service) {
  absl::MutexLock lock(&mutex_);
  for (int i = 0; i < service.method_count(); ++i) {
    const google::protobuf::MethodDescriptor* method = service.method(i);
    const char* type = method->client_streaming() ? (method->server_streaming() ? "bidi_stream" : "client_stream")
                                                  : (method->server_streaming() ? "server_stream" : "unary");
    const std::string full_method = "/" + service.full_name() + "/" + method->name();
    if (series_.contains(full_method)) continue;
    MethodSeries& series = CreateSeries(full_method, type);
    for (int code = 0; code < 17; ++code) {
      auto labels = series.labels;
      labels["grpc_code"] = GoCodeName(static_cast<grpc::StatusCode>(code));
      series.handled[code] = &handled_.Add(labels);
    }
  }
}

GrpcServerMetrics::MethodSeries& GrpcServerMetrics::SeriesFor(const std::string& full_method, const char* grpc_type) {
  {
    absl::ReaderMutexLock lock(&mutex_);
    auto it = series_.find(full_method);
    if (it != series_.end()) return *it->second;
  }
  absl::MutexLock lock(&mutex_);
  auto it = series_.find(full_method);
  if (it != series_.end()) return *it->second;
  return CreateSeries(full_method, grpc_type);
}

GrpcServerMetrics::MethodSeries& GrpcServerMetrics::CreateSeries(const std::string& full_method,
                                                                 const char* grpc_type) {
  auto series = std::make_unique<MethodSeries>();
  // "/pkg.Service/Method" -> grpc_service="pkg.Service", grpc_method="Method".
  const size_t slash = full_method.find('/', 1);
  const std::string service = slash == std::string::npos ? "unknown" : full_method.substr(1, slash - 1);
  const std::string method = slash == std::string::npos ? full_method : full_method.substr(slash + 1);
  series->labels = {{"grpc_service", service}, {"grpc_method", method}, {"grpc_type", grpc_type}};
  series->started = &started_.Add(series->labels);
  series->msg_received = &msg_received_.Add(series->labels);
  series->msg_sent = &msg_sent_.Add(series->labels);
  MethodSeries& result = *series;
  series_[full_method] = std::move(series);
  return result;
}

void GrpcServerMetrics::RecordHandled(MethodSeries& series, int code, double seconds) {
  if (code < 0 || code >= 17) code = static_cast<int>(grpc::StatusCode::UNKNOWN);
  prometheus::Counter* handled = nullptr;
  prometheus::Histogram* handling = nullptr;
  {
    absl::ReaderMutexLock lock(&mutex_);
    handled = series.handled[code];
    handling = series.handling[code];
  }
  if (handled == nullptr || handling == nullptr) {
    absl::MutexLock lock(&mutex_);
    auto labels = series.labels;
    labels["grpc_code"] = GoCodeName(static_cast<grpc::StatusCode>(code));
    if (series.handled[code] == nullptr) series.handled[code] = &handled_.Add(labels);
    if (series.handling[code] == nullptr) series.handling[code] = &handling_seconds_.Add(labels, kHandlingBuckets);
    handled = series.handled[code];
    handling = series.handling[code];
  }
  handled->Increment();
  handling->Observe(seconds);
}

void GrpcServerMetrics::RecordDenied(const std::string& full_method) {
  MethodSeries* series = nullptr;
  {
    absl::ReaderMutexLock lock(&mutex_);
    if (auto it = series_.find(full_method); it != series_.end()) series = it->second.get();
  }
  if (series == nullptr) series = &SeriesFor("/unknown/unknown", "unary");
  series->started->Increment();
  RecordHandled(*series, static_cast<int>(grpc::StatusCode::PERMISSION_DENIED), 0);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> GrpcServerMetrics::NewInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

}  // namespace crosstenant
