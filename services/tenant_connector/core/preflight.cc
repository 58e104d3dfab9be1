// Preflight: every check across a source and a target connection, as one typed report. Findings are
// data; the call succeeds even when checks fail. Each check is a small function in one of two tables:
// checks of one connection (run for the source and for the target), and checks of a source-geo /
// target-geo pair.

#include <algorithm>
#include <functional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/errors.h"
#include "services/common/status_macros.h"
#include "services/tenant_connector/core/connector.h"
#include "services/tenant_connector/core/connector_internal.h"
#include "services/tenant_connector/core/required_access.h"
#include "services/tenant_connector/core/sharepoint/csom.h"

namespace crosstenant::tenant_connector {

namespace internal {

bool FeatureNotEnabled(const absl::Status& status) {
  return status.code() == absl::StatusCode::kPermissionDenied ||
         ErrorInfoReasonOf(status) == csom::kReasonFeatureNotEnabled;
}

}  // namespace internal
namespace {

class Report {
 public:
  explicit Report(v1::PreflightReport* report) : report_(report) {}

  void Add(v1::PreflightCheck check, v1::CheckOutcome outcome, const std::string& code, v1::Severity severity,
           const std::string& message, const std::string& remedy, const std::string& subject) {
    v1::PreflightCheckResult* result = report_->add_results();
    result->set_check(check);
    result->set_outcome(outcome);
    v1::Finding* finding = result->mutable_finding();
    finding->set_code(code);
    finding->set_severity(severity);
    finding->set_message(message);
    finding->set_remedy(remedy);
    finding->set_subject(subject);
  }
  void Pass(v1::PreflightCheck check, const std::string& code, const std::string& message, const std::string& subject) {
    Add(check, v1::CHECK_OUTCOME_PASSED, code, v1::SEVERITY_INFO, message, "", subject);
  }
  void Fail(v1::PreflightCheck check, const std::string& code, v1::Severity severity, const std::string& message,
            const std::string& remedy, const std::string& subject) {
    Add(check, v1::CHECK_OUTCOME_FAILED, code, severity, message, remedy, subject);
  }
  void Skip(v1::PreflightCheck check, const std::string& code, const std::string& message, const std::string& subject) {
    Add(check, v1::CHECK_OUTCOME_SKIPPED, code, v1::SEVERITY_WARNING, message, "", subject);
  }

