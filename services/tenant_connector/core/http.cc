#include "services/tenant_connector/core/http.h"

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/common/logging.h"

namespace crosstenant::tenant_connector {
namespace {

std::once_flag curl_init_once;

size_t CollectBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t CollectHeader(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  absl::string_view line(data, size * count);
  if (absl::StartsWith(line, "HTTP/")) {
    headers->clear();  // a new response (after 100-continue or a redirect)
  } else if (size_t colon = line.find(':'); colon != absl::string_view::npos) {
    std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon)));
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    // A repeated header is one list (RFC 9110 5.3): SharePoint sends WWW-Authenticate twice.
    auto [it, inserted] = headers->emplace(name, value);
    if (!inserted) absl::StrAppend(&it->second, ", ", value);
  }
  return size * count;
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};

// The host of a URL's authority ("host", "host:port" or "[v6]:port"), without the port, in lower case.
std::string HostWithoutPort(absl::string_view authority) {
  if (absl::StartsWith(authority, "[")) return std::string(authority.substr(0, authority.find(']') + 1));
  return absl::AsciiStrToLower(authority.substr(0, authority.find(':')));
}

// The URL's path without its query: queries may name users ($filter), never worth a log line.
std::string PathOf(const std::string& url) {
  absl::string_view rest = url;
  absl::ConsumePrefix(&rest, "https://");
  absl::ConsumePrefix(&rest, "http://");
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) return "/";
  rest.remove_prefix(slash);
  return std::string(rest.substr(0, rest.find_first_of("?#")));
}

// A random (version 4) UUID.
std::string NewClientRequestId() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  const uint64_t high = (generator() & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  const uint64_t low = (generator() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 15; i >= 0; --i) out.push_back(kHex[(high >> (i * 4)) & 0xf]);
  for (int i = 15; i >= 0; --i) out.push_back(kHex[(low >> (i * 4)) & 0xf]);
  return absl::StrCat(out.substr(0, 8), "-", out.substr(8, 4), "-", out.substr(12, 4), "-", out.substr(16, 4), "-",
                      out.substr(20));
}

thread_local UpstreamIds last_ids;

}  // namespace

UpstreamIds LastUpstreamIds() { return last_ids; }

std::string ProxyAddress::HostPort() const {
  return absl::StrCat(absl::StrContains(host, ':') ? absl::StrCat("[", host, "]") : host, ":", port);
}

std::string ProxyAddress::Url() const { return absl::StrCat(scheme, "://", HostPort()); }

absl::StatusOr<ProxyAddress> ParseProxyUrl(absl::string_view url) {
  ProxyAddress address;
  absl::string_view rest = url;
  const size_t separator = rest.find("://");
  if (separator != absl::string_view::npos) {
    address.scheme = absl::AsciiStrToLower(rest.substr(0, separator));
    rest.remove_prefix(separator + 3);
  }
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  // Before anything that quotes the URL: user info may hold a password.
  if (absl::StrContains(authority, '@')) {
    return absl::InvalidArgumentError(
        "must not hold credentials (user:password@); put them in upstream.proxy_credentials_file");
  }
  const std::string quoted = absl::StrCat("\"", url, "\"");
  if (address.scheme != "http" && address.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat(quoted, " must be http://HOST:PORT or https://HOST:PORT (an HTTP CONNECT proxy)"));
  }
  rest.remove_prefix(authority.size());
  if (!rest.empty() && rest != "/") {
    return absl::InvalidArgumentError(absl::StrCat(quoted, " must have no path or query"));
  }
  absl::string_view port;
  if (absl::ConsumePrefix(&authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError(absl::StrCat(quoted, " has no \"]\""));
    address.host = std::string(authority.substr(0, close));
    authority.remove_prefix(close + 1);
    if (!absl::ConsumePrefix(&authority, ":")) authority = "";
    port = authority;
  } else {
    const size_t colon = authority.find(':');
    address.host = absl::AsciiStrToLower(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port = authority.substr(colon + 1);
  }
  if (address.host.empty()) return absl::InvalidArgumentError(absl::StrCat(quoted, " names no host"));
  for (char c : address.host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != ':') {
      return absl::InvalidArgumentError(absl::StrCat(quoted, " has an invalid host"));
    }
  }
  if (port.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(quoted, " names no port (e.g. http://proxy.example:3128)"));
  }
  if (!absl::SimpleAtoi(port, &address.port) || address.port < 1 || address.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(quoted, " has port ", port, ", not 1-65535"));
  }
  return address;
}

