// Connection lifecycle: create (every credential kind), device code completion in the background,
// get/list/delete, probes and state changes, reauthentication, and loading from the store.

#include <algorithm>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "services/common/errors.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/common/user_text.h"
#include "services/tenant_connector/core/connector.h"
#include "services/tenant_connector/core/connector_internal.h"
#include "services/tenant_connector/core/crypto.h"

namespace crosstenant::tenant_connector {

namespace internal {

ProbeVerdict ProbeVerdictOf(const absl::Status& status) {
  if (AuthFailureOf(status) == AuthFailure::kTransient) {
    return {v1::CONNECTION_STATE_DEGRADED,
            status.code() == absl::StatusCode::kResourceExhausted ? "THROTTLED" : "UPSTREAM_UNAVAILABLE"};
  }
  const std::string reason = ErrorInfoReasonOf(status);
  if (status.code() == absl::StatusCode::kPermissionDenied || reason == kReasonTenantMismatch ||
      reason == kReasonTenantChanged) {
    return {v1::CONNECTION_STATE_FAILED, "VERIFICATION_FAILED"};
  }
  return {v1::CONNECTION_STATE_EXPIRED, "TOKEN_EXPIRED"};
}

}  // namespace internal

namespace {

std::string StateName(v1::ConnectionState state) {
  const std::string& full = v1::ConnectionState_Name(state);
  absl::string_view name = full;
  absl::ConsumePrefix(&name, "CONNECTION_STATE_");
  return std::string(name);
}

// A message names at most this many holders, so that it stays short however many there are.
constexpr size_t kHoldersNamed = 10;

// "migrations/a, migrations/b and 3 more".
std::string HolderList(const std::vector<std::string>& holders) {
  if (holders.size() <= kHoldersNamed) return absl::StrJoin(holders, ", ");
  return absl::StrCat(absl::StrJoin(holders.begin(), holders.begin() + kHoldersNamed, ", "), " and ",
                      holders.size() - kHoldersNamed, " more");
}

absl::Status HeldError(const std::string& name, const std::vector<std::string>& holders) {
  return absl::FailedPreconditionError(
      absl::StrCat(name, " is used by live migration(s) ", HolderList(holders),
                   ": deleting it would leave their users whose moves may have started unreconciled. Wait until they "
                   "end (or cancel them), or delete with force (migratectl connections delete ",
                   name, " --force)"));
}

// The request of HoldConnection / ReleaseConnection: `name` of a connection, `holder` 1-200 characters
// shaped like a resource name (`migrations/{migration}`).
absl::Status CheckHoldRequest(absl::string_view method, const std::string& name, const std::string& holder) {
  static const std::regex kHolder("[a-z][a-zA-Z0-9]*(/[A-Za-z0-9._~@-]+)+");
  std::vector<FieldViolation> violations;
  absl::string_view id = name;
  if (!absl::ConsumePrefix(&id, "connections/") || id.empty() || absl::StrContains(id, "/")) {
    violations.push_back({"name", "must be connections/{connection}"});
  }
  if (holder.empty() || holder.size() > 200 || !std::regex_match(holder, kHolder)) {
    violations.push_back({"holder", "must be 1-200 characters shaped like a resource name, e.g. migrations/merger"});
  }
  if (violations.empty()) return absl::OkStatus();
  return InvalidArgumentWithViolations(absl::StrCat(method, ": invalid request"), violations);
}

}  // namespace

absl::Time internal::ParseIsoTime(const std::string& text) {
  if (text.empty()) return absl::InfinitePast();
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &time, &error)) return time;
  if (absl::ParseTime("%Y-%m-%dT%H:%M:%E*S", text, absl::UTCTimeZone(), &time, &error)) return time;
  return absl::InfinitePast();
}

