#include "services/tenant_connector/core/connector.h"

#include <algorithm>
#include <regex>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/errors.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/common/user_text.h"
#include "services/tenant_connector/core/connector_internal.h"
#include "services/tenant_connector/core/crypto.h"
#include "services/tenant_connector/core/required_access.h"

namespace crosstenant::tenant_connector {

namespace {

const std::regex& GuidPattern() {
  static const std::regex* pattern =
      new std::regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
  return *pattern;
}

std::string KindName(v1::CredentialKind kind) {
  const std::string& full = v1::CredentialKind_Name(kind);
  absl::string_view name = full;
  absl::ConsumePrefix(&name, "CREDENTIAL_KIND_");
  return absl::AsciiStrToLower(name);
}

v1::CredentialKind KindOf(const v1::Credential& credential) {
  switch (credential.kind_case()) {
    case v1::Credential::kClientSecret:
      return v1::CREDENTIAL_KIND_CLIENT_SECRET;
    case v1::Credential::kCertificate:
      return v1::CREDENTIAL_KIND_CERTIFICATE;
    case v1::Credential::kDeviceCode:
      return v1::CREDENTIAL_KIND_DEVICE_CODE;
    case v1::Credential::kUsernamePassword:
      return v1::CREDENTIAL_KIND_USERNAME_PASSWORD;
    case v1::Credential::kWorkloadIdentity:
      return v1::CREDENTIAL_KIND_WORKLOAD_IDENTITY;
    default:
      return v1::CREDENTIAL_KIND_UNSPECIFIED;
  }
}

bool Delegated(v1::CredentialKind kind) {
  return kind == v1::CREDENTIAL_KIND_DEVICE_CODE || kind == v1::CREDENTIAL_KIND_USERNAME_PASSWORD;
}

std::string ClientIdOf(const v1::Credential& credential) {
  switch (credential.kind_case()) {
    case v1::Credential::kClientSecret:
      return credential.client_secret().client_id();
    case v1::Credential::kCertificate:
      return credential.certificate().client_id();
    case v1::Credential::kDeviceCode:
      return credential.device_code().client_id();
    case v1::Credential::kUsernamePassword:
      return credential.username_password().client_id();
    case v1::Credential::kWorkloadIdentity:
      return credential.workload_identity().client_id();
    default:
      return "";
  }
}

std::string RoleName(v1::ConnectionRole role) {
  return role == v1::CONNECTION_ROLE_SOURCE ? "source" : role == v1::CONNECTION_ROLE_TARGET ? "target" : "unspecified";
}

std::string StateName(v1::ConnectionState state) {
  const std::string& full = v1::ConnectionState_Name(state);
  absl::string_view name = full;
  absl::ConsumePrefix(&name, "CONNECTION_STATE_");
  return std::string(name);
}

// Validates a SecretValue; adds violations under `field`.
void CheckSecret(const v1::SecretValue& secret, const std::string& field, bool required,
                 std::vector<FieldViolation>* violations) {
  switch (secret.source_case()) {
    case v1::SecretValue::kValue:
      if (secret.value().empty()) violations->push_back({field + ".value", "must not be empty"});
      break;
    case v1::SecretValue::kFilePath:
      if (secret.file_path().empty() || secret.file_path()[0] != '/') {
        violations->push_back({field + ".file_path", "must be an absolute path of a file holding the secret"});
      }
      break;
    default:
      if (required) violations->push_back({field, "is required: give `value` or `file_path`"});
  }
}

void CheckClientId(const std::string& client_id, const std::string& field, std::vector<FieldViolation>* violations) {
  if (!std::regex_match(client_id, GuidPattern())) {
    violations->push_back({field,
                           "must be the application (client) id of the Entra app registration, a GUID such as "
                           "1b2c3d4e-0000-4000-8000-000000000001"});
  }
}

// The tenant as Graph's /organization describes it.
struct Organization {
  std::string id;
  std::string initial_domain;
  std::string display_name;

