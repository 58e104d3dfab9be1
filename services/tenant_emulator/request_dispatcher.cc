#include "services/tenant_emulator/request_dispatcher.h"

#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/tenant_emulator/bearer_auth.h"
#include "services/tenant_emulator/jwt.h"

namespace crosstenant::emulator {
namespace {

const char* FamilyOf(HostRoute::Kind kind) {
  switch (kind) {
    case HostRoute::Kind::kLogin:
      return "entra";
    case HostRoute::Kind::kGraph:
      return "graph";
    case HostRoute::Kind::kSharePoint:
      return "sharepoint";
    case HostRoute::Kind::kUnknown:
      return "unknown";
  }
  return "unknown";
}

}  // namespace

RequestDispatcher::RequestDispatcher(EmulatorContext& context)
    : c_(context), entra_(context), graph_(context), sharepoint_(context), admin_(context) {
  entra_.Register(login_router_);
  graph_.Register(graph_router_);
  sharepoint_.Register(sharepoint_router_);
  admin_.Register(admin_router_);
}

void RequestDispatcher::SendNotFound(RequestContext& ctx, HostRoute::Kind kind, bool method_not_allowed) {
  const int status = method_not_allowed ? 405 : 404;
  const std::string what = absl::StrCat(method_not_allowed ? "The method " : "No route for ", ctx.request.method, " ",
                                        ctx.path, method_not_allowed ? " is not allowed here." : "");
  switch (kind) {
    case HostRoute::Kind::kLogin:
      return SendEntraError(ctx.response, status, "invalid_request", 900561,
                            absl::StrCat("The endpoint only accepts the documented requests. ", what));
    case HostRoute::Kind::kGraph:
      return graph_.SendUnrouted(ctx.request, ctx.response, ctx.path);
    case HostRoute::Kind::kSharePoint:
      return SendSharePointError(ctx.response, status, what);
    case HostRoute::Kind::kUnknown:
      return SendJson(ctx.response, 404,
                      {{"error", absl::StrCat("The emulator serves no host named '", ctx.host.host,
                                              "'. Use a Microsoft hostname (see /_emulator/tenants).")}});
  }
}

bool RequestDispatcher::InjectFault(RequestContext& ctx, HostRoute::Kind kind) {
  const FaultSettings faults = c_.faults.Get();
  if (faults.latency > absl::ZeroDuration()) {
    c_.accounting.RecordFault("latency");
    c_.metrics.RecordFault("latency");
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(faults.latency));
  }
  const bool unreachable = ctx.tenant >= 0 && c_.UnreachableTenants().count(ctx.tenant) > 0;
  InjectedFault fault = unreachable ? InjectedFault::kUnavailable : c_.faults.Draw();
  if (fault == InjectedFault::kNone) return false;
  const bool throttle = fault == InjectedFault::kThrottle;
  const int status = throttle ? 429 : 503;
  const std::string kind_name = unreachable ? "unreachable" : throttle ? "throttled" : "unavailable";
  c_.accounting.RecordFault(kind_name);
  c_.metrics.RecordFault(unreachable ? "unreachable" : throttle ? "throttle" : "unavailable");
  if (!unreachable) {
    const int retry_after = c_.faults.DrawRetryAfter();
    ctx.response.set_header("Retry-After", std::to_string(retry_after));
    if (!ctx.client.empty()) c_.accounting.NoteRetryAfter(ctx.client, absl::Now(), retry_after);
  }
  switch (kind) {
    case HostRoute::Kind::kLogin:
      if (throttle) {
        SendEntraError(ctx.response, status, "temporarily_unavailable", 90055,
                       "TenantThrottlingError - There are too many incoming requests. Retry after the time given in "
                       "Retry-After.");
      } else {
        SendEntraError(ctx.response, status, "temporarily_unavailable", 90033,
                       unreachable ? "The tenant cannot be reached at the moment."
                                   : "A transient error has occurred. Please try again.");
      }
      break;
    case HostRoute::Kind::kGraph:
      if (throttle) {
        SendGraphError(ctx.request, ctx.response, status, "activityLimitReached", "The request has been throttled");
      } else {
        SendGraphError(ctx.request, ctx.response, status, "serviceNotAvailable",
                       "The service is temporarily unavailable. Retry after the time given in Retry-After.");
      }
      break;
    default:
      SendSharePointError(ctx.response, status,
                          throttle ? "The request has been throttled." : "The service is temporarily unavailable.");
      break;
  }
  return true;
}