// ---------------------------------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<Connector::Entry>> Connector::NewEntry(const std::string& name, v1::ConnectionRole role,
                                                                      const AdminUrl& admin,
                                                                      const v1::Credential& credential) {
  auto entry = std::make_shared<Entry>();
  entry->admin = admin;
  entry->credential = credential;
  entry->tenant_key = admin.tenant_name;
  entry->graph_host = ProfileOf(admin.cloud).graph_host;
  entry->graph_scope = absl::StrCat("https://", entry->graph_host, "/.default");
  entry->connection.set_name(name);
  entry->connection.set_role(role);
  entry->connection.set_admin_url(admin.url);
  entry->connection.set_cloud(static_cast<v1::Cloud>(admin.cloud));
  entry->connection.set_tenant_name(admin.tenant_name);
  entry->connection.set_state(v1::CONNECTION_STATE_CONNECTING);
  SetTimestamp(clock_->Now(), entry->connection.mutable_create_time());
  SetTimestamp(clock_->Now(), entry->connection.mutable_update_time());
  RETURN_IF_ERROR(Describe(*entry));
  return entry;
}

absl::StatusOr<v1::Connection> Connector::Create(const v1::CreateConnectionRequest& request, absl::Time deadline) {
  std::vector<FieldViolation> violations;
  if (request.role() != v1::CONNECTION_ROLE_SOURCE && request.role() != v1::CONNECTION_ROLE_TARGET) {
    violations.push_back({"role", "is required: CONNECTION_ROLE_SOURCE or CONNECTION_ROLE_TARGET"});
  }
  absl::StatusOr<AdminUrl> admin = ParseAdminUrl(request.admin_url(), static_cast<Cloud>(request.cloud()));
  if (!admin.ok()) violations.push_back({"admin_url", std::string(admin.status().message())});
  if (!request.connection_id().empty() &&
      !std::regex_match(request.connection_id(), std::regex("^[a-z][a-z0-9-]{0,62}$"))) {
    violations.push_back(
        {"connection_id", "must be 1-63 characters of [a-z0-9-] starting with a letter, e.g. contoso-source"});
  }
  for (FieldViolation& violation : internal::CheckCredential(request.credential(), "credential")) {
    violations.push_back(std::move(violation));
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("CreateConnection: invalid request", violations);

  std::string id = request.connection_id();
  if (id.empty()) {
    id = absl::StrCat(admin->tenant_name, "-", request.role() == v1::CONNECTION_ROLE_SOURCE ? "source" : "target");
  }
  const std::string name = absl::StrCat("connections/", id);
  {
    absl::MutexLock lock(&mu_);
    if (!request.request_id().empty()) {
      auto seen = request_ids_.find(request.request_id());
      if (seen != request_ids_.end() && entries_.count(seen->second)) {
        absl::MutexLock entry_lock(&entries_[seen->second]->mu);
        return entries_[seen->second]->connection;
      }
    }
    if (entries_.count(name) || creating_.count(name)) {
      return absl::AlreadyExistsError(absl::StrCat(name, " already exists; choose another connection_id or delete it"));
    }
    creating_.insert(name);
  }
  auto release = [this, &name] {
    absl::MutexLock lock(&mu_);
    creating_.erase(name);
  };
  absl::StatusOr<std::shared_ptr<Entry>> entry = NewEntry(name, request.role(), *admin, request.credential());
  if (!entry.ok()) {
    release();
    return entry.status();
  }
  absl::StatusOr<v1::Connection> connection = SignIn(*entry, deadline, /*fresh=*/true);
  if (!connection.ok()) {
    release();
    log::Warning("connect refused", {{"connection", name}, {"error", std::string(connection.status().message())}});
    return connection.status();
  }
  {
    absl::MutexLock lock(&mu_);
    creating_.erase(name);
    {
      absl::MutexLock entry_lock(&(*entry)->mu);
      (*entry)->registered = true;
    }
    entries_[name] = *entry;
    if (!request.request_id().empty()) request_ids_[request.request_id()] = name;
  }
  log::Info("connection created", {{"connection", name},
                                   {"state", StateName(connection->state())},
                                   {"credential_kind", v1::CredentialKind_Name(connection->credential().kind())}});
  Changed(**entry, v1::CONNECTION_EVENT_TYPE_CREATED);
  if (connection->state() == v1::CONNECTION_STATE_PENDING_SIGN_IN) {
    uint64_t generation;
    absl::Time when;
    {
      absl::MutexLock lock(&(*entry)->mu);
      generation = (*entry)->generation;
      when = clock_->Now() + (*entry)->poll_interval;
    }
    StartDeviceCodePolling(*entry, generation, when);
  } else {
    ScheduleProbe(*entry, clock_->Now() + options_.probe_interval);
  }
  absl::MutexLock lock(&(*entry)->mu);
  return (*entry)->connection;
}

// Signs `entry` in with its credential. Device code: starts the flow and returns PENDING_SIGN_IN.
// Otherwise acquires a Graph token and verifies tenant, admin URL, roles and geos: CONNECTED.
absl::StatusOr<v1::Connection> Connector::SignIn(const std::shared_ptr<Entry>& entry, absl::Time deadline, bool fresh) {
  bool device_code;
  std::string admin_url;
  bool tenant_known;
  std::string governor_key;
  {
    absl::MutexLock lock(&entry->mu);
    device_code = entry->credential.has_device_code();
    admin_url = entry->admin.url;
    governor_key = GovernorKey(*entry);
    tenant_known = !entry->connection.tenant_id().empty() || !entry->sharepoint_tenant_id.empty();
  }
  if (!tenant_known) {
    // Any geo's admin URL names its tenant (contosoeur-admin is contoso's): sign in to that tenant, not
    // to a tenant guessed from the host name.
    ASSIGN_OR_RETURN(std::string tenant_id, sharepoint_.DiscoverTenantId(admin_url, governor_key, deadline));
    absl::MutexLock lock(&entry->mu);
    entry->sharepoint_tenant_id = tenant_id;
    if (entry->credential.tenant().empty()) entry->connection.mutable_credential()->set_tenant(tenant_id);
  }
  {
    absl::MutexLock lock(&entry->token_mu);
    entry->tokens.clear();
    if (device_code) entry->refresh_token.clear();
  }
  if (device_code) {
    std::string tenant;
    std::string login;
    std::string client_id;
    {
      absl::MutexLock lock(&entry->mu);
      tenant = entry->connection.credential().tenant();
      login = ProfileOf(entry->admin.cloud).login_host;
      client_id = entry->credential.device_code().client_id();
    }
    ASSIGN_OR_RETURN(DeviceCodeStart start,
                     tokens_.StartDeviceCode(login, tenant, GovernorKey(*entry), client_id,
                                             absl::StrCat(entry->graph_scope, " offline_access"), deadline));
    if (metrics_) metrics_->SignIn("device_code", "started");
    absl::MutexLock lock(&entry->mu);
    ++entry->generation;
    entry->device_code = start.device_code;
    entry->poll_interval = std::max(start.interval, absl::Seconds(1));
    entry->device_code_expire_time = start.expire_time;
    v1::DeviceCodePrompt* prompt = entry->connection.mutable_sign_in_prompt();
    prompt->set_user_code(start.user_code);
    prompt->set_verification_uri(start.verification_uri);
    SetTimestamp(start.expire_time, prompt->mutable_expire_time());
    SetDuration(entry->poll_interval, prompt->mutable_poll_interval());
    prompt->set_message(start.message);
    entry->connection.set_state(v1::CONNECTION_STATE_PENDING_SIGN_IN);
    entry->connection.set_state_reason(
        absl::StrCat("waiting for the admin to enter code ", start.user_code, " at ", start.verification_uri));
    return entry->connection;
  }
  absl::Status verified = Verify(*entry, deadline);
  if (!verified.ok()) {
    if (!fresh) {
      AuthFailure failure = AuthFailureOf(verified);
      v1::ConnectionState state = failure == AuthFailure::kTransient ? v1::CONNECTION_STATE_DEGRADED
                                  : failure == AuthFailure::kExpired ? v1::CONNECTION_STATE_EXPIRED
                                                                     : v1::CONNECTION_STATE_FAILED;
      SetState(*entry, state, std::string(verified.message()));
    }
    return verified;
  }
  absl::MutexLock lock(&entry->mu);
  absl::Time now = clock_->Now();
  entry->connection.set_state(v1::CONNECTION_STATE_CONNECTED);
  entry->connection.clear_state_reason();
  entry->connection.clear_sign_in_prompt();
  v1::ConnectionHealth* health = entry->connection.mutable_health();
  SetTimestamp(now, health->mutable_last_check_time());
  SetTimestamp(now, health->mutable_last_success_time());
  SetTimestamp(now + options_.probe_interval, health->mutable_next_check_time());
  health->clear_last_error();
  RefreshHealth(*entry);
  return entry->connection;
}

// ---------------------------------------------------------------------------------------------------
// Device code completion.

void Connector::StartDeviceCodePolling(std::shared_ptr<Entry> entry, uint64_t generation, absl::Time when) {
  executor_->RunAt(when, [this, entry, generation] { PollDeviceCode(entry, generation); });
}

void Connector::PollDeviceCode(std::shared_ptr<Entry> entry, uint64_t generation) {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
  }
  std::string tenant, login, client_id, device_code;
  absl::Time expire;
  {
    absl::MutexLock lock(&entry->mu);
    if (entry->deleted || entry->generation != generation ||
        entry->connection.state() != v1::CONNECTION_STATE_PENDING_SIGN_IN) {
      return;
    }
    tenant = entry->connection.credential().tenant();
    login = ProfileOf(entry->admin.cloud).login_host;
    client_id = entry->credential.device_code().client_id();
    device_code = entry->device_code;
    expire = entry->device_code_expire_time;
  }
  absl::Time now = clock_->Now();
  if (now >= expire) {
    if (metrics_) metrics_->SignIn("device_code", "expired");
    SetState(*entry, v1::CONNECTION_STATE_EXPIRED,
             "the device code expired before the admin signed in; call ReauthenticateConnection for a new code");
    return;
  }
  DeviceCodePoll poll =
      tokens_.PollDeviceCode(login, tenant, GovernorKey(*entry), client_id, device_code, now + absl::Seconds(30));
  switch (poll.kind) {
    case DeviceCodePoll::Kind::kPending:
    case DeviceCodePoll::Kind::kSlowDown: {
      absl::Time next;
      {
        absl::MutexLock lock(&entry->mu);
        if (poll.kind == DeviceCodePoll::Kind::kSlowDown) {
          entry->poll_interval += absl::Seconds(5);
          SetDuration(entry->poll_interval, entry->connection.mutable_sign_in_prompt()->mutable_poll_interval());
        }
        next = clock_->Now() + entry->poll_interval;
      }
      if (poll.kind == DeviceCodePoll::Kind::kSlowDown) Changed(*entry);
      StartDeviceCodePolling(entry, generation, next);
      return;
    }
    case DeviceCodePoll::Kind::kFailed: {
      if (metrics_) metrics_->SignIn("device_code", "error");
      AuthFailure failure = AuthFailureOf(poll.failure);
      SetState(*entry, failure == AuthFailure::kExpired ? v1::CONNECTION_STATE_EXPIRED : v1::CONNECTION_STATE_FAILED,
               std::string(poll.failure.message()));
      return;
    }
    case DeviceCodePoll::Kind::kToken:
      break;
  }
  if (metrics_) metrics_->SignIn("device_code", "ok");
  {
    absl::MutexLock lock(&entry->token_mu);
    entry->refresh_token = poll.token.refresh_token;
    entry->tokens[entry->graph_scope] = poll.token;
    entry->claims = poll.token.claims;
  }
  {
    absl::MutexLock lock(&entry->mu);
    entry->device_code.clear();
    SetTimestamp(poll.token.expire_time, entry->connection.mutable_health()->mutable_token_expire_time());
    SetDuration(poll.token.lifetime, entry->connection.mutable_health()->mutable_token_lifetime());
  }
  SetState(*entry, v1::CONNECTION_STATE_CONNECTING, "signed in; checking tenant, admin URL, roles and geos");
  absl::Status verified = Verify(*entry, clock_->Now() + options_.default_budget);
  if (!verified.ok()) {
    AuthFailure failure = AuthFailureOf(verified);
    SetState(*entry, failure == AuthFailure::kTransient ? v1::CONNECTION_STATE_DEGRADED : v1::CONNECTION_STATE_FAILED,
             std::string(verified.message()));
  } else {
    {
      absl::MutexLock lock(&entry->mu);
      absl::Time done = clock_->Now();
      SetTimestamp(done, entry->connection.mutable_health()->mutable_last_check_time());
      SetTimestamp(done, entry->connection.mutable_health()->mutable_last_success_time());
      SetTimestamp(done + options_.probe_interval, entry->connection.mutable_health()->mutable_next_check_time());
    }
    SetState(*entry, v1::CONNECTION_STATE_CONNECTED, "");
  }
  ScheduleProbe(entry, clock_->Now() + options_.probe_interval);
}