  // How messages name the tenant: its initial domain, else its id.
  const std::string& label() const { return initial_domain.empty() ? id : initial_domain; }
};

// The organization in Graph's `GET /v1.0/organization` answer, checked against the token's tenant (`tid`).
absl::StatusOr<Organization> OrganizationOf(const nlohmann::json& body, const nlohmann::json& claims) {
  const nlohmann::json* organization = nullptr;
  if (body.contains("value") && body["value"].is_array() && !body["value"].empty()) organization = &body["value"][0];
  if (organization == nullptr) return absl::UnavailableError("Graph /organization returned no organization");
  Organization out;
  out.id = internal::Str(*organization, "id");
  std::string tid = internal::Str(claims, "tid");
  if (!tid.empty() && !out.id.empty() && tid != out.id) {
    return WithErrorInfo(absl::FailedPreconditionError(
                             absl::StrCat("the token is for tenant ", tid, " but Graph reports organization ", out.id)),
                         kReasonTenantMismatch, kCrosstenantDomain, {{"token_tenant", tid}, {"tenant", out.id}});
  }
  if (organization->contains("verifiedDomains") && (*organization)["verifiedDomains"].is_array()) {
    for (const auto& domain : (*organization)["verifiedDomains"]) {
      if (internal::Bool(domain, "isInitial", false)) out.initial_domain = internal::Str(domain, "name");
    }
  }
  out.display_name = internal::Str(*organization, "displayName");
  return out;
}

// A signed-in admin from the token's claims and directory roles: PERMISSION_DENIED unless SharePoint
// Administrator or Global Administrator.
absl::StatusOr<v1::Principal> UserPrincipal(const nlohmann::json& claims, const std::set<std::string>& roles,
                                            const Organization& organization) {
  v1::Principal principal;
  principal.set_kind(v1::PRINCIPAL_KIND_USER);
  principal.set_object_id(internal::Str(claims, "oid"));
  principal.set_client_id(internal::Str(claims, "appid", internal::Str(claims, "azp")));
  principal.set_user_principal_name(
      internal::Str(claims, "upn", internal::Str(claims, "preferred_username", internal::Str(claims, "unique_name"))));
  principal.set_display_name(internal::Str(claims, "name"));
  for (const std::string& role : roles) {
    v1::DirectoryRole* out = principal.add_directory_roles();
    out->set_template_id(role);
    out->set_display_name(DirectoryRoleName(role));
  }
  if (!HoldsSharePointAdminRole(roles)) {
    return absl::PermissionDeniedError(absl::StrCat(
        principal.user_principal_name().empty() ? "the signed-in user" : principal.user_principal_name(),
        " is neither SharePoint Administrator (", kSharePointAdministratorRole, ") nor Global Administrator (",
        kGlobalAdministratorRole, ") in tenant ", organization.label(),
        "; assign the SharePoint Administrator role to this account, or sign in as a Global Administrator"));
  }
  return principal;
}

// An app signed in with its own credential, from the token's `roles` claim: PERMISSION_DENIED when an
// application permission needed to connect is missing.
absl::StatusOr<v1::Principal> ApplicationPrincipal(const nlohmann::json& claims, const Organization& organization) {
  v1::Principal principal;
  principal.set_kind(v1::PRINCIPAL_KIND_APPLICATION);
  principal.set_object_id(internal::Str(claims, "oid"));
  principal.set_client_id(internal::Str(claims, "appid", internal::Str(claims, "azp")));
  principal.set_display_name(organization.display_name);
  std::set<std::string> permissions;
  for (const auto& role : internal::Array(claims, "roles")) {
    if (role.is_string()) permissions.insert(role.get<std::string>());
  }
  for (const std::string& permission : permissions) principal.add_application_permissions(permission);
  std::vector<std::string> missing = MissingApplicationPermissions(permissions, /*to_connect=*/true);
  if (!missing.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "app ", principal.client_id(), " lacks the application permission(s) ", absl::StrJoin(missing, ", "),
        " in tenant ", organization.label(), "; grant them (with admin consent) to the app registration"));
  }
  return principal;
}

// The connection's own geo among the tenant's, and the tenant name of its default geo.
struct HomeGeo {
  std::string name;
  std::string tenant_name;
};

// FAILED_PRECONDITION when `admin_url` is none of `geos`' admin URLs (a credential of another tenant).
absl::StatusOr<HomeGeo> HomeGeoOf(const std::vector<v1::Geo>& geos, const std::string& admin_url,
                                  const std::string& tenant_name, const Organization& organization) {
  HomeGeo home{"", tenant_name};
  for (const v1::Geo& geo : geos) {
    if (geo.admin_url() == admin_url) home.name = geo.name();
    if (geo.default_geo()) {
      absl::StatusOr<AdminUrl> parsed = ParseAdminUrl(geo.admin_url(), Cloud::kUnspecified);
      if (parsed.ok()) home.tenant_name = parsed->tenant_name;
    }
  }
  if (home.name.empty()) {
    return WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            "admin URL ", admin_url, " is not a geography of tenant ", organization.label(), " (its geos are ",
            absl::StrJoin(geos, ", ", [](std::string* out, const v1::Geo& g) { out->append(g.admin_url()); }),
            "); use one of those, or a credential of the tenant that owns ", admin_url)),
        kReasonTenantMismatch, kCrosstenantDomain, {{"admin_url", admin_url}, {"tenant", organization.id}});
  }
  return home;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Validation helpers shared with tenant operations.

v1::Finding internal::SharePointNeedsCertificate(const std::string& connection, const std::string& client_id,
                                                 v1::Severity severity) {
  v1::Finding finding;
  finding.set_code(kReasonNeedsCertificate);
  finding.set_severity(severity);
  finding.set_message(absl::StrCat(
      connection,
      " signs in with a client secret; SharePoint Online refuses app-only tokens obtained with a client "
      "secret, so trust, verification, compatibility, geo discovery and redirect clean-up cannot run on it"));
  finding.set_remedy(absl::StrCat("Add a certificate to app ", client_id,
                                  " (Entra ID: Certificates & secrets) and reconnect with it (migratectl connect "
                                  "--certificate=FILE), or connect as a SharePoint administrator (--device-code or "
                                  "--username)"));
  finding.set_subject(connection);
  return finding;
}

