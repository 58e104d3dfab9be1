// Backup and restore as docs/deploy.md describes them: a migration paused halfway, both state databases
// copied with `--backup-to` while their servers keep serving, then the connector and the orchestrator
// lost with their files; fresh ones started on the copies (and the connector's seal key) pick up the same
// connections and the same migration, which resumes and ends in agreement with Microsoft's record: no
// user lost, none started twice.

#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/integration/migration/migration_fixture.h"

namespace crosstenant::testing {
namespace {

namespace fs = std::filesystem;

class BackupRestoreTest : public MigrationTest {
 protected:
  // Runs `binary` with `args` to its exit; its exit code, and its stdout in `out` (a file of the test).
  int RunToExit(const std::string& binary, std::vector<std::string> args, std::string* log) {
    const std::string out = work_.path() + "/" + binary + ".out";
    args.insert(args.begin(), BinaryPath(binary));
    std::string command;
    for (const std::string& arg : args) absl::StrAppend(&command, "'", arg, "' ");
    absl::StrAppend(&command, "> ", out, " 2>&1");
    const int status = std::system(command.c_str());
    std::ifstream in(out);
    log->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return WEXITSTATUS(status);
  }

  TempDir work_;
};

TEST_F(BackupRestoreTest, AFreshConnectorAndOrchestratorOnTheBackupsResumeThePausedMigrationToItsEnd) {
  const std::string name = "migrations/restore";
  const v1::Migration at_backup = StartAndPauseHalfway();
  ASSERT_EQ(at_backup.state(), v1::MIGRATION_STATE_PAUSED);
  ASSERT_LT(Count(at_backup, v1::USER_MOVE_STATE_SUCCESS), seed_.nam_users + seed_.eur_users) << "not done yet";

  // The backups, taken while both servers still serve from their files.
  const std::string backups = work_.path() + "/backups";
  fs::create_directories(backups);
  const std::string connector_state = connector_state_.path() + "/state";
  std::string log;
  ASSERT_EQ(RunToExit("tenant-connector",
                      {"--state-dir=" + connector_state, "--backup-to=" + backups + "/tenant-connector.db"}, &log),
            0)
      << log;
  const nlohmann::json connector_backup = nlohmann::json::parse(log);
  EXPECT_GT(connector_backup["bytes"].get<int64_t>(), 0);
  ASSERT_EQ(
      RunToExit("orchestrator",
                {"--sqlite-path=" + orchestrator_.db_path(), "--backup-to=" + backups + "/orchestrator.db"}, &log),
      0)
      << log;
  EXPECT_GT(nlohmann::json::parse(log)["bytes"].get<int64_t>(), 0);
  fs::copy_file(connector_state + "/seal.key", backups + "/seal.key");

  // Misuse is refused, naming why: a copy over the live file, and a server with no SQLite state.
  EXPECT_NE(RunToExit("orchestrator",
                      {"--sqlite-path=" + orchestrator_.db_path(), "--backup-to=" + orchestrator_.db_path()}, &log),
            0);
  EXPECT_NE(log.find("is the database itself"), std::string::npos) << log;
  EXPECT_EQ(RunToExit("tenant-connector", {"--backup-to=" + backups + "/none.db"}, &log), 2);
  EXPECT_NE(log.find("keep no state in SQLite"), std::string::npos) << log;

  // Both servers are lost with their files.
  EXPECT_EQ(connector_.Stop(), 0);
  orchestrator_.Kill();
  fs::remove_all(connector_state);
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(orchestrator_.db_path() + suffix);

  // Restore: the copies (and the seal key) in place, fresh processes at the same addresses.
  const std::string restored_state = work_.path() + "/restored-connector";
  fs::create_directories(restored_state);
  fs::copy_file(backups + "/tenant-connector.db", restored_state + "/tenant-connector.db");
  fs::copy_file(backups + "/seal.key", restored_state + "/seal.key");
  fs::permissions(restored_state + "/seal.key", fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_TRUE(connector_.Start(emulator_, restored_state, {"--grpc-address=" + connector_address_}))
      << connector_.error();
  fs::copy_file(backups + "/orchestrator.db", orchestrator_.db_path());
  ASSERT_TRUE(StartOrchestrator());

  for (const char* connection : {"connections/contoso", "connections/fabrikam"}) {
    grpc::ClientContext context;
    v1::GetConnectionRequest request;
    request.set_name(connection);
    v1::GetConnectionResponse got;
    ASSERT_TRUE(connector_.stub().GetConnection(&context, request, &got).ok()) << connection;
    EXPECT_EQ(got.connection().state(), v1::CONNECTION_STATE_CONNECTED)
        << connection << ": its sealed credential opens";
  }
  const v1::Migration restored = Get(name);
  EXPECT_EQ(restored.state(), v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(restored.counts().DebugString(), at_backup.counts().DebugString()) << "the state at the backup";

  ASSERT_TRUE(Resume(name));
  const v1::Migration migration = WaitUntil(name, Ended, absl::Seconds(180));
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  ExpectFinalStatesMatchEmulator(name);
}

}  // namespace
}  // namespace crosstenant::testing
