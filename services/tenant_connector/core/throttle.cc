#include "services/tenant_connector/core/throttle.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/common/errors.h"

namespace crosstenant::tenant_connector {
namespace {

constexpr absl::string_view kOutage503 = "HTTP 503 without Retry-After";

class RealClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepFor(absl::Duration duration) override { absl::SleepFor(duration); }
};

bool SharedThrottle(int status) { return status == 429 || status == 503; }
bool Retryable(int status) { return SharedThrottle(status) || status == 500 || status == 502 || status == 504; }

}  // namespace

Clock* Clock::Real() {
  static RealClock* clock = new RealClock();
  return clock;
}

const char* UpstreamApiName(UpstreamApi api) {
  switch (api) {
    case UpstreamApi::kEntraId:
      return "entra_id";
    case UpstreamApi::kGraph:
      return "graph";
    case UpstreamApi::kSharePoint:
      return "sharepoint";
    default:
      return "unspecified";
  }
}

ThrottleGovernor::ThrottleGovernor(UpstreamApi api, ThrottleOptions options, Clock* clock, ThrottleObserver observer,
                                   std::shared_ptr<ThrottleGate> gate)
    : api_(api),
      options_(options),
      clock_(clock),
      observer_(std::move(observer)),
      gate_(gate ? std::move(gate) : std::make_shared<ThrottleGate>()) {
  snapshot_.api = api;
  jitter_state_ = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) | 1;
}

std::optional<absl::Duration> ThrottleGovernor::ParseRetryAfter(const HttpResponse& response, absl::Time now) const {
  std::string value = std::string(absl::StripAsciiWhitespace(response.Header("retry-after")));
  if (value.empty()) return std::nullopt;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(value, &seconds)) return absl::Seconds(std::max<int64_t>(seconds, 0));
  double fractional = 0;
  if (absl::SimpleAtod(value, &fractional) && fractional >= 0) return absl::Seconds(fractional);
  absl::Time when;
  std::string error;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", value, absl::UTCTimeZone(), &when, &error)) {
    return std::max(when - now, absl::ZeroDuration());
  }
  return std::nullopt;
}

absl::Duration ThrottleGovernor::Backoff(int attempt) {
  absl::Duration ceiling = options_.backoff_base;
  for (int i = 1; i < attempt && ceiling < options_.backoff_max; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, options_.backoff_max);
  uint64_t random;
  {
    absl::MutexLock lock(&mu_);
    // xorshift64*: cheap jitter, no shared engine.
    jitter_state_ ^= jitter_state_ >> 12;
    jitter_state_ ^= jitter_state_ << 25;
    jitter_state_ ^= jitter_state_ >> 27;
    random = jitter_state_ * 2685821657736338717ULL;
  }
  // Equal jitter: between half the ceiling and the ceiling.
  double fraction = 0.5 + 0.5 * static_cast<double>(random >> 11) / static_cast<double>(1ULL << 53);
  return ceiling * fraction;
}

