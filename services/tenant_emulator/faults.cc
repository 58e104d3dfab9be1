#include "services/tenant_emulator/faults.h"

#include <algorithm>
#include <initializer_list>
#include <random>

#include "absl/strings/str_cat.h"

namespace crosstenant::emulator {
namespace {

double Uniform() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

absl::Status ReadRatio(const nlohmann::json& update, const char* key, double* out) {
  if (!update.contains(key)) return absl::OkStatus();
  const nlohmann::json& value = update[key];
  if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": expected a number between 0 and 1"));
  }
  *out = value.get<double>();
  return absl::OkStatus();
}

absl::Status ReadNonNegative(const nlohmann::json& update, const char* key, double* out) {
  if (!update.contains(key)) return absl::OkStatus();
  const nlohmann::json& value = update[key];
  if (!value.is_number() || value.get<double>() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": expected a number of at least 0"));
  }
  *out = value.get<double>();
  return absl::OkStatus();
}

}  // namespace

nlohmann::json FaultSettings::ToJson(absl::Duration default_token_lifetime) const {
  const absl::Duration lifetime = token_lifetime > absl::ZeroDuration() ? token_lifetime : default_token_lifetime;
  return {{"throttle_ratio", throttle_ratio},
          {"retry_after_seconds", retry_after_seconds},
          {"retry_after_max_seconds", std::max(retry_after_max_seconds, retry_after_seconds)},
          {"unavailable_ratio", unavailable_ratio},
          {"latency_ms", absl::ToInt64Milliseconds(latency)},
          {"token_lifetime_seconds", absl::ToInt64Seconds(lifetime)},
          {"unreachable_tenants", unreachable_tenants},
          {"require_form_digest", require_form_digest},
          {"site_page_size", site_page_size},
          {"refuse_filter_in", refuse_filter_in}};
}

absl::Status FaultSettings::Apply(const nlohmann::json& update) {
  if (!update.is_object()) return absl::InvalidArgumentError("expected a JSON object");
  static const std::set<std::string> kKnown = {"throttle_ratio",      "retry_after_seconds", "retry_after_max_seconds",
                                               "unavailable_ratio",   "latency_ms",          "token_lifetime_seconds",
                                               "unreachable_tenants", "require_form_digest", "site_page_size",
                                               "refuse_filter_in"};
  for (const auto& [key, value] : update.items()) {
    if (!kKnown.count(key)) return absl::InvalidArgumentError(absl::StrCat(key, ": unknown field"));
  }
  FaultSettings next = *this;
  double retry_after = next.retry_after_seconds, retry_after_max = next.retry_after_max_seconds,
         latency_ms = absl::ToDoubleMilliseconds(next.latency);
  double lifetime = absl::ToDoubleSeconds(next.token_lifetime);
  if (absl::Status s = ReadRatio(update, "throttle_ratio", &next.throttle_ratio); !s.ok()) return s;
  if (absl::Status s = ReadRatio(update, "unavailable_ratio", &next.unavailable_ratio); !s.ok()) return s;
  if (absl::Status s = ReadNonNegative(update, "retry_after_seconds", &retry_after); !s.ok()) return s;
  if (absl::Status s = ReadNonNegative(update, "retry_after_max_seconds", &retry_after_max); !s.ok()) return s;
  if (absl::Status s = ReadNonNegative(update, "latency_ms", &latency_ms); !s.ok()) return s;
  if (absl::Status s = ReadNonNegative(update, "token_lifetime_seconds", &lifetime); !s.ok()) return s;
  if (update.contains("unreachable_tenants")) {
    const nlohmann::json& list = update["unreachable_tenants"];
    if (!list.is_array()) return absl::InvalidArgumentError("unreachable_tenants: expected a list of tenant names");
    next.unreachable_tenants.clear();
    for (const nlohmann::json& item : list) {
      if (!item.is_string()) return absl::InvalidArgumentError("unreachable_tenants: expected a list of tenant names");
      next.unreachable_tenants.push_back(item.get<std::string>());
    }
  }
  if (update.contains("require_form_digest")) {
    if (!update["require_form_digest"].is_boolean())
      return absl::InvalidArgumentError("require_form_digest: expected true or false");
    next.require_form_digest = update["require_form_digest"].get<bool>();
  }
  if (update.contains("refuse_filter_in")) {
    if (!update["refuse_filter_in"].is_boolean())
      return absl::InvalidArgumentError("refuse_filter_in: expected true or false");
    next.refuse_filter_in = update["refuse_filter_in"].get<bool>();
  }
  if (update.contains("site_page_size")) {
    const nlohmann::json& size = update["site_page_size"];
    if (!size.is_number_integer() || size.get<int64_t>() < 1 || size.get<int64_t>() > 5000) {
      return absl::InvalidArgumentError("site_page_size: expected a whole number between 1 and 5000");
    }
    next.site_page_size = size.get<int>();
  }
  next.retry_after_seconds = static_cast<int>(retry_after);
  next.retry_after_max_seconds = static_cast<int>(retry_after_max);
  next.latency = absl::Milliseconds(latency_ms);
  next.token_lifetime = absl::Seconds(lifetime);
  *this = next;
  return absl::OkStatus();
}

FaultSettings Faults::Get() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

void Faults::Set(FaultSettings settings) {
  absl::MutexLock lock(&mu_);
  current_ = std::move(settings);
}

void Faults::Reset() {
  absl::MutexLock lock(&mu_);
  current_ = initial_;
}

