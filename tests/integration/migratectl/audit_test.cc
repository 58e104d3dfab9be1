// The connector's audit trail end to end, with the real binaries: calls made with migratectl are
// recorded (caller, action, target, request id, outcome; no secret), `migratectl audit list` shows
// them, the trail survives a restart and keeps chaining, and `migratectl audit verify` names the record
// that was changed or deleted in the database while the connector was down.

#include <sqlite3.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/integration/migratectl/mesh.h"

namespace crosstenant::migratectl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kExitAuditChainBroken = 11;

// One JSON object per line, as `audit list -o jsonl` prints.
std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

// Runs `sql` on the connector's state file (the connector is stopped), as someone with the file could.
void Tamper(const std::string& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/connector-state/tenant-connector.db").c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "") << " in " << sql;
  sqlite3_free(error);
  sqlite3_close(db);
}

TEST(MigratectlAuditTest, ConnectorTrailIsListedKeptAndVerified) {
  Mesh mesh;
  ASSERT_TRUE(mesh.StartTenantSide());
  ASSERT_TRUE(mesh.ConnectBoth());  // CreateConnection contoso, fabrikam
  // A client secret, which must never reach the trail.
  const std::string secret_file = mesh.WriteFile("contoso.secret", std::string(kContosoSecret) + "\n");
  CliResult secret =
      mesh.Run({"connect", "--role=source", "https://contoso-admin.sharepoint.com", "--id=contoso-secret",
                std::string("--client-id=") + kContosoApp, "--client-secret-file=" + secret_file});
  ASSERT_EQ(secret.exit_code, 0) << secret.out << secret.err;
  CliResult missing = mesh.Run({"connections", "delete", "nosuch"});  // a call that fails
  EXPECT_EQ(missing.exit_code, 4) << missing.out << missing.err;
  CliResult deleted = mesh.Run({"connections", "delete", "fabrikam"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.out << deleted.err;

  CliResult jsonl = mesh.Run({"audit", "list", "--service=connector", "-o", "jsonl"});
  ASSERT_EQ(jsonl.exit_code, 0) << jsonl.out << jsonl.err;
  std::vector<nlohmann::json> records = JsonLines(jsonl.out);
  ASSERT_EQ(records.size(), 5u) << jsonl.out;
  const std::vector<std::pair<std::string, std::string>> expected = {{"CreateConnection", "connections/contoso"},
                                                                     {"CreateConnection", "connections/fabrikam"},
                                                                     {"CreateConnection", "connections/contoso-secret"},
                                                                     {"DeleteConnection", "connections/nosuch"},
                                                                     {"DeleteConnection", "connections/fabrikam"}};
  for (size_t i = 0; i < records.size(); ++i) {
    const nlohmann::json& record = records[i];
    EXPECT_EQ(record.value("sequence", ""), std::to_string(i + 1)) << record;  // int64: a JSON string
    EXPECT_EQ(record.value("service", ""), "tenant-connector");
    EXPECT_EQ(record.value("action", ""), expected[i].first);
    EXPECT_EQ(record.value("target", ""), expected[i].second);
    EXPECT_THAT(record.value("caller", ""), HasSubstr("migratectl"));  // the client certificate's names
    EXPECT_EQ(record.value("request_id", "").size(), 36u) << record;   // migratectl's UUIDs
    EXPECT_EQ(record.value("trace_id", "").size(), 32u) << record;
    EXPECT_EQ(record.value("hash", "").size(), 64u);
  }
  EXPECT_EQ(records[3].value("outcome", ""), "NOT_FOUND");
  EXPECT_THAT(records[3].value("outcome_message", ""), HasSubstr("nosuch"));
  EXPECT_EQ(records[4].value("outcome", ""), "OK");
  EXPECT_EQ(records[4].value("previous_hash", ""), records[3].value("hash", ""));
  EXPECT_THAT(jsonl.out, Not(HasSubstr(kContosoSecret)));
  EXPECT_THAT(jsonl.out, Not(HasSubstr("PRIVATE KEY")));

  CliResult table = mesh.Run({"audit", "list", "--service=connector", "--failures"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("TIME"));
  EXPECT_THAT(table.out, HasSubstr("REQUEST ID"));
  EXPECT_THAT(table.out, HasSubstr("connections/nosuch"));
  EXPECT_THAT(table.out, HasSubstr("1 record(s)"));
  CliResult by_target = mesh.Run({"audit", "list", "--service=connector", "--target=connections/fabrikam", "-o=jsonl"});
  EXPECT_EQ(JsonLines(by_target.out).size(), 2u) << by_target.out << by_target.err;
  CliResult bad = mesh.Run({"audit", "list", "--since=yesterday"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("RFC 3339"));

  CliResult verify = mesh.Run({"audit", "verify", "--service=connector"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  const std::string hash5 = records[4].value("hash", "");
  EXPECT_THAT(verify.out,
              HasSubstr("tenant-connector: 5 record(s) checked, chain intact; last record 5 hash " + hash5));

  // Kept across a restart, and the next record chains to the last one before it.
  ASSERT_TRUE(mesh.StopConnector());
  ASSERT_TRUE(mesh.StartConnector());
  CliResult again = mesh.Run({"connections", "delete", "contoso-secret"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  records = JsonLines(mesh.Run({"audit", "list", "--service=connector", "-o", "jsonl"}).out);
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(records[5].value("previous_hash", ""), hash5);
  const std::string hash6 = records[5].value("hash", "");
  verify = mesh.Run({"audit", "verify", "--service=connector", "--expect-last=6:" + hash6});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("6 record(s) checked, chain intact"));

  // A caller changed in the database (the trigger dropped first): verify names record 2.
  const std::string caller2 = records[1].value("caller", "");
  ASSERT_TRUE(mesh.StopConnector());
  Tamper(mesh.dir(),
         "DROP TRIGGER audit_records_never_updated; UPDATE audit_records SET caller = 'mallory' WHERE sequence = 2");
  ASSERT_TRUE(mesh.StartConnector());
  verify = mesh.Run({"audit", "verify", "--service=connector"});
  EXPECT_EQ(verify.exit_code, kExitAuditChainBroken) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("tenant-connector: BROKEN"));
  EXPECT_THAT(verify.err, HasSubstr("DATA_LOSS: tenant-connector audit record 2: its content does not match its hash"));

  // Put back, then the last record deleted: the shorter chain is intact, and only the noted last
  // record shows the loss.
  ASSERT_TRUE(mesh.StopConnector());
  Tamper(mesh.dir(), absl::StrCat("DROP TRIGGER audit_records_never_updated; DROP TRIGGER audit_records_never_deleted; "
                                  "UPDATE audit_records SET caller = '",
                                  caller2, "' WHERE sequence = 2; DELETE FROM audit_records WHERE sequence = 6"));
  ASSERT_TRUE(mesh.StartConnector());
  verify = mesh.Run({"audit", "verify", "--service=connector"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  verify = mesh.Run({"audit", "verify", "--service=connector", "--expect-last=6:" + hash6});
  EXPECT_EQ(verify.exit_code, kExitAuditChainBroken) << verify.out << verify.err;
  EXPECT_THAT(verify.err, HasSubstr("ends at record 5, before the noted record 6"));

  // A record deleted from the middle: the record after the gap is named.
  ASSERT_TRUE(mesh.StopConnector());
  Tamper(mesh.dir(), "DROP TRIGGER audit_records_never_deleted; DELETE FROM audit_records WHERE sequence = 3");
  ASSERT_TRUE(mesh.StartConnector());
  verify = mesh.Run({"audit", "verify", "--service=connector"});
  EXPECT_EQ(verify.exit_code, kExitAuditChainBroken) << verify.out << verify.err;
  EXPECT_THAT(verify.err, HasSubstr("tenant-connector audit record 4: records 3 to 3 are missing"));
}

// A server without ListAuditRecords (here a connector asked for the orchestrator's trail) is named as
// having no audit trail, and the other trail is still listed: a connector without a state directory
// keeps its trail in memory.
TEST(MigratectlAuditTest, ServerWithoutATrailIsNamedNotFatal) {
  TempDir dir;
  ServerProcess connector(crosstenant::testing::BinaryPath("tenant-connector"),
                          {"--grpc-address=127.0.0.1:0", "--metrics-address=", "--ready-file=" + dir.path() + "/ready",
                           "--log-format=json"},
                          dir.path());
  auto ready = connector.WaitForReadyFile(dir.path() + "/ready");
  ASSERT_TRUE(ready) << connector.Stderr();
  const std::string address = (*ready)["grpc_address"].get<std::string>();
  Mesh cli;  // only to run migratectl; no server of its own is started
  for (const char* name : {"MIGRATECTL_TLS_CA", "MIGRATECTL_TLS_CERT", "MIGRATECTL_TLS_KEY", "MIGRATECTL_FORMAT"}) {
    unsetenv(name);
  }
  CliResult missing = cli.Run({"connections", "delete", "nosuch", "--connector=" + address});
  EXPECT_EQ(missing.exit_code, 4) << missing.err;
  CliResult list = cli.Run({"audit", "list", "--connector=" + address, "--orchestrator=" + address, "-o", "jsonl"});
  EXPECT_EQ(list.exit_code, 0) << list.out << list.err;
  EXPECT_THAT(list.err, HasSubstr("the orchestrator at " + address + " has no audit trail"));
  std::vector<nlohmann::json> records = JsonLines(list.out);
  ASSERT_EQ(records.size(), 1u) << list.out;
  EXPECT_EQ(records[0].value("action", ""), "DeleteConnection");
  EXPECT_EQ(records[0].value("caller", ""), "");  // no TLS, no caller identity
  CliResult verify = cli.Run({"audit", "verify", "--service=orchestrator", "--orchestrator=" + address});
  EXPECT_EQ(verify.exit_code, 10) << verify.out << verify.err;  // nothing to verify is not a success
}

}  // namespace
}  // namespace crosstenant::migratectl::testing