absl::StatusOr<HttpResponse> ThrottleGovernor::Run(const std::function<absl::StatusOr<HttpResponse>()>& send,
                                                   absl::Time deadline) {
  absl::Time own_not_before = absl::InfinitePast();  // back-off of this call alone (500/502/504)
  for (int attempt = 1;; ++attempt) {
    absl::Time now = clock_->Now();
    absl::Time throttled_until, outage_until;
    std::string outage_cause;
    bool permitted = false;
    {
      absl::MutexLock lock(&gate_->mu);
      // Wait (in real time, bounded by the deadline) for a permit; during an outage there is one, for
      // the probe.
      auto free = [this]() ABSL_SHARED_LOCKS_REQUIRED(gate_->mu) {
        return gate_->in_flight < (gate_->outage_failures > 0 ? 1 : std::max(options_.max_concurrency, 1));
      };
      absl::Duration budget = deadline - now;
      if (budget > absl::ZeroDuration() &&
          gate_->mu.AwaitWithTimeout(absl::Condition(&free), std::min(budget, absl::Hours(1)))) {
        throttled_until = gate_->not_before;
        outage_until = std::max(gate_->outage_not_before, own_not_before);
        if (gate_->outage_failures > 0) outage_cause = gate_->outage_cause;
        now = clock_->Now();
        if (std::max(throttled_until, outage_until) <= now) {
          ++gate_->in_flight;
          permitted = true;
        }
      } else {
        // Callers queued behind an outage's probe are told of the outage, not of throttling.
        if (gate_->outage_failures > 0) return UnreachableError(gate_->outage_cause);
        return ResourceExhaustedWithRetry(
            absl::StrCat("too many requests to Microsoft ", UpstreamApiName(api_), " for this tenant are in flight"),
            absl::Seconds(1));
      }
    }
    if (!permitted) {
      const absl::Time not_before = std::max(throttled_until, outage_until);
      absl::Duration wait = not_before - now;
      if (not_before > deadline) {
        // Microsoft's own Retry-After is throttling; our hold after an outage or a 5xx is not.
        if (throttled_until >= outage_until) {
          return ResourceExhaustedWithRetry(
              absl::StrCat("Microsoft ", UpstreamApiName(api_), " is throttling this tenant"), wait);
        }
        return UnreachableError(outage_cause, absl::FormatDuration(absl::Ceil(wait, absl::Milliseconds(1))));
      }
      if (observer_.on_wait) observer_.on_wait(api_, wait);
      clock_->SleepFor(wait);
      // Another caller may have pushed the time further meanwhile.
      --attempt;
      continue;
    }
    struct Release {
      ThrottleGate* gate;
      ~Release() {
        absl::MutexLock lock(&gate->mu);
        --gate->in_flight;
      }
    } release{gate_.get()};
    absl::StatusOr<HttpResponse> response = send();
    now = clock_->Now();
    if (!response.ok()) {
      // No answer (connection refused, timeout): the endpoint is unreachable, for every caller.
      NoteOutage(now, response.status().message());
      if (attempt >= options_.max_attempts) return response.status();
      continue;
    }
    std::optional<absl::Duration> retry_after =
        Retryable(response->status) ? ParseRetryAfter(*response, now) : std::nullopt;
    if (response->status == 503 && !retry_after.has_value()) {
      NoteOutage(now, kOutage503);
      // The caller maps the 503 to UNAVAILABLE.
      if (attempt >= options_.max_attempts) return response;
      continue;
    }
    NoteAnswered();
    if (!Retryable(response->status)) return response;
    absl::Duration delay = retry_after.has_value() ? *retry_after : Backoff(attempt);
    if (SharedThrottle(response->status)) {
      HoldBackTenant(now, delay, response->status);
    } else {
      own_not_before = now + delay;
      if (observer_.on_throttled) observer_.on_throttled(api_, response->status);
    }
    if (attempt >= options_.max_attempts) {
      absl::Time until;
      {
        absl::MutexLock lock(&gate_->mu);
        until = std::max(gate_->not_before, own_not_before);
      }
      // 5xx without Retry-After is an outage, not throttling: the caller maps it to UNAVAILABLE.
      if (response->status != 429 && !retry_after.has_value()) return response;
      absl::Duration wait = std::max(until - now, absl::ZeroDuration());
      return ResourceExhaustedWithRetry(
          absl::StrCat("Microsoft ", UpstreamApiName(api_), " throttled this tenant (HTTP ", response->status, ") ",
                       attempt, " times"),
          wait);
    }
  }
}

absl::Status ThrottleGovernor::UnreachableError(const std::string& cause, const std::string& next_attempt) const {
  return absl::UnavailableError(
      absl::StrCat("Microsoft ", UpstreamApiName(api_), " is unreachable for this tenant (",
                   cause.empty() ? "no answer, or HTTP 503 without Retry-After" : absl::StrCat("last try: ", cause),
                   ")", next_attempt.empty() ? "" : "; the next attempt in ", next_attempt));
}

