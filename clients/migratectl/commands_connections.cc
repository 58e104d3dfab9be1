// Step 1 of Microsoft's procedure: connect to the source and the target (Connect-SPOService), look at
// the connections, and run the preflight across both.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/migratectl/commands.h"
#include "clients/migratectl/exit_codes.h"
#include "clients/migratectl/input_file.h"
#include "clients/migratectl/plan_file.h"
#include "clients/migratectl/views.h"
#include "services/common/errors.h"
#include "services/common/status_macros.h"

namespace crosstenant::migratectl {
namespace v1 = crosstenant::v1;
namespace {

// Reads a secret from a local file ('-' is stdin), without its trailing line break.
absl::StatusOr<std::string> ReadSecretFile(const std::string& flag, const std::string& path) {
  absl::StatusOr<std::string> text = path == "-" ? ReadStandardInput("secret", kMaxSecretFileBytes)
                                                 : ReadInputFile(path, "secret", kMaxSecretFileBytes);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", text.status().message()));
  std::string value = *std::move(text);
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", path, " is empty"));
  return value;
}

absl::StatusOr<std::string> ReadSecretEnv(const std::string& flag, const std::string& variable) {
  const char* value = std::getenv(variable.c_str());
  if (value == nullptr || *value == '\0') {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": environment variable ", variable, " is not set"));
  }
  return std::string(value);
}

// A secret given as --X-file or --X-env: read here and sent as a value (sealed by the connector), or,
// with --connector-reads-files, sent as a path that the connector reads (and re-reads as it rotates).
absl::Status FillSecret(const std::string& name, const std::string& file, const std::string& env,
                        bool connector_reads_files, v1::SecretValue* out) {
  if (!file.empty() && !env.empty()) {
    return UsageError(absl::StrCat("give --", name, "-file or --", name, "-env, not both"));
  }
  if (!file.empty()) {
    if (connector_reads_files) {
      out->set_file_path(file);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(std::string value, ReadSecretFile(name + "-file", file));
    out->set_value(value);
    return absl::OkStatus();
  }
  if (!env.empty()) {
    ASSIGN_OR_RETURN(std::string value, ReadSecretEnv(name + "-env", env));
    out->set_value(value);
    return absl::OkStatus();
  }
  return UsageError(absl::StrCat("missing --", name, "-file or --", name, "-env"));
}

absl::StatusOr<std::string> ReadTextFile(const std::string& flag, const std::string& path) {
  absl::StatusOr<std::string> text = ReadInputFile(path, "certificate", kMaxCertificateFileBytes);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", text.status().message()));
  return text;
}

bool Settled(v1::ConnectionState state) {
  return state != v1::CONNECTION_STATE_PENDING_SIGN_IN && state != v1::CONNECTION_STATE_CONNECTING &&
         state != v1::CONNECTION_STATE_UNSPECIFIED;
}

// Waits (WatchConnections) until a device-code sign-in ends; the connection as it ended.
absl::StatusOr<v1::Connection> WaitForSignIn(Invocation& in, const v1::Connection& pending, absl::Duration timeout) {
  std::unique_ptr<grpc::ClientContext> context = in.StreamContext(absl::Now() + timeout);
  v1::WatchConnectionsRequest request;
  request.add_names(pending.name());
  std::unique_ptr<grpc::ClientReader<v1::WatchConnectionsResponse>> reader =
      in.connector().WatchConnections(context.get(), request);
  v1::WatchConnectionsResponse event;
  while (reader->Read(&event)) {
    if (event.connection().name() != pending.name()) continue;
    if (event.type() == v1::CONNECTION_EVENT_TYPE_DELETED) {
      return absl::NotFoundError(absl::StrCat(pending.name(), " was deleted while waiting for sign-in"));
    }
    if (Settled(event.connection().state())) {
      context->TryCancel();
      return event.connection();
    }
  }
  grpc::Status status = reader->Finish();
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return TimeoutError(
        absl::StrCat("no sign-in for ", pending.name(), " within ", absl::FormatDuration(timeout), " (see --timeout)"));
  }
  if (!status.ok()) return FromGrpcStatus(status);
  return WithErrorInfo(absl::UnavailableError("the connector ended the watch before the sign-in finished"),
                       kReasonWatchEnded, kMigratectlDomain, {});
}

