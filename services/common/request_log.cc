#include "services/common/request_log.h"

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/request_fingerprint.h"

namespace crosstenant {

absl::Status RequestLog::Run(absl::string_view method, const google::protobuf::Message& request,
                             google::protobuf::Message* response, const std::function<absl::Status()>& run,
                             absl::Span<const absl::string_view> retry_fields) {
  const google::protobuf::FieldDescriptor* id_field = request.GetDescriptor()->FindFieldByName("request_id");
  const std::string id = id_field == nullptr ? "" : request.GetReflection()->GetString(request, id_field);
  if (id.empty()) return run();
  if (std::string problem = RequestIdProblem(id); !problem.empty()) {
    return InvalidArgumentWithViolations("invalid request_id", {{"request_id", problem}});
  }
  const std::string fingerprint = RequestFingerprint(request, retry_fields);
  {
    absl::MutexLock lock(&mu_);
    ForgetOldLocked(options_.now());
    auto [entry, added] = entries_.try_emplace(id);
    if (!added) {
      if (entry->second.method != method || entry->second.fingerprint != fingerprint) {
        return InvalidArgumentWithViolations(
            "request_id reused for another request",
            {{"request_id", absl::StrCat("was already used by a different ", entry->second.method,
                                         " request: a retry must repeat the request exactly; a new request needs "
                                         "a new id")}});
      }
      if (entry->second.running) {
        return absl::AbortedError(
            absl::StrCat("the ", method, " request with this request_id is still running: retry in a moment"));
      }
      if (!response->ParseFromString(entry->second.response)) {
        return absl::InternalError(absl::StrCat("the remembered answer to this ", method, " does not parse"));
      }
      return absl::OkStatus();
    }
    entry->second.method = std::string(method);
    entry->second.fingerprint = fingerprint;
  }
  const absl::Status status = run();
  absl::MutexLock lock(&mu_);
  auto entry = entries_.find(id);
  if (entry == entries_.end()) return status;
  if (!status.ok()) {
    entries_.erase(entry);  // a failure is not an answer to remember: the client may try again
    return status;
  }
  entry->second.running = false;
  entry->second.answered = options_.now();
  entry->second.response = response->SerializeAsString();
  order_.push_back(id);
  while (order_.size() > options_.capacity) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  return status;
}

void RequestLog::ForgetOldLocked(absl::Time now) {
  while (!order_.empty()) {
    auto oldest = entries_.find(order_.front());
    if (oldest != entries_.end() && now - oldest->second.answered < options_.retention) break;
    if (oldest != entries_.end()) entries_.erase(oldest);
    order_.pop_front();
  }
}

size_t RequestLog::size() const {
  absl::MutexLock lock(&mu_);
  return order_.size();
}

}  // namespace crosstenant
