// Fuzzes ConfigReader, the YAML config reader every server uses (and the migratectl plan file will),
// with a server's schema: the common keys (ReadServerConfig) plus the tenant connector's own keys, as
// services/tenant_connector/grpc/tenant_connector_host.cc reads them, and a list of mappings as a plan
// has (`migrations: [{name, users, dry_run, ratio, max_bytes}]`), so that every Read overload, Section
// and Items run on hostile YAML.
//
// Besides crashes and sanitizer reports it checks that a refusal is INVALID_ARGUMENT naming the file,
// and that an address read without error is split by SplitHostPort without crashing.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "services/common/config_reader.h"
#include "services/common/server_config.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr char kSource[] = "fuzz.yaml";

// The tenant connector's own keys (tenant_connector_host.cc).
struct ConnectorKeys {
  std::string state_dir, seal_key_file, ca_file;
  absl::Duration probe_interval, credential_warning, budget, refresh_margin, backoff_base, backoff_max;
  std::vector<std::string> connect_to;
  int executor_threads = 16, max_attempts = 5, max_concurrency = 1;
};

void ReadConnectorKeys(crosstenant::ConfigReader& reader, ConnectorKeys* keys) {
  reader.Read("state_dir", &keys->state_dir);
  reader.Read("seal_key_file", &keys->seal_key_file);
  reader.Read("probe_interval", &keys->probe_interval);
  reader.Read("credential_warning", &keys->credential_warning);
  reader.Read("executor_threads", &keys->executor_threads, 2, 1024);
  crosstenant::ConfigReader upstream = reader.Section("upstream");
  upstream.Read("connect_to", &keys->connect_to);
  upstream.Read("ca_file", &keys->ca_file);
  upstream.Read("budget", &keys->budget);
  upstream.Read("refresh_margin", &keys->refresh_margin);
  upstream.Read("max_attempts", &keys->max_attempts, 1, 20);
  upstream.Read("max_concurrency", &keys->max_concurrency, 1, 64);
  upstream.Read("backoff_base", &keys->backoff_base);
  upstream.Read("backoff_max", &keys->backoff_max);
}

// A plan-like list of mappings: the remaining overloads (bool, int64, double) and Items.
void ReadPlanLikeItems(crosstenant::ConfigReader& reader) {
  for (crosstenant::ConfigReader& item : reader.Items("migrations")) {
    std::string name;
    bool dry_run = false;
    int64_t max_bytes = 0;
    double ratio = 0;
    std::vector<std::string> users;
    item.Read("name", &name);
    item.Read("dry_run", &dry_run);
    item.Read("max_bytes", &max_bytes, 0, int64_t{1} << 50);
    item.Read("ratio", &ratio, 0.0, 1.0);
    item.Read("users", &users);
    crosstenant::ConfigReader schedule = item.Section("schedule");
    absl::Duration every;
    schedule.Read("every", &every);
    if (name == "bad") item.AddError("name", "may not be 'bad'");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<crosstenant::ConfigReader> reader = crosstenant::ConfigReader::FromString(text, kSource);
  if (!reader.ok()) {
    FUZZ_CHECK(reader.status().code() == absl::StatusCode::kInvalidArgument, reader.status());
    FUZZ_CHECK(absl::StartsWith(reader.status().message(), kSource), "names no file: " << reader.status());
    return 0;
  }
  crosstenant::ServerConfig server;
  crosstenant::ReadServerConfig(*reader, &server);
  ConnectorKeys connector;
  ReadConnectorKeys(*reader, &connector);
  ReadPlanLikeItems(*reader);
  absl::Status finished = reader->Finish();
  if (!finished.ok()) {
    FUZZ_CHECK(finished.code() == absl::StatusCode::kInvalidArgument, finished);
    FUZZ_CHECK(absl::StrContains(finished.message(), kSource), "names no file: " << finished);
    return 0;
  }
  FUZZ_CHECK(connector.executor_threads >= 2 && connector.executor_threads <= 1024, "range not enforced");
  FUZZ_CHECK(server.shutdown_grace >= absl::ZeroDuration(), "a negative duration was accepted");
  for (const std::string* address : {&server.grpc_address, &server.metrics_address, &server.health_address}) {
    std::string host;
    int port = -1;
    if (crosstenant::SplitHostPort(*address, &host, &port)) {
      FUZZ_CHECK(port >= 0 && port <= 65535, "port " << port << " from " << *address);
    }
  }
  return 0;
}