// ---------------------------------------------------------------------------------------------------
// Probes.

void Connector::ScheduleProbe(const std::shared_ptr<Entry>& entry, absl::Time when) {
  uint64_t generation;
  {
    absl::MutexLock lock(&entry->mu);
    generation = entry->generation;
    SetTimestamp(when, entry->connection.mutable_health()->mutable_next_check_time());
  }
  executor_->RunAt(when, [this, entry, generation] { Probe(entry, generation); });
}

void Connector::Probe(std::shared_ptr<Entry> entry, uint64_t generation) {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
  }
  {
    absl::MutexLock lock(&entry->mu);
    if (entry->deleted || entry->generation != generation) return;
    if (entry->connection.state() == v1::CONNECTION_STATE_PENDING_SIGN_IN) return;
  }
  (void)RunProbe(entry, clock_->Now() + options_.default_budget);
  ScheduleProbe(entry, clock_->Now() + options_.probe_interval);
}

absl::StatusOr<v1::Connection> Connector::RunProbe(const std::shared_ptr<Entry>& entry, absl::Time deadline) {
  {
    absl::MutexLock lock(&entry->mu);
    if (entry->connection.state() == v1::CONNECTION_STATE_PENDING_SIGN_IN) return entry->connection;
  }
  absl::Status status = Verify(*entry, deadline);
  absl::Time now = clock_->Now();
  v1::ConnectionState state = v1::CONNECTION_STATE_CONNECTED;
  std::string reason;
  {
    absl::MutexLock lock(&entry->mu);
    v1::ConnectionHealth* health = entry->connection.mutable_health();
    SetTimestamp(now, health->mutable_last_check_time());
    if (status.ok()) {
      SetTimestamp(now, health->mutable_last_success_time());
      health->clear_last_error();
    } else {
      v1::ErrorDetail* error = health->mutable_last_error();
      error->set_message(std::string(status.message()));
      const internal::ProbeVerdict verdict = internal::ProbeVerdictOf(status);
      state = verdict.state;
      error->set_code(verdict.code);
      reason = absl::StrCat("probe failed: ", status.message());
    }
  }
  SetState(*entry, state, reason);
  Changed(*entry);
  absl::MutexLock lock(&entry->mu);
  return entry->connection;
}

