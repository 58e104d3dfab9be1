#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_METRICS_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_METRICS_H_

// The connector's own Prometheus metrics (prefix tenant_connector_). Labels are bounded: role, state,
// api, status code, credential kind, result, and the connection name (a handful per deployment).
// Never a user, never a secret.

#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace crosstenant::tenant_connector {

class ConnectorMetrics {
 public:
  explicit ConnectorMetrics(prometheus::Registry& registry);

  void SetConnections(const std::string& role, const std::string& state, double count);
  void SetTokenExpirySeconds(const std::string& connection, double seconds);
  void SetCredentialExpirySeconds(const std::string& connection, double seconds);
  void ForgetConnection(const std::string& connection);
  void UpstreamRequest(const std::string& api, int status);
  void Throttled(const std::string& api, int status);
  void RetryAfterWait(const std::string& api, double seconds);
  void SignIn(const std::string& kind, const std::string& result);

 private:
  prometheus::Family<prometheus::Gauge>& connections_;
  prometheus::Family<prometheus::Gauge>& token_expiry_;
  prometheus::Family<prometheus::Gauge>& credential_expiry_;
  prometheus::Family<prometheus::Counter>& upstream_requests_;
  prometheus::Family<prometheus::Counter>& throttled_;
  prometheus::Family<prometheus::Histogram>& retry_after_waits_;
  prometheus::Family<prometheus::Counter>& sign_ins_;
};

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_METRICS_H_