void ThrottleGovernor::NoteThrottled(const HttpResponse& inner) {
  if (!SharedThrottle(inner.status)) return;
  const absl::Time now = clock_->Now();
  const std::optional<absl::Duration> retry_after = ParseRetryAfter(inner, now);
  if (inner.status == 503 && !retry_after.has_value()) return NoteOutage(now, kOutage503);
  HoldBackTenant(now, retry_after.has_value() ? *retry_after : Backoff(1), inner.status);
}

bool ThrottleGovernor::InOutage() {
  absl::MutexLock lock(&gate_->mu);
  return gate_->outage_failures > 0;
}

absl::Time ThrottleGovernor::NextSendTime() {
  absl::MutexLock lock(&gate_->mu);
  return std::max(gate_->not_before, gate_->outage_not_before);
}

void ThrottleGovernor::NoteOutage(absl::Time now, absl::string_view cause) {
  int failures;
  {
    absl::MutexLock lock(&gate_->mu);
    failures = ++gate_->outage_failures;
    gate_->outage_cause = std::string(cause);
  }
  // Short: the tenant is probed again within `outage_hold_max`, and used at once when it answers.
  const absl::Duration hold = std::min(Backoff(failures), options_.outage_hold_max);
  absl::MutexLock lock(&gate_->mu);
  gate_->outage_not_before = std::max(gate_->outage_not_before, now + hold);
}

void ThrottleGovernor::NoteAnswered() {
  absl::MutexLock lock(&gate_->mu);
  gate_->outage_failures = 0;
  gate_->outage_cause.clear();
  gate_->outage_not_before = absl::InfinitePast();
}

void ThrottleGovernor::HoldBackTenant(absl::Time now, absl::Duration delay, int status) {
  {
    absl::MutexLock gate_lock(&gate_->mu);
    gate_->not_before = std::max(gate_->not_before, now + delay);
  }
  {
    absl::MutexLock lock(&mu_);
    snapshot_.last_retry_after = delay;
    snapshot_.last_throttle_time = now;
    ++snapshot_.throttled_response_count;
  }
  if (observer_.on_throttled) observer_.on_throttled(api_, status);
}

ThrottleSnapshot ThrottleGovernor::Snapshot() {
  absl::Time not_before;
  {
    absl::MutexLock lock(&gate_->mu);
    not_before = gate_->not_before;
  }
  absl::MutexLock lock(&mu_);
  ThrottleSnapshot snapshot = snapshot_;
  snapshot.throttled = not_before > clock_->Now();
  snapshot.retry_after_time = snapshot.throttled ? not_before : absl::InfinitePast();
  return snapshot;
}

ThrottleGovernors::ThrottleGovernors(ThrottleOptions options, Clock* clock, ThrottleObserver observer)
    : options_(options), clock_(clock), observer_(std::move(observer)) {}

ThrottleGovernor& ThrottleGovernors::For(const std::string& tenant, UpstreamApi api) {
  absl::MutexLock lock(&mu_);
  auto& slot = governors_[{tenant, api}];
  if (!slot) {
    auto& gate = gates_[{tenant, api == UpstreamApi::kEntraId ? 0 : 1}];
    if (!gate) gate = std::make_shared<ThrottleGate>();
    slot = std::make_unique<ThrottleGovernor>(api, options_, clock_, observer_, gate);
    by_tenant_[tenant].push_back(slot.get());
  }
  return *slot;
}

std::vector<ThrottleSnapshot> ThrottleGovernors::SnapshotsOf(const std::string& tenant) {
  std::vector<ThrottleGovernor*> found;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_tenant_.find(tenant);
    if (it != by_tenant_.end()) found = it->second;
  }
  std::vector<ThrottleSnapshot> snapshots;
  for (ThrottleGovernor* governor : found) snapshots.push_back(governor->Snapshot());
  return snapshots;
}

}  // namespace crosstenant::tenant_connector