std::vector<FieldViolation> internal::CheckCredential(const v1::Credential& credential, const std::string& prefix) {
  std::vector<FieldViolation> violations;
  switch (credential.kind_case()) {
    case v1::Credential::kClientSecret:
      CheckClientId(credential.client_secret().client_id(), prefix + ".client_secret.client_id", &violations);
      CheckSecret(credential.client_secret().secret(), prefix + ".client_secret.secret", true, &violations);
      break;
    case v1::Credential::kCertificate: {
      const v1::CertificateCredential& c = credential.certificate();
      CheckClientId(c.client_id(), prefix + ".certificate.client_id", &violations);
      if (c.certificate_case() == v1::CertificateCredential::CERTIFICATE_NOT_SET ||
          (c.certificate_case() == v1::CertificateCredential::kCertificatePem && c.certificate_pem().empty()) ||
          (c.certificate_case() == v1::CertificateCredential::kCertificateFile && c.certificate_file().empty())) {
        violations.push_back({prefix + ".certificate.certificate_pem",
                              "is required: give the certificate as PEM text or `certificate_file`"});
      }
      CheckSecret(c.private_key(), prefix + ".certificate.private_key", true, &violations);
      CheckSecret(c.private_key_passphrase(), prefix + ".certificate.private_key_passphrase", false, &violations);
      break;
    }
    case v1::Credential::kDeviceCode:
      CheckClientId(credential.device_code().client_id(), prefix + ".device_code.client_id", &violations);
      break;
    case v1::Credential::kUsernamePassword: {
      const v1::UsernamePasswordCredential& c = credential.username_password();
      CheckClientId(c.client_id(), prefix + ".username_password.client_id", &violations);
      if (!absl::StrContains(c.username(), "@")) {
        violations.push_back({prefix + ".username_password.username",
                              "must be the admin's user principal name, e.g. admin@contoso.onmicrosoft.com"});
      }
      CheckSecret(c.password(), prefix + ".username_password.password", true, &violations);
      break;
    }
    case v1::Credential::kWorkloadIdentity: {
      const v1::WorkloadIdentityCredential& c = credential.workload_identity();
      CheckClientId(c.client_id(), prefix + ".workload_identity.client_id", &violations);
      if (c.token_file().empty() && getenv("AZURE_FEDERATED_TOKEN_FILE") == nullptr) {
        violations.push_back({prefix + ".workload_identity.token_file",
                              "is required when AZURE_FEDERATED_TOKEN_FILE is not set in the connector's environment"});
      }
      break;
    }
    default:
      violations.push_back({prefix,
                            "is required: set one of client_secret, certificate, device_code, "
                            "username_password, workload_identity"});
  }
  return violations;
}

BoundedFileOptions internal::CredentialFileOptions(const std::string& what, const std::vector<std::string>& dirs) {
  BoundedFileOptions options;
  options.what = what;
  options.max_bytes = kMaxCredentialFileBytes;
  // Far longer than a local or secret-volume read takes; short enough that a stuck network file
  // system does not hold an executor thread for the whole upstream budget.
  options.timeout = absl::Seconds(5);
  options.restrict_to_dirs = true;
  options.allowed_dirs = dirs;
  options.dirs_setting = "credential_file_dirs";
  return options;
}

absl::StatusOr<std::string> internal::ReadFileText(const std::string& path, const std::string& field,
                                                   const BoundedFileOptions& options) {
  absl::StatusOr<std::string> text = ReadBoundedFile(path, options);
  if (absl::IsInvalidArgument(text.status())) {
    return InvalidArgumentWithViolations(absl::StrCat("cannot use the ", options.what, " file"),
                                         {{field, std::string(text.status().message())}});
  }
  if (!text.ok()) return absl::Status(text.status().code(), absl::StrCat(field, ": ", text.status().message()));
  return text;
}

absl::StatusOr<std::string> internal::ReadSecret(const v1::SecretValue& secret, const std::string& what,
                                                 const std::string& field, const std::vector<std::string>& dirs) {
  if (secret.source_case() == v1::SecretValue::kValue) return secret.value();
  if (secret.source_case() == v1::SecretValue::kFilePath) {
    ASSIGN_OR_RETURN(std::string text,
                     ReadFileText(secret.file_path(), field + ".file_path", CredentialFileOptions(what, dirs)));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
  }
  return std::string();
}

// ---------------------------------------------------------------------------------------------------

Connector::Connector(ConnectorOptions options, HttpTransport* transport, Clock* clock, Executor* executor,
                     ConnectionStore* store, std::string seal_key, ConnectorMetrics* metrics)
    : options_(options),
      transport_(transport),
      clock_(clock),
      executor_(executor),
      store_(store),
      seal_key_(seal_key.size() == 32 ? std::move(seal_key) : RandomBytes(32)),
      metrics_(metrics),
      governors_(options.throttle, clock,
                 ThrottleObserver{[metrics](UpstreamApi api, int status) {
                                    if (metrics) metrics->Throttled(UpstreamApiName(api), status);
                                  },
                                  [metrics](UpstreamApi api, absl::Duration wait) {
                                    if (metrics)
                                      metrics->RetryAfterWait(UpstreamApiName(api), absl::ToDoubleSeconds(wait));
                                  }}),
      tokens_(transport, &governors_, clock),
      graph_(transport, &governors_, clock, metrics, options_.throttle.max_attempts),
      sharepoint_(transport, &governors_, clock, metrics, options_.sharepoint_wire_log) {}

Connector::~Connector() { Stop(); }

void Connector::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

absl::Time Connector::Budget(absl::Time client) const {
  absl::Time own = clock_->Now() + options_.default_budget;
  return std::min(client, own);
}

std::string Connector::GovernorKey(const Entry& entry) const { return entry.tenant_key; }

absl::StatusOr<std::shared_ptr<Connector::Entry>> Connector::Find(const std::string& name) {
  absl::string_view id = name;
  if (!absl::ConsumePrefix(&id, "connections/") || id.empty() || absl::StrContains(id, "/")) {
    return InvalidArgumentWithViolations(
        "invalid connection name", {{"name", absl::StrCat("must be connections/{connection}, got \"", name, "\"")}});
  }
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return WithErrorInfo(absl::NotFoundError(absl::StrCat(QuoteForMessage(name), " does not exist")),
                         kReasonConnectionNotFound, "crosstenant", {{"connection", QuoteForMessage(name)}});
  }
  return it->second;
}

void Connector::Publish(v1::ConnectionEventType type, const v1::Connection& connection) {
  absl::MutexLock lock(&watch_mu_);
  for (auto& [id, watcher] : watchers_) {
    if (!watcher.names.empty() &&
        std::find(watcher.names.begin(), watcher.names.end(), connection.name()) == watcher.names.end()) {
      continue;
    }
    watcher.callback(type, connection);
  }
}

