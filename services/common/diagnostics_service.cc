#include "services/common/diagnostics_service.h"
#include "services/common/proto_time.h"

#include <grpcpp/alarm.h>

#include <chrono>
#include <memory>

#include "services/common/errors.h"
#include "services/common/grpc_status.h"
#include "services/common/tls.h"

namespace crosstenant {
namespace {

constexpr size_t kMaxEchoPayloadBytes = 1 << 20;
constexpr int64_t kMaxEchoDelaySeconds = 60;

// Answers an Echo after its delay without holding a callback thread: a gRPC alarm fires the reply,
// and a cancelled call (client gone, server past its shutdown grace) cancels the alarm.
class DelayedEchoReactor : public grpc::ServerUnaryReactor {
 public:
  DelayedEchoReactor(const crosstenant::v1::EchoRequest* request, crosstenant::v1::EchoResponse* response,
                     absl::Duration delay)
      : request_(request), response_(response) {
    alarm_.Set(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(delay),
               [this](bool fired) { Reply(fired); });
  }

  void OnCancel() override { alarm_.Cancel(); }
  void OnDone() override { delete this; }

 private:
  void Reply(bool fired) {
    if (!fired) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "echo cancelled while waiting"));
      return;
    }
    response_->set_payload(request_->payload());
    SetTimestamp(absl::Now(), response_->mutable_send_time());
    Finish(grpc::Status::OK);
  }

  const crosstenant::v1::EchoRequest* request_;
  crosstenant::v1::EchoResponse* response_;
  grpc::Alarm alarm_;
};

}  // namespace

void DiagnosticsService::SetInfo(Info info) {
  absl::MutexLock lock(&mutex_);
  info_ = std::move(info);
}

grpc::ServerUnaryReactor* DiagnosticsService::GetServerInfo(grpc::CallbackServerContext* context,
                                                            const crosstenant::v1::GetServerInfoRequest* /*request*/,
                                                            crosstenant::v1::GetServerInfoResponse* response) {
  {
    absl::MutexLock lock(&mutex_);
    response->set_service(info_.service);
    response->set_version(info_.version);
    response->set_revision(info_.revision);
    SetTimestamp(info_.start_time, response->mutable_start_time());
    response->set_grpc_address(info_.grpc_address);
    response->set_metrics_address(info_.metrics_address);
    response->set_health_address(info_.health_address);
    response->set_mtls(info_.mtls);
  }
  if (auto auth = context->auth_context()) {
    for (std::string& name : PeerNamesOf(*auth)) response->add_caller_identities(std::move(name));
  }
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* DiagnosticsService::Echo(grpc::CallbackServerContext* context,
                                                   const crosstenant::v1::EchoRequest* request,
                                                   crosstenant::v1::EchoResponse* response) {
  std::vector<FieldViolation> violations;
  if (request->payload().size() > kMaxEchoPayloadBytes) {
    violations.push_back({"payload", "must be at most 1 MiB"});
  }
  const auto& delay = request->delay();
  if (delay.seconds() < 0 || delay.nanos() < 0 || delay.nanos() > 999999999 || delay.seconds() > kMaxEchoDelaySeconds ||
      (delay.seconds() == kMaxEchoDelaySeconds && delay.nanos() > 0)) {
    violations.push_back({"delay", "must be between 0s and 60s"});
  }
  if (!violations.empty()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(InvalidArgumentWithViolations("invalid EchoRequest", violations)));
    return reactor;
  }
  const absl::Duration wait = absl::Seconds(delay.seconds()) + absl::Nanoseconds(delay.nanos());
  if (wait > absl::ZeroDuration()) return new DelayedEchoReactor(request, response, wait);
  response->set_payload(request->payload());
  SetTimestamp(absl::Now(), response->mutable_send_time());
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace crosstenant
