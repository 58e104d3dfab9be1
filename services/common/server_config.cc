#include "services/common/server_config.h"

#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/errors.h"

namespace crosstenant {
namespace {

FlagSet::Setter StringSetter(std::string* out) {
  return [out](absl::string_view value) {
    *out = std::string(value);
    return absl::OkStatus();
  };
}

}  // namespace

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

void ReadServerConfig(ConfigReader& reader, ServerConfig* config) {
  reader.Read("grpc_address", &config->grpc_address);
  reader.Read("metrics_address", &config->metrics_address);
  reader.Read("health_address", &config->health_address);
  reader.Read("ready_file", &config->ready_file);
  std::string log_format;
  reader.Read("log_format", &log_format);
  if (!log_format.empty() && !log::ParseFormat(log_format, &config->log_format)) {
    reader.AddError("log_format", absl::StrCat("expected json or text, got '", log_format, "'"));
  }
  std::string log_level;
  reader.Read("log_level", &log_level);
  if (!log_level.empty() && !log::ParseSeverity(log_level, &config->log_level)) {
    reader.AddError("log_level", absl::StrCat("expected debug, info, warning or error, got '", log_level, "'"));
  }
  reader.Read("shutdown_grace", &config->shutdown_grace);
  ConfigReader tls = reader.Section("tls");
  tls.Read("cert", &config->tls.cert_file);
  tls.Read("key", &config->tls.key_file);
  tls.Read("ca", &config->tls.ca_file);
  tls.Read("reload_interval", &config->tls.reload_interval);
  tls.Read("allowed_peers", &config->tls.allowed_peers);
  ReadAuthorizationConfig(reader, &config->authorization);
}

void AddServerFlags(FlagSet& flags, ServerConfig* config) {
  flags.Add("grpc-address", "HOST:PORT", "gRPC listen address (port 0 picks a free port)",
            StringSetter(&config->grpc_address));
  flags.Add("metrics-address", "HOST:PORT", "Prometheus /metrics listen address; empty turns it off",
            StringSetter(&config->metrics_address));
  flags.Add("health-address", "HOST:PORT", "plaintext health-only gRPC address for Kubernetes probes",
            StringSetter(&config->health_address));
  flags.Add("ready-file", "FILE", "written atomically once serving: JSON with the bound addresses",
            StringSetter(&config->ready_file));
  flags.Add("log-format", "json|text", "log line format on stderr", [config](absl::string_view value) {
    if (!log::ParseFormat(value, &config->log_format)) return absl::InvalidArgumentError("expected json or text");
    return absl::OkStatus();
  });
  flags.Add("log-level", "debug|info|warning|error", "the least severe log lines written (default info)",
            [config](absl::string_view value) {
              if (!log::ParseSeverity(value, &config->log_level)) {
                return absl::InvalidArgumentError("expected debug, info, warning or error");
              }
              return absl::OkStatus();
            });
  flags.Add("shutdown-grace", "DURATION", "time in-flight RPCs get after SIGTERM, e.g. 10s",
            [config](absl::string_view value) {
              absl::Duration grace;
              if (!absl::ParseDuration(value, &grace) || grace < absl::ZeroDuration()) {
                return absl::InvalidArgumentError("expected a duration such as 10s");
              }
              config->shutdown_grace = grace;
              return absl::OkStatus();
            });
  flags.Add("tls-cert", "FILE", "server certificate (PEM); with --tls-key and --tls-ca turns on mTLS",
            StringSetter(&config->tls.cert_file));
  flags.Add("tls-key", "FILE", "server private key (PEM)", StringSetter(&config->tls.key_file));
  flags.Add("tls-ca", "FILE", "CA bundle (PEM) that client certificates must chain to",
            StringSetter(&config->tls.ca_file));
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
    if (config.tls.reload_interval < absl::Seconds(1)) {
      violations.push_back({"tls.reload_interval", "must be at least 1s"});
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
