#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_HTTP_UTIL_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_HTTP_UTIL_H_

// The pieces every route family shares: the per-request context, a small path router whose
// patterns have one-segment wildcards ("/{tenant}/oauth2/v2.0/token", "getBySourceUserPrincipalName(*"),
// and JSON responses in the error shapes of Entra, Graph and SharePoint.

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "services/tenant_emulator/directory.h"

namespace crosstenant::emulator {

struct RequestContext {
  const httplib::Request& request;
  httplib::Response& response;
  HostRoute host;
  std::string path;  // request.path
  // Filled in by the router and the handlers, for accounting and metrics.
  std::string route_name;
  int tenant = -1;
  std::string client;  // see docs: tenant/app/<appid>, tenant/user/<oid>, tenant/client/<client_id>
};

using RouteHandler = std::function<void(RequestContext&, const std::vector<std::string>& captures)>;

class Router {
 public:
  // `pattern` segments: a literal (compared case-insensitively), "{name}" (any one segment, captured),
  // or "prefix(*" (a segment starting with "prefix(", captured whole).
  void Add(absl::string_view method, absl::string_view pattern, std::string name, RouteHandler handler);

  struct Match {
    const RouteHandler* handler = nullptr;
    std::string name;
    std::vector<std::string> captures;
    bool path_known = false;  // some route has this path, with another method
  };
  Match Find(absl::string_view method, absl::string_view path) const;
  // How many leading segments of `path` some route (of any method) matches: for a path no route
  // has, the index of the first segment nothing knows.
  std::size_t KnownSegments(absl::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    std::string name;
    RouteHandler handler;
  };
  std::vector<Route> routes_;
};

void SendJson(httplib::Response& response, int status, const nlohmann::json& body);

// Entra: {"error","error_description":"AADSTSnnn: text\r\nTrace ID..","error_codes":[n],"timestamp",
// "trace_id","correlation_id","error_uri"}.
void SendEntraError(httplib::Response& response, int status, absl::string_view error, int aadsts,
                    absl::string_view text, const nlohmann::json& extra = nlohmann::json::object());
// Graph's correlation headers on `response`, unless already there: `request-id` a fresh GUID per answer,
// `client-request-id` the client's own (echoed when it sent one of at most 128 printable characters)
// or else the request-id, as Graph does.
void SetGraphRequestIds(const httplib::Request& request, httplib::Response& response);
// Graph: {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}, with the
// ids of SetGraphRequestIds (set here if not yet) and the date as Graph writes it ("2026-12-05T09:30:00").
void SendGraphError(const httplib::Request& request, httplib::Response& response, int status, absl::string_view code,
                    absl::string_view message);
// SharePoint: {"odata.error":{"code":"<hresult>, <type>","message":{"lang":"en-US","value":..}}}; `code`
// is "<hresult>, <type>".
inline constexpr absl::string_view kSPExceptionCode = "-2146232832, Microsoft.SharePoint.SPException";
void SendSharePointError(httplib::Response& response, int status, absl::string_view message,
                         absl::string_view code = kSPExceptionCode);

// "2026-11-28T09:00:00Z"
std::string IsoTime(absl::Time time);
// Parses ISO 8601 / RFC 3339 ("2024-08-31T16:00:00Z", fractional seconds allowed); false if not.
bool ParseIsoTime(absl::string_view text, absl::Time* out);

// The bearer token of the Authorization header, or "".
std::string BearerToken(const httplib::Request& request);
// The unverified claims of a JWT (for identifying the client before it is checked), or null.
nlohmann::json PeekClaims(absl::string_view token);

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_HTTP_UTIL_H_