int64_t Connector::Subscribe(const std::vector<std::string>& names, WatchCallback callback,
                             std::vector<v1::Connection>* snapshot) {
  absl::MutexLock lock(&watch_mu_);
  int64_t id = next_watcher_++;
  watchers_[id] = Watcher{names, std::move(callback)};
  std::vector<std::shared_ptr<Entry>> entries;
  {
    absl::MutexLock registry_lock(&mu_);
    for (auto& [name, entry] : entries_) {
      if (names.empty() || std::find(names.begin(), names.end(), name) != names.end()) entries.push_back(entry);
    }
  }
  for (auto& entry : entries) {
    absl::MutexLock entry_lock(&entry->mu);
    RefreshHealth(*entry);
    snapshot->push_back(entry->connection);
  }
  return id;
}

void Connector::Unsubscribe(int64_t id) {
  absl::MutexLock lock(&watch_mu_);
  watchers_.erase(id);
}

void Connector::RefreshHealth(Entry& entry, bool update_metrics) {
  entry.health_refresh_time = clock_->Now();
  v1::ConnectionHealth* health = entry.connection.mutable_health();
  health->clear_throttling();
  for (const ThrottleSnapshot& snapshot : governors_.SnapshotsOf(entry.tenant_key)) {
    v1::ThrottleState* state = health->add_throttling();
    state->set_api(static_cast<v1::UpstreamApi>(snapshot.api));
    state->set_throttled(snapshot.throttled);
    if (snapshot.throttled) SetTimestamp(snapshot.retry_after_time, state->mutable_retry_after_time());
    SetDuration(snapshot.last_retry_after, state->mutable_last_retry_after());
    SetTimestamp(snapshot.last_throttle_time, state->mutable_last_throttle_time());
    state->set_throttled_response_count(snapshot.throttled_response_count);
  }
  // Standing credential warnings.
  health->clear_warnings();
  if (entry.connection.credential().has_expire_time()) {
    absl::Time expire = TimeOf(entry.connection.credential().expire_time());
    *health->mutable_credential_expire_time() = entry.connection.credential().expire_time();
    absl::Duration left = expire - clock_->Now();
    bool certificate = entry.connection.credential().kind() == v1::CREDENTIAL_KIND_CERTIFICATE;
    if (left < options_.credential_warning) {
      v1::Finding* finding = health->add_warnings();
      std::string what = certificate ? "certificate" : "client secret";
      finding->set_code(left <= absl::ZeroDuration()
                            ? (certificate ? "CERTIFICATE_EXPIRED" : "SECRET_EXPIRED")
                            : (certificate ? "CERTIFICATE_EXPIRES_SOON" : "SECRET_EXPIRES_SOON"));
      finding->set_severity(left <= absl::Hours(24 * 7) ? v1::SEVERITY_ERROR : v1::SEVERITY_WARNING);
      finding->set_message(
          left <= absl::ZeroDuration()
              ? absl::StrCat("the ", what, " expired at ", absl::FormatTime(expire, absl::UTCTimeZone()))
              : absl::StrCat("the ", what, " expires at ", absl::FormatTime(expire, absl::UTCTimeZone()), " (in ",
                             absl::ToInt64Hours(left) / 24, " days)"));
      finding->set_remedy(absl::StrCat("Add a new ", what, " to app ", entry.connection.credential().client_id(),
                                       " and call ReauthenticateConnection with it"));
      finding->set_subject(entry.connection.name());
    }
    if (metrics_ && update_metrics) {
      metrics_->SetCredentialExpirySeconds(entry.connection.name(), absl::ToDoubleSeconds(left));
    }
  }
  if (entry.connection.credential().kind() == v1::CREDENTIAL_KIND_CLIENT_SECRET) {
    *health->add_warnings() = internal::SharePointNeedsCertificate(
        entry.connection.name(), entry.connection.credential().client_id(), v1::SEVERITY_WARNING);
  }
  if (metrics_ && update_metrics && entry.connection.health().has_token_expire_time()) {
    metrics_->SetTokenExpirySeconds(
        entry.connection.name(),
        absl::ToDoubleSeconds(TimeOf(entry.connection.health().token_expire_time()) - clock_->Now()));
  }
}

absl::Status Connector::Persist(Entry& entry) {
  if (store_ == nullptr) return absl::OkStatus();
  StoredConnection row;
  std::string refresh_token;
  {
    absl::MutexLock token_lock(&entry.token_mu);  // never while holding entry.mu (lock order: token_mu, mu)
    refresh_token = entry.refresh_token;
  }
  {
    absl::MutexLock lock(&entry.mu);
    row.name = entry.connection.name();
    entry.connection.SerializeToString(&row.connection);
    nlohmann::json sealed_content = {{"credential", Base64UrlEncode(entry.credential.SerializeAsString())}};
    if (!refresh_token.empty()) sealed_content["refresh_token"] = refresh_token;
    absl::StatusOr<std::string> sealed = Seal(seal_key_, sealed_content.dump(), row.name);
    if (!sealed.ok()) {
      log::Error("cannot seal a credential",
                 {{"connection", row.name}, {"error", std::string(sealed.status().message())}});
      return sealed.status();
    }
    row.sealed_credential = *std::move(sealed);
  }
  absl::Status put = store_->Put(row);
  if (!put.ok()) {
    log::Error("cannot persist a connection", {{"connection", row.name}, {"error", std::string(put.message())}});
  }
  return put;
}

