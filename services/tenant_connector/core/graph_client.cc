#include "services/tenant_connector/core/graph_client.h"

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/common/errors.h"
#include "services/common/status_macros.h"
#include "services/tenant_connector/core/json_read.h"
#include "services/tenant_connector/core/upstream_error.h"

namespace crosstenant::tenant_connector {
namespace {

constexpr size_t kBatchLimit = 20;  // Graph's limit of sub-requests in one $batch

// A `$batch` answer item for a sub-request that was not answered because the whole batch was refused
// with `error`: 429 with Retry-After for throttling, 503 without it for an outage.
nlohmann::json UnansweredItem(const absl::Status& error) {
  const bool throttled = absl::IsResourceExhausted(error);
  nlohmann::json headers = nlohmann::json::object();
  if (throttled) {
    headers["Retry-After"] = std::to_string(absl::ToInt64Seconds(absl::Ceil(RetryDelayOf(error), absl::Seconds(1))));
  }
  return {{"status", throttled ? 429 : 503},
          {"headers", headers},
          {"body",
           {{"error",
             {{"code", throttled ? "TooManyRequests" : "serviceNotAvailable"},
              {"message", std::string(error.message())}}}}}};
}

}  // namespace

std::optional<absl::Duration> SubResponseRetryAfter(const nlohmann::json& item) {
  if (!item.is_object() || !item.contains("headers") || !item["headers"].is_object()) return std::nullopt;
  for (const auto& [name, value] : item["headers"].items()) {
    if (!absl::EqualsIgnoreCase(name, "retry-after")) continue;
    double seconds = 0;
    if (value.is_number()) return absl::Seconds(std::max(value.get<double>(), 0.0));
    if (value.is_string() && absl::SimpleAtod(value.get<std::string>(), &seconds) && seconds >= 0) {
      return absl::Seconds(seconds);
    }
  }
  return std::nullopt;
}

bool IsThrottledSubResponse(const nlohmann::json& item) {
  const int64_t status = json_read::Int(item, "status", 0);
  return status == 429 || (status == 503 && SubResponseRetryAfter(item).has_value());
}

GraphClient::GraphClient(HttpTransport* transport, ThrottleGovernors* governors, Clock* clock,
                         ConnectorMetrics* metrics, int max_attempts)
    : transport_(transport), governors_(governors), clock_(clock), metrics_(metrics), max_attempts_(max_attempts) {}

absl::StatusOr<GraphResult> GraphClient::Send(const GraphTarget& target, const std::string& method,
                                              const std::string& path, const nlohmann::json* body, absl::Time deadline,
                                              bool allow_404,
                                              std::vector<std::pair<std::string, std::string>> extra_headers,
                                              const std::function<void(const HttpResponse&)>& inspect) {
  const std::string url = absl::StartsWith(path, "https://") ? path : absl::StrCat("https://", target.graph_host, path);
  for (int auth_attempt = 0;; ++auth_attempt) {
    ASSIGN_OR_RETURN(std::string token, target.token(auth_attempt > 0, deadline));
    HttpRequest request;
    request.method = method;
    request.url = url;
    request.headers = {{"Authorization", absl::StrCat("Bearer ", token)}, {"Accept", "application/json"}};
    for (auto& header : extra_headers) request.headers.push_back(header);
    if (body != nullptr) {
      request.headers.push_back({"Content-Type", "application/json"});
      request.body = body->dump();
    }
    request.timeout = std::clamp(deadline - clock_->Now(), absl::Seconds(1), absl::Seconds(60));
    absl::StatusOr<HttpResponse> response =
        governors_->For(target.governor_key, UpstreamApi::kGraph)
            .Run(
                [&]() -> absl::StatusOr<HttpResponse> {
                  absl::StatusOr<HttpResponse> sent = transport_->Send(request);
                  if (metrics_) metrics_->UpstreamRequest("graph", sent.ok() ? sent->status : 0);
                  if (sent.ok() && inspect) inspect(*sent);  // still holding the permit
                  return sent;
                },
                deadline);
    if (!response.ok()) return response.status();
    if (std::optional<absl::Duration> skew = response->ClockSkew(clock_->Now()); skew && target.on_clock_skew) {
      target.on_clock_skew(*skew);
    }
    if (response->status == 401 && auth_attempt == 0) continue;  // re-acquire once
    GraphResult result;
    result.status = response->status;
    result.raw = response->body;
    result.body = nlohmann::json::parse(response->body, nullptr, false);
    if (response->status == 401) {
      if (target.on_token_rejected)
        target.on_token_rejected("Microsoft graph rejected a freshly acquired token (HTTP 401)");
      return WithErrorInfo(
          absl::FailedPreconditionError(absl::StrCat(
              "Microsoft graph rejected the connection's token after a refresh (HTTP 401): ",
              UpstreamMessage(result.body, result.raw), "; the connection is EXPIRED, call ReauthenticateConnection")),
          kReasonConnectionNotUsable, "crosstenant", {});
    }
    if (response->status >= 200 && response->status < 300) {
      // A cut-off or garbled answer is not an empty one: read as such, users who exist would be "not found".
      if (result.body.is_discarded() && !absl::StripAsciiWhitespace(result.raw).empty()) {
        return absl::UnavailableError(absl::StrCat("Microsoft graph answered HTTP ", result.status, " to ", method, " ",
                                                   path.substr(0, path.find('?')), " with a body that is not JSON (",
                                                   result.raw.size(), " bytes, perhaps cut off); retry the call"));
      }
      return result;
    }
    if (response->status == 404 && allow_404) return result;
    return MapUpstreamError("graph", result.status, result.body, result.raw);
  }
}

absl::StatusOr<std::map<std::string, nlohmann::json>> GraphClient::Batch(const GraphTarget& target,
                                                                         const std::string& version,
                                                                         std::vector<nlohmann::json> requests,
                                                                         absl::Time deadline) {
  ThrottleGovernor& governor = governors_->For(target.governor_key, UpstreamApi::kGraph);
  // A throttled sub-response holds the tenant back as a throttled response would, and it must do so
  // before the batch's permit is released: otherwise a request of another caller could leave before its
  // Retry-After has elapsed.
  const auto note_throttled = [&governor](const HttpResponse& response) {
    if (response.status != 200 ||
        (!absl::StrContains(response.body, "429") && !absl::StrContains(response.body, "503"))) {
      return;
    }
    const nlohmann::json parsed = nlohmann::json::parse(response.body, nullptr, false);
    for (const nlohmann::json& item : json_read::Array(parsed, "responses")) {
      HttpResponse inner;
      inner.status = static_cast<int>(json_read::Int(item, "status", 0));
      if (inner.status != 429 && inner.status != 503) continue;
      if (item.contains("headers") && item["headers"].is_object()) {
        for (const auto& [name, value] : item["headers"].items()) {
          if (value.is_string()) inner.headers[absl::AsciiStrToLower(name)] = value.get<std::string>();
        }
      }
      governor.NoteThrottled(inner);
    }
  };
  std::map<std::string, nlohmann::json> answers;
  for (int attempt = 1; !requests.empty(); ++attempt) {
    std::vector<nlohmann::json> throttled;
    for (size_t start = 0; start < requests.size(); start += kBatchLimit) {
      nlohmann::json batch = {{"requests", nlohmann::json::array()}};
      for (size_t i = start; i < std::min(start + kBatchLimit, requests.size()); ++i) {
        batch["requests"].push_back(requests[i]);
      }
      absl::StatusOr<GraphResult> sent_batch = Send(target, "POST", absl::StrCat("/", version, "/$batch"), &batch,
                                                    deadline, /*allow_404=*/false, {}, note_throttled);
      if (!sent_batch.ok()) {
        // Refused after some answers came: keep those (a sub-request answered may have changed something
        // at Microsoft, e.g. started a move), and give every request left its own transient error, for
        // the caller to retry only those.
        const absl::Status& error = sent_batch.status();
        if (answers.empty()) return error;
        std::vector<nlohmann::json> left(requests.begin() + static_cast<std::ptrdiff_t>(start), requests.end());
        left.insert(left.end(), throttled.begin(), throttled.end());
        for (const nlohmann::json& request : left) answers[json_read::Str(request, "id")] = UnansweredItem(error);
        return answers;
      }
      GraphResult& result = *sent_batch;
      std::map<std::string, const nlohmann::json*> sent;
      for (const nlohmann::json& request : batch["requests"]) sent[json_read::Str(request, "id")] = &request;
      for (const nlohmann::json& item : json_read::Array(result.body, "responses")) {
        const std::string id = json_read::Str(item, "id");
        const auto request = sent.find(id);
        if (request == sent.end()) continue;
        const int status = static_cast<int>(json_read::Int(item, "status", 0));
        if ((status == 429 || status == 503) && attempt < max_attempts_) {
          // Already held back by note_throttled; sent again once the governor lets it.
          throttled.push_back(*request->second);
        } else {
          answers[id] = item;
        }
        sent.erase(request);
      }
      // A sub-request without an answer has no result: never read it as "not found".
      if (!sent.empty()) {
        return absl::UnavailableError(absl::StrCat("Microsoft graph's $batch answer lacks ", sent.size(), " of ",
                                                   batch["requests"].size(), " sub-requests (first id \"",
                                                   sent.begin()->first, "\"); retry the call"));
      }
    }
    requests = std::move(throttled);
  }
  return answers;
}

}  // namespace crosstenant::tenant_connector