void PrintConnection(Invocation& in, const v1::Connection& connection) {
  if (in.format() == OutputFormat::kJson) {
    in.out() << RenderJson(MessageToJson(connection));
  } else if (in.format() == OutputFormat::kCsv) {
    in.out() << RenderCsv(ConnectionsTable({connection}));
  } else {
    in.out() << ConnectionDetails(connection);
  }
}

}  // namespace

absl::StatusOr<v1::Connection> GetConnection(Invocation& in, const std::string& name) {
  v1::GetConnectionRequest request;
  request.set_name(ConnectionName(name));
  ASSIGN_OR_RETURN(
      v1::GetConnectionResponse response,
      in.Call<v1::GetConnectionResponse>(in.connector(), &v1::TenantConnector::Stub::GetConnection, request));
  return response.connection();
}

std::vector<v1::Geo> AccessibleGeos(const v1::Connection& connection) {
  std::vector<v1::Geo> geos;
  for (const v1::Geo& geo : connection.geos()) {
    if (geo.accessible()) geos.push_back(geo);
  }
  if (geos.empty()) geos.assign(connection.geos().begin(), connection.geos().end());
  return geos;
}

namespace {

// Every flag of `connect`.
struct ConnectFlags {
  std::string role, admin_url, id, tenant, cloud, client_id;
  std::string secret_file, secret_env, certificate, key_file, key_env, passphrase_env, algorithm;
  std::string username, password_file, password_env, token_file;
  bool device_code = false, no_wait = false, workload_identity = false, connector_reads_files = false;
  absl::Duration timeout = absl::Minutes(15);
};

void AddConnectFlags(SettingsTable& f, ConnectFlags* c) {
  f.Text("role", &c->role, "source|target", "the tenant's role in the migration (required)");
  f.Text("admin-url", &c->admin_url, "URL",
         "SharePoint admin URL, https://<tenant>-admin.sharepoint.com (or the argument)");
  f.Text("id", &c->id, "NAME", "connection id (default <tenant>-<role>)");
  f.Text("tenant", &c->tenant, "ID|DOMAIN", "Entra tenant for sign-in (default <tenant>.onmicrosoft.com)");
  f.Text("cloud", &c->cloud, "NAME", "commercial, gcc, gcc-high, dod or china (default: from the admin URL)");
  f.Text("client-id", &c->client_id, "GUID", "application (client) id of the app registration");
  f.Text("client-secret-file", &c->secret_file, "FILE", "client secret from a file ('-' reads stdin)");
  f.Text("client-secret-env", &c->secret_env, "VAR", "client secret from an environment variable");
  f.Text("certificate", &c->certificate, "FILE", "certificate (PEM) for app-only sign-in, like -CertificatePath");
  f.Text("private-key-file", &c->key_file, "FILE", "its private key (PEM; default: the certificate file)");
  f.Text("private-key-env", &c->key_env, "VAR", "its private key (PEM) from an environment variable");
  f.Text("private-key-passphrase-env", &c->passphrase_env, "VAR", "passphrase of an encrypted key");
  f.Text("assertion", &c->algorithm, "ps256|rs256", "client assertion algorithm (default ps256)");
  f.Switch("device-code", &c->device_code, "sign in as an admin in a browser (works with MFA); waits for the sign-in");
  f.Switch("no-wait", &c->no_wait, "with --device-code: print the prompt and return without waiting");
  f.Duration("timeout", &c->timeout, absl::Milliseconds(1), "with --device-code: how long to wait for the sign-in");
  f.Text("username", &c->username, "UPN", "admin user name for a password sign-in (-Credential)");
  f.Text("password-file", &c->password_file, "FILE", "the admin's password from a file ('-' reads stdin)");
  f.Text("password-env", &c->password_env, "VAR", "the admin's password from an environment variable");
  f.Switch("workload-identity", &c->workload_identity,
           "sign in with a Kubernetes service-account token (federated credential)");
  f.Text("token-file", &c->token_file, "PATH",
         "with --workload-identity: token file on the connector's host "
         "(default AZURE_FEDERATED_TOKEN_FILE there)");
  f.Switch("connector-reads-files", &c->connector_reads_files,
           "send the secret, key and password files as paths the connector reads "
           "(and re-reads when they rotate) instead of their content");
}

// The role, cloud and admin URL of the request.
absl::Status FillTarget(const ConnectFlags& c, v1::CreateConnectionRequest& request) {
  request.set_connection_id(c.id);
  request.set_admin_url(c.admin_url);
  const std::string lower_role = absl::AsciiStrToLower(c.role);
  if (lower_role == "source") {
    request.set_role(v1::CONNECTION_ROLE_SOURCE);
  } else if (lower_role == "target") {
    request.set_role(v1::CONNECTION_ROLE_TARGET);
  } else if (c.role.empty()) {
    return UsageError("missing --role=source|target");
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--role: expected source or target, got '", c.role, "'"));
  }
  if (c.admin_url.empty()) return UsageError("missing the admin URL (--admin-url=URL or argument)");
  if (!c.cloud.empty()) {
    const std::string cloud = absl::AsciiStrToLower(c.cloud);
    if (cloud == "commercial")
      request.set_cloud(v1::CLOUD_COMMERCIAL);
    else if (cloud == "gcc")
      request.set_cloud(v1::CLOUD_GCC);
    else if (cloud == "gcc-high")
      request.set_cloud(v1::CLOUD_GCC_HIGH);
    else if (cloud == "dod")
      request.set_cloud(v1::CLOUD_DOD);
    else if (cloud == "china")
      request.set_cloud(v1::CLOUD_CHINA);
    else
      return absl::InvalidArgumentError(
          absl::StrCat("--cloud: expected commercial, gcc, gcc-high, dod or china, got '", c.cloud, "'"));
  }
  return absl::OkStatus();
}

// The one credential the flags give, its secrets read from files or the environment.
absl::Status FillCredential(const ConnectFlags& c, v1::Credential* credential) {
  std::vector<std::string> kinds;
  if (!c.secret_file.empty() || !c.secret_env.empty()) kinds.push_back("client secret");
  if (!c.certificate.empty()) kinds.push_back("certificate");
  if (c.device_code) kinds.push_back("device code");
  if (!c.username.empty()) kinds.push_back("admin password");
  if (c.workload_identity) kinds.push_back("workload identity");
  if (kinds.empty()) {
    return UsageError(
        "no credential; give one of --client-secret-file/--client-secret-env, "
        "--certificate, --device-code, --username, --workload-identity (see --help)");
  }
  if (kinds.size() > 1) {
    return UsageError(absl::StrCat("one credential kind at a time, got ", absl::StrJoin(kinds, " and ")));
  }
  credential->set_tenant(c.tenant);
  const std::string& kind = kinds.front();
  if (kind != "device code" && kind != "admin password" && c.client_id.empty()) {
    return UsageError(absl::StrCat("the ", kind, " sign-in needs --client-id=GUID"));
  }
  // Microsoft Graph Command Line Tools: the public client Microsoft's own admin tools sign in with.
  const std::string public_client = c.client_id.empty() ? "14d82eec-204b-4c2f-b7e8-296a70dab67e" : c.client_id;
  if (kind == "client secret") {
    credential->mutable_client_secret()->set_client_id(c.client_id);
    return FillSecret("client-secret", c.secret_file, c.secret_env, c.connector_reads_files,
                      credential->mutable_client_secret()->mutable_secret());
  }
  if (kind == "certificate") {
    v1::CertificateCredential* cert = credential->mutable_certificate();
    cert->set_client_id(c.client_id);
    if (c.connector_reads_files) {
      cert->set_certificate_file(c.certificate);
    } else {
      ASSIGN_OR_RETURN(std::string pem, ReadTextFile("certificate", c.certificate));
      cert->set_certificate_pem(pem);
    }
    RETURN_IF_ERROR(FillSecret("private-key", c.key_file.empty() && c.key_env.empty() ? c.certificate : c.key_file,
                               c.key_env, c.connector_reads_files, cert->mutable_private_key()));
    if (!c.passphrase_env.empty()) {
      ASSIGN_OR_RETURN(std::string passphrase, ReadSecretEnv("private-key-passphrase-env", c.passphrase_env));
      cert->mutable_private_key_passphrase()->set_value(passphrase);
    }
    const std::string alg = absl::AsciiStrToLower(c.algorithm);
    if (alg == "rs256")
      cert->set_assertion_algorithm(v1::ASSERTION_ALGORITHM_RS256);
    else if (alg == "ps256")
      cert->set_assertion_algorithm(v1::ASSERTION_ALGORITHM_PS256);
    else if (!alg.empty())
      return absl::InvalidArgumentError(absl::StrCat("--assertion: expected ps256 or rs256, got '", c.algorithm, "'"));
    return absl::OkStatus();
  }
  if (kind == "device code") {
    credential->mutable_device_code()->set_client_id(public_client);
  } else if (kind == "admin password") {
    credential->mutable_username_password()->set_client_id(public_client);
    credential->mutable_username_password()->set_username(c.username);
    return FillSecret("password", c.password_file, c.password_env, c.connector_reads_files,
                      credential->mutable_username_password()->mutable_password());
  } else {
    credential->mutable_workload_identity()->set_client_id(c.client_id);
    credential->mutable_workload_identity()->set_token_file(c.token_file);
  }
  return absl::OkStatus();
}

// A connection waiting for a device-code sign-in: prints Microsoft's prompt and, unless --no-wait,
// waits for the sign-in. Returns the connection to print.
absl::StatusOr<v1::Connection> FollowSignIn(Invocation& in, const ConnectFlags& c, v1::Connection connection) {
  // Microsoft's own words, as Connect-SPOService and az login print them, on stderr like theirs.
  const v1::DeviceCodePrompt& prompt = connection.sign_in_prompt();
  std::string message = prompt.message().empty()
                            ? absl::StrCat("To sign in, use a web browser to open the page ", prompt.verification_uri(),
                                           " and enter the code ", prompt.user_code(), " to authenticate.")
                            : prompt.message();
  in.err() << message << "\n";
  if (c.no_wait) {
    in.err() << "Not waiting (--no-wait): `migratectl connections --watch` shows when " << connection.name()
             << " is signed in.\n";
    return connection;
  }
  in.err() << "Waiting for the sign-in to " << connection.name();
  if (prompt.has_expire_time()) in.err() << " (the code expires at " << TimeText(prompt.expire_time()) << ")";
  in.err() << "...\n";
  in.err().flush();
  return WaitForSignIn(in, connection, c.timeout);
}

}  // namespace

