#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_ADMIN_ROUTES_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_ADMIN_ROUTES_H_

// The emulator's own admin API under /_emulator/ on every host, without a token: faults (get, set,
// reset), accounting (get, reset), device code approval, the emulated clock, tenants, moves, metrics.

#include "services/tenant_emulator/emulator_context.h"
#include "services/tenant_emulator/http_util.h"

namespace crosstenant::emulator {

class AdminRoutes {
 public:
  explicit AdminRoutes(EmulatorContext& context);
  void Register(Router& router);

 private:
  void PutFaults(RequestContext& ctx);
  void DeviceCode(RequestContext& ctx, bool approve);
  void Time(RequestContext& ctx, bool set);
  void Tenants(RequestContext& ctx);
  nlohmann::json FaultsJson() const;

  EmulatorContext& c_;
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_ADMIN_ROUTES_H_