void Connector::UpdateGauges() {
  if (metrics_ == nullptr) return;
  std::map<std::pair<std::string, std::string>, int> counts;
  for (v1::ConnectionRole role : {v1::CONNECTION_ROLE_SOURCE, v1::CONNECTION_ROLE_TARGET}) {
    for (int state = v1::CONNECTION_STATE_PENDING_SIGN_IN; state <= v1::CONNECTION_STATE_FAILED; ++state) {
      counts[{RoleName(role), StateName(static_cast<v1::ConnectionState>(state))}] = 0;
    }
  }
  std::vector<std::shared_ptr<Entry>> entries;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, entry] : entries_) entries.push_back(entry);
  }
  for (auto& entry : entries) {
    absl::MutexLock lock(&entry->mu);
    ++counts[{RoleName(entry->connection.role()), StateName(entry->connection.state())}];
  }
  for (auto& [key, count] : counts) metrics_->SetConnections(key.first, key.second, count);
}

void Connector::Changed(Entry& entry, v1::ConnectionEventType type) {
  v1::Connection copy;
  {
    absl::MutexLock lock(&entry.mu);
    SetTimestamp(clock_->Now(), entry.connection.mutable_update_time());
    if (entry.deleted || !entry.registered) return;
    RefreshHealth(entry);
    copy = entry.connection;
  }
  (void)Persist(entry);  // logged there; the in-memory state stays authoritative until the next change
  UpdateGauges();
  Publish(type, copy);
}

void Connector::SetState(Entry& entry, v1::ConnectionState state, const std::string& reason) {
  bool changed;
  {
    absl::MutexLock lock(&entry.mu);
    changed = entry.connection.state() != state || entry.connection.state_reason() != reason;
    if (changed) {
      log::Info("connection state",
                {{"connection", entry.connection.name()}, {"state", StateName(state)}, {"reason", reason}});
    }
    entry.connection.set_state(state);
    entry.connection.set_state_reason(state == v1::CONNECTION_STATE_CONNECTED ? "" : reason);
    if (state != v1::CONNECTION_STATE_PENDING_SIGN_IN) entry.connection.clear_sign_in_prompt();
  }
  if (changed) Changed(entry);
}

// ---------------------------------------------------------------------------------------------------
// Credentials and tokens.

absl::Status Connector::Describe(Entry& entry) {
  const v1::Credential& credential = entry.credential;
  v1::CredentialInfo info;
  info.set_kind(KindOf(credential));
  info.set_client_id(ClientIdOf(credential));
  std::string tenant = credential.tenant();
  if (tenant.empty()) {
    tenant = credential.has_device_code() ? "organizations" : entry.admin.InitialDomainGuess();
  }
  info.set_tenant(tenant);
  const std::vector<std::string>& dirs = options_.credential_file_dirs;
  auto fingerprint_secret = [&](const v1::SecretValue& secret, const std::string& what,
                                const std::string& field) -> absl::Status {
    if (secret.source_case() == v1::SecretValue::kFilePath) info.add_file_paths(secret.file_path());
    ASSIGN_OR_RETURN(std::string value, internal::ReadSecret(secret, what, field, dirs));
    info.set_fingerprint(HexLower(HmacSha256(seal_key_, value)).substr(0, 16));
    return absl::OkStatus();
  };
  switch (credential.kind_case()) {
    case v1::Credential::kClientSecret:
      RETURN_IF_ERROR(
          fingerprint_secret(credential.client_secret().secret(), "client secret", "credential.client_secret.secret"));
      if (credential.client_secret().has_expire_time()) {
        *info.mutable_expire_time() = credential.client_secret().expire_time();
      }
      break;
    case v1::Credential::kCertificate: {
      const v1::CertificateCredential& c = credential.certificate();
      std::string pem = c.certificate_pem();
      if (c.certificate_case() == v1::CertificateCredential::kCertificateFile) {
        info.add_file_paths(c.certificate_file());
        ASSIGN_OR_RETURN(pem, internal::ReadFileText(c.certificate_file(), "credential.certificate.certificate_file",
                                                     internal::CredentialFileOptions("certificate", dirs)));
      }
      absl::StatusOr<CertificateInfo> cert = ParseCertificatePem(pem);
      if (!cert.ok()) {
        return InvalidArgumentWithViolations(
            "invalid certificate", {{"credential.certificate.certificate_pem", std::string(cert.status().message())}});
      }
      if (c.private_key().source_case() == v1::SecretValue::kFilePath) info.add_file_paths(c.private_key().file_path());
      info.set_fingerprint(cert->sha256_thumbprint_hex);
      info.set_certificate_subject(cert->subject);
      info.set_assertion_algorithm(c.assertion_algorithm() == v1::ASSERTION_ALGORITHM_RS256
                                       ? v1::ASSERTION_ALGORITHM_RS256
                                       : v1::ASSERTION_ALGORITHM_PS256);
      SetTimestamp(cert->not_after, info.mutable_expire_time());
      // Check the key now, so that a wrong key is an INVALID_ARGUMENT rather than a refused sign-in.
      ASSIGN_OR_RETURN(std::string key, internal::ReadSecret(c.private_key(), "private key",
                                                             "credential.certificate.private_key", dirs));
      ASSIGN_OR_RETURN(std::string passphrase,
                       internal::ReadSecret(c.private_key_passphrase(), "key passphrase",
                                            "credential.certificate.private_key_passphrase", dirs));
      absl::StatusOr<std::string> probe =
          SignClientAssertion(*cert, key, passphrase, true, info.client_id(), "https://check", clock_->Now());
      if (!probe.ok()) {
        return InvalidArgumentWithViolations(
            "invalid private key", {{"credential.certificate.private_key", std::string(probe.status().message())}});
      }
      break;
    }
    case v1::Credential::kUsernamePassword:
      info.set_username(credential.username_password().username());
      RETURN_IF_ERROR(fingerprint_secret(credential.username_password().password(), "password",
                                         "credential.username_password.password"));
      break;
    case v1::Credential::kWorkloadIdentity: {
      std::string path = credential.workload_identity().token_file();
      if (path.empty()) path = getenv("AZURE_FEDERATED_TOKEN_FILE") ? getenv("AZURE_FEDERATED_TOKEN_FILE") : "";
      info.add_file_paths(path);
      break;
    }
    default:
      break;
  }
  absl::MutexLock lock(&entry.mu);
  *entry.connection.mutable_credential() = info;
  return absl::OkStatus();
}

