#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_METRICS_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_METRICS_H_

// Prometheus metrics of the emulator (tenant_emulator_*): requests by route family and status code,
// their latency, injected faults, issued tokens and move transitions. No tenant or user labels.

#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace crosstenant::emulator {

class EmulatorMetrics {
 public:
  EmulatorMetrics();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // family: entra, graph, sharepoint, admin, unknown.
  void RecordRequest(const std::string& family, int status, double seconds);
  void RecordFault(const std::string& kind);
  void RecordToken(const std::string& grant_type);
  void RecordMoveTransition(const std::string& state);

  // The Prometheus text exposition of every metric.
  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Counter>& faults_;
  prometheus::Family<prometheus::Counter>& tokens_;
  prometheus::Family<prometheus::Counter>& move_transitions_;
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_METRICS_H_
