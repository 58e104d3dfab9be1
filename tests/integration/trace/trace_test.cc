// One user's move followed by one trace id: an operator call with a known W3C `traceparent` creates a
// migration of one user through the real mesh (tenant-emulator, tenant-connector, orchestrator, one
// worker as processes), and that trace id is then found in the logs of the orchestrator, the worker
// and the connector, and the client-request-id the connector logged under it at the emulator, with
// the request-id the emulator answered it with. migratectl's own trace reaches the orchestrator too.

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/mesh_processes.h"

namespace crosstenant::testing {
namespace {

namespace v1 = crosstenant::v1;

constexpr char kTraceId[] = "0af7651916cd43dd8448eb211c80319c";
constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
constexpr char kCliTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kCliTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// The JSON log lines of `log` whose trace_id is `trace_id`.
std::vector<nlohmann::json> LinesOfTrace(const std::string& log, const std::string& trace_id) {
  std::vector<nlohmann::json> lines;
  for (absl::string_view text : absl::StrSplit(log, '\n')) {
    nlohmann::json line = nlohmann::json::parse(text, nullptr, false);
    if (line.is_object() && line.value("trace_id", "") == trace_id) lines.push_back(std::move(line));
  }
  return lines;
}

bool AnyLine(const std::vector<nlohmann::json>& lines, const std::string& key, const std::string& value) {
  for (const nlohmann::json& line : lines) {
    if (line.value(key, "") == value) return true;
  }
  return false;
}

TEST(TraceTest, OneUsersMoveIsFoundByTheOperatorsTraceIdInEveryServiceAndAtMicrosoft) {
  MeshSeed seed;
  seed.nam_users = 1;
  seed.move_step = "1s";
  Emulator emulator;
  ASSERT_TRUE(emulator.Start({"--time-scale=60"}, seed.Yaml())) << emulator.error();
  Connector connector;
  ASSERT_TRUE(connector.Start(emulator, "", {"--log-level=debug"})) << connector.error();
  ASSERT_TRUE(connector.ConnectSourceAndTarget()) << connector.error();
  Orchestrator orchestrator;
  ASSERT_TRUE(
      orchestrator.Start(connector.address(), {"--poll-interval=300ms", "--recheck-max=1s", "--log-level=debug"}))
      << orchestrator.error();
  Worker worker;
  ASSERT_TRUE(worker.Start("worker-1", orchestrator.address(), connector.address(), {"--log-level=debug"}))
      << worker.error();

  v1::CreateMigrationRequest request;
  request.set_migration_id("traced");
  request.mutable_plan()->set_source_connection("connections/contoso");
  request.mutable_plan()->set_target_connection("connections/fabrikam");
  request.mutable_plan()->mutable_identity_map()->set_csv(seed.IdentityMapCsv());
  grpc::ClientContext context;
  context.AddMetadata("traceparent", kTraceparent);
  v1::CreateMigrationResponse created;
  const grpc::Status status = orchestrator.stub().CreateMigration(&context, request, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(created.migration().trace_id(), kTraceId);

  v1::Migration migration;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    grpc::ClientContext get_context;
    v1::GetMigrationRequest get;
    get.set_name("migrations/traced");
    v1::GetMigrationResponse got;
    if (orchestrator.stub().GetMigration(&get_context, get, &got).ok()) migration = got.migration();
    if (migration.state() == v1::MIGRATION_STATE_COMPLETED || migration.state() == v1::MIGRATION_STATE_FAILED ||
        migration.state() == v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  EXPECT_EQ(migration.trace_id(), kTraceId);

  // The orchestrator: the operator's call, and the worker's completions of the user's tasks.
  const std::vector<nlohmann::json> orchestrator_lines = LinesOfTrace(orchestrator.Stderr(), kTraceId);
  EXPECT_TRUE(AnyLine(orchestrator_lines, "method", "/crosstenant.v1.Orchestrator/CreateMigration"))
      << orchestrator.Stderr();
  EXPECT_TRUE(AnyLine(orchestrator_lines, "method", "/crosstenant.v1.Orchestrator/CompleteTasks"))
      << orchestrator.Stderr();

  // The worker: the user's start, leased long after the operator's call.
  const std::vector<nlohmann::json> worker_lines = LinesOfTrace(worker.Stderr(), kTraceId);
  EXPECT_TRUE(AnyLine(worker_lines, "kind", "TASK_KIND_START_MOVE")) << worker.Stderr();

  // The connector: the orchestrator's calls for the migration's phases, the worker's call for the user,
  // and the requests to Microsoft with both ids.
  const std::vector<nlohmann::json> connector_lines = LinesOfTrace(connector.Stderr(), kTraceId);
  EXPECT_TRUE(AnyLine(connector_lines, "method", "/crosstenant.v1.TenantConnector/Preflight")) << connector.Stderr();
  EXPECT_TRUE(AnyLine(connector_lines, "method", "/crosstenant.v1.TenantConnector/StartUserContentMove"))
      << connector.Stderr();
  std::map<std::string, std::string> sent;  // client-request-id -> request-id, as the connector logged them
  for (const nlohmann::json& line : connector_lines) {
    if (line.contains("client_request_id")) sent[line["client_request_id"]] = line.value("request_id", "");
  }
  ASSERT_FALSE(sent.empty()) << connector.Stderr();

  // The emulator (Microsoft) received those client-request-ids and answered them with those request-ids.
  const nlohmann::json accounting = emulator.Admin("GET", "/_emulator/accounting");
  int matched = 0;
  for (const nlohmann::json& received : accounting["client_request_ids"]) {
    auto it = sent.find(received.value("client_request_id", ""));
    if (it == sent.end()) continue;
    EXPECT_EQ(received.value("request_id", ""), it->second);
    EXPECT_FALSE(it->second.empty());
    ++matched;
  }
  EXPECT_EQ(matched, static_cast<int>(sent.size())) << accounting["client_request_ids"].dump();

  // No line of any service names the connection's secrets.
  for (const std::string& log : {orchestrator.Stderr(), worker.Stderr(), connector.Stderr()}) {
    EXPECT_FALSE(absl::StrContains(log, kContosoSecret));
    EXPECT_FALSE(absl::StrContains(log, "Bearer ey"));
  }

  // migratectl continues the trace of its environment (TRACEPARENT), sends it, and names it; its streams
  // (--watch follows the migration with WatchMigration) carry it as its unary calls do.
  const std::string command = absl::StrCat(
      "TRACEPARENT=", kCliTraceparent, " ", CROSSTENANT_BIN_DIR, "/migratectl migrate status traced --watch",
      " --orchestrator=", orchestrator.address(), " --connector=", connector.address(), " --verbose 2>&1");
  std::string output;
  if (FILE* pipe = popen(command.c_str(), "r"); pipe != nullptr) {
    char buffer[4096];
    size_t read = 0;
    while ((read = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, read);
    pclose(pipe);
  }
  EXPECT_TRUE(absl::StrContains(output, absl::StrCat("migratectl: trace_id ", kCliTraceId))) << output;
  const std::vector<nlohmann::json> cli_lines = LinesOfTrace(orchestrator.Stderr(), kCliTraceId);
  EXPECT_TRUE(AnyLine(cli_lines, "method", "/crosstenant.v1.Orchestrator/GetMigration")) << output;
  EXPECT_TRUE(AnyLine(cli_lines, "method", "/crosstenant.v1.Orchestrator/WatchMigration")) << output;
}

// A malformed traceparent never fails a call: the server starts a trace of its own.
TEST(TraceTest, AMalformedTraceparentStartsANewTrace) {
  Emulator emulator;
  ASSERT_TRUE(emulator.Start()) << emulator.error();
  Connector connector;
  ASSERT_TRUE(connector.Start(emulator, "", {"--log-level=debug"})) << connector.error();
  grpc::ClientContext context;
  context.AddMetadata("traceparent", "00-00000000000000000000000000000000-b7ad6b7169203331-01");
  v1::ListConnectionsRequest request;
  v1::ListConnectionsResponse response;
  const grpc::Status status = connector.stub().ListConnections(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  bool traced = false;
  for (absl::string_view text : absl::StrSplit(connector.Stderr(), '\n')) {
    nlohmann::json line = nlohmann::json::parse(text, nullptr, false);
    if (!line.is_object() || line.value("method", "") != "/crosstenant.v1.TenantConnector/ListConnections") continue;
    const std::string trace_id = line.value("trace_id", "");
    EXPECT_EQ(trace_id.size(), 32u) << text;
    EXPECT_NE(trace_id, "00000000000000000000000000000000");
    traced = true;
  }
  EXPECT_TRUE(traced) << connector.Stderr();
}

}  // namespace
}  // namespace crosstenant::testing