absl::StatusOr<AccessToken> Connector::Acquire(Entry& entry, const std::string& scope, absl::Time deadline) {
  v1::Credential credential;
  std::string tenant;
  std::string login_host;
  {
    absl::MutexLock lock(&entry.mu);
    credential = entry.credential;
    tenant =
        entry.connection.tenant_id().empty() ? entry.connection.credential().tenant() : entry.connection.tenant_id();
    login_host = ProfileOf(entry.admin.cloud).login_host;
  }
  std::vector<std::pair<std::string, std::string>> fields;
  const std::string client_id = ClientIdOf(credential);
  const std::vector<std::string>& dirs = options_.credential_file_dirs;
  switch (credential.kind_case()) {
    case v1::Credential::kClientSecret: {
      ASSIGN_OR_RETURN(std::string secret, internal::ReadSecret(credential.client_secret().secret(), "client secret",
                                                                "credential.client_secret.secret", dirs));
      fields = {
          {"grant_type", "client_credentials"}, {"client_id", client_id}, {"scope", scope}, {"client_secret", secret}};
      break;
    }
    case v1::Credential::kCertificate: {
      const v1::CertificateCredential& c = credential.certificate();
      std::string pem = c.certificate_pem();
      if (c.certificate_case() == v1::CertificateCredential::kCertificateFile) {
        ASSIGN_OR_RETURN(pem, internal::ReadFileText(c.certificate_file(), "credential.certificate.certificate_file",
                                                     internal::CredentialFileOptions("certificate", dirs)));
      }
      ASSIGN_OR_RETURN(CertificateInfo cert, ParseCertificatePem(pem));
      ASSIGN_OR_RETURN(std::string key, internal::ReadSecret(c.private_key(), "private key",
                                                             "credential.certificate.private_key", dirs));
      ASSIGN_OR_RETURN(std::string passphrase,
                       internal::ReadSecret(c.private_key_passphrase(), "key passphrase",
                                            "credential.certificate.private_key_passphrase", dirs));
      ASSIGN_OR_RETURN(
          std::string assertion,
          SignClientAssertion(cert, key, passphrase, c.assertion_algorithm() != v1::ASSERTION_ALGORITHM_RS256,
                              client_id, TokenClient::TokenEndpoint(login_host, tenant), clock_->Now()));
      fields = {{"grant_type", "client_credentials"},
                {"client_id", client_id},
                {"scope", scope},
                {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                {"client_assertion", assertion}};
      break;
    }
    case v1::Credential::kWorkloadIdentity: {
      std::string path = credential.workload_identity().token_file();
      BoundedFileOptions limits = internal::CredentialFileOptions("workload identity token", dirs);
      if (path.empty() && getenv("AZURE_FEDERATED_TOKEN_FILE")) {
        // The operator's own setting (the pod's projected token), not a caller's path.
        path = getenv("AZURE_FEDERATED_TOKEN_FILE");
        limits.restrict_to_dirs = false;
      }
      ASSIGN_OR_RETURN(std::string assertion,
                       internal::ReadFileText(path, "credential.workload_identity.token_file", limits));
      assertion = std::string(absl::StripAsciiWhitespace(assertion));
      fields = {{"grant_type", "client_credentials"},
                {"client_id", client_id},
                {"scope", scope},
                {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                {"client_assertion", assertion}};
      break;
    }
    case v1::Credential::kUsernamePassword: {
      ASSIGN_OR_RETURN(std::string password, internal::ReadSecret(credential.username_password().password(), "password",
                                                                  "credential.username_password.password", dirs));
      fields = {{"grant_type", "password"},
                {"client_id", client_id},
                {"scope", scope},
                {"username", credential.username_password().username()},
                {"password", password}};
      break;
    }
    case v1::Credential::kDeviceCode: {
      if (entry.refresh_token.empty()) {
        return absl::FailedPreconditionError(
            "the device code sign-in has not completed; the admin must enter the code");
      }
      fields = {{"grant_type", "refresh_token"},
                {"client_id", client_id},
                {"scope", scope + " offline_access"},
                {"refresh_token", entry.refresh_token}};
      break;
    }
    default:
      return absl::FailedPreconditionError("the connection has no credential");
  }
  absl::StatusOr<AccessToken> token = tokens_.RequestToken(login_host, tenant, GovernorKey(entry), fields, deadline);
  if (metrics_) metrics_->SignIn(KindName(KindOf(credential)), token.ok() ? "ok" : "error");
  if (token.ok() && !token->refresh_token.empty()) entry.refresh_token = token->refresh_token;
  return token;
}

absl::StatusOr<std::string> Connector::Token(Entry& entry, const std::string& scope, bool force, absl::Time deadline) {
  AccessToken token;
  {
    absl::MutexLock lock(&entry.token_mu);
    auto it = entry.tokens.find(scope);
    absl::Time now = clock_->Now();
    if (!force && it != entry.tokens.end()) {
      absl::Duration margin = std::min(options_.refresh_margin, it->second.lifetime / 5);
      if (now + margin < it->second.expire_time) return it->second.access_token;
    }
    absl::StatusOr<AccessToken> acquired = Acquire(entry, scope, deadline);
    if (!acquired.ok()) {
      entry.tokens.erase(scope);
      AuthFailure failure = AuthFailureOf(acquired.status());
      bool live;
      std::string connection_name;
      {
        absl::MutexLock entry_lock(&entry.mu);
        connection_name = entry.connection.name();
        live = entry.connection.state() == v1::CONNECTION_STATE_CONNECTED ||
               entry.connection.state() == v1::CONNECTION_STATE_DEGRADED;
      }
      if (live && (failure == AuthFailure::kExpired || failure == AuthFailure::kRefused)) {
        entry.token_mu.Unlock();
        SetState(entry, v1::CONNECTION_STATE_EXPIRED,
                 absl::StrCat("token refresh failed: ", acquired.status().message()));
        entry.token_mu.Lock();
      }
      // No token for the connection (Entra refused its credential, or the credential cannot be read):
      // the connection, not the operation asked for, is what failed (a worker keeps a user's move
      // waiting on it rather than failing the user).
      // Entra's facts (its AADSTS code and OAuth error) stay in the metadata: AuthFailureOf reads them.
      if (failure != AuthFailure::kTransient) {
        std::vector<std::pair<std::string, std::string>> metadata = ErrorInfoMetadataListOf(acquired.status());
        metadata.emplace_back("connection", connection_name);
        return WithErrorInfo(acquired.status(), kReasonConnectionNotUsable, kCrosstenantDomain, metadata);
      }
      return acquired.status();
    }
    token = *acquired;
    entry.tokens[scope] = token;
    if (scope == entry.graph_scope) entry.claims = token.claims;
  }
  {
    absl::MutexLock lock(&entry.mu);
    v1::ConnectionHealth* health = entry.connection.mutable_health();
    absl::Time earliest = token.expire_time;
    if (health->has_token_expire_time()) {
      absl::Time previous = TimeOf(health->token_expire_time());
      if (previous > clock_->Now() && previous < earliest) earliest = previous;
    }
    SetTimestamp(earliest, health->mutable_token_expire_time());
    SetDuration(token.lifetime, health->mutable_token_lifetime());
    if (token.clock_skew) SetDuration(*token.clock_skew, health->mutable_clock_skew());
  }
  return token.access_token;
}

// ---------------------------------------------------------------------------------------------------
// Upstream calls.

GraphTarget Connector::GraphOf(Entry& entry) {
  GraphTarget target;
  target.graph_host = entry.graph_host;
  target.governor_key = GovernorKey(entry);
  {
    absl::MutexLock lock(&entry.mu);
    target.connection = entry.connection.name();
  }
  const std::string scope = entry.graph_scope;
  // The target lives only as long as the call that made it, which holds the entry.
  Entry* raw = &entry;
  target.token = [this, raw, scope](bool force, absl::Time deadline) { return Token(*raw, scope, force, deadline); };
  target.on_token_rejected = [this, raw](const std::string& message) {
    SetState(*raw, v1::CONNECTION_STATE_EXPIRED, message);
  };
  target.on_clock_skew = [raw](absl::Duration skew) {
    absl::MutexLock lock(&raw->mu);
    SetDuration(skew, raw->connection.mutable_health()->mutable_clock_skew());
  };
  return target;
}

absl::StatusOr<GraphResult> Connector::Graph(Entry& entry, const std::string& method, const std::string& path,
                                             const nlohmann::json* body, absl::Time deadline, bool allow_404,
                                             std::vector<std::pair<std::string, std::string>> extra_headers) {
  return graph_.Send(GraphOf(entry), method, path, body, deadline, allow_404, std::move(extra_headers));
}

absl::StatusOr<SharePointTarget> Connector::SharePointOf(Entry& entry, const v1::Geo& geo) {
  SharePointTarget target;
  target.admin_url = geo.admin_url();
  target.governor_key = GovernorKey(entry);
  {
    absl::MutexLock lock(&entry.mu);
    target.connection = entry.connection.name();
    if (entry.credential.has_client_secret()) {
      const v1::Finding finding = internal::SharePointNeedsCertificate(
          target.connection, entry.credential.client_secret().client_id(), v1::SEVERITY_ERROR);
      return WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(finding.message(), ". ", finding.remedy())),
                           kReasonNeedsCertificate, "crosstenant", {{"connection", target.connection}});
    }
  }
  const std::string scope = absl::StrCat(geo.admin_url(), "/.default");
  // The target lives only as long as the call that made it, which holds the entry.
  Entry* raw = &entry;
  target.token = [this, raw, scope](bool force, absl::Time deadline) { return Token(*raw, scope, force, deadline); };
  target.on_token_rejected = [this, raw](const std::string& message) {
    SetState(*raw, v1::CONNECTION_STATE_EXPIRED, message);
  };
  return target;
}

