#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_GRAPH_CLIENT_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_GRAPH_CLIENT_H_

// The connector's client for Microsoft Graph: one request (token, the tenant's throttle governor, one
// token refresh on a 401, Microsoft's errors as statuses) and `$batch` with throttled sub-requests held
// back and sent again. The business meaning of each Graph call is the tenant operations' job.
// Methods block on HTTP: call them from the connector's executor.
//
//   GraphClient graph(&transport, &governors, Clock::Real(), &metrics, /*max_attempts=*/5);
//   ASSIGN_OR_RETURN(GraphResult organization, graph.Send(target, "GET", "/v1.0/organization", nullptr, deadline));

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/tenant_connector/core/http.h"
#include "services/tenant_connector/core/metrics.h"
#include "services/tenant_connector/core/throttle.h"

namespace crosstenant::tenant_connector {

// Who calls, and as whom.
struct GraphTarget {
  std::string graph_host;    // "graph.microsoft.com" (from the cloud profile)
  std::string governor_key;  // the tenant's throttle key
  // A Graph bearer token; `force` asks for a fresh one (after a 401).
  std::function<absl::StatusOr<std::string>(bool force, absl::Time deadline)> token;
  // Told when Graph refuses even a fresh token; may be empty.
  std::function<void(const std::string& message)> on_token_rejected;
  // Told Microsoft's clock minus ours, from each answer's Date header; may be empty.
  std::function<void(absl::Duration skew)> on_clock_skew;
  // The connection's name: `$batch` sub-requests of callers with the same one (one token) may share an
  // envelope.
  std::string connection;
};

// A Graph answer: its status, the parsed body (discarded when not JSON) and the raw body.
struct GraphResult {
  int status = 0;
  nlohmann::json body;
  std::string raw;
};

// The Retry-After of one `$batch` answer item (seconds), if it has one.
std::optional<absl::Duration> SubResponseRetryAfter(const nlohmann::json& item);
// Whether one `$batch` answer item is Microsoft throttling it: a 429, or a 503 with Retry-After (a 503
// without it is an outage).
bool IsThrottledSubResponse(const nlohmann::json& item);

class GraphClient {
 public:
  // `metrics` may be null; `max_attempts` bounds the sends of one throttled `$batch` sub-request.
  GraphClient(HttpTransport* transport, ThrottleGovernors* governors, Clock* clock, ConnectorMetrics* metrics,
              int max_attempts);

  // `path` is "/v1.0/..." or "/beta/..." (or a whole https URL, such as an @odata.nextLink). A 2xx
  // answer (or a 404 with `allow_404`) is returned; anything else is its status (MapUpstreamError).
  // `inspect`, when set, sees each answer while the request still holds the tenant's governor permit.
  absl::StatusOr<GraphResult> Send(const GraphTarget& target, const std::string& method, const std::string& path,
                                   const nlohmann::json* body, absl::Time deadline, bool allow_404 = false,
                                   std::vector<std::pair<std::string, std::string>> extra_headers = {},
                                   const std::function<void(const HttpResponse&)>& inspect = nullptr);

  // Sends `requests` (`$batch` sub-requests, ids unique, no `dependsOn`) and returns each one's answer
  // by id. The sub-requests of every caller on one connection and Graph version share envelopes of
  // 20: while one envelope is in flight or held back by the tenant's Retry-After, the sub-requests that
  // arrive wait in one queue and leave together in the next, so that a throttled tenant gets a few full
  // envelopes, each costing one Retry-After, instead of many small ones (the governor sends one request
  // of a tenant at a time). Sub-requests throttled (429, 503) hold the tenant back for their
  // Retry-After and go again at the head of the queue, up to `max_attempts` sends; those still
  // throttled then come back with their 429 or 503. An envelope refused whole (or an answer that lacks
  // some of its sub-requests) gives each of its sub-requests a 429 with Retry-After (refused as
  // throttled) or a 503, so that the caller retries only those; the call itself fails with that error
  // when nothing of it was answered, or when the connection itself was refused. Sub-requests still
  // waiting at `deadline` come back as 429s with the time still to wait, and so do, at once, those that
  // cannot be sent before it (the tenant's Retry-After or outage hold ends later): an envelope gives up
  // at its earliest call's deadline, so they are never put in one, and when an envelope is held back
  // past that deadline all the same, the other calls' sub-requests go back to the head of the queue.
  absl::StatusOr<std::map<std::string, nlohmann::json>> Batch(const GraphTarget& target, const std::string& version,
                                                              std::vector<nlohmann::json> requests,
                                                              absl::Time deadline);

  // Sub-requests of every connection waiting for an envelope now.
  size_t SubRequestsWaiting();

  ~GraphClient();

 private:
  struct BatchCall;
  struct BatchItem;
  struct BatchQueue;
  // The queue of `target`'s connection for Graph `version`, created on first use.
  BatchQueue& QueueOf(const GraphTarget& target, const std::string& version);
  // Sends the envelope `items` (taken from `queue`, not under its lock) and hands each its answer.
  void SendEnvelope(const GraphTarget& target, const std::string& version, BatchQueue& queue,
                    const std::vector<BatchItem>& items);

  HttpTransport* const transport_;
  ThrottleGovernors* const governors_;
  Clock* const clock_;
  ConnectorMetrics* const metrics_;
  const int max_attempts_;
  absl::Mutex queues_mu_;
  std::map<std::string, std::unique_ptr<BatchQueue>> queues_ ABSL_GUARDED_BY(queues_mu_);
};

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_GRAPH_CLIENT_H_
