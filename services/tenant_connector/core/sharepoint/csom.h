#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_CSOM_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_CSOM_H_

// SharePoint's client-side object model on the wire (CSOM `ProcessQuery`): the XML request a client
// posts to `https://<geo>-admin.<suffix>/_vti_bin/client.svc/ProcessQuery` and the JSON array that
// comes back. Pure protocol code: no HTTP, no tokens. docs/sharepoint-admin-protocol.md shows whole
// requests and answers.
//
//   csom::RequestBuilder request("crosstenant");
//   int tenant = request.Tenant();
//   int verify = request.CallMethod(tenant, "VerifySPOTenantOrgRelation",
//                                   {csom::Parameter::Enum(1), csom::Parameter::Enum(2),
//                                    csom::Parameter::String("https://fabrikam-my.sharepoint.com/")});
//   ... POST request.Build() ...
//   ASSIGN_OR_RETURN(csom::Response response, csom::Response::Parse(http_body));
//   RETURN_IF_ERROR(response.Status("VerifySPOTenantOrgRelation"));
//   const nlohmann::json* status = response.Find(verify);   // 4

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace crosstenant::tenant_connector::csom {

// Microsoft.Online.SharePoint.TenantAdministration.Tenant, the object behind every admin cmdlet.
inline constexpr char kTenantTypeId[] = "{268004ae-ef6b-4e9b-8425-127220d84719}";
// SPOSitePropertiesEnumerableFilter, the argument of GetSitePropertiesFromSharePointByFilters.
inline constexpr char kSitePropertiesFilterTypeId[] = "{b92aeee2-c92c-4b67-abcc-024e471bc140}";

// `text` with the characters XML gives a meaning to (& < > " ') as entities, and control characters
// as numeric references (a newline inside an object identity must survive the round trip).
std::string EscapeXml(absl::string_view text);

// One argument of a method call, or one property of a value-object argument.
class Parameter {
 public:
  static Parameter String(std::string value);
  static Parameter Boolean(bool value);
  static Parameter Int32(int32_t value);
  static Parameter UInt32(uint32_t value);
  // An enum is sent as its number: see enums.h for Microsoft's numbers.
  static Parameter Enum(int64_t value);
  // `value` with or without braces; sent as "{xxxxxxxx-...}".
  static Parameter Guid(std::string value);
  // Sent in UTC as "yyyy-MM-ddTHH:mm:ss.fff+00:00".
  static Parameter DateTime(absl::Time value);
  static Parameter Null();
  static Parameter StringArray(std::vector<std::string> values);
  // A value object (e.g. the site filter): `<Parameter TypeId="{...}"><Property Name=.. Type=..>`.
  static Parameter Object(std::string type_id, std::vector<std::pair<std::string, Parameter>> properties);

  // Appends the XML of this value as `<Parameter ...>` (or `<Property Name="name" ...>` if `name` is set).
  void AppendXml(std::string* out, absl::string_view name = "") const;

 private:
  static Parameter Typed(std::string type, std::string text);

  std::string type_;  // "String", "Boolean", ...; empty for a value object
  std::string text_;  // the value's text, unescaped
  std::string type_id_;
  std::vector<std::string> strings_;
  std::vector<std::pair<std::string, Parameter>> properties_;
};

// Builds one ProcessQuery request. Object paths and actions get ids 1, 2, 3, ... in the order they are
// added; the answer holds each action's value under its id.
class RequestBuilder {
 public:
  explicit RequestBuilder(std::string application_name);

  // A new Tenant object (a Constructor path) and its ObjectPath action; returns the path id.
  int Tenant();
  // A method of `parent` that returns a client object (an SpoOperation, a ClientObjectList, ...), as an
  // object path with its ObjectPath action; returns the path id, to Query.
  int MethodPath(int parent, const std::string& name, std::vector<Parameter> parameters);
  // An object known by its `_ObjectIdentity_` from an earlier answer (e.g. an SpoOperation to poll).
  int IdentityPath(const std::string& identity);

  // A method returning nothing, a scalar or a list of scalars; returns the action id.
  int CallMethod(int object_path, const std::string& name, std::vector<Parameter> parameters);
  // Loads `properties` of the object (all of them if empty), and with `child_items` every property of
  // each item of a collection; returns the action id.
  int Query(int object_path, const std::vector<std::string>& properties, bool child_items);

  // The request body.
  std::string Build() const;

 private:
  int next_id_ = 1;
  std::string application_name_;
  std::string actions_;
  std::string object_paths_;
};

// What SharePoint's ErrorInfo says.
struct ServerError {
  std::string message;
  std::string value;
  std::string type_name;  // "Microsoft.Online.SharePoint.Common.SpoNoSiteException"
  int64_t code = 0;       // -1, -2147024809, ...
  std::string correlation_id;
};

// A parsed ProcessQuery answer.
class Response {
 public:
  // Reads `body`: a JSON array whose first element is the header, followed by (action id, value)
  // pairs where the value may be any JSON value. Anything else is UNAVAILABLE naming what is wrong
  // (an answer SharePoint would not give is not a result: it is never read as an empty one).
  static absl::StatusOr<Response> Parse(absl::string_view body);

  // The server's error, if ErrorInfo is set. Check it before reading any value.
  const std::optional<ServerError>& error() const { return error_; }
  // OK, or the status of the server's error for a call of `method` (see StatusOfServerError).
  absl::Status Status(absl::string_view method) const;
  // The request's correlation id (header), for Microsoft support.
  const std::string& correlation_id() const { return correlation_id_; }
  const std::string& library_version() const { return library_version_; }

  // The value answered for `action_id`, or nullptr if the answer has none (a void method).
  const nlohmann::json* Find(int action_id) const;

 private:
  std::optional<ServerError> error_;
  std::string correlation_id_;
  std::string library_version_;
  std::map<int64_t, nlohmann::json> values_;
};

// The status for a server error of a call of `method`: SpoNoSiteException and FileNotFoundException are
// NOT_FOUND, UnauthorizedAccessException PERMISSION_DENIED, ArgumentException and its kin
// INVALID_ARGUMENT, anything else FAILED_PRECONDITION. The message names the method, Microsoft's text,
// the type, the code and the correlation id; a google.rpc.ErrorInfo detail (reason = the type name,
// domain "sharepoint.microsoft.com") carries `error_type_name`, `error_code` and `trace_correlation_id`.
// The one exception: Microsoft's refusal because the cross-tenant feature is not enabled for the
// tenant has reason kReasonFeatureNotEnabled (domain "crosstenant"), read from Microsoft's text here
// because Microsoft gives it no code of its own.
absl::Status StatusOfServerError(const ServerError& error, absl::string_view method);

inline constexpr char kReasonFeatureNotEnabled[] = "CROSS_TENANT_FEATURE_NOT_ENABLED";

// A CSOM date: "/Date(2026,11,5,2,28,0,0)/" (month from 0, as JavaScript counts) or "/Date(1764901680000)/"
// (milliseconds since 1970), read as UTC. nullopt if `text` is neither.
std::optional<absl::Time> ParseDate(absl::string_view text);

}  // namespace crosstenant::tenant_connector::csom

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_CSOM_H_
