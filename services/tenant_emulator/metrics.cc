#include "services/tenant_emulator/metrics.h"

#include "prometheus/gauge.h"
#include "prometheus/text_serializer.h"
#include "services/common/build_info.h"

namespace crosstenant::emulator {

EmulatorMetrics::EmulatorMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("tenant_emulator_http_requests_total")
                    .Help("HTTPS requests answered, by route family and status code.")
                    .Register(*registry_)),
      durations_(prometheus::BuildHistogram()
                     .Name("tenant_emulator_http_request_duration_seconds")
                     .Help("Time to answer a request, injected latency included, by route family.")
                     .Register(*registry_)),
      faults_(prometheus::BuildCounter()
                  .Name("tenant_emulator_faults_injected_total")
                  .Help("Faults injected, by kind: throttle, unavailable, unreachable, latency.")
                  .Register(*registry_)),
      tokens_(prometheus::BuildCounter()
                  .Name("tenant_emulator_tokens_issued_total")
                  .Help("Access tokens issued, by OAuth grant type.")
                  .Register(*registry_)),
      move_transitions_(prometheus::BuildCounter()
                            .Name("tenant_emulator_move_transitions_total")
                            .Help("OneDrive moves entering a state (NotStarted counts the starts).")
                            .Register(*registry_)) {
  prometheus::BuildGauge()
      .Name("tenant_emulator_build_info")
      .Help("Build of the running binary; the value is always 1.")
      .Register(*registry_)
      .Add({{"version", kVersion}, {"revision", kRevision}})
      .Set(1);
}

void EmulatorMetrics::RecordRequest(const std::string& family, int status, double seconds) {
  requests_.Add({{"family", family}, {"code", std::to_string(status)}}).Increment();
  durations_
      .Add({{"family", family}}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                         0.05, 0.1, 0.25, 0.5, 1, 2.5})
      .Observe(seconds);
}

void EmulatorMetrics::RecordFault(const std::string& kind) { faults_.Add({{"kind", kind}}).Increment(); }
void EmulatorMetrics::RecordToken(const std::string& grant_type) {
  tokens_.Add({{"grant_type", grant_type}}).Increment();
}
void EmulatorMetrics::RecordMoveTransition(const std::string& state) {
  move_transitions_.Add({{"state", state}}).Increment();
}

std::string EmulatorMetrics::Serialize() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

}  // namespace crosstenant::emulator