bool BypassesProxy(absl::string_view host, const std::vector<std::string>& no_proxy) {
  const std::string name = absl::AsciiStrToLower(host);
  for (absl::string_view entry : no_proxy) {
    absl::ConsumePrefix(&entry, ".");
    if (entry == "*") return true;
    if (entry.empty()) continue;
    const std::string suffix = absl::AsciiStrToLower(entry);
    if (name == suffix || absl::EndsWith(name, absl::StrCat(".", suffix))) return true;
  }
  return false;
}

std::string HttpResponse::MicrosoftRequestId() const {
  for (const char* name : {"request-id", "sprequestguid", "x-ms-request-id"}) {
    if (std::string value = Header(name); !value.empty()) return value.substr(0, 128);
  }
  return "";
}

std::string HttpResponse::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::optional<absl::Duration> HttpResponse::ClockSkew(absl::Time now) const {
  const std::string date = Header("date");
  if (date.empty()) return std::nullopt;
  // The header changes once a second and parsing it is dear: each thread keeps the last one parsed.
  thread_local std::string last_date;
  thread_local std::optional<absl::Time> last_server;
  if (date != last_date) {
    absl::Time server;
    std::string error;
    last_date = date;
    last_server = absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", date, absl::UTCTimeZone(), &server, &error)
                      ? std::optional<absl::Time>(server)
                      : std::nullopt;
  }
  if (!last_server) return std::nullopt;
  return absl::Trunc(*last_server - now, absl::Seconds(1));
}

CurlTransport::CurlTransport(CurlOptions options) : options_(std::move(options)) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  for (const std::string& rule : options_.connect_to) {
    // libcurl spells "any host" as an empty first field.
    rules_.push_back(absl::StartsWith(rule, "*:") ? rule.substr(1) : rule);
  }
  if (!options_.proxy.empty()) {
    absl::StatusOr<ProxyAddress> proxy = ParseProxyUrl(options_.proxy);
    if (proxy.ok()) {
      proxy_ = *std::move(proxy);
    } else {
      log::Error("upstream proxy ignored", {{"error", std::string(proxy.status().message())}});
    }
  }
}

namespace {

// The error of a request that went through `proxy` and failed with `code`: it names the proxy, so that
// a proxy refusing or down is not read as Microsoft being down.
absl::Status ProxiedError(const std::string& host, const ProxyAddress& proxy, CURLcode code, long connect_code,
                          bool proxy_untrusted) {
  const std::string prefix = absl::StrCat("upstream ", host, " unreachable through the proxy ", proxy.HostPort(), ": ");
  if (proxy_untrusted) {
    return absl::UnavailableError(absl::StrCat(prefix, "the proxy's own TLS certificate is not trusted (",
                                               curl_easy_strerror(code), "; see upstream.proxy_ca_file)"));
  }
  if (connect_code == 407) {
    return absl::UnavailableError(absl::StrCat(prefix,
                                               "the proxy requires authentication or refused the credentials "
                                               "(HTTP 407; see upstream.proxy_credentials_file)"));
  }
  if (connect_code >= 300) {
    return absl::UnavailableError(
        absl::StrCat(prefix, "the proxy refused the tunnel to ", host, " (HTTP ", connect_code, ")"));
  }
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
      return absl::UnavailableError(absl::StrCat(prefix, "the proxy's host name does not resolve"));
    case CURLE_COULDNT_CONNECT:
      // libcurl connects to the proxy only; the proxy's own failures come back as a CONNECT status.
      return absl::UnavailableError(absl::StrCat(prefix, "the proxy does not accept connections"));
    default:
      return absl::UnavailableError(absl::StrCat(prefix, curl_easy_strerror(code)));
  }
}

}  // namespace

