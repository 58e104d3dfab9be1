#include "services/tenant_connector/core/sharepoint/csom.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/common/errors.h"
#include "services/tenant_connector/core/json_read.h"

namespace crosstenant::tenant_connector::csom {

std::string EscapeXml(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, "&#x", absl::Hex(static_cast<unsigned char>(c)), ";");
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Parameters.

Parameter Parameter::Typed(std::string type, std::string text) {
  Parameter p;
  p.type_ = std::move(type);
  p.text_ = std::move(text);
  return p;
}

Parameter Parameter::String(std::string value) { return Typed("String", std::move(value)); }
Parameter Parameter::Boolean(bool value) { return Typed("Boolean", value ? "true" : "false"); }
Parameter Parameter::Int32(int32_t value) { return Typed("Int32", std::to_string(value)); }
Parameter Parameter::UInt32(uint32_t value) { return Typed("UInt32", std::to_string(value)); }
Parameter Parameter::Enum(int64_t value) { return Typed("Enum", std::to_string(value)); }
Parameter Parameter::Guid(std::string value) {
  absl::string_view bare = value;
  absl::ConsumePrefix(&bare, "{");
  absl::ConsumeSuffix(&bare, "}");
  return Typed("Guid", absl::StrCat("{", absl::AsciiStrToLower(bare), "}"));
}
Parameter Parameter::DateTime(absl::Time value) {
  return Typed("DateTime", absl::FormatTime("%Y-%m-%dT%H:%M:%E3S+00:00", value, absl::UTCTimeZone()));
}
Parameter Parameter::Null() { return Typed("Null", ""); }
Parameter Parameter::StringArray(std::vector<std::string> values) {
  Parameter p;
  p.type_ = "Array";
  p.strings_ = std::move(values);
  return p;
}
Parameter Parameter::Object(std::string type_id, std::vector<std::pair<std::string, Parameter>> properties) {
  Parameter p;
  p.type_id_ = std::move(type_id);
  p.properties_ = std::move(properties);
  return p;
}

void Parameter::AppendXml(std::string* out, absl::string_view name) const {
  const char* element = name.empty() ? "Parameter" : "Property";
  absl::StrAppend(out, "<", element);
  if (!name.empty()) absl::StrAppend(out, " Name=\"", EscapeXml(name), "\"");
  if (!type_id_.empty()) {
    absl::StrAppend(out, " TypeId=\"", EscapeXml(type_id_), "\">");
    for (const auto& [property, value] : properties_) value.AppendXml(out, property);
    absl::StrAppend(out, "</", element, ">");
    return;
  }
  absl::StrAppend(out, " Type=\"", type_, "\"");
  if (type_ == "Null") {
    absl::StrAppend(out, " />");
    return;
  }
  absl::StrAppend(out, ">");
  if (type_ == "Array") {
    for (const std::string& value : strings_)
      absl::StrAppend(out, "<Object Type=\"String\">", EscapeXml(value), "</Object>");
  } else {
    absl::StrAppend(out, EscapeXml(text_));
  }
  absl::StrAppend(out, "</", element, ">");
}

// ---------------------------------------------------------------------------------------------------
// Requests.

namespace {

void AppendParameters(std::string* out, const std::vector<Parameter>& parameters) {
  absl::StrAppend(out, "<Parameters>");
  for (const Parameter& parameter : parameters) parameter.AppendXml(out);
  absl::StrAppend(out, "</Parameters>");
}

}  // namespace

RequestBuilder::RequestBuilder(std::string application_name) : application_name_(std::move(application_name)) {}

int RequestBuilder::Tenant() {
  const int path = next_id_++;
  absl::StrAppend(&object_paths_, "<Constructor Id=\"", path, "\" TypeId=\"", kTenantTypeId, "\" />");
  absl::StrAppend(&actions_, "<ObjectPath Id=\"", next_id_++, "\" ObjectPathId=\"", path, "\" />");
  return path;
}

int RequestBuilder::MethodPath(int parent, const std::string& name, std::vector<Parameter> parameters) {
  const int path = next_id_++;
  absl::StrAppend(&object_paths_, "<Method Id=\"", path, "\" ParentId=\"", parent, "\" Name=\"", EscapeXml(name),
                  "\">");
  AppendParameters(&object_paths_, parameters);
  absl::StrAppend(&object_paths_, "</Method>");
  absl::StrAppend(&actions_, "<ObjectPath Id=\"", next_id_++, "\" ObjectPathId=\"", path, "\" />");
  return path;
}

int RequestBuilder::IdentityPath(const std::string& identity) {
  const int path = next_id_++;
  absl::StrAppend(&object_paths_, "<Identity Id=\"", path, "\" Name=\"", EscapeXml(identity), "\" />");
  return path;
}

int RequestBuilder::CallMethod(int object_path, const std::string& name, std::vector<Parameter> parameters) {
  const int action = next_id_++;
  absl::StrAppend(&actions_, "<Method Name=\"", EscapeXml(name), "\" Id=\"", action, "\" ObjectPathId=\"", object_path,
                  "\">");
  AppendParameters(&actions_, parameters);
  absl::StrAppend(&actions_, "</Method>");
  return action;
}

int RequestBuilder::Query(int object_path, const std::vector<std::string>& properties, bool child_items) {
  const int action = next_id_++;
  auto query = [&](const char* element, bool all) {
    absl::StrAppend(&actions_, "<", element, " SelectAllProperties=\"", all ? "true" : "false", "\"><Properties>");
    if (!all) {
      for (const std::string& property : properties) {
        absl::StrAppend(&actions_, "<Property Name=\"", EscapeXml(property), "\" ScalarProperty=\"true\" />");
      }
    }
    absl::StrAppend(&actions_, "</Properties></", element, ">");
  };
  absl::StrAppend(&actions_, "<Query Id=\"", action, "\" ObjectPathId=\"", object_path, "\">");
  query("Query", properties.empty());
  if (child_items) query("ChildItemQuery", true);
  absl::StrAppend(&actions_, "</Query>");
  return action;
}

std::string RequestBuilder::Build() const {
  return absl::StrCat(
      "<Request xmlns=\"http://schemas.microsoft.com/sharepoint/clientquery/2009\" SchemaVersion=\"15.0.0.0\" "
      "LibraryVersion=\"16.0.0.0\" ApplicationName=\"",
      EscapeXml(application_name_), "\" AddExpandoFieldTypeSuffix=\"true\"><Actions>", actions_,
      "</Actions><ObjectPaths>", object_paths_, "</ObjectPaths></Request>");
}

// ---------------------------------------------------------------------------------------------------
// Responses.

absl::StatusOr<Response> Response::Parse(absl::string_view body) {
  nlohmann::json parsed = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  auto unreadable = [&body](absl::string_view why) {
    return absl::UnavailableError(
        absl::StrCat("SharePoint's ProcessQuery answer is unreadable (", why, "; ", body.size(), " bytes)"));
  };
  if (parsed.is_discarded()) return unreadable("not JSON");
  if (!parsed.is_array() || parsed.empty() || !parsed[0].is_object()) {
    return unreadable("not an array starting with the header object");
  }
  Response response;
  const nlohmann::json& header = parsed[0];
  response.correlation_id_ = json_read::Str(header, "TraceCorrelationId");
  response.library_version_ = json_read::Str(header, "LibraryVersion");
  auto error = header.find("ErrorInfo");
  if (error != header.end() && !error->is_null()) {
    if (!error->is_object()) return unreadable("ErrorInfo is not an object");
    ServerError server;
    server.message = json_read::Str(*error, "ErrorMessage");
    server.value = json_read::Str(*error, "ErrorValue");
    server.type_name = json_read::Str(*error, "ErrorTypeName");
    auto code = error->find("ErrorCode");
    if (code != error->end() && code->is_number_integer()) server.code = code->get<int64_t>();
    server.correlation_id = json_read::Str(*error, "TraceCorrelationId");
    if (server.correlation_id.empty()) server.correlation_id = response.correlation_id_;
    response.error_ = std::move(server);
    return response;
  }
  if ((parsed.size() - 1) % 2 != 0) return unreadable("an action id without a value");
  for (size_t i = 1; i + 1 < parsed.size(); i += 2) {
    if (!parsed[i].is_number_integer()) return unreadable(absl::StrCat("element ", i, " is not an action id"));
    response.values_[parsed[i].get<int64_t>()] = std::move(parsed[i + 1]);
  }
  return response;
}

absl::Status Response::Status(absl::string_view method) const {
  return error_ ? StatusOfServerError(*error_, method) : absl::OkStatus();
}

const nlohmann::json* Response::Find(int action_id) const {
  auto it = values_.find(action_id);
  return it == values_.end() ? nullptr : &it->second;
}

absl::Status StatusOfServerError(const ServerError& error, absl::string_view method) {
  const std::string& type = error.type_name;
  absl::StatusCode code = absl::StatusCode::kFailedPrecondition;
  if (absl::EndsWith(type, "SpoNoSiteException") || absl::EndsWith(type, "FileNotFoundException")) {
    code = absl::StatusCode::kNotFound;
  } else if (absl::EndsWith(type, "UnauthorizedAccessException")) {
    code = absl::StatusCode::kPermissionDenied;
  } else if (absl::EndsWith(type, "ArgumentException") || absl::EndsWith(type, "ArgumentNullException") ||
             absl::EndsWith(type, "ArgumentOutOfRangeException")) {
    code = absl::StatusCode::kInvalidArgument;
  }
  absl::Status status(
      code, absl::StrCat("SharePoint refused ", method, ": ", error.message.empty() ? "(no message)" : error.message,
                         " (", type.empty() ? "no error type" : type, ", code ", error.code, ", correlation id ",
                         error.correlation_id, ")"));
  // Microsoft says "The Cross-Tenant content move feature is not enabled for this tenant." in the text of
  // a plain SpoException only: read once, here where its answer is parsed, into a reason of our own.
  if (absl::StrContains(error.message, "not enabled")) {
    return WithErrorInfo(std::move(status), kReasonFeatureNotEnabled, kCrosstenantDomain,
                         {{"method", std::string(method)},
                          {"error_type_name", type},
                          {"error_code", std::to_string(error.code)},
                          {"trace_correlation_id", error.correlation_id}});
  }
  return WithErrorInfo(std::move(status), type.empty() ? "SHAREPOINT_ERROR" : type, "sharepoint.microsoft.com",
                       {{"method", std::string(method)},
                        {"error_type_name", type},
                        {"error_code", std::to_string(error.code)},
                        {"trace_correlation_id", error.correlation_id}});
}

std::optional<absl::Time> ParseDate(absl::string_view text) {
  if (!absl::ConsumePrefix(&text, "/Date(") || !absl::ConsumeSuffix(&text, ")/")) return std::nullopt;
  std::vector<absl::string_view> parts = absl::StrSplit(text, ',');
  std::vector<int64_t> numbers;
  for (absl::string_view part : parts) {
    int64_t number = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &number)) return std::nullopt;
    numbers.push_back(number);
  }
  if (numbers.size() == 1) {
    // Milliseconds since 1970; ±10,000 years keeps absl's arithmetic exact.
    if (numbers[0] < -315537897600000 || numbers[0] > 253402300799999) return std::nullopt;
    return absl::FromUnixMillis(numbers[0]);
  }
  if (numbers.size() < 3 || numbers.size() > 7) return std::nullopt;
  numbers.resize(7, 0);
  const int64_t year = numbers[0], month0 = numbers[1], day = numbers[2];
  if (year < 1 || year > 9999 || month0 < 0 || month0 > 11 || day < 1 || day > 31 || numbers[3] < 0 ||
      numbers[3] > 23 || numbers[4] < 0 || numbers[4] > 59 || numbers[5] < 0 || numbers[5] > 60 || numbers[6] < 0 ||
      numbers[6] > 999) {
    return std::nullopt;
  }
  const absl::CivilSecond civil(year, month0 + 1, day, numbers[3], numbers[4], numbers[5]);
  if (civil.day() != day) return std::nullopt;  // 31 February
  return absl::FromCivil(civil, absl::UTCTimeZone()) + absl::Milliseconds(numbers[6]);
}

}  // namespace crosstenant::tenant_connector::csom
