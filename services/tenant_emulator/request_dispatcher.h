#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_REQUEST_DISPATCHER_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_REQUEST_DISPATCHER_H_

// Routes every HTTPS request: /_emulator/ on any host to the admin API; otherwise by Host header to
// Entra, Graph or a SharePoint geo. Before a Microsoft route runs it identifies the caller, counts
// early retries, and injects the current faults (latency, unreachable tenant, 429, 503); after it,
// it records the request in the accounting and the metrics.

#include "httplib.h"
#include "services/tenant_emulator/admin_routes.h"
#include "services/tenant_emulator/csom_routes.h"
#include "services/tenant_emulator/emulator_context.h"
#include "services/tenant_emulator/entra_routes.h"
#include "services/tenant_emulator/graph_routes.h"
#include "services/tenant_emulator/http_util.h"

namespace crosstenant::emulator {

class RequestDispatcher {
 public:
  explicit RequestDispatcher(EmulatorContext& context);
  RequestDispatcher(const RequestDispatcher&) = delete;
  RequestDispatcher& operator=(const RequestDispatcher&) = delete;

  void Handle(const httplib::Request& request, httplib::Response& response);

 private:
  // Identifies the caller, injects faults and runs the route (may throw nlohmann::json::exception).
  void Dispatch(RequestContext& ctx, HostRoute::Kind kind);
  // Answers with the injected fault, if the current settings draw one; true if it did.
  bool InjectFault(RequestContext& ctx, HostRoute::Kind kind);
  void SendNotFound(RequestContext& ctx, HostRoute::Kind kind, bool method_not_allowed);

  EmulatorContext& c_;
  EntraRoutes entra_;
  GraphRoutes graph_;
  CsomRoutes sharepoint_;
  AdminRoutes admin_;
  Router login_router_;
  Router graph_router_;
  Router sharepoint_router_;
  Router admin_router_;
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_REQUEST_DISPATCHER_H_