void RequestDispatcher::Dispatch(RequestContext& ctx, HostRoute::Kind kind) {
  const Router* router = nullptr;
  switch (kind) {
    case HostRoute::Kind::kLogin:
      router = &login_router_;
      entra_.Identify(ctx);
      break;
    case HostRoute::Kind::kGraph:
      router = &graph_router_;
      IdentifyBearer(c_, ctx);
      break;
    case HostRoute::Kind::kSharePoint:
      router = &sharepoint_router_;
      IdentifyBearer(c_, ctx);
      ctx.tenant = ctx.host.tenant;
      break;
    case HostRoute::Kind::kUnknown:
      break;
  }
  Router::Match match;
  if (router != nullptr) {
    // SharePoint's OData paths carry percent-encoded URLs in a segment
    // (XTenantMoveCompatibilityCheck(targetTenantHostUrl='https%3A%2F%2F...')): match before decoding.
    std::string path = ctx.path;
    if (kind == HostRoute::Kind::kSharePoint && !ctx.request.target.empty()) {
      path = ctx.request.target.substr(0, ctx.request.target.find('?'));
    }
    match = router->Find(ctx.request.method, path);
  }
  ctx.route_name = match.handler != nullptr ? match.name : absl::StrCat(FamilyOf(kind), ".unknown");
  if (!ctx.client.empty()) c_.accounting.NoteArrival(ctx.client, absl::Now());
  if (match.handler == nullptr) {
    SendNotFound(ctx, kind, match.path_known);
  } else if (!InjectFault(ctx, kind)) {
    (*match.handler)(ctx, match.captures);
  }
}

void RequestDispatcher::Handle(const httplib::Request& request, httplib::Response& response) {
  const absl::Time started = absl::Now();
  RequestContext ctx{request, response, c_.directory.Route(request.get_header_value("Host")), request.path, "", -1, ""};
  if (absl::StartsWith(request.path, "/_emulator/")) {
    const Router::Match match = admin_router_.Find(request.method, request.path);
    if (match.handler == nullptr) {
      SendJson(response, match.path_known ? 405 : 404,
               {{"error", absl::StrCat("no admin route ", request.method, " ", request.path,
                                       " (see docs/tenant-emulator.md)")}});
    } else {
      try {
        (*match.handler)(ctx, match.captures);
      } catch (const nlohmann::json::exception& e) {
        SendJson(response, 400, {{"error", absl::StrCat("invalid request body: ", e.what())}});
      }
    }
    c_.metrics.RecordRequest("admin", response.status, absl::ToDoubleSeconds(absl::Now() - started));
    return;
  }

  const HostRoute::Kind kind = ctx.host.kind;
  // Every Microsoft answer carries its clock (RFC 9110 `Date`); clients measure their skew from it. Real
  // time, like tokens, since clients compare it with their own clocks.
  response.set_header("Date", absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(), absl::UTCTimeZone()));
  // Every Graph answer, success or not, carries its request-id and client-request-id, as Graph's do.
  if (kind == HostRoute::Kind::kGraph) SetGraphRequestIds(request, response);
  try {
    Dispatch(ctx, kind);
  } catch (const nlohmann::json::exception& e) {
    // A JSON field of the right name but the wrong type, in a body or in a token's claims.
    response.headers.erase("Retry-After");
    if (kind == HostRoute::Kind::kGraph) {
      SendGraphError(request, response, 400, "BadRequest", absl::StrCat("Invalid request: ", e.what()));
    } else if (kind == HostRoute::Kind::kSharePoint) {
      SendSharePointError(response, 400, absl::StrCat("Invalid request: ", e.what()));
    } else {
      SendEntraError(response, 400, "invalid_request", 900144, absl::StrCat("Invalid request: ", e.what()));
    }
  }
  if (kind == HostRoute::Kind::kSharePoint) {
    // SharePoint names every answer by one GUID, in SPRequestGuid and request-id alike (CSOM sets its
    // own, which is also the ErrorInfo's TraceCorrelationId).
    std::string guid = response.get_header_value("SPRequestGuid");
    if (guid.empty()) {
      guid = RandomGuid();
      response.set_header("SPRequestGuid", guid);
    }
    if (!response.has_header("request-id")) response.set_header("request-id", guid);
  } else if (kind == HostRoute::Kind::kLogin && !response.has_header("x-ms-request-id")) {
    response.set_header("x-ms-request-id", RandomGuid());  // Entra ID's id of its answer
  }
  const std::string tenant_name = ctx.tenant >= 0 ? c_.directory.tenant(ctx.tenant).seed.name : "";
  c_.accounting.RecordRequest(ctx.route_name, tenant_name, response.status);
  c_.accounting.RecordClientRequestId(request.get_header_value("client-request-id"), ctx.route_name,
                                      response.has_header("request-id") ? response.get_header_value("request-id")
                                                                        : response.get_header_value("x-ms-request-id"),
                                      response.status);
  c_.metrics.RecordRequest(FamilyOf(kind), response.status, absl::ToDoubleSeconds(absl::Now() - started));
}

}  // namespace crosstenant::emulator