absl::Status RunConnect(Invocation& in) {
  ConnectFlags c;
  AddConnectFlags(in.flags(), &c);
  ASSIGN_OR_RETURN(
      bool run,
      in.Parse(
          {"Connects a source or target tenant: signs in, checks the admin role, finds "
           "every geo. The connection is kept by the tenant-connector for the whole "
           "migration, so the source and the target are connected at the same time.",
           "Connect-SPOService -Url https://<tenant>-admin.sharepoint.com", "[ADMIN_URL]",
           "Credential kinds (exactly one):\n"
           "  certificate        --client-id=GUID --certificate=FILE [--private-key-file=FILE]\n"
           "  client secret      --client-id=GUID --client-secret-file=FILE|--client-secret-env=VAR\n"
           "                     (Graph only: SharePoint refuses app-only tokens from a secret,\n"
           "                     so trust, verify, compatibility and redirects need a certificate\n"
           "                     or an admin sign-in)\n"
           "  device code        --device-code [--client-id=GUID]   (prints Microsoft's prompt, waits)\n"
           "  admin password     --username=UPN --password-file=FILE|--password-env=VAR [--client-id]\n"
           "  workload identity  --workload-identity --client-id=GUID [--token-file=PATH]\n"
           "Secrets are never put on the command line: they are read from files or the\n"
           "environment and sealed by the connector; migratectl never prints them.\n\n"
           "Example:\n"
           "  migratectl connect --role=source https://contoso-admin.sharepoint.com \\\n"
           "      --client-id=11111111-1111-4111-8111-111111111111 --certificate=app.pem --private-key-file=app.key"},
          0, 1));
  if (!run) return absl::OkStatus();
  if (!in.positionals().empty()) {
    if (!c.admin_url.empty()) return UsageError("give the admin URL once: as --admin-url or as the argument");
    c.admin_url = in.positionals()[0];
  }
  v1::CreateConnectionRequest request;
  request.set_request_id(NewRequestId());
  RETURN_IF_ERROR(FillTarget(c, request));
  RETURN_IF_ERROR(FillCredential(c, request.mutable_credential()));

  ASSIGN_OR_RETURN(
      v1::CreateConnectionResponse response,
      in.Call<v1::CreateConnectionResponse>(in.connector(), &v1::TenantConnector::Stub::CreateConnection, request));
  v1::Connection connection = response.connection();
  if (connection.state() == v1::CONNECTION_STATE_PENDING_SIGN_IN) {
    ASSIGN_OR_RETURN(connection, FollowSignIn(in, c, std::move(connection)));
    if (c.no_wait) {
      PrintConnection(in, connection);
      return absl::OkStatus();
    }
  }
  PrintConnection(in, connection);
  if (connection.state() == v1::CONNECTION_STATE_CONNECTED || connection.state() == v1::CONNECTION_STATE_DEGRADED) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat(connection.name(), " is ", StateName(connection.state()), ": ", connection.state_reason()));
}

