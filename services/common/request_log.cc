#include "services/common/request_log.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/request_fingerprint.h"

namespace crosstenant {

namespace {

std::string RequestIdOf(const google::protobuf::Message& request) {
  const google::protobuf::FieldDescriptor* field = request.GetDescriptor()->FindFieldByName("request_id");
  return field == nullptr ? "" : request.GetReflection()->GetString(request, field);
}

}  // namespace

absl::Status RequestLog::Run(absl::string_view method, const google::protobuf::Message& request,
                             google::protobuf::Message* response, const std::function<absl::Status()>& run,
                             absl::Span<const absl::string_view> retry_fields) {
  absl::StatusOr<bool> must_run = Begin(method, request, response, retry_fields);
  if (!must_run.ok()) return must_run.status();
  if (!*must_run) return absl::OkStatus();
  const absl::Status status = run();
  Finish(request, *response, status);
  return status;
}

absl::StatusOr<bool> RequestLog::Begin(absl::string_view method, const google::protobuf::Message& request,
                                       google::protobuf::Message* response,
                                       absl::Span<const absl::string_view> retry_fields) {
  const std::string id = RequestIdOf(request);
  if (id.empty()) return true;
  if (std::string problem = RequestIdProblem(id); !problem.empty()) {
    return InvalidArgumentWithViolations("invalid request_id", {{"request_id", problem}});
  }
  const std::string fingerprint = absl::HexStringToBytes(RequestFingerprint(request, retry_fields));
  absl::MutexLock lock(&mu_);
  ForgetOldLocked(options_.now());
  auto [entry, added] = entries_.try_emplace(id);
  if (added) {
    entry->second.method = &*methods_.emplace(method).first;
    entry->second.fingerprint = fingerprint;
    return true;
  }
  if (*entry->second.method != method || entry->second.fingerprint != fingerprint) {
    return InvalidArgumentWithViolations(
        "request_id reused for another request",
        {{"request_id", absl::StrCat("was already used by a different ", *entry->second.method,
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
  return false;
}

void RequestLog::Finish(const google::protobuf::Message& request, const google::protobuf::Message& response,
                        const absl::Status& status) {
  const std::string id = RequestIdOf(request);
  if (id.empty()) return;
  absl::MutexLock lock(&mu_);
  auto entry = entries_.find(id);
  if (entry == entries_.end() || !entry->second.running) return;
  if (!status.ok()) {
    entries_.erase(entry);  // a failure is not an answer to remember: the client may try again
    return;
  }
  entry->second.running = false;
  entry->second.answered = options_.now();
  entry->second.response = response.SerializeAsString();
  order_.push_back(&entry->first);
  while (order_.size() > options_.capacity) {
    auto oldest = entries_.find(*order_.front());
    order_.pop_front();  // before the erase, which frees the key it points at
    entries_.erase(oldest);
  }
}

void RequestLog::ForgetOldLocked(absl::Time now) {
  while (!order_.empty()) {
    auto oldest = entries_.find(*order_.front());
    if (now - oldest->second.answered < options_.retention) break;
    order_.pop_front();  // before the erase, which frees the key it points at
    entries_.erase(oldest);
  }
}

size_t RequestLog::size() const {
  absl::MutexLock lock(&mu_);
  return order_.size();
}

}  // namespace crosstenant
