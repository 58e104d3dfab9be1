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
// Requests always name Microsoft's real hosts. What may differ between deployments is the network path
// and the trust: a connect-to map (libcurl CURLOPT_CONNECT_TO, e.g.
// "login.microsoftonline.com:443:127.0.0.1:8443" or "*:443:127.0.0.1:8443" for every host), a CA file, and
// an HTTP CONNECT proxy with its no-proxy list. TLS verification is always on, end to end through a
// proxy's tunnel.
//
// Through a proxy the connector does not connect to Microsoft itself: the CONNECT request names the real
// host and port (login.microsoftonline.com:443) and the proxy resolves it, so connect-to rules apply only
// to requests that go direct (no proxy, or a host of the no-proxy list). The process environment
// (HTTPS_PROXY, https_proxy, ALL_PROXY, NO_PROXY), which libcurl would otherwise read, is ignored: the
// settings alone decide the path, as the cluster's network policies must.
//
//   CurlTransport transport({.connect_to = {"*:443:127.0.0.1:8443"}, .ca_file = "emulator.pem"});
//   ASSIGN_OR_RETURN(HttpResponse response, transport.Send(request));

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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
// timeout) is UNAVAILABLE naming the host, never the request body; through a proxy it also names the
// proxy (HOST:PORT, never its credentials), and a proxy that is down or refuses the tunnel says so.
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
  // HTTP CONNECT proxy for upstream requests, as ParseProxyUrl accepts it; empty: direct.
  std::string proxy;
  // Hosts that go direct despite `proxy`: "example.com" (or ".example.com") matches example.com and
  // every name under it, "*" every host. Case-insensitive.
  std::vector<std::string> no_proxy;
  // PEM bundle of CAs to trust for the TLS to an https:// proxy itself; empty means the system store.
  std::string proxy_ca_file;
  // Basic credentials for the proxy (empty user: none). Never logged.
  std::string proxy_user;
  std::string proxy_password;
};

// A proxy URL taken apart: `scheme` "http" or "https", `host` (an IPv6 address without brackets).
struct ProxyAddress {
  std::string scheme;
  std::string host;
  int port = 0;
  // "host:port" ("[v6]:port"): what errors and logs name.
  std::string HostPort() const;
  // "scheme://host:port", as libcurl takes it.
  std::string Url() const;
};

// Parses "http://HOST:PORT" or "https://HOST:PORT" (a trailing "/" allowed). INVALID_ARGUMENT when the
// scheme is another, the host or port is missing, the port is not 1-65535, or there is a path, query or
// user info; the message quotes the URL except when it holds user info ("user:password@"), which it
// never echoes.
absl::StatusOr<ProxyAddress> ParseProxyUrl(absl::string_view url);

// Whether `host` (no port) matches an entry of a no-proxy list (see CurlOptions::no_proxy).
bool BypassesProxy(absl::string_view host, const std::vector<std::string>& no_proxy);

// libcurl-backed transport, reusing one handle (and its connections) per calling thread. `options.proxy`
// must have passed ParseProxyUrl (an unparsable one is ignored, with an error logged).
class CurlTransport : public HttpTransport {
 public:
  explicit CurlTransport(CurlOptions options);
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override;

 private:
  CurlOptions options_;
  std::vector<std::string> rules_;
  std::optional<ProxyAddress> proxy_;
};

// application/x-www-form-urlencoded body of `fields`.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);
// Percent-encodes one URL component.
std::string UrlEscape(const std::string& text);
// The authority of an http(s) URL, as written: "https://Contoso-my.sharepoint.com/personal/x" ->
// "Contoso-my.sharepoint.com".
std::string HostOf(const std::string& url);

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_HTTP_H_
