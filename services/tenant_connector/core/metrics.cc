#include "services/tenant_connector/core/metrics.h"

namespace crosstenant::tenant_connector {

ConnectorMetrics::ConnectorMetrics(prometheus::Registry& registry)
    : connections_(prometheus::BuildGauge()
                       .Name("tenant_connector_connections")
                       .Help("Connections held, by role and state.")
                       .Register(registry)),
      token_expiry_(prometheus::BuildGauge()
                        .Name("tenant_connector_token_expiry_seconds")
                        .Help("Seconds until the connection's earliest cached access token expires.")
                        .Register(registry)),
      credential_expiry_(prometheus::BuildGauge()
                             .Name("tenant_connector_credential_expiry_seconds")
                             .Help("Seconds until the connection's credential (certificate, secret) expires.")
                             .Register(registry)),
      upstream_requests_(prometheus::BuildCounter()
                             .Name("tenant_connector_upstream_requests_total")
                             .Help("HTTPS requests sent to Microsoft, by API and HTTP status (0: no response).")
                             .Register(registry)),
      throttled_(prometheus::BuildCounter()
                     .Name("tenant_connector_upstream_throttled_total")
                     .Help("Throttled (429, 503) and failed (5xx) responses that were retried, by API and status.")
                     .Register(registry)),
      retry_after_waits_(prometheus::BuildHistogram()
                             .Name("tenant_connector_retry_after_wait_seconds")
                             .Help("Time callers waited for a Retry-After or back-off to elapse, by API.")
                             .Register(registry)),
      sign_ins_(prometheus::BuildCounter()
                    .Name("tenant_connector_sign_ins_total")
                    .Help("Sign-ins (token acquisitions from a credential), by credential kind and result.")
                    .Register(registry)) {}

void ConnectorMetrics::SetConnections(const std::string& role, const std::string& state, double count) {
  connections_.Add({{"role", role}, {"state", state}}).Set(count);
}

void ConnectorMetrics::SetTokenExpirySeconds(const std::string& connection, double seconds) {
  token_expiry_.Add({{"connection", connection}}).Set(seconds);
}

void ConnectorMetrics::SetCredentialExpirySeconds(const std::string& connection, double seconds) {
  credential_expiry_.Add({{"connection", connection}}).Set(seconds);
}

void ConnectorMetrics::ForgetConnection(const std::string& connection) {
  token_expiry_.Remove(&token_expiry_.Add({{"connection", connection}}));
  credential_expiry_.Remove(&credential_expiry_.Add({{"connection", connection}}));
}

void ConnectorMetrics::UpstreamRequest(const std::string& api, int status) {
  upstream_requests_.Add({{"api", api}, {"code", std::to_string(status)}}).Increment();
}

void ConnectorMetrics::Throttled(const std::string& api, int status) {
  throttled_.Add({{"api", api}, {"code", std::to_string(status)}}).Increment();
}

void ConnectorMetrics::RetryAfterWait(const std::string& api, double seconds) {
  retry_after_waits_
      .Add({{"api", api}}, prometheus::Histogram::BucketBoundaries{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300})
      .Observe(seconds);
}

void ConnectorMetrics::SignIn(const std::string& kind, const std::string& result) {
  sign_ins_.Add({{"kind", kind}, {"result", result}}).Increment();
}

}  // namespace crosstenant::tenant_connector
