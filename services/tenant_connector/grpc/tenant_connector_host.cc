#include "services/tenant_connector/grpc/tenant_connector_host.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "crosstenant/v1/tenant_connector.grpc.pb.h"
#include "services/common/audit_chain.h"
#include "services/common/errors.h"
#include "services/common/logging.h"
#include "services/tenant_connector/core/audit_trail.h"
#include "services/tenant_connector/core/connector.h"
#include "services/common/executor.h"
#include "services/tenant_connector/core/http.h"
#include "services/tenant_connector/core/metrics.h"
#include "services/tenant_connector/core/sharepoint/wire_log.h"
#include "services/tenant_connector/core/store.h"
#include "services/tenant_connector/grpc/tenant_connector_service.h"

namespace crosstenant::tenant_connector {
namespace {

class TenantConnectorHost : public ServiceHost {
 public:
  TenantConnectorHost(ServerEnvironment& environment, const ConnectorSettings& settings, CurlOptions transport_options,
                      std::unique_ptr<ConnectionStore> store, std::unique_ptr<ConnectionStore> audit_store,
                      std::string seal_key, std::unique_ptr<sharepoint::WireLog> wire_log)
      : grace_(environment.config.shutdown_grace),
        executor_(settings.executor_threads),
        transport_(std::move(transport_options)),
        store_(std::move(store)),
        audit_store_(std::move(audit_store)),
        audit_(durable_store(), environment.metrics),
        metrics_(environment.metrics),
        wire_log_(std::move(wire_log)),
        connector_(Options(settings, wire_log_.get()), &transport_, Clock::Real(), &executor_, store_.get(),
                   std::move(seal_key), &metrics_),
        service_(&connector_, &executor_, &audit_, durable_store()) {}

  ~TenantConnectorHost() override {
    connector_.Stop();
    // Calls were given the grace already; what still runs (a probe blocked upstream) gets as long
    // again, then is abandoned rather than hold the process.
    executor_.Shutdown(grace_);
  }

  std::vector<HostedService> Services() override {
    return {{&service_, crosstenant::v1::TenantConnector::service_full_name(), TenantConnectorMethodRoles()}};
  }

  absl::Status WarmUp() override { return connector_.Load(); }

  void CallDenied(const std::vector<std::string>& caller, absl::string_view method,
                  const absl::Status& refusal) override {
    executor_.Run([this, caller = AuditCaller(caller), action = std::string(method), refusal] {
      audit_.RecordRefused(action, caller, refusal);
    });
  }

  void ReleaseMemory() override { durable_store()->ReleaseMemory(); }

  void BeginShutdown() override {
    service_.EndStreams();
    connector_.Stop();
  }

 private:
  // Where the audit trail and the answered requests go: the state database, or one in memory. Exactly one
  // of the two stores is open.
  ConnectionStore* durable_store() const { return store_ ? store_.get() : audit_store_.get(); }

  static ConnectorOptions Options(const ConnectorSettings& settings, sharepoint::WireLog* wire_log) {
    ConnectorOptions options;
    options.sharepoint_wire_log = wire_log;
    options.probe_interval = settings.probe_interval;
    options.refresh_margin = settings.refresh_margin;
    options.default_budget = settings.upstream_budget;
    options.credential_warning = settings.credential_warning;
    options.credential_file_dirs = settings.credential_file_dirs;
    options.throttle.max_attempts = settings.max_attempts;
    options.throttle.max_concurrency = settings.max_concurrency;
    options.throttle.backoff_base = settings.backoff_base;
    options.throttle.backoff_max = settings.backoff_max;
    return options;
  }