absl::StatusOr<v1::Connection> Connector::Check(const std::string& name, absl::Time deadline) {
  ASSIGN_OR_RETURN(std::shared_ptr<Entry> entry, Find(name));
  return RunProbe(entry, deadline);
}

// ---------------------------------------------------------------------------------------------------
// Cache reads and deletion.

absl::StatusOr<v1::Connection> Connector::Get(const std::string& name) {
  ASSIGN_OR_RETURN(std::shared_ptr<Entry> entry, Find(name));
  absl::MutexLock lock(&entry->mu);
  // Throttling and warnings are recomputed at most once a second on the read path; every change
  // (probe, sign-in, throttling seen by a call) refreshes them at once.
  if (clock_->Now() - entry->health_refresh_time > absl::Seconds(1)) RefreshHealth(*entry, /*update_metrics=*/false);
  return entry->connection;
}

absl::StatusOr<v1::ListConnectionsResponse> Connector::List(const v1::ListConnectionsRequest& request) {
  if (request.page_size() < 0) {
    return InvalidArgumentWithViolations("ListConnections: invalid request", {{"page_size", "must not be negative"}});
  }
  int page_size = request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000);
  std::string after;
  if (!request.page_token().empty()) {
    absl::StatusOr<std::string> decoded = Base64UrlDecode(request.page_token());
    if (!decoded.ok() || !absl::StartsWith(*decoded, "connections/")) {
      return InvalidArgumentWithViolations("ListConnections: invalid request",
                                           {{"page_token", "is not a token returned by ListConnections"}});
    }
    after = *decoded;
  }
  std::vector<std::shared_ptr<Entry>> entries;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = after.empty() ? entries_.begin() : entries_.upper_bound(after); it != entries_.end(); ++it) {
      entries.push_back(it->second);
    }
  }
  v1::ListConnectionsResponse response;
  for (const auto& entry : entries) {
    absl::MutexLock lock(&entry->mu);
    const v1::Connection& connection = entry->connection;
    if (request.role() != v1::CONNECTION_ROLE_UNSPECIFIED && connection.role() != request.role()) continue;
    if (request.states_size() > 0 &&
        std::find(request.states().begin(), request.states().end(), connection.state()) == request.states().end()) {
      continue;
    }
    if (response.connections_size() == page_size) {
      response.set_next_page_token(Base64UrlEncode(response.connections(page_size - 1).name()));
      break;
    }
    RefreshHealth(*entry, /*update_metrics=*/false);
    *response.add_connections() = connection;
  }
  return response;
}

