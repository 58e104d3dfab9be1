#include "services/tenant_emulator/admin_routes.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace crosstenant::emulator {

AdminRoutes::AdminRoutes(EmulatorContext& context) : c_(context) {}

nlohmann::json AdminRoutes::FaultsJson() const { return c_.faults.Get().ToJson(c_.settings.token_lifetime); }

void AdminRoutes::Register(Router& router) {
  using Captures = const std::vector<std::string>&;
  router.Add("GET", "/_emulator/health", "admin.health", [](RequestContext& ctx, Captures) {
    SendJson(ctx.response, 200, {{"status", "ok"}});
  });
  router.Add("GET", "/_emulator/faults", "admin.faults",
             [this](RequestContext& ctx, Captures) { SendJson(ctx.response, 200, FaultsJson()); });
  for (const char* method : {"PUT", "POST", "PATCH"}) {
    router.Add(method, "/_emulator/faults", "admin.faults", [this](RequestContext& ctx, Captures) { PutFaults(ctx); });
  }
  router.Add("DELETE", "/_emulator/faults", "admin.faults", [this](RequestContext& ctx, Captures) {
    c_.faults.Reset();
    SendJson(ctx.response, 200, FaultsJson());
  });
  router.Add("GET", "/_emulator/accounting", "admin.accounting",
             [this](RequestContext& ctx, Captures) { SendJson(ctx.response, 200, c_.accounting.ToJson()); });
  auto reset = [this](RequestContext& ctx, Captures) {
    c_.accounting.Reset();
    SendJson(ctx.response, 200, c_.accounting.ToJson());
  };
  router.Add("DELETE", "/_emulator/accounting", "admin.accounting", reset);
  router.Add("POST", "/_emulator/accounting/reset", "admin.accounting", reset);
  router.Add("POST", "/_emulator/devicecode/approve", "admin.devicecode",
             [this](RequestContext& ctx, Captures) { DeviceCode(ctx, true); });
  router.Add("POST", "/_emulator/devicecode/decline", "admin.devicecode",
             [this](RequestContext& ctx, Captures) { DeviceCode(ctx, false); });
  router.Add("GET", "/_emulator/time", "admin.time", [this](RequestContext& ctx, Captures) { Time(ctx, false); });
  router.Add("POST", "/_emulator/time", "admin.time", [this](RequestContext& ctx, Captures) { Time(ctx, true); });
  router.Add("GET", "/_emulator/tenants", "admin.tenants", [this](RequestContext& ctx, Captures) { Tenants(ctx); });
  router.Add("GET", "/_emulator/moves", "admin.moves",
             [this](RequestContext& ctx, Captures) { SendJson(ctx.response, 200, c_.moves.AllTasks()); });
  router.Add("GET", "/_emulator/metrics", "admin.metrics", [this](RequestContext& ctx, Captures) {
    ctx.response.status = 200;
    ctx.response.set_content(c_.metrics.Serialize(), "text/plain; version=0.0.4");
  });
}

void AdminRoutes::PutFaults(RequestContext& ctx) {
  const nlohmann::json update = nlohmann::json::parse(ctx.request.body, nullptr, false);
  FaultSettings settings = c_.faults.Get();
  if (absl::Status status = settings.Apply(update); !status.ok()) {
    return SendJson(ctx.response, 400, {{"error", std::string(status.message())}});
  }
  for (const std::string& tenant : settings.unreachable_tenants) {
    if (c_.directory.FindTenant(tenant) < 0) {
      return SendJson(ctx.response, 400, {{"error", absl::StrCat("unreachable_tenants: no tenant ", tenant)}});
    }
  }
  c_.faults.Set(settings);
  SendJson(ctx.response, 200, FaultsJson());
}