  const absl::Duration grace_;
  Executor executor_;
  CurlTransport transport_;
  std::unique_ptr<ConnectionStore> store_;
  // The audit trail's and the answers' store when there is no state directory (in memory, like the
  // connections then).
  std::unique_ptr<ConnectionStore> audit_store_;
  AuditTrail audit_;
  ConnectorMetrics metrics_;
  std::unique_ptr<sharepoint::WireLog> wire_log_;
  Connector connector_;
  TenantConnectorService service_;
};

absl::StatusOr<CurlOptions> TransportOptions(const ConnectorSettings& settings) {
  CurlOptions options;
  options.connect_to = settings.connect_to;
  options.ca_file = settings.ca_file;
  options.proxy_ca_file = settings.proxy_ca_file;
  options.proxy = settings.proxy;
  options.no_proxy = settings.no_proxy;
  // libcurl would read these when no proxy is set; the transport never lets it, and says so once.
  std::vector<std::string> ignored;
  for (const char* name : {"HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"}) {
    if (std::getenv(name) != nullptr) ignored.push_back(name);  // the name only: values may hold credentials
  }
  if (!ignored.empty()) {
    log::Warning("proxy environment variables are ignored; the upstream.proxy and upstream.no_proxy settings decide",
                 {{"variables", absl::StrJoin(ignored, ",")}});
  }
  if (settings.proxy.empty()) return options;
  absl::StatusOr<ProxyAddress> proxy = ParseProxyUrl(settings.proxy);
  if (!proxy.ok()) return proxy.status();
  log::Info("upstream through a proxy",
            {{"proxy", proxy->HostPort()}, {"no_proxy", absl::StrJoin(settings.no_proxy, ",")}});
  if (settings.proxy_credentials_file.empty()) return options;
  std::ifstream in(settings.proxy_credentials_file);
  std::stringstream content;
  content << in.rdbuf();
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("upstream.proxy_credentials_file ", settings.proxy_credentials_file, " cannot be read"));
  }
  // Never quoted in an error: the line is the password.
  const std::string line(absl::StripAsciiWhitespace(content.str()));
  const size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0 || absl::StrContains(line, '\n')) {
    return absl::FailedPreconditionError(absl::StrCat(
        "upstream.proxy_credentials_file ", settings.proxy_credentials_file, " must hold one line USER:PASSWORD"));
  }
  options.proxy_user = line.substr(0, colon);
  options.proxy_password = line.substr(colon + 1);
  return options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeTenantConnectorHost(ServerEnvironment& environment,
                                                                     const ConnectorSettings& settings) {
  std::unique_ptr<ConnectionStore> store;
  std::unique_ptr<ConnectionStore> audit_store;
  std::string seal_key;
  if (!settings.state_dir.empty()) {
    absl::StatusOr<std::unique_ptr<ConnectionStore>> opened = ConnectionStore::Open(settings.state_dir);
    if (!opened.ok()) return opened.status();
    store = *std::move(opened);
    absl::StatusOr<int> sealed = store->CountSealed();
    if (!sealed.ok()) return sealed.status();
    std::string key_file =
        settings.seal_key_file.empty() ? absl::StrCat(settings.state_dir, "/seal.key") : settings.seal_key_file;
    absl::StatusOr<std::string> key = LoadSealKey(key_file, *sealed > 0);
    if (!key.ok()) return key.status();
    seal_key = *std::move(key);
    log::Info("state", {{"state_dir", settings.state_dir},
                        {"seal_key_file", key_file},
                        {"stored_connections", std::to_string(*sealed)}});
  } else {
    log::Warning(
        "no state_dir configured: connections and the audit trail are kept in memory only and lost on restart");
    absl::StatusOr<std::unique_ptr<ConnectionStore>> opened = ConnectionStore::OpenInMemory();
    if (!opened.ok()) return opened.status();
    audit_store = *std::move(opened);
  }
  std::unique_ptr<sharepoint::WireLog> wire_log;
  if (!settings.sharepoint_wire_log.empty()) {
    absl::StatusOr<std::unique_ptr<sharepoint::WireLog>> opened =
        sharepoint::WireLog::Open(settings.sharepoint_wire_log);
    if (!opened.ok()) return opened.status();
    wire_log = *std::move(opened);
    log::Warning(
        "the SharePoint wire log is on: every SharePoint admin request and answer is written (secrets "
        "removed); turn it off when you are done",
        {{"sharepoint_wire_log", settings.sharepoint_wire_log}});
  }
  absl::StatusOr<CurlOptions> transport_options = TransportOptions(settings);
  if (!transport_options.ok()) return transport_options.status();
  return std::make_unique<TenantConnectorHost>(environment, settings, *std::move(transport_options), std::move(store),
                                               std::move(audit_store), std::move(seal_key), std::move(wire_log));
}

