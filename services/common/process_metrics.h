#ifndef CROSSTENANT_SERVICES_COMMON_PROCESS_METRICS_H_
#define CROSSTENANT_SERVICES_COMMON_PROCESS_METRICS_H_

// The standard Prometheus process_* metrics, which prometheus-cpp does not provide, read from /proc
// at each scrape: process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_virtual_memory_max_bytes, process_open_fds,
// process_max_fds, process_start_time_seconds, process_threads.

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace crosstenant {

class ProcessMetricsCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_PROCESS_METRICS_H_