// ---------------------------------------------------------------------------------------------------
// Verification: tenant, admin URL, roles, geos.

absl::StatusOr<std::vector<v1::Geo>> Connector::DiscoverGeos(Entry& entry, absl::Time deadline) {
  std::string name;
  AdminUrl own;
  {
    absl::MutexLock lock(&entry.mu);
    name = entry.connection.name();
    own = entry.admin;
  }
  v1::Geo home;
  home.set_admin_url(own.url);
  absl::StatusOr<SharePointTarget> target = SharePointOf(entry, home);
  if (!target.ok()) {
    // A client secret cannot ask SharePoint: the connection has its admin URL's geo only (and a
    // standing warning, see RefreshHealth).
    if (ErrorInfoReasonOf(target.status()) != kReasonNeedsCertificate) return target.status();
    home.set_name(absl::StrCat(name, "/geos/default"));
    home.set_my_site_host_url(own.MySiteHost());
    home.set_root_site_url(absl::StrCat(own.RootSite(), "/"));
    home.set_default_geo(true);
    home.set_accessible(true);
    return std::vector<v1::Geo>{home};
  }
  ASSIGN_OR_RETURN(std::vector<TenantInstance> instances, sharepoint_.GetTenantInstances(*target, deadline));
  std::vector<v1::Geo> geos;
  for (const TenantInstance& instance : instances) {
    absl::StatusOr<AdminUrl> geo_admin = ParseAdminUrl(instance.tenant_admin_url, own.cloud);
    if (!geo_admin.ok()) {
      return absl::UnavailableError(absl::StrCat("SharePoint's GetTenantInstances named ", instance.tenant_admin_url,
                                                 ", which is not an admin URL: ", geo_admin.status().message()));
    }
    v1::Geo geo;
    // A tenant that is not Multi-Geo has one instance without a data location.
    const std::string code = instance.data_location.empty() ? "default" : absl::AsciiStrToLower(instance.data_location);
    geo.set_name(absl::StrCat(name, "/geos/", code));
    geo.set_location_code(instance.data_location);
    geo.set_admin_url(geo_admin->url);
    geo.set_my_site_host_url(instance.my_site_host_url.empty() ? geo_admin->MySiteHost() : instance.my_site_host_url);
    geo.set_root_site_url(instance.root_site_url);
    geo.set_default_geo(instance.is_default || instances.size() == 1);
    geo.set_accessible(true);
    geos.push_back(std::move(geo));
  }
  if (geos.empty()) {
    return absl::UnavailableError(absl::StrCat("SharePoint's GetTenantInstances at ", own.url, " listed no geography"));
  }
  return geos;
}

