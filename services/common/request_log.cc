#include "services/common/request_log.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/logging.h"
#include "services/common/request_fingerprint.h"
#include "services/common/status_macros.h"

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

absl::Status RequestLog::CheckSameRequest(absl::string_view method, absl::string_view fingerprint,
                                          absl::string_view seen_method, absl::string_view seen_fingerprint) {
  if (seen_method == method && seen_fingerprint == fingerprint) return absl::OkStatus();
  return InvalidArgumentWithViolations(
      "request_id reused for another request",
      {{"request_id", absl::StrCat("was already used by a different ", seen_method,
                                   " request: a retry must repeat the request exactly; a new request needs "
                                   "a new id")}});
}

absl::StatusOr<bool> RequestLog::Begin(absl::string_view method, const google::protobuf::Message& request,
                                       google::protobuf::Message* response,
                                       absl::Span<const absl::string_view> retry_fields) {
  const std::string id = RequestIdOf(request);
  if (id.empty()) return true;
  if (std::string problem = RequestIdProblem(id); !problem.empty()) {
    return InvalidArgumentWithViolations("invalid request_id", {{"request_id", problem}});
  }
  std::string fingerprint = absl::HexStringToBytes(RequestFingerprint(request, retry_fields));
  {
    // Claimed before the store is read, so that a second call under the id waits for the first's answer.
    absl::MutexLock lock(&mu_);
    auto [running, claimed] = running_.try_emplace(id, Running{std::string(method), fingerprint});
    if (!claimed) {
      RETURN_IF_ERROR(CheckSameRequest(method, fingerprint, running->second.method, running->second.fingerprint));
      return absl::AbortedError(
          absl::StrCat("the ", method, " request with this request_id is still running: retry in a moment"));
    }
  }
  absl::StatusOr<std::optional<AnswerStore::Answer>> answer = answers_->FindAnswer(id);
  if (answer.ok() && (!answer->has_value() || options_.now() - (*answer)->answered >= options_.retention)) return true;
  {
    absl::MutexLock lock(&mu_);
    running_.erase(id);
  }
  if (!answer.ok()) return answer.status();
  RETURN_IF_ERROR(CheckSameRequest(method, fingerprint, (*answer)->method, (*answer)->fingerprint));
  if (!response->ParseFromString((*answer)->response)) {
    return absl::InternalError(absl::StrCat("the remembered answer to this ", method, " does not parse"));
  }
  return false;
}

void RequestLog::Finish(const google::protobuf::Message& request, const google::protobuf::Message& response,
                        const absl::Status& status) {
  const std::string id = RequestIdOf(request);
  if (id.empty()) return;
  Running running;
  {
    absl::MutexLock lock(&mu_);
    auto entry = running_.find(id);
    if (entry == running_.end()) return;
    running = entry->second;
  }
  // Kept before the claim ends, so that a retry in between waits instead of running again. A failure
  // is not an answer to remember: the client may try again.
  if (status.ok()) {
    const absl::Time now = options_.now();
    const absl::Status kept = answers_->KeepAnswer(
        id, {std::move(running.method), std::move(running.fingerprint), response.SerializeAsString(), now},
        now - options_.retention, options_.capacity);
    if (!kept.ok()) {
      log::Warning("an answer was not remembered: a retry under its request_id runs again",
                   {{"request_id", id}, {"error", std::string(kept.message())}});
    }
  }
  absl::MutexLock lock(&mu_);
  running_.erase(id);
}

}  // namespace crosstenant
