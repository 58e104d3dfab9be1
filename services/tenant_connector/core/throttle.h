#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_THROTTLE_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_THROTTLE_H_

// One throttle governor per (tenant, upstream API), shared by every caller and every connection to
// that tenant, so that a hundred workers never stampede Microsoft.
//
// - Throttling: a 429, or a 503 with `Retry-After`, sets a "not before" time for the whole tenant and
//   API: no request is sent before it has elapsed (Retry-After honoured exactly, seconds or an HTTP
//   date; a 429 without it backs off exponentially with jitter). After `max_attempts` sends, or when
//   the next permitted send lies beyond the caller's deadline, the call fails with RESOURCE_EXHAUSTED
//   carrying google.rpc.RetryInfo = the time still to wait.
// - Outage: a 503 without `Retry-After`, or no answer at all (connection refused, timeout), means the
//   tenant's endpoint is unreachable, not that Microsoft asks us to slow down. The tenant is held back
//   briefly (a back-off capped at `outage_hold_max`), then one request at a time goes through as a
//   probe (a half-open circuit); the first answer that is not an outage ends the outage at once, so a
//   recovered tenant is used again within seconds. A call that cannot get through fails with
//   UNAVAILABLE saying the endpoint is unreachable.
// - 500, 502 and 504 back the one call off exponentially with jitter (or for their Retry-After).
//
// Waiting happens on the calling thread: callers are the connector's executor threads, never gRPC's.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/tenant_connector/core/http.h"

namespace crosstenant::tenant_connector {

// Same numbering as crosstenant.v1.UpstreamApi.
enum class UpstreamApi { kUnspecified = 0, kEntraId = 1, kGraph = 2, kSharePoint = 3 };
const char* UpstreamApiName(UpstreamApi api);  // "entra_id", "graph", "sharepoint"

// Time, injectable for tests.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  virtual void SleepFor(absl::Duration duration) = 0;
  // The real clock.
  static Clock* Real();
};

struct ThrottleOptions {
  int max_attempts = 5;
  // First back-off without Retry-After (Microsoft: at least 5 s), doubled each time up to `backoff_max`.
  absl::Duration backoff_base = absl::Seconds(5);
  absl::Duration backoff_max = absl::Seconds(60);
  // Requests in flight per gate (tenant and API group); one while the tenant is in an outage.
  int max_concurrency = 1;
  // Longest hold of a tenant that does not answer, before the next probe.
  absl::Duration outage_hold_max = absl::Seconds(2);
};

// What a governor has seen, for ConnectionHealth.throttling.
struct ThrottleSnapshot {
  UpstreamApi api = UpstreamApi::kUnspecified;
  bool throttled = false;
  absl::Time retry_after_time = absl::InfinitePast();
  absl::Duration last_retry_after = absl::ZeroDuration();
  absl::Time last_throttle_time = absl::InfinitePast();
  int64_t throttled_response_count = 0;
};

// Hooks for metrics (all optional).
struct ThrottleObserver {
  std::function<void(UpstreamApi, int status)> on_throttled;
  std::function<void(UpstreamApi, absl::Duration)> on_wait;
};

// The "no request before" time of a tenant, shared by the governors of the APIs that Microsoft
// counts together (Graph and SharePoint are both charged to the app in the tenant).
// It also bounds the requests in flight: a request holds a permit from send until its response has
// been read, so a Retry-After is known before the next request leaves (with a limit of 1, no request
// ever reaches Microsoft after a Retry-After and before it has elapsed).
struct ThrottleGate {
  absl::Mutex mu;
  // Microsoft's Retry-After (or the back-off of a 429 without one): never shortened.
  absl::Time not_before ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  // The hold of an outage, and the outage answers in a row (above 0: half-open, one probe at a time).
  absl::Time outage_not_before ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  int outage_failures ABSL_GUARDED_BY(mu) = 0;
  // What the last outage answer was ("HTTP 503 without Retry-After", or the transport's error, which
  // names the proxy when one is in the way), for the callers it turns away.
  std::string outage_cause ABSL_GUARDED_BY(mu);
  int in_flight ABSL_GUARDED_BY(mu) = 0;
};

