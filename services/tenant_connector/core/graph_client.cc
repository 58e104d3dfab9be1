#include "services/tenant_connector/core/graph_client.h"

#include <algorithm>
#include <deque>
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
// How often a queue whose sub-requests could none be sent in time looks at the tenant's hold again.
constexpr absl::Duration kStalledRecheck = absl::Milliseconds(500);

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

// One caller's sub-requests and what became of each: an answer, or the error of the envelope that
// carried it (or of the wait that outlasted the call's deadline).
struct GraphClient::BatchCall {
  std::vector<nlohmann::json> requests;
  absl::Time deadline;
  std::vector<std::optional<nlohmann::json>> answers;
  std::vector<absl::Status> errors;
  size_t left = 0;  // neither answered nor failed yet
  // Some of its sub-requests were left out of an envelope as they could not be sent before the
  // deadline: the call is woken to give them up.
  bool too_late = false;
};

// A sub-request waiting for an envelope, or in one.
struct GraphClient::BatchItem {
  BatchCall* call;
  size_t index;  // in call->requests
  int sends;     // sends so far
};

struct GraphClient::BatchQueue {
  absl::Mutex mu;
  std::deque<BatchItem> waiting ABSL_GUARDED_BY(mu);
  bool sending ABSL_GUARDED_BY(mu) = false;  // an envelope is in flight (or waiting for the governor)
  // No sub-request waiting could be sent before its call's deadline: nothing is sent until new ones
  // arrive, or until this time (real time) when the tenant's hold is looked at again.
  absl::Time stalled_until ABSL_GUARDED_BY(mu) = absl::InfinitePast();
};

GraphClient::~GraphClient() = default;

size_t GraphClient::SubRequestsWaiting() {
  absl::MutexLock lock(&queues_mu_);
  size_t waiting = 0;
  for (const auto& [key, queue] : queues_) {
    absl::MutexLock queue_lock(&queue->mu);
    waiting += queue->waiting.size();
  }
  return waiting;
}

GraphClient::BatchQueue& GraphClient::QueueOf(const GraphTarget& target, const std::string& version) {
  absl::MutexLock lock(&queues_mu_);
  std::unique_ptr<BatchQueue>& queue =
      queues_[absl::StrCat(target.graph_host, " ", target.governor_key, " ", target.connection, " ", version)];
  if (queue == nullptr) queue = std::make_unique<BatchQueue>();
  return *queue;
}

absl::StatusOr<std::map<std::string, nlohmann::json>> GraphClient::Batch(const GraphTarget& target,
                                                                         const std::string& version,
                                                                         std::vector<nlohmann::json> requests,
                                                                         absl::Time deadline) {
  BatchCall call;
  call.requests = std::move(requests);
  call.deadline = deadline;
  call.answers.resize(call.requests.size());
  call.errors.resize(call.requests.size());
  call.left = call.requests.size();
  BatchQueue& queue = QueueOf(target, version);
  ThrottleGovernor& governor = governors_->For(target.governor_key, UpstreamApi::kGraph);
  {
    absl::MutexLock lock(&queue.mu);
    for (size_t i = 0; i < call.requests.size(); ++i) queue.waiting.push_back({&call, i, 0});
    queue.stalled_until = absl::InfinitePast();
    // The waits are in real time: the governor, not this queue, keeps Microsoft's clock.
    const absl::Time give_up = absl::Now() + (deadline - clock_->Now());
    bool gave_up = false;
    const auto holds_some = [&]() ABSL_SHARED_LOCKS_REQUIRED(queue.mu) {
      return std::any_of(queue.waiting.begin(), queue.waiting.end(),
                         [&](const BatchItem& item) { return item.call == &call; });
    };
    while (call.left > 0) {
      // Until its deadline, a call whose sub-requests wait sends the next envelope whenever none is in
      // flight, whoever's sub-requests it holds. Past it, the call takes its own out of the queue and
      // waits only for those already in an envelope.
      const auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(queue.mu) {
        return call.left == 0 || (gave_up ? holds_some()
                                          : call.too_late || (!queue.sending && !queue.waiting.empty() &&
                                                              queue.stalled_until == absl::InfinitePast()));
      };
      absl::Time wake = give_up;
      if (gave_up) {
        wake = absl::InfiniteFuture();
      } else if (queue.stalled_until != absl::InfinitePast()) {
        wake = std::min(give_up, queue.stalled_until);
      }
      if (!queue.mu.AwaitWithDeadline(absl::Condition(&ready), wake)) {
        if (absl::Now() < give_up) {
          queue.stalled_until = absl::InfinitePast();  // look at the tenant's hold again
          continue;
        }
        gave_up = true;
      }
      const absl::Time next_send = governor.NextSendTime();
      // Sub-requests that cannot be sent before their call's deadline come back now, with the time
      // still to wait, rather than at the deadline.
      call.too_late = false;  // woken for it: looked at now
      if (!gave_up && call.deadline <= next_send && holds_some()) gave_up = true;
      if (gave_up) {
        // Behind an outage, not throttling, when the tenant does not answer: told apart for the caller.
        const absl::Status late =
            governor.InOutage()
                ? absl::UnavailableError(
                      "Microsoft graph's $batch sub-request cannot be sent before the call's deadline: the tenant's "
                      "endpoint is unreachable")
                : ResourceExhaustedWithRetry(
                      "Microsoft graph's $batch sub-request waited behind the tenant's throttling past the call's "
                      "deadline",
                      std::max(next_send - clock_->Now(), absl::Seconds(1)));
        for (auto it = queue.waiting.begin(); it != queue.waiting.end();) {
          if (it->call != &call) {
            ++it;
            continue;
          }
          call.errors[it->index] = late;
          --call.left;
          it = queue.waiting.erase(it);
        }
        continue;
      }
      if (call.left == 0) break;
      // A sub-request whose call ends before the tenant may be sent anything again stays out: the
      // envelope gives up at its earliest deadline, and would give up for everyone in it. Its call takes
      // it out of the queue when it next wakes.
      std::vector<BatchItem> envelope;
      for (auto it = queue.waiting.begin(); it != queue.waiting.end() && envelope.size() < kBatchLimit;) {
        if (it->call->deadline <= next_send) {
          it->call->too_late = true;
          ++it;
          continue;
        }
        envelope.push_back(*it);
        it = queue.waiting.erase(it);
      }
      if (envelope.empty()) {
        queue.stalled_until = absl::Now() + kStalledRecheck;
        continue;
      }
      queue.sending = true;
      queue.mu.Unlock();
      SendEnvelope(target, version, queue, envelope);
      queue.mu.Lock();
      queue.sending = false;
    }
  }
  // Refused before anything was answered, or for the connection itself: the call's error.
  absl::Status first_error;
  for (const absl::Status& error : call.errors) {
    if (error.ok()) continue;
    if (first_error.ok()) first_error = error;
    if (IsConnectionReason(ErrorInfoReasonOf(error))) return error;
  }
  const bool answered_some =
      std::any_of(call.answers.begin(), call.answers.end(),
                  [](const std::optional<nlohmann::json>& answer) { return answer.has_value(); });
  if (!answered_some && !first_error.ok()) return first_error;
  std::map<std::string, nlohmann::json> answers;
  for (size_t i = 0; i < call.requests.size(); ++i) {
    answers[json_read::Str(call.requests[i], "id")] =
        call.answers[i].has_value() ? *std::move(call.answers[i]) : UnansweredItem(call.errors[i]);
  }
  return answers;
}

