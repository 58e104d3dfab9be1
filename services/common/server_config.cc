#include "services/common/server_config.h"

#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/errors.h"

namespace crosstenant {
namespace {}  // namespace

bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string h = address.substr(0, colon);
  if (h.front() == '[') {
    if (h.back() != ']' || h.size() < 3) return false;
  } else if (h.find(':') != std::string::npos) {
    return false;  // a bare IPv6 address must be bracketed
  }
  int p = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &p) || p < 0 || p > 65535) return false;
  *host = h;
  *port = p;
  return true;
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "[::1]" || absl::StartsWith(host, "127.");
}

void DeclareServerSettings(SettingsTable& table, ServerConfig* config) {
  table.Text("grpc_address", &config->grpc_address, "HOST:PORT", "gRPC listen address (port 0 picks a free port)");
  table.Text("metrics_address", &config->metrics_address, "HOST:PORT",
             "Prometheus /metrics listen address; empty turns it off");
  table.Text("health_address", &config->health_address, "HOST:PORT",
             "plaintext health-only gRPC address for Kubernetes probes");
  table.Text("ready_file", &config->ready_file, "FILE",
             "written atomically once serving: JSON with the bound addresses");
  table.Custom("log_format", "json|text", "text", "log line format on stderr", [config](absl::string_view value) {
    if (!log::ParseFormat(value, &config->log_format)) {
      return absl::InvalidArgumentError(absl::StrCat("expected json or text, got '", value, "'"));
    }
    return absl::OkStatus();
  });
  table.Custom(
      "log_level", "debug|info|warning|error", "info", "the least severe log lines written",
      [config](absl::string_view value) {
        if (!log::ParseSeverity(value, &config->log_level)) {
          return absl::InvalidArgumentError(absl::StrCat("expected debug, info, warning or error, got '", value, "'"));
        }
        return absl::OkStatus();
      });
  table.Duration("shutdown_grace", &config->shutdown_grace, absl::ZeroDuration(),
                 "time in-flight RPCs get after SIGTERM");
  table.Text("tls.cert", &config->tls.cert_file, "FILE",
             "server certificate (PEM); with tls.key and tls.ca turns on mTLS");
  table.Text("tls.key", &config->tls.key_file, "FILE", "server private key (PEM)");
  table.Text("tls.ca", &config->tls.ca_file, "FILE", "CA bundle (PEM) that client certificates must chain to");
  table.Duration("tls.reload_interval", &config->tls.reload_interval, absl::Seconds(1),
                 "how often the certificate files are looked at for a renewal");
  table.TextList("tls.allowed_peers", &config->tls.allowed_peers, "IDS",
                 "client identities admitted at all (certificate names or SPIFFE URIs; empty: any the CA signed)");
  table.Section("authorization", "roles of the client identities: docs/deploy.md, Authorization",
                [config](ConfigReader& reader) { ReadAuthorizationConfig(reader, &config->authorization); });
}

absl::Status ValidateServerConfig(const ServerConfig& config) {
  std::vector<FieldViolation> violations;
  auto check_address = [&violations](const char* field, const std::string& address, bool required) {
    std::string host;
    int port = 0;
    if (address.empty()) {
      if (required) violations.push_back({field, "is required: give HOST:PORT, e.g. 127.0.0.1:50051"});
      return;
    }
    if (!SplitHostPort(address, &host, &port)) {
      violations.push_back({field, absl::StrCat("'", address, "' is not HOST:PORT (e.g. 0.0.0.0:50051 or [::]:0)")});
    }
  };
  check_address("grpc_address", config.grpc_address, true);
  check_address("metrics_address", config.metrics_address, false);
  check_address("health_address", config.health_address, false);
  if (config.tls.enabled()) {
    const std::pair<const char*, const std::string*> files[] = {
        {"tls.cert", &config.tls.cert_file}, {"tls.key", &config.tls.key_file}, {"tls.ca", &config.tls.ca_file}};
    for (const auto& [field, path] : files) {
      if (path->empty()) {
        violations.push_back(
            {field, "mTLS needs all three of tls.cert, tls.key and tls.ca (--tls-cert/--tls-key/--tls-ca)"});
      } else if (access(path->c_str(), R_OK) != 0) {
        violations.push_back({field, absl::StrCat("cannot read ", *path)});
      }
    }
  }
  // Plaintext carries no caller identity, so every call would be allowed: only on loopback, unless
  // the config says it explicitly.
  std::string grpc_host;
  int grpc_port = 0;
  if (!config.tls.enabled() && !config.authorization.allow_plaintext &&
      SplitHostPort(config.grpc_address, &grpc_host, &grpc_port) && !IsLoopbackHost(grpc_host)) {
    violations.push_back(
        {"grpc_address", absl::StrCat("'", config.grpc_address,
                                      "' is not a loopback address and TLS is off, so every caller could call "
                                      "every RPC: set tls.cert, tls.key and tls.ca (--tls-cert/--tls-key/--tls-ca), "
                                      "listen on 127.0.0.1, or set authorization.allow_plaintext: true")});
  }
  if (violations.empty()) return absl::OkStatus();
  return InvalidArgumentWithViolations("invalid server settings", violations);
}

}  // namespace crosstenant