absl::Status RunConnections(Invocation& in) {
  bool watch = false;
  absl::Duration timeout = absl::InfiniteDuration();
  in.flags().Switch("watch", &watch, "stream every change (state, health, sign-in) until Ctrl-C");
  in.flags().Duration("timeout", &timeout, absl::Milliseconds(1), "with --watch: stop after this long (exit 0)");
  ASSIGN_OR_RETURN(bool run, in.Parse({"Lists the connections the tenant-connector holds, or watches them.",
                                       "Get-SPOTenant / the single connection of a PowerShell session", "", ""}));
  if (!run) return absl::OkStatus();
  if (!watch) {
    std::vector<v1::Connection> connections;
    v1::ListConnectionsRequest request;
    request.set_page_size(1000);
    do {
      ASSIGN_OR_RETURN(
          v1::ListConnectionsResponse response,
          in.Call<v1::ListConnectionsResponse>(in.connector(), &v1::TenantConnector::Stub::ListConnections, request));
      connections.insert(connections.end(), response.connections().begin(), response.connections().end());
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    nlohmann::json json = nlohmann::json::array();
    for (const v1::Connection& c : connections) json.push_back(MessageToJson(c));
    in.Print(ConnectionsTable(connections), json);
    return absl::OkStatus();
  }
  std::unique_ptr<grpc::ClientContext> context = in.StreamContext(absl::Now() + timeout);
  std::unique_ptr<grpc::ClientReader<v1::WatchConnectionsResponse>> reader =
      in.connector().WatchConnections(context.get(), v1::WatchConnectionsRequest());
  v1::WatchConnectionsResponse event;
  while (reader->Read(&event)) {
    const v1::Connection& c = event.connection();
    if (in.format() == OutputFormat::kJson) {
      in.out() << MessageToJson(event).dump() << "\n";
    } else {
      std::string line =
          absl::StrCat(TimeText(event.event_time()), "  ",
                       ShortEnumName(v1::ConnectionEventType_Name(event.type()), "CONNECTION_EVENT_TYPE_"), "  ",
                       c.name(), "  ", RoleName(c.role()), "  ", StateName(c.state()));
      if (!c.state_reason().empty()) absl::StrAppend(&line, "  ", c.state_reason());
      if (c.state() == v1::CONNECTION_STATE_PENDING_SIGN_IN && !c.sign_in_prompt().message().empty()) {
        absl::StrAppend(&line, "  ", c.sign_in_prompt().message());
      }
      in.out() << line << "\n";
    }
    in.out().flush();
  }
  grpc::Status status = reader->Finish();
  if (status.ok() || status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return absl::OkStatus();
  return FromGrpcStatus(status);
}

absl::Status RunConnectionsShow(Invocation& in) {
  ASSIGN_OR_RETURN(bool run, in.Parse({"Shows one connection: state, tenant, signed-in principal, geos, token, "
                                       "warnings.",
                                       "", "NAME", ""},
                                      1, 1));
  if (!run) return absl::OkStatus();
  ASSIGN_OR_RETURN(v1::Connection connection, GetConnection(in, in.positionals()[0]));
  PrintConnection(in, connection);
  return absl::OkStatus();
}

absl::Status RunConnectionsCheck(Invocation& in) {
  ASSIGN_OR_RETURN(
      bool run, in.Parse({"Probes a connection now: token, role, admin URL, geos, clock skew.", "", "NAME", ""}, 1, 1));
  if (!run) return absl::OkStatus();
  v1::CheckConnectionRequest request;
  request.set_name(ConnectionName(in.positionals()[0]));
  ASSIGN_OR_RETURN(
      v1::CheckConnectionResponse response,
      in.Call<v1::CheckConnectionResponse>(in.connector(), &v1::TenantConnector::Stub::CheckConnection, request));
  PrintConnection(in, response.connection());
  if (response.connection().state() == v1::CONNECTION_STATE_CONNECTED) return absl::OkStatus();
  return NotReadyError(absl::StrCat(response.connection().name(), " is ", StateName(response.connection().state()),
                                    ": ", response.connection().state_reason()));
}

absl::Status RunConnectionsDelete(Invocation& in) {
  bool force = false;
  in.flags().Switch("force", &force,
                    "delete even while live migrations hold the connection (`connections show` lists "
                    "them); their users whose moves may have started wait until a connection of the same name is back");
  ASSIGN_OR_RETURN(bool run, in.Parse({"Forgets a connection, its tokens and its sealed secrets. Moves already "
                                       "started at Microsoft are not affected. Refused (exit 6, naming the "
                                       "migrations) while a live migration holds the connection, unless --force.",
                                       "Disconnect-SPOService", "NAME", ""},
                                      1, 1));
  if (!run) return absl::OkStatus();
  v1::DeleteConnectionRequest request;
  request.set_name(ConnectionName(in.positionals()[0]));
  request.set_request_id(NewRequestId());
  request.set_force(force);
  ASSIGN_OR_RETURN(
      v1::DeleteConnectionResponse response,
      in.Call<v1::DeleteConnectionResponse>(in.connector(), &v1::TenantConnector::Stub::DeleteConnection, request));
  (void)response;
  in.out() << "deleted " << request.name() << "\n";
  return absl::OkStatus();
}

absl::Status RunPreflight(Invocation& in) {
  std::string source, target, ignore;
  in.flags().Text("source", &source, "CONNECTION", "the source connection (required)");
  in.flags().Text("target", &target, "CONNECTION", "the target connection (required)");
  in.flags().Text("ignore", &ignore, "CHECK,...",
                  "checks whose errors do not count for the exit code, e.g. "
                  "trust,compatibility before trust is established");
  ASSIGN_OR_RETURN(bool run,
                   in.Parse({"Runs every preflight check across the source and the target at once: roles, app "
                             "permissions, cloud, feature enabled, licences, Customer Key, trust, compatibility, "
                             "clock skew, token lifetime, credential expiry. Exit 10 when a check found an error.",
                             "the prerequisites of steps 1-5, checked by hand today", "", ""}));
  if (!run) return absl::OkStatus();
  if (source.empty() || target.empty()) return UsageError("--source and --target are required");
  v1::PreflightRequest request;
  request.set_source_connection(ConnectionName(source));
  request.set_target_connection(ConnectionName(target));
  ASSIGN_OR_RETURN(v1::PreflightResponse response,
                   in.Call<v1::PreflightResponse>(in.connector(), &v1::TenantConnector::Stub::Preflight, request));
  const v1::PreflightReport& report = response.report();
  in.Print(PreflightTable(report), MessageToJson(report));
  std::vector<std::string> ignored;
  for (absl::string_view name : absl::StrSplit(ignore, ',', absl::SkipEmpty())) {
    std::string check = absl::StrCat("PREFLIGHT_CHECK_", absl::AsciiStrToUpper(absl::StripAsciiWhitespace(name)));
    for (char& c : check) c = c == '-' ? '_' : c;
    v1::PreflightCheck parsed;
    if (!v1::PreflightCheck_Parse(check, &parsed)) {
      return absl::InvalidArgumentError(absl::StrCat("--ignore: '", name, "' is not a preflight check"));
    }
    ignored.push_back(check);
  }
  int errors = 0;
  for (const v1::PreflightCheckResult& result : report.results()) {
    if (result.finding().severity() != v1::SEVERITY_ERROR) continue;
    if (std::find(ignored.begin(), ignored.end(), v1::PreflightCheck_Name(result.check())) != ignored.end()) continue;
    ++errors;
  }
  if (in.format() == OutputFormat::kTable) {
    for (const v1::PreflightCheckResult& result : report.results()) {
      if (!result.finding().remedy().empty() && result.outcome() == v1::CHECK_OUTCOME_FAILED) {
        in.out() << "remedy (" << result.finding().code() << "): " << result.finding().remedy() << "\n";
      }
    }
    in.out() << (errors == 0 ? (report.ready() ? "ready: no blocking finding\n"
                                               : absl::StrCat("ready, apart from the ignored checks (", ignore, ")\n"))
                             : absl::StrCat("not ready: ", errors, " blocking finding(s)\n"));
  }
  if (errors == 0) return absl::OkStatus();
  return NotReadyError(absl::StrCat("preflight found ", errors, " error(s)"));
}

}  // namespace crosstenant::migratectl
