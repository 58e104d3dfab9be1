#include "services/tenant_connector/core/upstream_error.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/errors.h"

namespace crosstenant::tenant_connector {
namespace {

const nlohmann::json* Member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

}  // namespace

std::string UpstreamMessage(const nlohmann::json& body, const std::string& raw) {
  for (const char* key : {"error", "odata.error"}) {
    const nlohmann::json* error = Member(body, key);
    if (error == nullptr) continue;
    if (error->is_object()) {
      const nlohmann::json* message = Member(*error, "message");
      if (message != nullptr && message->is_string()) return message->get<std::string>();
      if (message != nullptr) {
        const nlohmann::json* value = Member(*message, "value");
        if (value != nullptr && value->is_string()) return value->get<std::string>();
      }
      const nlohmann::json* code = Member(*error, "code");
      if (code != nullptr && code->is_string()) return code->get<std::string>();
    }
    if (error->is_string()) {
      const nlohmann::json* description = Member(body, "error_description");
      return description != nullptr && description->is_string() ? description->get<std::string>()
                                                                : error->get<std::string>();
    }
  }
  for (const char* key : {"message", "error_description"}) {
    const nlohmann::json* message = Member(body, key);
    if (message != nullptr && message->is_string()) return message->get<std::string>();
  }
  std::string text = raw.substr(0, 200);
  return text.empty() ? "no details" : text;
}

std::string UpstreamCode(const nlohmann::json& body) {
  for (const char* key : {"error", "odata.error"}) {
    const nlohmann::json* error = Member(body, key);
    if (error == nullptr || !error->is_object()) continue;
    const nlohmann::json* code = Member(*error, "code");
    return code != nullptr && code->is_string() ? code->get<std::string>() : "";
  }
  return "";
}

namespace {

absl::Status MapStatus(const char* api, int status, const std::string& code, const std::string& message) {
  std::string text =
      absl::StrCat("Microsoft ", api, " answered HTTP ", status, code.empty() ? "" : " ", code, ": ", message);
  if (status == 400) return absl::InvalidArgumentError(text);
  if (status == 403) return absl::PermissionDeniedError(text);
  if (status == 404) return absl::NotFoundError(text);
  if (status == 409 || status == 422 || status == 412) return absl::FailedPreconditionError(text);
  if (status == 429) return ResourceExhaustedWithRetry(text, absl::Seconds(5));
  // The governor answers a 503 with Retry-After as throttling itself; one that reaches here had none:
  // an outage of the endpoint, not Microsoft asking us to slow down.
  if (status == 503) {
    return absl::UnavailableError(absl::StrCat("Microsoft ", api, " is unreachable for this tenant (HTTP 503",
                                               code.empty() ? "" : " ", code, ", no Retry-After): ", message));
  }
  if (status >= 500) return absl::UnavailableError(text);
  return absl::FailedPreconditionError(text);
}

}  // namespace

absl::Status MapUpstreamError(const char* api, int status, const nlohmann::json& body, const std::string& raw,
                              const UpstreamIds& ids) {
  const std::string code = UpstreamCode(body);
  const std::string message = UpstreamMessage(body, raw);
  // The ids Microsoft support asks for, in the text for the admin and in metadata for programs.
  const std::string support_ids =
      ids.client_request_id.empty() && ids.request_id.empty()
          ? ""
          : absl::StrCat(" (request-id ", ids.request_id.empty() ? "none" : ids.request_id, ", client-request-id ",
                         ids.client_request_id.empty() ? "none" : ids.client_request_id, ")");
  absl::Status mapped = MapStatus(api, status, code, absl::StrCat(message, support_ids));
  std::vector<std::pair<std::string, std::string>> metadata = {{kMetadataHttpStatus, absl::StrCat(status)}};
  if (!ids.request_id.empty()) metadata.emplace_back(kMetadataRequestId, ids.request_id);
  if (!ids.client_request_id.empty()) metadata.emplace_back(kMetadataClientRequestId, ids.client_request_id);
  if (status == 409 && absl::StrContains(absl::AsciiStrToLower(message), "migration task already exists")) {
    metadata.emplace_back(kMetadataUpstreamCode, code);
    return WithErrorInfo(std::move(mapped), kReasonMigrationTaskExists, kCrosstenantDomain, metadata);
  }
  return WithErrorInfo(std::move(mapped), code.empty() ? absl::StrCat("HTTP_", status) : code,
                       absl::StrCat(api, ".microsoft.com"), metadata);
}

}  // namespace crosstenant::tenant_connector