class ThrottleGovernor {
 public:
  // `gate` may be shared with other governors; null gives the governor its own.
  ThrottleGovernor(UpstreamApi api, ThrottleOptions options, Clock* clock, ThrottleObserver observer = {},
                   std::shared_ptr<ThrottleGate> gate = nullptr);

  // Calls `send` until it yields a response that is not throttled, honouring the shared not-before
  // time. Returns the last response for non-retryable statuses (the caller maps them), or
  // RESOURCE_EXHAUSTED with RetryInfo, or a transport error after the attempts are spent.
  absl::StatusOr<HttpResponse> Run(const std::function<absl::StatusOr<HttpResponse>()>& send, absl::Time deadline);

  // A throttled answer that came inside another response (a Graph `$batch` sub-response): a 429 or a
  // 503 with Retry-After holds back every request of the tenant for its Retry-After (a 429 without it
  // for a back-off), a 503 without it for an outage's short hold, as if it had been the response itself.
  void NoteThrottled(const HttpResponse& inner);

  // Whether the tenant is in an outage now (the last answer was none, or a 503 without Retry-After).
  bool InOutage();
  // The earliest time a request may be sent to the tenant: the end of its Retry-After or outage hold
  // (in the past when there is none).
  absl::Time NextSendTime();

  ThrottleSnapshot Snapshot();

 private:
  // Seconds or HTTP-date; nullopt when absent or unreadable.
  std::optional<absl::Duration> ParseRetryAfter(const HttpResponse& response, absl::Time now) const;
  absl::Duration Backoff(int attempt);
  // A 429 or 503 (`status`): no request of the tenant before `now + delay`.
  void HoldBackTenant(absl::Time now, absl::Duration delay, int status);
  // UNAVAILABLE: the tenant's endpoint does not answer, with the last outage's `cause` (when known) and
  // when it is tried again (when known).
  absl::Status UnreachableError(const std::string& cause, const std::string& next_attempt = "") const;
  // No answer, or a 503 without Retry-After (`cause` says which): the tenant is held back for a short,
  // capped back-off.
  void NoteOutage(absl::Time now, absl::string_view cause);
  // An answer that is not an outage: the outage (if any) ends now.
  void NoteAnswered();

  const UpstreamApi api_;
  const ThrottleOptions options_;
  Clock* const clock_;
  const ThrottleObserver observer_;
  const std::shared_ptr<ThrottleGate> gate_;
  absl::Mutex mu_;
  ThrottleSnapshot snapshot_ ABSL_GUARDED_BY(mu_);
  uint64_t jitter_state_ ABSL_GUARDED_BY(mu_);
};

// The governors of every tenant, created on first use.
class ThrottleGovernors {
 public:
  ThrottleGovernors(ThrottleOptions options, Clock* clock, ThrottleObserver observer = {});
  // `tenant` is the tenant name (e.g. "contoso"); one governor per tenant and API. Graph and
  // SharePoint of one tenant share a gate (a Retry-After from either holds both); Entra ID has its own.
  ThrottleGovernor& For(const std::string& tenant, UpstreamApi api);
  // Every API's snapshot for `tenant`.
  std::vector<ThrottleSnapshot> SnapshotsOf(const std::string& tenant);

 private:
  const ThrottleOptions options_;
  Clock* const clock_;
  const ThrottleObserver observer_;
  absl::Mutex mu_;
  std::map<std::pair<std::string, UpstreamApi>, std::unique_ptr<ThrottleGovernor>> governors_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int>, std::shared_ptr<ThrottleGate>> gates_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<ThrottleGovernor*>> by_tenant_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_THROTTLE_H_
