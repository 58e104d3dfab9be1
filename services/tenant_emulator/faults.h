#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_FAULTS_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_FAULTS_H_

// Injected faults (429 + Retry-After, 503, latency, short token lifetimes, unreachable tenants), set
// at start-up and changed at run time, and the accounting of what the emulator saw: requests by
// route, tenant and status, faults injected, early retries, move starts and the client assertions
// presented to the token endpoint.

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace crosstenant::emulator {

struct FaultSettings {
  double throttle_ratio = 0;                     // share of requests answered 429
  int retry_after_seconds = 2;                   // Retry-After of 429 and 503 answers
  int retry_after_max_seconds = 0;               // when above retry_after_seconds: each Retry-After drawn in between
  double unavailable_ratio = 0;                  // share of requests answered 503
  absl::Duration latency;                        // added before answering
  absl::Duration token_lifetime;                 // zero: the seed's token_lifetime
  std::vector<std::string> unreachable_tenants;  // names, ids or domains, as given
  // SharePoint: ProcessQuery without an X-RequestDigest from /_api/contextinfo → 403 (as a site that
  // insists on form digests answers).
  bool require_form_digest = false;
  // SharePoint: sites per page of GetSitePropertiesFromSharePointByFilters (1..5000).
  int site_page_size = 300;
  // Graph: `$filter` with `in` on users → 400 Request_UnsupportedQuery (as a Graph that supports only eq).
  bool refuse_filter_in = false;

  // {"throttle_ratio":..,"retry_after_seconds":..,"unavailable_ratio":..,"latency_ms":..,
  //  "retry_after_max_seconds":..,"token_lifetime_seconds":..,"unreachable_tenants":[..],
  //  "require_form_digest":false,"site_page_size":300,"refuse_filter_in":false}
  nlohmann::json ToJson(absl::Duration default_token_lifetime) const;
  // Overwrites the fields present in `update`; INVALID_ARGUMENT naming the first bad field.
  absl::Status Apply(const nlohmann::json& update);
};

enum class InjectedFault { kNone, kThrottle, kUnavailable };

class Faults {
 public:
  explicit Faults(FaultSettings initial) : initial_(initial), current_(std::move(initial)) {}

  FaultSettings Get() const;
  void Set(FaultSettings settings);
  void Reset();
  // Draws whether this request gets a 429, a 503 or nothing, from the current ratios.
  InjectedFault Draw() const;
  // The Retry-After of one 429 or 503 answer, in seconds.
  int DrawRetryAfter() const;

 private:
  const FaultSettings initial_;
  mutable absl::Mutex mu_;
  FaultSettings current_ ABSL_GUARDED_BY(mu_);
};

class Accounting {
 public:
  // Called when a request arrives from `client` (see docs: tenant/app/<appid> and friends): counts an
  // early retry if the client was told to wait and the wait has not passed.
  void NoteArrival(const std::string& client, absl::Time now);
  // The client was answered with Retry-After `seconds` (it may send again once the longest Retry-After
  // it was given has passed).
  void NoteRetryAfter(const std::string& client, absl::Time now, int seconds);
  void RecordRequest(const std::string& route, const std::string& tenant, int status);
  // One request inside a Graph `$batch` (its route, as RecordRequest names routes, and the tenant of
  // the envelope), throttled or not.
  void RecordSubRequest(const std::string& route, const std::string& tenant);
  void RecordFault(const std::string& kind);
  void RecordMoveStart(const std::string& upn, bool duplicate);
  // A client assertion presented for `client_id` on `tenant`'s token endpoint: keeps the JOSE header
  // fields alg, typ, x5t, x5t#S256 and kid and the claims aud, iss, sub, jti, nbf, exp and iat (never the
  // signature or the token itself), whether or not the assertion was then accepted. Only the last
  // kMaxClientAssertions are kept.
  void RecordClientAssertion(const std::string& client_id, const std::string& tenant, const nlohmann::json& header,
                             const nlohmann::json& claims);
  static constexpr std::size_t kMaxClientAssertions = 100;
  // A Graph or SharePoint request that carried a `client-request-id` (ignored when empty), with the
  // request-id it was answered with. Only the last kMaxClientRequestIds are kept.
  void RecordClientRequestId(const std::string& client_request_id, const std::string& route,
                             const std::string& request_id, int status);
  static constexpr std::size_t kMaxClientRequestIds = 2000;

  nlohmann::json ToJson() const;
  void Reset();

 private:
  mutable absl::Mutex mu_;
  int64_t total_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int64_t> by_route_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> by_tenant_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> by_status_ ABSL_GUARDED_BY(mu_);
  int64_t sub_total_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int64_t> sub_by_route_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> sub_by_tenant_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> faults_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> retry_not_before_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> early_retries_ ABSL_GUARDED_BY(mu_);
  int64_t early_total_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t move_starts_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t duplicate_starts_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int64_t> starts_by_user_ ABSL_GUARDED_BY(mu_);
  std::deque<nlohmann::json> client_assertions_ ABSL_GUARDED_BY(mu_);   // oldest first
  std::deque<nlohmann::json> client_request_ids_ ABSL_GUARDED_BY(mu_);  // oldest first
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_FAULTS_H_