absl::StatusOr<HttpResponse> CurlTransport::Send(const HttpRequest& request) {
  thread_local std::unique_ptr<CURL, CurlDeleter> handle(curl_easy_init());
  CURL* curl = handle.get();
  if (curl == nullptr) return absl::InternalError("libcurl could not create a handle");
  curl_easy_reset(curl);

  HttpResponse response;
  response.client_request_id = NewClientRequestId();
  last_ids = UpstreamIds{response.client_request_id, ""};
  struct curl_slist* headers = nullptr;
  struct curl_slist* connect_to = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
  }
  headers = curl_slist_append(headers, absl::StrCat("client-request-id: ", response.client_request_id).c_str());
  headers = curl_slist_append(headers, "return-client-request-id: true");
  headers = curl_slist_append(headers, "Expect:");
  const std::string host = HostOf(request.url);
  const ProxyAddress* proxy =
      proxy_.has_value() && !BypassesProxy(HostWithoutPort(host), options_.no_proxy) ? &*proxy_ : nullptr;
  // Through a proxy the CONNECT must name the real host (libcurl would name the connect-to target).
  if (proxy == nullptr) {
    for (const std::string& rule : rules_) connect_to = curl_slist_append(connect_to, rule.c_str());
  }

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method != "DELETE" || !request.body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (connect_to != nullptr) curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect_to);
  // Always set, so that libcurl never falls back to the environment's proxy variables.
  const std::string proxy_url = proxy == nullptr ? std::string() : proxy->Url();
  curl_easy_setopt(curl, CURLOPT_PROXY, proxy_url.c_str());
  if (proxy != nullptr) {
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "");  // decided above; NO_PROXY from the environment is not read
    curl_easy_setopt(curl, CURLOPT_HTTPPROXYTUNNEL, 1L);
    if (!options_.proxy_ca_file.empty()) curl_easy_setopt(curl, CURLOPT_PROXY_CAINFO, options_.proxy_ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
    if (!options_.proxy_user.empty()) {
      curl_easy_setopt(curl, CURLOPT_PROXYAUTH, CURLAUTH_BASIC);
      curl_easy_setopt(curl, CURLOPT_PROXYUSERNAME, options_.proxy_user.c_str());
      curl_easy_setopt(curl, CURLOPT_PROXYPASSWORD, options_.proxy_password.c_str());
    }
  }
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(request.timeout)));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "crosstenant-tenant-connector/0.1");

  const auto started = std::chrono::steady_clock::now();
  CURLcode code = curl_easy_perform(curl);
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  long connect_code = 0;  // the proxy's answer to CONNECT
  if (proxy != nullptr) curl_easy_getinfo(curl, CURLINFO_HTTP_CONNECTCODE, &connect_code);
  long proxy_verify = 0;  // X509 verification of an https:// proxy's own certificate: 0 when it passed
  if (proxy != nullptr && proxy->scheme == "https")
    curl_easy_getinfo(curl, CURLINFO_PROXY_SSL_VERIFYRESULT, &proxy_verify);
  curl_slist_free_all(headers);
  curl_slist_free_all(connect_to);
  response.status = code == CURLE_OK ? static_cast<int>(status) : 0;
  last_ids.request_id = response.MicrosoftRequestId();
  // Never the headers or the body: they carry tokens and secrets.
  log::Fields fields = {{"method", request.method},
                        {"host", host},
                        {"path", PathOf(request.url)},
                        {"status", absl::StrCat(response.status)},
                        {"client_request_id", last_ids.client_request_id},
                        {"request_id", last_ids.request_id},
                        {"duration_ms", absl::StrCat(elapsed)}};
  if (proxy != nullptr) fields.emplace_back("proxy", proxy->HostPort());
  if (connect_code >= 300) fields.emplace_back("proxy_status", absl::StrCat(connect_code));
  if (code != CURLE_OK) fields.emplace_back("error", curl_easy_strerror(code));
  const bool failed = code != CURLE_OK || response.status >= 400;
  log::Write(failed ? log::Severity::kInfo : log::Severity::kDebug,
             response.status == 429 || response.status == 503 ? "upstream request throttled or refused"
             : failed                                         ? "upstream request failed"
                                                              : "upstream request",
             fields);
  if (code != CURLE_OK) {
    if (proxy != nullptr) return ProxiedError(host, *proxy, code, connect_code, proxy_verify != 0);
    return absl::UnavailableError(absl::StrCat("upstream ", host, " unreachable: ", curl_easy_strerror(code)));
  }
  return response;
}

std::string UrlEscape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      static const char* kHex = "0123456789ABCDEF";
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, UrlEscape(name), "=", UrlEscape(value));
  }
  return out;
}

std::string HostOf(const std::string& url) {
  absl::string_view rest = url;
  absl::ConsumePrefix(&rest, "https://");
  absl::ConsumePrefix(&rest, "http://");
  return std::string(rest.substr(0, rest.find_first_of("/?#")));
}

}  // namespace crosstenant::tenant_connector