void GraphClient::SendEnvelope(const GraphTarget& target, const std::string& version, BatchQueue& queue,
                               const std::vector<BatchItem>& items) {
  ThrottleGovernor& governor = governors_->For(target.governor_key, UpstreamApi::kGraph);
  // A throttled sub-response holds the tenant back as a throttled response would, and it must do so
  // before the envelope's permit is released: otherwise a request of another caller could leave before
  // its Retry-After has elapsed.
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
  // Ids are positions in the envelope: the callers' own ids need not be unique across callers. The
  // envelope gives up with the earliest deadline among its sub-requests' calls.
  nlohmann::json batch = {{"requests", nlohmann::json::array()}};
  absl::Time deadline = absl::InfiniteFuture();
  for (size_t k = 0; k < items.size(); ++k) {
    nlohmann::json request = items[k].call->requests[items[k].index];
    request["id"] = std::to_string(k);
    batch["requests"].push_back(std::move(request));
    deadline = std::min(deadline, items[k].call->deadline);
  }
  absl::StatusOr<GraphResult> sent = Send(target, "POST", absl::StrCat("/", version, "/$batch"), &batch, deadline,
                                          /*allow_404=*/false, {}, note_throttled);
  std::vector<const nlohmann::json*> answer_of(items.size(), nullptr);
  if (sent.ok()) {
    for (const nlohmann::json& item : json_read::Array(sent->body, "responses")) {
      size_t k = 0;
      if (absl::SimpleAtoi(json_read::Str(item, "id"), &k) && k < items.size()) answer_of[k] = &item;
    }
  }
  const size_t lacking = static_cast<size_t>(std::count(answer_of.begin(), answer_of.end(), nullptr));
  // A sub-request without an answer has no result: never read it as "not found".
  const absl::Status unanswered =
      !sent.ok() ? sent.status()
                 : absl::UnavailableError(absl::StrCat("Microsoft graph's $batch answer lacks ", lacking, " of ",
                                                       items.size(), " sub-requests; retry the call"));
  // An envelope held back past its earliest call's deadline was refused for that call: the others'
  // sub-requests go again (the connection itself refused, or anything else, fails them all).
  const bool held_back =
      !sent.ok() && absl::IsResourceExhausted(sent.status()) && !IsConnectionReason(ErrorInfoReasonOf(sent.status()));
  absl::MutexLock lock(&queue.mu);
  std::vector<BatchItem> again;
  for (size_t k = 0; k < items.size(); ++k) {
    BatchItem item = items[k];
    BatchCall& call = *item.call;
    ++item.sends;
    if (answer_of[k] == nullptr) {
      if (held_back && item.sends < max_attempts_ && clock_->Now() < call.deadline) {
        again.push_back(item);
        continue;
      }
      call.errors[item.index] = unanswered;
      --call.left;
      continue;
    }
    const int status = static_cast<int>(json_read::Int(*answer_of[k], "status", 0));
    if ((status == 429 || status == 503) && item.sends < max_attempts_ && clock_->Now() < call.deadline) {
      again.push_back(item);  // already held back by note_throttled; goes first in the next envelope
      continue;
    }
    nlohmann::json answer = *answer_of[k];
    answer["id"] = json_read::Str(call.requests[item.index], "id");
    call.answers[item.index] = std::move(answer);
    --call.left;
  }
  queue.waiting.insert(queue.waiting.begin(), again.begin(), again.end());
}

}  // namespace crosstenant::tenant_connector