 private:
  v1::PreflightReport* report_;
};

bool Usable(const v1::Connection& c) {
  return c.state() == v1::CONNECTION_STATE_CONNECTED || c.state() == v1::CONNECTION_STATE_DEGRADED;
}

// One connection under check, and the tenant operations a check may call (they reach Microsoft).
struct Subject {
  const v1::Connection& connection;
  bool is_source;
  std::function<absl::StatusOr<std::string>(const std::string& geo)> cross_tenant_host_url;
};

void CheckCloud(const Subject& s, Report& out) {
  const CloudProfile& profile = ProfileOf(static_cast<Cloud>(s.connection.cloud()));
  if (profile.migration_supported) {
    out.Pass(v1::PREFLIGHT_CHECK_CLOUD_SUPPORT, "CLOUD_SUPPORTED_OK",
             absl::StrCat(profile.name, " supports cross-tenant OneDrive migration"), s.connection.name());
  } else {
    out.Fail(v1::PREFLIGHT_CHECK_CLOUD_SUPPORT, "CLOUD_NOT_SUPPORTED", v1::SEVERITY_ERROR,
             absl::StrCat("Microsoft does not support cross-tenant OneDrive migration in the ", profile.name, " cloud"),
             "Use a tool that supports government or sovereign clouds", s.connection.name());
  }
}

void CheckStateAndRole(const Subject& s, Report& out) {
  const v1::Connection& c = s.connection;
  const v1::ConnectionRole expected = s.is_source ? v1::CONNECTION_ROLE_SOURCE : v1::CONNECTION_ROLE_TARGET;
  if (c.role() != expected) {
    out.Fail(v1::PREFLIGHT_CHECK_CONNECTION_STATE, "CONNECTION_ROLE_MISMATCH", v1::SEVERITY_ERROR,
             absl::StrCat(c.name(), " has role ", v1::ConnectionRole_Name(c.role()), " but is used as the ",
                          s.is_source ? "source" : "target"),
             "Pass a connection with the right role", c.name());
  } else if (!Usable(c)) {
    out.Fail(v1::PREFLIGHT_CHECK_CONNECTION_STATE, "CONNECTION_NOT_CONNECTED", v1::SEVERITY_ERROR,
             absl::StrCat(c.name(), " is ", v1::ConnectionState_Name(c.state()), ": ", c.state_reason()),
             "Call ReauthenticateConnection or CheckConnection", c.name());
  } else {
    out.Pass(v1::PREFLIGHT_CHECK_CONNECTION_STATE, "CONNECTION_STATE_OK",
             absl::StrCat(c.name(), " is ", v1::ConnectionState_Name(c.state())), c.name());
  }
}

// A signed-in admin's directory role, or an app's application permissions (required_access.h).
void CheckPrincipal(const Subject& s, Report& out) {
  const v1::Principal& principal = s.connection.principal();
  const std::string& subject = s.connection.name();
  if (principal.kind() == v1::PRINCIPAL_KIND_USER) {
    std::set<std::string> roles;
    for (const v1::DirectoryRole& role : principal.directory_roles()) roles.insert(role.template_id());
    if (HoldsSharePointAdminRole(roles)) {
      out.Pass(v1::PREFLIGHT_CHECK_ADMIN_ROLE, "ADMIN_ROLE_OK",
               absl::StrCat(principal.user_principal_name(), " is SharePoint or Global Administrator"), subject);
    } else {
      out.Fail(v1::PREFLIGHT_CHECK_ADMIN_ROLE, "SHAREPOINT_ADMIN_ROLE_MISSING", v1::SEVERITY_ERROR,
               absl::StrCat(principal.user_principal_name(),
                            " is neither SharePoint Administrator nor Global Administrator"),
               absl::StrCat("Assign the SharePoint Administrator role to ", principal.user_principal_name(),
                            " or sign in as a Global Administrator"),
               subject);
    }
  } else if (principal.kind() == v1::PRINCIPAL_KIND_APPLICATION) {
    const std::set<std::string> held(principal.application_permissions().begin(),
                                     principal.application_permissions().end());
    const std::vector<std::string> missing = MissingApplicationPermissions(held, /*to_connect=*/false);
    if (missing.empty()) {
      out.Pass(v1::PREFLIGHT_CHECK_API_PERMISSIONS, "API_PERMISSIONS_OK",
               "the app holds the application permissions the migration needs", subject);
    } else {
      out.Fail(v1::PREFLIGHT_CHECK_API_PERMISSIONS, "API_PERMISSION_MISSING", v1::SEVERITY_ERROR,
               absl::StrCat("app ", principal.client_id(), " lacks ", absl::StrJoin(missing, ", ")),
               "Grant the missing application permissions with admin consent", subject);
    }
  } else {
    out.Skip(v1::PREFLIGHT_CHECK_ADMIN_ROLE, "ADMIN_ROLE_UNKNOWN", "not signed in yet", subject);
  }
}

void CheckClockSkew(const Subject& s, Report& out) {
  const absl::Duration skew = absl::Seconds(s.connection.health().clock_skew().seconds());
  const std::string& subject = s.connection.name();
  if (!s.connection.health().has_clock_skew()) {
    // No answer with a `Date` header yet: an unmeasured skew is not a small one.
    out.Skip(v1::PREFLIGHT_CHECK_CLOCK_SKEW, "CLOCK_SKEW_NOT_MEASURED",
             "clock skew not measured: no answer from Microsoft (token or Graph) carried a Date header yet", subject);
  } else if (absl::AbsDuration(skew) > absl::Minutes(5)) {
    out.Fail(v1::PREFLIGHT_CHECK_CLOCK_SKEW, "CLOCK_SKEW", v1::SEVERITY_ERROR,
             absl::StrCat("the connector's clock is ", absl::FormatDuration(skew), " off Microsoft's"),
             "Synchronise the connector host's clock (NTP); Entra refuses assertions with AADSTS700024", subject);
  } else if (absl::AbsDuration(skew) > absl::Minutes(1)) {
    out.Fail(v1::PREFLIGHT_CHECK_CLOCK_SKEW, "CLOCK_SKEW", v1::SEVERITY_WARNING,
             absl::StrCat("the connector's clock is ", absl::FormatDuration(skew), " off Microsoft's"),
             "Synchronise the connector host's clock (NTP)", subject);
  } else {
    out.Pass(v1::PREFLIGHT_CHECK_CLOCK_SKEW, "CLOCK_SKEW_OK",
             absl::StrCat("clock skew under a minute (measured ", absl::FormatDuration(skew), ")"), subject);
  }
}

void CheckTokenLifetime(const Subject& s, Report& out) {
  const absl::Duration lifetime = absl::Seconds(s.connection.health().token_lifetime().seconds());
  if (lifetime > absl::ZeroDuration() && lifetime < absl::Minutes(10)) {
    out.Fail(v1::PREFLIGHT_CHECK_TOKEN_LIFETIME, "TOKEN_LIFETIME_SHORT", v1::SEVERITY_WARNING,
             absl::StrCat("access tokens live only ", absl::FormatDuration(lifetime)),
             "Review the tenant's token lifetime policy; the connector refreshes early but long calls may fail",
             s.connection.name());
  } else {
    out.Pass(v1::PREFLIGHT_CHECK_TOKEN_LIFETIME, "TOKEN_LIFETIME_OK",
             absl::StrCat("access tokens live ", absl::FormatDuration(lifetime)), s.connection.name());
  }
}

// The connection's standing expiry warnings (RefreshHealth) become preflight findings.
void CheckCredentialExpiry(const Subject& s, Report& out) {
  bool warned = false;
  for (const v1::Finding& warning : s.connection.health().warnings()) {
    if (absl::StrContains(warning.code(), "EXPIRE")) {
      out.Fail(v1::PREFLIGHT_CHECK_CREDENTIAL_EXPIRY, warning.code(), warning.severity(), warning.message(),
               warning.remedy(), s.connection.name());
      warned = true;
    }
  }
  if (!warned) {
    out.Pass(v1::PREFLIGHT_CHECK_CREDENTIAL_EXPIRY, "CREDENTIAL_EXPIRY_OK",
             s.connection.credential().has_expire_time() ? "the credential does not expire within 30 days"
                                                         : "the credential has no known expiry",
             s.connection.name());
  }
}

void CheckCustomerKey(const Subject& s, Report& out) {
  out.Skip(v1::PREFLIGHT_CHECK_CUSTOMER_KEY, "CUSTOMER_KEY_UNCHECKED",
           "Microsoft exposes no API for Customer Key; check Microsoft Purview by hand (Customer Key blocks moves)",
           s.connection.name());
}

bool SecretCredential(const v1::Connection& c) { return c.credential().kind() == v1::CREDENTIAL_KIND_CLIENT_SECRET; }

// SharePoint refuses app-only tokens from a client secret.
void CheckSharePointAccess(const Subject& s, Report& out) {
  const v1::Connection& c = s.connection;
  if (SecretCredential(c)) {
    const v1::Finding finding =
        internal::SharePointNeedsCertificate(c.name(), c.credential().client_id(), v1::SEVERITY_ERROR);
    out.Fail(v1::PREFLIGHT_CHECK_SHAREPOINT_ACCESS, finding.code(), finding.severity(), finding.message(),
             finding.remedy(), c.name());
  } else {
    out.Pass(v1::PREFLIGHT_CHECK_SHAREPOINT_ACCESS, "SHAREPOINT_ACCESS_OK",
             "the credential can reach SharePoint admin (a certificate or an admin sign-in)", c.name());
  }
}

// Get-SPOCrossTenantHostUrl works on every geo only when the feature is enabled.
void CheckFeatureEnabled(const Subject& s, Report& out) {
  if (!Usable(s.connection) || SecretCredential(s.connection)) return;  // reported by the checks above
  for (const v1::Geo& geo : s.connection.geos()) {
    absl::StatusOr<std::string> host = s.cross_tenant_host_url(geo.name());
    if (host.ok()) {
      out.Pass(v1::PREFLIGHT_CHECK_FEATURE_ENABLED, "FEATURE_ENABLED_OK", absl::StrCat("cross-tenant host URL ", *host),
               geo.name());
    } else if (internal::FeatureNotEnabled(host.status())) {
      out.Fail(v1::PREFLIGHT_CHECK_FEATURE_ENABLED, "FEATURE_NOT_ENABLED", v1::SEVERITY_ERROR,
               std::string(host.status().message()),
               "Buy the Cross Tenant User Data Migration add-on and ask Microsoft support to enable the feature",
               geo.name());
    } else {
      out.Skip(v1::PREFLIGHT_CHECK_FEATURE_ENABLED, "FEATURE_UNCHECKED", std::string(host.status().message()),
               geo.name());
    }
  }
}

using ConnectionCheck = void (*)(const Subject&, Report&);
constexpr ConnectionCheck kConnectionChecks[] = {
    CheckCloud,       CheckStateAndRole,     CheckPrincipal,
    CheckClockSkew,   CheckTokenLifetime,    CheckCredentialExpiry,
    CheckCustomerKey, CheckSharePointAccess, CheckFeatureEnabled,
};

// A source geo and a target geo, and the tenant operations pair checks call.
struct GeoPair {
  const v1::Geo& source;
  const v1::Geo& target;
  std::string label;  // "src/geos/nam -> tgt/geos/nam"
  std::function<absl::StatusOr<v1::VerifyCrossTenantRelationshipResponse>(
      const std::string& geo, v1::ConnectionRole partner_role, const std::string& partner_host)>
      verify;
  std::function<absl::StatusOr<v1::GetCompatibilityStatusResponse>(const std::string& geo,
                                                                   const std::string& partner_host)>
      compatibility;
};

bool Waiting(v1::TrustStatus status) {
  return status == v1::TRUST_STATUS_DORMANT_BY_PARTNER || status == v1::TRUST_STATUS_DORMANT;
}

void CheckTrust(const GeoPair& p, Report& out) {
  absl::StatusOr<v1::VerifyCrossTenantRelationshipResponse> a =
      p.verify(p.source.name(), v1::CONNECTION_ROLE_TARGET, p.target.my_site_host_url());
  absl::StatusOr<v1::VerifyCrossTenantRelationshipResponse> b =
      p.verify(p.target.name(), v1::CONNECTION_ROLE_SOURCE, p.source.my_site_host_url());
  if (!a.ok() || !b.ok()) {
    out.Skip(v1::PREFLIGHT_CHECK_TRUST, "TRUST_UNCHECKED", std::string((!a.ok() ? a.status() : b.status()).message()),
             p.label);
  } else if (a->status() == v1::TRUST_STATUS_GOOD_TO_PROCEED && b->status() == v1::TRUST_STATUS_GOOD_TO_PROCEED) {
    out.Pass(v1::PREFLIGHT_CHECK_TRUST, "TRUST_OK", "GoodToProceed on both sides", p.label);
  } else {
    const bool waiting = Waiting(a->status()) || Waiting(b->status());
    out.Fail(v1::PREFLIGHT_CHECK_TRUST, waiting ? "TRUST_DORMANT" : "TRUST_NOT_ESTABLISHED",
             waiting ? v1::SEVERITY_WARNING : v1::SEVERITY_ERROR,
             absl::StrCat("source side: ", a->raw_status(), ", target side: ", b->raw_status()),
             waiting ? "Wait: a new trust stays DormantByPartner for up to seven days"
                     : "Run SetCrossTenantRelationship on both sides (source with partner role TARGET, target with "
                       "partner role SOURCE)",
             p.label);
  }
}

void CheckCompatibility(const GeoPair& p, Report& out) {
  absl::StatusOr<v1::GetCompatibilityStatusResponse> c = p.compatibility(p.source.name(), p.target.my_site_host_url());
  if (!c.ok()) {
    out.Skip(v1::PREFLIGHT_CHECK_COMPATIBILITY, "COMPATIBILITY_UNCHECKED", std::string(c.status().message()), p.label);
  } else if (c->status() == v1::COMPATIBILITY_STATUS_COMPATIBLE) {
    out.Pass(v1::PREFLIGHT_CHECK_COMPATIBILITY, "COMPATIBILITY_OK", "Compatible", p.label);
  } else if (c->status() == v1::COMPATIBILITY_STATUS_WARNING) {
    out.Fail(v1::PREFLIGHT_CHECK_COMPATIBILITY, "COMPATIBILITY_WARNING", v1::SEVERITY_WARNING, "Warning",
             "Moves may proceed", p.label);
  } else if (c->status() == v1::COMPATIBILITY_STATUS_UNKNOWN) {
    out.Fail(v1::PREFLIGHT_CHECK_COMPATIBILITY, "COMPATIBILITY_UNKNOWN", v1::SEVERITY_ERROR, c->message(),
             "Do not start moves until SharePoint answers a known compatibility; run the check again", p.label);
  } else {
    out.Fail(v1::PREFLIGHT_CHECK_COMPATIBILITY, "TENANT_INCOMPATIBLE", v1::SEVERITY_ERROR, c->raw_status(),
             "Do not start moves; check again later (Microsoft: wait up to 48 hours, then contact support)", p.label);
  }
}

using PairCheck = void (*)(const GeoPair&, Report&);
constexpr PairCheck kPairChecks[] = {CheckTrust, CheckCompatibility};

}  // namespace

absl::StatusOr<v1::PreflightReport> Connector::Preflight(const v1::PreflightRequest& request, absl::Time deadline) {
  std::vector<FieldViolation> violations;
  if (request.source_connection().empty()) violations.push_back({"source_connection", "is required"});
  if (request.target_connection().empty()) violations.push_back({"target_connection", "is required"});
  if (!violations.empty()) return InvalidArgumentWithViolations("Preflight: invalid request", violations);
  ASSIGN_OR_RETURN(v1::Connection source, Get(request.source_connection()));
  ASSIGN_OR_RETURN(v1::Connection target, Get(request.target_connection()));

  v1::PreflightReport report;
  report.set_source_connection(source.name());
  report.set_target_connection(target.name());
  Report out(&report);

  auto host_url = [this, deadline](const std::string& geo) { return GetCrossTenantHostUrl(geo, deadline); };
  for (const Subject& subject : {Subject{source, true, host_url}, Subject{target, false, host_url}}) {
    for (ConnectionCheck check : kConnectionChecks) check(subject, out);
  }

  // Licences: the Cross Tenant User Data Migration add-on is assigned per user, on either side; a
  // tenant-wide check needs Graph subscribedSkus.
  out.Skip(v1::PREFLIGHT_CHECK_LICENSES, "LICENSES_PER_USER",
           "the Cross Tenant User Data Migration licence is checked per user (BatchCheckUsers, and Microsoft's move "
           "validation); it must be on the source or the target user",
           "");

  // Trust and compatibility for every source geo / target geo pair.
  if (Usable(source) && Usable(target) && source.role() == v1::CONNECTION_ROLE_SOURCE &&
      target.role() == v1::CONNECTION_ROLE_TARGET) {
    auto verify = [this, deadline](const std::string& geo, v1::ConnectionRole partner_role,
                                   const std::string& partner_host) {
      v1::CrossTenantRelationship relationship;
      relationship.set_partner_role(partner_role);
      relationship.set_partner_host_url(partner_host);
      return VerifyRelationship(geo, relationship, deadline);
    };
    auto compatibility = [this, deadline](const std::string& geo, const std::string& partner_host) {
      v1::GetCompatibilityStatusRequest compat;
      compat.set_geo(geo);
      compat.set_partner_host_url(partner_host);
      return GetCompatibility(compat, deadline);
    };
    for (const v1::Geo& s : source.geos()) {
      for (const v1::Geo& t : target.geos()) {
        const GeoPair pair{s, t, absl::StrCat(s.name(), " -> ", t.name()), verify, compatibility};
        for (PairCheck check : kPairChecks) check(pair, out);
      }
    }
  } else {
    out.Skip(v1::PREFLIGHT_CHECK_TRUST, "TRUST_UNCHECKED", "both connections must be usable", "");
    out.Skip(v1::PREFLIGHT_CHECK_COMPATIBILITY, "COMPATIBILITY_UNCHECKED", "both connections must be usable", "");
  }

  std::stable_sort(report.mutable_results()->begin(), report.mutable_results()->end(),
                   [](const v1::PreflightCheckResult& a, const v1::PreflightCheckResult& b) {
                     if (a.check() != b.check()) return a.check() < b.check();
                     return a.finding().subject() < b.finding().subject();
                   });
  bool ready = true;
  for (const v1::PreflightCheckResult& result : report.results()) {
    if (result.finding().severity() == v1::SEVERITY_ERROR) ready = false;
  }
  report.set_ready(ready);
  SetTimestamp(clock_->Now(), report.mutable_create_time());
  return report;
}

}  // namespace crosstenant::tenant_connector