absl::Status Connector::Delete(const v1::DeleteConnectionRequest& request) {
  if (absl::StatusOr<std::shared_ptr<Entry>> found = Find(request.name());
      !found.ok() && found.status().code() == absl::StatusCode::kInvalidArgument) {
    return found.status();
  }
  std::shared_ptr<Entry> entry;
  std::vector<std::string> holders;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(request.name());
    if (it == entries_.end()) {
      if (!request.request_id().empty()) {
        auto seen = deleted_request_ids_.find(request.request_id());
        if (seen != deleted_request_ids_.end() && seen->second == request.name()) return absl::OkStatus();
      }
      return absl::NotFoundError(absl::StrCat(QuoteForMessage(request.name()), " does not exist"));
    }
    entry = it->second;
    {
      // Checked under the registry lock, so that a hold cannot be taken between the check and the erase.
      absl::MutexLock entry_lock(&entry->mu);
      holders.assign(entry->connection.holders().begin(), entry->connection.holders().end());
    }
    if (!holders.empty() && !request.force()) return HeldError(request.name(), holders);
    entries_.erase(it);
    if (!request.request_id().empty()) deleted_request_ids_[request.request_id()] = request.name();
  }
  if (!holders.empty()) {
    log::Warning(
        "connection deleted while held: its migrations' users whose moves may have started wait "
        "until a connection of the same name is back",
        {{"connection", request.name()}, {"holders", HolderList(holders)}});
  }
  v1::Connection last;
  {
    absl::MutexLock lock(&entry->mu);
    entry->deleted = true;
    ++entry->generation;
    entry->connection.set_state(v1::CONNECTION_STATE_DISCONNECTED);
    entry->connection.clear_sign_in_prompt();
    SetTimestamp(clock_->Now(), entry->connection.mutable_update_time());
    last = entry->connection;
  }
  {
    absl::MutexLock lock(&entry->token_mu);
    entry->tokens.clear();
    entry->refresh_token.clear();
  }
  if (store_ != nullptr) RETURN_IF_ERROR(store_->Delete(request.name()));
  if (metrics_) metrics_->ForgetConnection(request.name());
  UpdateGauges();
  log::Info("connection deleted", {{"connection", request.name()}});
  Publish(v1::CONNECTION_EVENT_TYPE_DELETED, last);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------------