InjectedFault Faults::Draw() const {
  double throttle = 0, unavailable = 0;
  {
    absl::MutexLock lock(&mu_);
    throttle = current_.throttle_ratio;
    unavailable = current_.unavailable_ratio;
  }
  if (throttle <= 0 && unavailable <= 0) return InjectedFault::kNone;
  const double roll = Uniform();
  if (roll < throttle) return InjectedFault::kThrottle;
  if (roll < throttle + unavailable) return InjectedFault::kUnavailable;
  return InjectedFault::kNone;
}

int Faults::DrawRetryAfter() const {
  int low = 0, high = 0;
  {
    absl::MutexLock lock(&mu_);
    low = current_.retry_after_seconds;
    high = std::max(low, current_.retry_after_max_seconds);
  }
  return low + static_cast<int>(Uniform() * (high - low + 1) * 0.999999);
}

void Accounting::NoteArrival(const std::string& client, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = retry_not_before_.find(client);
  if (it == retry_not_before_.end()) return;
  if (now < it->second) {
    ++early_retries_[client];
    ++early_total_;
  } else {
    retry_not_before_.erase(it);
  }
}

void Accounting::NoteRetryAfter(const std::string& client, absl::Time now, int seconds) {
  absl::MutexLock lock(&mu_);
  // Several answers at once (the sub-responses of one $batch): the client must wait for the longest.
  absl::Time& not_before = retry_not_before_.emplace(client, absl::InfinitePast()).first->second;
  not_before = std::max(not_before, now + absl::Seconds(seconds));
}

void Accounting::RecordRequest(const std::string& route, const std::string& tenant, int status) {
  absl::MutexLock lock(&mu_);
  ++total_;
  ++by_route_[route];
  ++by_tenant_[tenant.empty() ? "(none)" : tenant];
  ++by_status_[std::to_string(status)];
}

void Accounting::RecordSubRequest(const std::string& route, const std::string& tenant) {
  absl::MutexLock lock(&mu_);
  ++sub_total_;
  ++sub_by_route_[route];
  ++sub_by_tenant_[tenant.empty() ? "(none)" : tenant];
}

void Accounting::RecordFault(const std::string& kind) {
  absl::MutexLock lock(&mu_);
  ++faults_[kind];
}

void Accounting::RecordMoveStart(const std::string& upn, bool duplicate) {
  absl::MutexLock lock(&mu_);
  ++move_starts_;
  if (duplicate) ++duplicate_starts_;
  ++starts_by_user_[upn];
}

void Accounting::RecordClientAssertion(const std::string& client_id, const std::string& tenant,
                                       const nlohmann::json& header, const nlohmann::json& claims) {
  // Copies named fields only: whatever else a client put in its assertion stays out of the accounting.
  auto pick = [](const nlohmann::json& from, std::initializer_list<const char*> names) {
    nlohmann::json out = nlohmann::json::object();
    for (const char* name : names) {
      if (from.is_object() && from.contains(name)) out[name] = from[name];
    }
    return out;
  };
  nlohmann::json record = {{"client_id", client_id},
                           {"tenant", tenant},
                           {"header", pick(header, {"alg", "typ", "x5t", "x5t#S256", "kid"})},
                           {"claims", pick(claims, {"aud", "iss", "sub", "jti", "nbf", "exp", "iat"})}};
  absl::MutexLock lock(&mu_);
  client_assertions_.push_back(std::move(record));
  while (client_assertions_.size() > kMaxClientAssertions) client_assertions_.pop_front();
}

void Accounting::RecordClientRequestId(const std::string& client_request_id, const std::string& route,
                                       const std::string& request_id, int status) {
  if (client_request_id.empty()) return;
  nlohmann::json record = {{"client_request_id", client_request_id.substr(0, 128)},
                           {"route", route},
                           {"request_id", request_id},
                           {"status", status}};
  absl::MutexLock lock(&mu_);
  client_request_ids_.push_back(std::move(record));
  while (client_request_ids_.size() > kMaxClientRequestIds) client_request_ids_.pop_front();
}

nlohmann::json Accounting::ToJson() const {
  absl::MutexLock lock(&mu_);
  nlohmann::json faults = {{"throttled", 0}, {"unavailable", 0}, {"unreachable", 0}, {"latency", 0}};
  for (const auto& [kind, count] : faults_) faults[kind] = count;
  return {
      {"requests", {{"total", total_}, {"by_route", by_route_}, {"by_tenant", by_tenant_}, {"by_status", by_status_}}},
      {"batched_requests", {{"total", sub_total_}, {"by_route", sub_by_route_}, {"by_tenant", sub_by_tenant_}}},
      {"faults", faults},
      {"retry_after",
       {{"early_retries", early_total_}, {"by_client", early_retries_}, {"waiting_clients", retry_not_before_.size()}}},
      {"moves", {{"starts", move_starts_}, {"duplicates", duplicate_starts_}, {"by_user", starts_by_user_}}},
      {"client_assertions", client_assertions_},
      {"client_request_ids", client_request_ids_}};
}

void Accounting::Reset() {
  absl::MutexLock lock(&mu_);
  total_ = 0;
  by_route_.clear();
  by_tenant_.clear();
  by_status_.clear();
  sub_total_ = 0;
  sub_by_route_.clear();
  sub_by_tenant_.clear();
  faults_.clear();
  retry_not_before_.clear();
  early_retries_.clear();
  early_total_ = 0;
  move_starts_ = 0;
  duplicate_starts_ = 0;
  starts_by_user_.clear();
  client_assertions_.clear();
  client_request_ids_.clear();
}

}  // namespace crosstenant::emulator