ServerDefinition TenantConnectorDefinition() {
  auto settings = std::make_shared<ConnectorSettings>();
  ServerDefinition definition;
  definition.name = "tenant-connector";
  definition.summary =
      "Holds the source and target Microsoft 365 tenant connections (every geo) and serves the tenant operations "
      "of the migration steps.";
  definition.metrics_prefix = "tenant_connector";
  definition.default_grpc_address = "127.0.0.1:50051";
  definition.default_metrics_address = "127.0.0.1:9464";
  definition.state_database = [settings] {
    return settings->state_dir.empty() ? std::string() : ConnectionStore::DatabasePath(settings->state_dir);
  };
  definition.declare_settings = [settings](SettingsTable& table) {
    ConnectorSettings& s = *settings;
    table.Text("state_dir", &s.state_dir, "DIR", "directory of the SQLite state file (empty: memory only)");
    table.Text("seal_key_file", &s.seal_key_file, "FILE",
               "32-byte key sealing stored secrets (default STATE_DIR/seal.key)");
    table.Duration("probe_interval", &s.probe_interval, absl::Seconds(1), "how often each connection is probed");
    table.Duration("credential_warning", &s.credential_warning, absl::ZeroDuration(),
                   "how long before a secret or certificate expires its connection warns");
    table.TextList("credential_file_dirs", &s.credential_file_dirs, "DIRS",
                   "absolute directories from which credential files named in requests may be read (default none: "
                   "credentials are passed inline)");
    table.Int("executor_threads", &s.executor_threads, 2, 1024, "most threads running upstream operations");
    table.Text("sharepoint_wire_log", &s.sharepoint_wire_log, "FILE",
               "append every SharePoint admin request and answer to FILE, secrets removed (off by default; see "
               "docs/sharepoint-admin-protocol.md)");
    table.TextList("upstream.connect_to", &s.connect_to, "RULES",
                   "libcurl connect-to rules HOST:PORT:TO_HOST:TO_PORT, e.g. *:443:127.0.0.1:8443");
    table.Text("upstream.ca_file", &s.ca_file, "FILE",
               "PEM CA bundle trusted for upstream HTTPS (default: system store)");
    table.Text("upstream.proxy", &s.proxy, "URL",
               "HTTP CONNECT proxy for every upstream request, http://HOST:PORT or https://HOST:PORT (empty: direct; "
               "HTTPS_PROXY is ignored)");
    table.TextList("upstream.no_proxy", &s.no_proxy, "HOSTS",
                   "host suffixes that go direct despite the proxy, e.g. .svc,.cluster.local (NO_PROXY is ignored)");
    table.Text("upstream.proxy_credentials_file", &s.proxy_credentials_file, "FILE",
               "file holding USER:PASSWORD for the proxy (Basic)");
    table.Text("upstream.proxy_ca_file", &s.proxy_ca_file, "FILE",
               "PEM CA bundle trusted for TLS to an https:// proxy itself (default: system store)");
    table.Duration("upstream.budget", &s.upstream_budget, absl::Seconds(1),
                   "time budget of an upstream operation without a client deadline");
    table.Duration("upstream.refresh_margin", &s.refresh_margin, absl::ZeroDuration(),
                   "how long before an access token expires it is renewed");
    table.Int("upstream.max_attempts", &s.max_attempts, 1, 20,
              "sends per upstream call before giving up on throttling");
    table.Int("upstream.max_concurrency", &s.max_concurrency, 1, 64,
              "upstream requests in flight per tenant and API group");
    table.Duration("upstream.backoff_base", &s.backoff_base, absl::Milliseconds(1),
                   "first back-off when Microsoft sends no Retry-After");
    table.Duration("upstream.backoff_max", &s.backoff_max, absl::Milliseconds(1), "longest back-off between sends");
  };
  definition.validate_config = [settings]() -> absl::Status {
    std::vector<FieldViolation> violations;
    for (const std::string& rule : settings->connect_to) {
      std::vector<std::string> parts = absl::StrSplit(rule, ':');
      if (parts.size() != 4) {
        violations.push_back({"upstream.connect_to", absl::StrCat("\"", rule, "\" must be HOST:PORT:TO_HOST:TO_PORT")});
      }
    }
    if (!settings->proxy.empty()) {
      absl::StatusOr<ProxyAddress> proxy = ParseProxyUrl(settings->proxy);
      if (!proxy.ok()) {
        violations.push_back({"upstream.proxy", std::string(proxy.status().message())});
      } else if (!settings->proxy_ca_file.empty() && proxy->scheme != "https") {
        violations.push_back({"upstream.proxy_ca_file", "is set but upstream.proxy is not an https:// URL"});
      }
    } else {
      if (!settings->proxy_credentials_file.empty()) {
        violations.push_back({"upstream.proxy_credentials_file", "is set but upstream.proxy is empty"});
      }
      if (!settings->proxy_ca_file.empty()) {
        violations.push_back({"upstream.proxy_ca_file", "is set but upstream.proxy is empty"});
      }
    }
    for (const std::string& host : settings->no_proxy) {
      const bool valid =
          host == "*" || (!host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
            return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == ':';
          }));
      if (!valid) {
        violations.push_back(
            {"upstream.no_proxy", absl::StrCat("\"", host, "\" must be a host name suffix (e.g. .svc) or *")});
      }
    }
    for (const std::string& dir : settings->credential_file_dirs) {
      if (dir.empty() || dir[0] != '/') {
        violations.push_back({"credential_file_dirs", absl::StrCat("\"", dir, "\" must be an absolute directory")});
      }
    }
    if (!violations.empty()) return InvalidArgumentWithViolations("invalid tenant-connector settings", violations);
    return absl::OkStatus();
  };
  definition.create = [settings](ServerEnvironment& environment) {
    return MakeTenantConnectorHost(environment, *settings);
  };
  return definition;
}

}  // namespace crosstenant::tenant_connector