void AdminRoutes::DeviceCode(RequestContext& ctx, bool approve) {
  const nlohmann::json body = nlohmann::json::parse(ctx.request.body, nullptr, false);
  const std::string user_code = body.is_object() ? absl::AsciiStrToUpper(body.value("user_code", "")) : "";
  if (user_code.empty()) return SendJson(ctx.response, 400, {{"error", "user_code is required"}});
  int tenant = -1, user = -1;
  if (approve) {
    const std::string upn = body.value("upn", "");
    tenant = c_.directory.FindTenantOfUpn(upn);
    user = tenant >= 0 ? c_.directory.tenant(tenant).FindUserIndex(upn) : -1;
    if (user < 0) return SendJson(ctx.response, 400, {{"error", absl::StrCat("no user ", upn)}});
  }
  std::string problem;
  const bool found = c_.tokens.WithDeviceCode(user_code, true, [&](crosstenant::emulator::DeviceCode& code) {
    if (code.state != DeviceCode::State::kPending) {
      problem = "the code was already approved, declined or redeemed";
      return;
    }
    if (c_.clock.Now() >= code.expires) {
      problem = "the code has expired";
      return;
    }
    if (approve && code.tenant >= 0 && code.tenant != tenant) {
      problem = "the user belongs to another tenant than the one the code was requested for";
      return;
    }
    code.state = approve ? DeviceCode::State::kApproved : DeviceCode::State::kDeclined;
    code.approved_tenant = tenant;
    code.approved_user = user;
  });
  if (!found) return SendJson(ctx.response, 404, {{"error", absl::StrCat("no pending device code ", user_code)}});
  if (!problem.empty()) return SendJson(ctx.response, 409, {{"error", problem}});
  SendJson(ctx.response, 200, {{approve ? "approved" : "declined", true}});
}

void AdminRoutes::Time(RequestContext& ctx, bool set) {
  if (set) {
    const nlohmann::json body = nlohmann::json::parse(ctx.request.body, nullptr, false);
    if (!body.is_object()) return SendJson(ctx.response, 400, {{"error", "expected a JSON object"}});
    if (body.contains("time_scale")) {
      if (!body["time_scale"].is_number() || body["time_scale"].get<double>() <= 0) {
        return SendJson(ctx.response, 400, {{"error", "time_scale: expected a number above 0"}});
      }
      c_.clock.SetScale(body["time_scale"].get<double>());
    }
    if (body.contains("advance_seconds")) {
      if (!body["advance_seconds"].is_number() || body["advance_seconds"].get<double>() < 0) {
        return SendJson(ctx.response, 400, {{"error", "advance_seconds: expected a number of at least 0"}});
      }
      c_.clock.Advance(absl::Seconds(body["advance_seconds"].get<double>()));
    }
    c_.moves.Tick();
  }
  SendJson(ctx.response, 200, {{"now", IsoTime(c_.clock.Now())}, {"time_scale", c_.clock.scale()}});
}

void AdminRoutes::Tenants(RequestContext& ctx) {
  nlohmann::json value = nlohmann::json::array();
  for (const DirectoryTenant& tenant : c_.directory.tenants()) {
    nlohmann::json geos = nlohmann::json::array();
    for (std::size_t g = 0; g < tenant.seed.geos.size(); ++g) {
      const int geo = static_cast<int>(g);
      geos.push_back({{"location", tenant.seed.geos[g].location},
                      {"adminUrl", c_.directory.AdminUrl(tenant.index, geo)},
                      {"mySiteHostUrl", c_.directory.MySiteHostUrl(tenant.index, geo)}});
    }
    nlohmann::json apps = nlohmann::json::array();
    for (const auto& [client_id, app] : tenant.apps) {
      apps.push_back({{"client_id", client_id},
                      {"display_name", app.seed.display_name},
                      {"public_client", app.seed.public_client},
                      {"certificates", app.certificates.size()}});
    }
    int admins = 0;
    for (const DirectoryUser& user : tenant.users) admins += user.is_admin ? 1 : 0;
    value.push_back({{"name", tenant.seed.name},
                     {"id", tenant.seed.id},
                     {"initial_domain", tenant.seed.initial_domain},
                     {"geos", geos},
                     {"apps", apps},
                     {"admins", admins},
                     {"users", static_cast<int>(tenant.users.size()) - admins}});
  }
  SendJson(ctx.response, 200, {{"value", value}});
}

}  // namespace crosstenant::emulator