absl::Status Connector::Verify(Entry& entry, absl::Time deadline) {
  RETURN_IF_ERROR(Token(entry, entry.graph_scope, false, deadline).status());
  nlohmann::json claims;
  {
    absl::MutexLock lock(&entry.token_mu);
    claims = entry.claims;
  }
  v1::CredentialKind kind;
  std::string admin_url;
  std::string tenant_name;
  std::string realm;  // the tenant SharePoint named for the admin URL
  {
    absl::MutexLock lock(&entry.mu);
    kind = entry.connection.credential().kind();
    admin_url = entry.admin.url;
    tenant_name = entry.admin.tenant_name;
    realm = entry.sharepoint_tenant_id;
  }
  ASSIGN_OR_RETURN(GraphResult org, Graph(entry, "GET", "/v1.0/organization", nullptr, deadline));
  ASSIGN_OR_RETURN(const Organization organization, OrganizationOf(org.body, claims));

  v1::Principal principal;
  if (Delegated(kind)) {
    std::set<std::string> roles;
    if (claims.contains("wids") && claims["wids"].is_array()) {
      for (const auto& wid : claims["wids"]) {
        if (wid.is_string()) roles.insert(wid.get<std::string>());
      }
    } else {  // a token without the `wids` claim: ask Graph
      std::vector<std::pair<std::string, std::string>> headers = {{"ConsistencyLevel", "eventual"}};
      ASSIGN_OR_RETURN(GraphResult member_of,
                       Graph(entry, "GET", "/v1.0/me/memberOf/microsoft.graph.directoryRole?$count=true", nullptr,
                             deadline, false, headers));
      for (const auto& role : internal::Array(member_of.body, "value")) {
        std::string id = internal::Str(role, "roleTemplateId");
        if (!id.empty()) roles.insert(id);
      }
    }
    ASSIGN_OR_RETURN(principal, UserPrincipal(claims, roles, organization));
  } else {
    ASSIGN_OR_RETURN(principal, ApplicationPrincipal(claims, organization));
  }

  if (!realm.empty() && !organization.id.empty() && !absl::EqualsIgnoreCase(realm, organization.id)) {
    return WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(
                             "admin URL ", admin_url, " belongs to tenant ", realm,
                             " but the credential signs in to tenant ", organization.id, " (", organization.label(),
                             "); give this tenant's own admin URL, or a credential of tenant ", realm)),
                         kReasonTenantMismatch, kCrosstenantDomain,
                         {{"admin_url", admin_url}, {"admin_url_tenant", realm}, {"tenant", organization.id}});
  }
  ASSIGN_OR_RETURN(std::vector<v1::Geo> geos, DiscoverGeos(entry, deadline));
  ASSIGN_OR_RETURN(const HomeGeo home, HomeGeoOf(geos, admin_url, tenant_name, organization));

  absl::MutexLock lock(&entry.mu);
  if (!entry.connection.tenant_id().empty() && !organization.id.empty() &&
      entry.connection.tenant_id() != organization.id) {
    return WithErrorInfo(absl::FailedPreconditionError(
                             absl::StrCat("the credential signs in to tenant ", organization.id,
                                          " but this connection belongs to tenant ", entry.connection.tenant_id())),
                         kReasonTenantChanged, kCrosstenantDomain,
                         {{"tenant", organization.id}, {"connection_tenant", entry.connection.tenant_id()}});
  }
  entry.connection.set_tenant_id(organization.id);
  // Every geo's connection to one tenant shares the tenant's throttle budget: keyed by the default geo.
  entry.tenant_key = home.tenant_name;
  entry.connection.set_initial_domain(organization.initial_domain);
  *entry.connection.mutable_principal() = principal;
  entry.connection.clear_geos();
  for (const v1::Geo& geo : geos) *entry.connection.add_geos() = geo;
  entry.connection.set_home_geo(home.name);
  return absl::OkStatus();
}

}  // namespace crosstenant::tenant_connector
