// Fuzzes ConfigReader, the YAML config reader every server uses (and the migratectl plan file), with a
// server's settings table: the common settings (DeclareServerSettings) plus keys of every kind a
// service declares (text, lists, whole numbers, durations, sections), and a list of mappings as a plan
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
#include "services/common/settings_table.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr char kSource[] = "fuzz.yaml";

// Keys of the kinds the tenant connector declares (tenant_connector_host.cc).
struct ConnectorKeys {
  std::string state_dir, ca_file;
  absl::Duration probe_interval = absl::Minutes(5), budget = absl::Seconds(60);
  std::vector<std::string> connect_to;
  int executor_threads = 16, max_attempts = 5;
};

void DeclareConnectorKeys(crosstenant::SettingsTable& table, ConnectorKeys* keys) {
  table.Text("state_dir", &keys->state_dir, "DIR", "");
  table.Duration("probe_interval", &keys->probe_interval, absl::Seconds(1), "");
  table.Int("executor_threads", &keys->executor_threads, 2, 1024, "");
  table.TextList("upstream.connect_to", &keys->connect_to, "RULES", "");
  table.Text("upstream.ca_file", &keys->ca_file, "FILE", "");
  table.Duration("upstream.budget", &keys->budget, absl::Seconds(1), "");
  table.Int("upstream.max_attempts", &keys->max_attempts, 1, 20, "");
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
  ConnectorKeys connector;
  crosstenant::SettingsTable table("fuzz", "");
  crosstenant::DeclareServerSettings(table, &server);
  DeclareConnectorKeys(table, &connector);
  table.ReadConfig(*reader);
  ReadPlanLikeItems(*reader);
  absl::Status finished = reader->Finish();
  if (!finished.ok()) {
    FUZZ_CHECK(finished.code() == absl::StatusCode::kInvalidArgument, finished);
    FUZZ_CHECK(absl::StrContains(finished.message(), kSource), "names no file: " << finished);
    return 0;
  }
  FUZZ_CHECK(connector.executor_threads >= 2 && connector.executor_threads <= 1024, "range not enforced");
  FUZZ_CHECK(server.shutdown_grace >= absl::ZeroDuration(), "a negative duration was accepted");
  FUZZ_CHECK(connector.probe_interval >= absl::Seconds(1), "a duration below its minimum was accepted");
  for (const std::string* address : {&server.grpc_address, &server.metrics_address, &server.health_address}) {
    std::string host;
    int port = -1;
    if (crosstenant::SplitHostPort(*address, &host, &port)) {
      FUZZ_CHECK(port >= 0 && port <= 65535, "port " << port << " from " << *address);
    }
  }
  return 0;
}
