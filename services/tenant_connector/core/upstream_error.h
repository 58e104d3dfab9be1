#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_UPSTREAM_ERROR_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_UPSTREAM_ERROR_H_

// Microsoft's non-2xx answers (Entra ID, Graph, SharePoint) as statuses, in one place.

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "services/tenant_connector/core/http.h"

namespace crosstenant::tenant_connector {

// Microsoft's error text from a Graph, OAuth or SharePoint OData error body (or the raw body's start).
std::string UpstreamMessage(const nlohmann::json& body, const std::string& raw);
// The error code of a Graph or OData error body ("" if none).
std::string UpstreamCode(const nlohmann::json& body);
// The status for a non-2xx upstream response (see tenant_connector.proto's service comment): 400
// INVALID_ARGUMENT, 403 PERMISSION_DENIED, 404 NOT_FOUND, 409/412/422 FAILED_PRECONDITION, 429
// RESOURCE_EXHAUSTED, 5xx UNAVAILABLE (a 503, which reaches here only without Retry-After, is named an
// unreachable endpoint, never throttling). `api` names the API in the message ("graph", "sharepoint").
// The status carries Microsoft's answer as an ErrorInfo: reason its error code (UpstreamCode), or
// "HTTP_<status>" without one; domain "<api>.microsoft.com"; metadata kMetadataHttpStatus. The message
// ends with "(request-id R, client-request-id C)" and the metadata has kMetadataRequestId and
// kMetadataClientRequestId: `ids`, by default those of the answer this thread received last.
absl::Status MapUpstreamError(const char* api, int status, const nlohmann::json& body, const std::string& raw,
                              const UpstreamIds& ids = LastUpstreamIds());

// ErrorInfo metadata keys of MapUpstreamError's statuses: Microsoft's HTTP status ("409"), Microsoft's
// id of its answer and the client-request-id the connector sent (for Microsoft support).
inline constexpr char kMetadataHttpStatus[] = "http_status";
inline constexpr char kMetadataRequestId[] = "request_id";
inline constexpr char kMetadataClientRequestId[] = "client_request_id";

// The reason (domain "crosstenant") MapUpstreamError gives Graph's 409 refusing a migration task
// because the user has one already. Graph answers every conflict of a start (a target that has a
// OneDrive, a task that exists...) with code "conflict" and tells them apart only in its text, so the
// text is read here, once, where the answer is parsed; Microsoft's code stays in metadata
// kMetadataUpstreamCode.
inline constexpr char kReasonMigrationTaskExists[] = "MIGRATION_TASK_EXISTS";
inline constexpr char kMetadataUpstreamCode[] = "upstream_code";

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_UPSTREAM_ERROR_H_