// Holds: live migrations that use a connection.

absl::StatusOr<v1::Connection> Connector::Hold(const v1::HoldConnectionRequest& request) {
  RETURN_IF_ERROR(CheckHoldRequest("HoldConnection", request.name(), request.holder()));
  std::shared_ptr<Entry> entry;
  v1::Connection copy;
  {
    // Taken under the registry lock, like Delete's check of the holders, so that the two cannot interleave.
    absl::MutexLock registry_lock(&mu_);
    auto it = entries_.find(request.name());
    if (it == entries_.end()) return absl::NotFoundError(absl::StrCat(request.name(), " does not exist"));
    entry = it->second;
    absl::MutexLock lock(&entry->mu);
    const auto& holders = entry->connection.holders();
    if (std::find(holders.begin(), holders.end(), request.holder()) != holders.end()) return entry->connection;
    if (holders.size() >= kMaxHolders) {
      return absl::ResourceExhaustedError(
          absl::StrCat(request.name(), " already has ", kMaxHolders, " holders, the most a connection may have"));
    }
    auto* mutable_holders = entry->connection.mutable_holders();
    mutable_holders->Add(std::string(request.holder()));
    std::sort(mutable_holders->begin(), mutable_holders->end());
    SetTimestamp(clock_->Now(), entry->connection.mutable_update_time());
  }
  // A hold that is not on disk would not survive a restart: refuse it rather than promise it.
  if (absl::Status persisted = Persist(*entry); !persisted.ok()) {
    absl::MutexLock lock(&entry->mu);
    auto* holders = entry->connection.mutable_holders();
    holders->erase(std::remove(holders->begin(), holders->end(), request.holder()), holders->end());
    return absl::UnavailableError(
        absl::StrCat("cannot record the hold of ", request.name(), ": ", persisted.message()));
  }
  {
    absl::MutexLock lock(&entry->mu);
    if (entry->deleted) {
      // A forced delete ran while the row was written: the write must not bring the connection back.
      if (store_ != nullptr) RETURN_IF_ERROR(store_->Delete(request.name()));
      return absl::NotFoundError(absl::StrCat(request.name(), " does not exist"));
    }
    copy = entry->connection;
  }
  log::Info("connection held", {{"connection", request.name()}, {"holder", request.holder()}});
  Publish(v1::CONNECTION_EVENT_TYPE_UPDATED, copy);
  return copy;
}

