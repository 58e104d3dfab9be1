#include "services/tenant_emulator/http_util.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/tenant_emulator/jwt.h"

namespace crosstenant::emulator {
namespace {

std::vector<std::string> Segments(absl::string_view path) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) out.emplace_back(part);
  return out;
}

bool SegmentMatches(const std::string& pattern, const std::string& segment) {
  if (pattern.size() >= 2 && pattern.front() == '{' && pattern.back() == '}') return true;
  if (absl::EndsWith(pattern, "(*")) {
    return absl::StartsWithIgnoreCase(segment, pattern.substr(0, pattern.size() - 1));
  }
  return absl::EqualsIgnoreCase(pattern, segment);
}

}  // namespace

void Router::Add(absl::string_view method, absl::string_view pattern, std::string name, RouteHandler handler) {
  routes_.push_back({std::string(method), Segments(pattern), std::move(name), std::move(handler)});
}

Router::Match Router::Find(absl::string_view method, absl::string_view path) const {
  Match match;
  const std::vector<std::string> segments = Segments(path);
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    bool ok = true;
    std::vector<std::string> captures;
    for (std::size_t i = 0; i < segments.size() && ok; ++i) {
      ok = SegmentMatches(route.segments[i], segments[i]);
      const std::string& p = route.segments[i];
      if (ok && ((p.front() == '{' && p.back() == '}') || absl::EndsWith(p, "(*"))) captures.push_back(segments[i]);
    }
    if (!ok) continue;
    if (route.method != method) {
      match.path_known = true;
      continue;
    }
    match.handler = &route.handler;
    match.name = route.name;
    match.captures = std::move(captures);
    return match;
  }
  return match;
}

std::size_t Router::KnownSegments(absl::string_view path) const {
  const std::vector<std::string> segments = Segments(path);
  std::size_t known = 0;
  for (const Route& route : routes_) {
    std::size_t i = 0;
    while (i < segments.size() && i < route.segments.size() && SegmentMatches(route.segments[i], segments[i])) ++i;
    known = std::max(known, i);
  }
  return known;
}

void SendJson(httplib::Response& response, int status, const nlohmann::json& body) {
  response.status = status;
  // Text from the request (a path, a parameter) may be invalid UTF-8: replace such bytes with U+FFFD
  // rather than throw, since this runs outside the dispatcher's catch (e.g. for an unknown admin route).
  response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                       "application/json; charset=utf-8");
}

std::string IsoTime(absl::Time time) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone()); }

bool ParseIsoTime(absl::string_view text, absl::Time* out) {
  std::string error;
  return absl::ParseTime(absl::RFC3339_full, text, out, &error) ||
         absl::ParseTime("%Y-%m-%dT%H:%M:%E*S", text, absl::UTCTimeZone(), out, &error);
}

void SendEntraError(httplib::Response& response, int status, absl::string_view error, int aadsts,
                    absl::string_view text, const nlohmann::json& extra) {
  const std::string trace_id = RandomGuid();
  const std::string correlation_id = RandomGuid();
  const std::string timestamp = absl::FormatTime("%Y-%m-%d %H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  nlohmann::json body = {
      {"error", std::string(error)},
      {"error_description", absl::StrCat("AADSTS", aadsts, ": ", text, "\r\nTrace ID: ", trace_id,
                                         "\r\nCorrelation ID: ", correlation_id, "\r\nTimestamp: ", timestamp)},
      {"error_codes", nlohmann::json::array({aadsts})},
      {"timestamp", timestamp},
      {"trace_id", trace_id},
      {"correlation_id", correlation_id},
      {"error_uri", absl::StrCat("https://login.microsoftonline.com/error?code=", aadsts)}};
  for (const auto& [key, value] : extra.items()) body[key] = value;
  SendJson(response, status, body);
}

void SetGraphRequestIds(const httplib::Request& request, httplib::Response& response) {
  if (response.has_header("request-id")) return;
  const std::string request_id = RandomGuid();
  std::string client_request_id = request.get_header_value("client-request-id");
  // Echoed into a header and a body: nothing that could break either, nor an unbounded value.
  const bool usable =
      !client_request_id.empty() && client_request_id.size() <= 128 &&
      std::all_of(client_request_id.begin(), client_request_id.end(), [](char c) { return c > ' ' && c < 127; });
  response.set_header("request-id", request_id);
  response.set_header("client-request-id", usable ? client_request_id : request_id);
}

void SendGraphError(const httplib::Request& request, httplib::Response& response, int status, absl::string_view code,
                    absl::string_view message) {
  SetGraphRequestIds(request, response);
  SendJson(response, status,
           {{"error",
             {{"code", std::string(code)},
              {"message", std::string(message)},
              {"innerError",
               {{"date", absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::Now(), absl::UTCTimeZone())},
                {"request-id", response.get_header_value("request-id")},
                {"client-request-id", response.get_header_value("client-request-id")}}}}}});
}

void SendSharePointError(httplib::Response& response, int status, absl::string_view message, absl::string_view code) {
  SendJson(response, status,
           {{"odata.error",
             {{"code", std::string(code)}, {"message", {{"lang", "en-US"}, {"value", std::string(message)}}}}}});
}

std::string BearerToken(const httplib::Request& request) {
  const std::string header = request.get_header_value("Authorization");
  if (header.size() < 7 || !absl::StartsWithIgnoreCase(header, "Bearer ")) return "";
  return std::string(absl::StripAsciiWhitespace(absl::string_view(header).substr(7)));
}

nlohmann::json PeekClaims(absl::string_view token) {
  const std::size_t first = token.find('.');
  if (first == absl::string_view::npos) return nullptr;
  const std::size_t second = token.find('.', first + 1);
  if (second == absl::string_view::npos) return nullptr;
  std::string payload;
  if (!Base64UrlDecode(token.substr(first + 1, second - first - 1), &payload)) return nullptr;
  nlohmann::json claims = nlohmann::json::parse(payload, nullptr, false);
  return claims.is_object() ? claims : nlohmann::json(nullptr);
}

}  // namespace crosstenant::emulator
