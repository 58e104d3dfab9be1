#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_HTTP_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_HTTP_H_

// Upstream HTTPS: the one place the connector talks to Microsoft (Entra ID, Graph, SharePoint).
//
// Every request carries a fresh `client-request-id` (a UUID) and `return-client-request-id: true`, as
// Microsoft asks of callers who may need support: with Microsoft's own id of the answer (Graph's and
// SharePoint's `request-id`, SharePoint's `SPRequestGuid`, Entra ID's `x-ms-request-id`) it names one
// request to Microsoft support. Each request is logged with both ids and the current trace id
// (trace_context.h): at debug level, and at info when it failed (HTTP 4xx/5xx or no answer).
//
// Requests always name Microsoft's real hosts. Two settings may differ between deployments, and only
// these two: a connect-to map (libcurl CURLOPT_CONNECT_TO, e.g. "login.microsoftonline.com:443:127.0.0.1:8443"
// or "*:443:127.0.0.1:8443" for every host) and a CA file. TLS verification is always on.
//
//   CurlTransport transport({.connect_to = {"*:443:127.0.0.1:8443"}, .ca_file = "emulator.pem"});
//   ASSIGN_OR_RETURN(HttpResponse response, transport.Send(request));

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crosstenant::tenant_connector {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  absl::Duration timeout = absl::Seconds(30);
};

struct HttpResponse {
  int status = 0;
  // Header names in lower case; the values of a repeated header joined by ", " (RFC 9110).
  std::map<std::string, std::string> headers;
  std::string body;

  // The `client-request-id` the transport sent with the request.
  std::string client_request_id;

  // The header's value, or "" when absent (`name` in lower case).
  std::string Header(const std::string& name) const;
  // Microsoft's id of this answer: `request-id` (Graph, SharePoint), else `SPRequestGuid`
  // (SharePoint), else `x-ms-request-id` (Entra ID); "" when none.
  std::string MicrosoftRequestId() const;
  // The answering server's clock minus `now` (whole seconds), from the `Date` header (RFC 9110's
  // IMF-fixdate); nullopt when the header is absent or not a date.
  std::optional<absl::Duration> ClockSkew(absl::Time now) const;
};

// The ids of one upstream request, for support: ours and Microsoft's ("" when it did not answer).
struct UpstreamIds {
  std::string client_request_id;
  std::string request_id;
};

// The ids of the last request CurlTransport sent on this thread: errors about Microsoft's answer
// (upstream_error.h) name them, since they are built on the thread that received it.
UpstreamIds LastUpstreamIds();

// Sends one request. Implementations are thread-safe. A transport failure (DNS, connect, TLS,
// timeout) is UNAVAILABLE naming the host, never the request body.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
};

struct CurlOptions {
  // libcurl CONNECT_TO rules, "HOST:PORT:CONNECT_TO_HOST:CONNECT_TO_PORT"; a HOST of "*" matches any.
  std::vector<std::string> connect_to;
  // PEM bundle of CAs to trust instead of the system store; empty means the system store.
  std::string ca_file;
};

// libcurl-backed transport, reusing one handle (and its connections) per calling thread.
class CurlTransport : public HttpTransport {
 public:
  explicit CurlTransport(CurlOptions options);
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override;

 private:
  CurlOptions options_;
  std::vector<std::string> rules_;
};

// application/x-www-form-urlencoded body of `fields`.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);
// Percent-encodes one URL component.
std::string UrlEscape(const std::string& text);

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_HTTP_H_