absl::Status Connector::Release(const v1::ReleaseConnectionRequest& request) {
  RETURN_IF_ERROR(CheckHoldRequest("ReleaseConnection", request.name(), request.holder()));
  absl::StatusOr<std::shared_ptr<Entry>> found = Find(request.name());
  if (absl::IsNotFound(found.status())) return absl::OkStatus();  // deleted: nothing is held any more
  RETURN_IF_ERROR(found.status());
  Entry& entry = **found;
  {
    absl::MutexLock lock(&entry.mu);
    if (entry.deleted) return absl::OkStatus();
    auto* holders = entry.connection.mutable_holders();
    auto it = std::find(holders->begin(), holders->end(), request.holder());
    if (it == holders->end()) return absl::OkStatus();
    holders->erase(it);
    SetTimestamp(clock_->Now(), entry.connection.mutable_update_time());
  }
  if (absl::Status persisted = Persist(entry); !persisted.ok()) {
    // Still held on disk: keep it held in memory too, so that a restart does not bring it back unnoticed.
    absl::MutexLock lock(&entry.mu);
    auto* holders = entry.connection.mutable_holders();
    holders->Add(std::string(request.holder()));
    std::sort(holders->begin(), holders->end());
    return absl::UnavailableError(
        absl::StrCat("cannot record the release of ", request.name(), ": ", persisted.message()));
  }
  v1::Connection copy;
  {
    absl::MutexLock lock(&entry.mu);
    if (entry.deleted) {
      if (store_ != nullptr) RETURN_IF_ERROR(store_->Delete(request.name()));
      return absl::OkStatus();
    }
    copy = entry.connection;
  }
  log::Info("connection released", {{"connection", request.name()}, {"holder", request.holder()}});
  Publish(v1::CONNECTION_EVENT_TYPE_UPDATED, copy);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------------
// Reauthentication.

absl::StatusOr<v1::Connection> Connector::Reauthenticate(const v1::ReauthenticateConnectionRequest& request,
                                                         absl::Time deadline) {
  if (request.has_credential()) {
    std::vector<FieldViolation> violations = internal::CheckCredential(request.credential(), "credential");
    if (!violations.empty()) {
      return InvalidArgumentWithViolations("ReauthenticateConnection: invalid request", violations);
    }
  }
  ASSIGN_OR_RETURN(std::shared_ptr<Entry> entry, Find(request.name()));
  v1::Credential previous_credential;
  v1::CredentialInfo previous_info;
  {
    absl::MutexLock lock(&entry->mu);
    previous_credential = entry->credential;
    previous_info = entry->connection.credential();
    if (request.has_credential()) entry->credential = request.credential();
    ++entry->generation;
  }
  if (request.has_credential()) {
    if (absl::Status described = Describe(*entry); !described.ok()) {
      absl::MutexLock lock(&entry->mu);
      entry->credential = previous_credential;
      *entry->connection.mutable_credential() = previous_info;
      return described;
    }
  }
  absl::StatusOr<v1::Connection> connection = SignIn(entry, deadline, /*fresh=*/false);
  if (!connection.ok()) {
    if (request.has_credential() && ErrorInfoReasonOf(connection.status()) == kReasonTenantChanged) {
      absl::MutexLock lock(&entry->mu);
      entry->credential = previous_credential;
      *entry->connection.mutable_credential() = previous_info;
    }
    Changed(*entry);
    return connection.status();
  }
  Changed(*entry);
  if (connection->state() == v1::CONNECTION_STATE_PENDING_SIGN_IN) {
    uint64_t generation;
    absl::Time when;
    {
      absl::MutexLock lock(&entry->mu);
      generation = entry->generation;
      when = clock_->Now() + entry->poll_interval;
    }
    StartDeviceCodePolling(entry, generation, when);
  } else {
    ScheduleProbe(entry, clock_->Now() + options_.probe_interval);
  }
  absl::MutexLock lock(&entry->mu);
  return entry->connection;
}

// ---------------------------------------------------------------------------------------------------
// Loading from the store.

absl::Status Connector::Load() {
  if (store_ == nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<StoredConnection> rows, store_->LoadAll());
  for (const StoredConnection& row : rows) {
    v1::Connection connection;
    if (!connection.ParseFromString(row.connection)) {
      return absl::DataLossError(absl::StrCat("stored connection ", row.name, " is corrupt"));
    }
    absl::StatusOr<std::string> opened = Unseal(seal_key_, row.sealed_credential, row.name);
    if (!opened.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open the sealed credential of ", row.name,
                       " with the configured seal key file (it is not the key the credential was sealed with)"));
    }
    nlohmann::json content = nlohmann::json::parse(*opened, nullptr, false);
    v1::Credential credential;
    absl::StatusOr<std::string> bytes = Base64UrlDecode(internal::Str(content, "credential"));
    if (!bytes.ok() || !credential.ParseFromString(*bytes)) {
      return absl::DataLossError(absl::StrCat("stored credential of ", row.name, " is corrupt"));
    }
    absl::StatusOr<AdminUrl> admin = ParseAdminUrl(connection.admin_url(), static_cast<Cloud>(connection.cloud()));
    if (!admin.ok()) return admin.status();
    auto entry = std::make_shared<Entry>();
    entry->admin = *admin;
    entry->credential = credential;
    entry->tenant_key = admin->tenant_name;
    entry->graph_host = ProfileOf(admin->cloud).graph_host;
    entry->graph_scope = absl::StrCat("https://", entry->graph_host, "/.default");
    entry->refresh_token = internal::Str(content, "refresh_token");
    entry->connection = connection;
    entry->connection.clear_health();
    entry->registered = true;
    if (entry->connection.state() == v1::CONNECTION_STATE_PENDING_SIGN_IN) {
      entry->connection.set_state(v1::CONNECTION_STATE_EXPIRED);
      entry->connection.set_state_reason(
          "the connector restarted during the device code sign-in; call ReauthenticateConnection for a new code");
      entry->connection.clear_sign_in_prompt();
    }
    {
      absl::MutexLock lock(&mu_);
      entries_[row.name] = entry;
    }
    // Probe at once: tokens are not stored, so this re-acquires them and confirms the state.
    if (entry->connection.state() != v1::CONNECTION_STATE_EXPIRED || !entry->refresh_token.empty() ||
        !entry->credential.has_device_code()) {
      ScheduleProbe(entry, clock_->Now());
    }
  }
  UpdateGauges();
  log::Info("connections loaded", {{"count", std::to_string(rows.size())}});
  return absl::OkStatus();
}

}  // namespace crosstenant::tenant_connector
