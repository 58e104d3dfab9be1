// The operator's work on an orchestrator whose state is in PostgreSQL, with the real binaries and a real
// PostgreSQL 15 server:
//
// - Backup and restore as docs/deploy.md describes them: a migration paused halfway, its database dumped
//   with the real `pg_dump --format=custom` while the orchestrator keeps serving, the orchestrator killed
//   and its database dropped, the dump restored with the documented `pg_restore` command into a fresh
//   database, and a fresh orchestrator on it sees the paused migration with the counts of the backup,
//   resumes it and ends in agreement with Microsoft's record: no user lost, none started twice. The
//   connector keeps running throughout: its state is SQLite, whose backup backup_restore_test covers.
// - The server refusing writes as it does when its disk is full: a full disk cannot be made without
//   privileges, so a trigger on the events table (which every recorded change writes) raises the server's
//   own disk_full error, SQLSTATE 53100. The orchestrator must say so (orchestrator_store_full 1, the
//   refusals counted, an operator's write refused RESOURCE_EXHAUSTED saying why and never showing the
//   password), stop instead of working on without recording, and carry on by itself to the end with
//   nothing lost once the server takes writes again.
//
// The PostgreSQL tools get the password from a password file named by PGPASSFILE, never on a command line.

#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/orchestrator/store/postgres.h"
#include "tests/integration/migration/migration_fixture.h"
#include "tests/support/test_postgres.h"

namespace crosstenant::testing {
namespace {

namespace fs = std::filesystem;
using orchestrator::PgConnection;
using orchestrator::PgResult;

// A word quoted for sh.
std::string ShellQuoted(const std::string& word) {
  return absl::StrCat("'", absl::StrReplaceAll(word, {{"'", "'\\''"}}), "'");
}

// `dsn` split into a connection string without its password, and the password.
struct SplitDsn {
  std::string without_password;
  std::string password;
};
SplitDsn SplitPassword(const std::string& dsn) {
  SplitDsn split;
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    ADD_FAILURE() << "the test database's connection string is malformed";
    return split;
  }
  std::vector<std::string> pairs;
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr || *option->val == '\0') continue;
    const std::string keyword = option->keyword;
    if (keyword == "password") {
      split.password = option->val;
      continue;
    }
    pairs.push_back(absl::StrCat(keyword, "='", absl::StrReplaceAll(option->val, {{"\\", "\\\\"}, {"'", "\\'"}}), "'"));
  }
  PQconninfoFree(options);
  split.without_password = absl::StrJoin(pairs, " ");
  return split;
}

// A mesh whose orchestrator keeps its state in a fresh PostgreSQL database of its own.
class PostgresOperationsTest : public MigrationTest {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestPostgresDatabase>> database = TestPostgresDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = std::move(*database);
    UseDatabase(*database_);
  }

  // Points every later start of the orchestrator at `database`, and the PostgreSQL tools too.
  void UseDatabase(const TestPostgresDatabase& database) {
    const std::string dsn_file = secrets_.WriteFile("postgres-dsn", database.dsn());
    orchestrator_flags_ = {"--store=postgres", "--postgres-dsn-file=" + dsn_file};
    const SplitDsn split = SplitPassword(database.dsn());
    tool_connection_ = split.without_password;
    password_ = split.password;
    // hostname:port:database:username:password, every field a wildcard but the password.
    password_file_ = secrets_.WriteFile(
        "pgpass", absl::StrCat("*:*:*:*:", absl::StrReplaceAll(password_, {{"\\", "\\\\"}, {":", "\\:"}}), "\n"));
    fs::permissions(password_file_, fs::perms::owner_read | fs::perms::owner_write);
  }

  // Runs a PostgreSQL client tool, /usr/bin/`tool` with `args`, to its exit, with the password file; its
  // exit code, and its output in `log`.
  int RunPostgresTool(const std::string& tool, const std::vector<std::string>& args, std::string* log) {
    const std::string out = work_.path() + "/" + tool + ".out";
    std::string command = absl::StrCat("PGPASSFILE=", ShellQuoted(password_file_), " /usr/bin/", tool);
    for (const std::string& arg : args) absl::StrAppend(&command, " ", ShellQuoted(arg));
    absl::StrAppend(&command, " > ", ShellQuoted(out), " 2>&1");
    EXPECT_FALSE(absl::StrContains(command, password_)) << "a password on a command line";
    const int status = std::system(command.c_str());
    std::ifstream in(out);
    log->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // A connection of the test's own to the orchestrator's database.
  std::unique_ptr<PgConnection> Connect(const TestPostgresDatabase& database) {
    absl::StatusOr<std::unique_ptr<PgConnection>> connection = PgConnection::Connect(database.dsn());
    EXPECT_TRUE(connection.ok()) << connection.status();
    return connection.ok() ? std::move(*connection) : nullptr;
  }

  // The sequences of `migration`'s events in the database, in order.
  static std::vector<int64_t> EventSequences(PgConnection& db, const std::string& migration) {
    std::vector<int64_t> sequences;
    absl::StatusOr<PgResult> rows =
        db.Exec("SELECT sequence FROM events WHERE migration = $1 ORDER BY sequence", {migration});
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (!rows.ok()) return sequences;
    for (int row = 0; row < rows->rows(); ++row) sequences.push_back(rows->Int(row, 0));
    return sequences;
  }

  TempDir secrets_;
  TempDir work_;
  std::unique_ptr<TestPostgresDatabase> database_;
  std::string tool_connection_;  // the database's connection string without its password (--dbname)
  std::string password_;
  std::string password_file_;
};

TEST_F(PostgresOperationsTest, PgDumpWhileServingThenPgRestoreIntoAFreshDatabaseResumesThePausedMigration) {
  const std::string name = "migrations/restore";
  const v1::Migration at_backup = StartAndPauseHalfway();
  ASSERT_EQ(at_backup.state(), v1::MIGRATION_STATE_PAUSED);
  ASSERT_LT(Count(at_backup, v1::USER_MOVE_STATE_SUCCESS), seed_.nam_users + seed_.eur_users) << "not done yet";

  // The backup, taken while the orchestrator still serves from the database (and its workers still poll).
  const std::string dump = work_.path() + "/orchestrator.dump";
  std::string log;
  ASSERT_EQ(RunPostgresTool("pg_dump", {"--format=custom", "--file=" + dump, "--dbname=" + tool_connection_}, &log), 0)
      << log;
  ASSERT_GT(fs::file_size(dump), 0u);
  EXPECT_EQ(Get(name).counts().DebugString(), at_backup.counts().DebugString()) << "it served throughout";

  // The orchestrator is lost, and its database with it.
  orchestrator_.Kill();
  database_.reset();

  // Restore into a fresh database with the command docs/deploy.md gives, and a fresh orchestrator on it.
  absl::StatusOr<std::unique_ptr<TestPostgresDatabase>> fresh = TestPostgresDatabase::Create();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  database_ = std::move(*fresh);
  UseDatabase(*database_);
  ASSERT_EQ(
      RunPostgresTool(
          "pg_restore",
          {"--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname=" + tool_connection_, dump}, &log),
      0)
      << log;
  ASSERT_TRUE(StartOrchestrator());

  const v1::Migration restored = Get(name);
  EXPECT_EQ(restored.state(), v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(restored.counts().DebugString(), at_backup.counts().DebugString()) << "the state at the backup";
  EXPECT_EQ(restored.last_event_sequence(), at_backup.last_event_sequence());

  ASSERT_TRUE(Resume(name));
  const v1::Migration migration = WaitUntil(name, Ended, absl::Seconds(180));
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  ExpectFinalStatesMatchEmulator(name);
}

// The SQLite drill StateDatabaseFullMidRunThenSpaceReturns (fault_drill_test), on PostgreSQL.
TEST_F(PostgresOperationsTest, ServerRefusingWritesAsADiskStoreFullMidRunThenTakingThemAgain) {
  MeshSeed seed;
  seed.nam_users = 56;
  seed.eur_users = 4;
  seed.move_step = "10m";  // 1 s a state at 600x
  ASSERT_TRUE(StartMesh(seed, 600, 2));
  EXPECT_EQ(OrchestratorSeries(kStoreFull), 0);
  EXPECT_EQ(OrchestratorSeries(kStoreRefused), 0);
  v1::MigrationOptions options;
  options.set_max_queued_per_source_geo(6);  // spreads the moves out: the fault lands mid-run
  ASSERT_TRUE(Create("drill-disk-full", options));
  const std::string name = "migrations/drill-disk-full";
  ASSERT_TRUE(WaitForCount([this] { return EmulatorMoveStarts(); }, 15, absl::Seconds(60)));

  // From now on every write that records an event is refused with the error of a full disk.
  std::unique_ptr<PgConnection> db = Connect(*database_);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Execute(R"sql(
    CREATE FUNCTION drill_refuse_as_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'could not extend file "base/16384/16402": No space left on device'
        USING ERRCODE = 'disk_full', HINT = 'Check free disk space.';
    END $$;
    CREATE TRIGGER drill_disk_full BEFORE INSERT OR UPDATE ON events
      FOR EACH STATEMENT EXECUTE FUNCTION drill_refuse_as_disk_full();
  )sql")
                  .ok());
  std::cout << "the server refuses event writes (SQLSTATE 53100) after " << EmulatorMoveStarts() << " move starts\n";

  // Loud: the gauge goes to 1 as soon as a write is refused, and the refusals are counted.
  ASSERT_EQ(WaitForOrchestratorSeries(kStoreFull, 1, absl::Seconds(30)), 1)
      << "orchestrator_store_full did not go to 1";
  EXPECT_GT(OrchestratorSeries(kStoreRefused), 0);

  // Loud: an operator's write is refused, saying what is wrong and not the password, and leaves nothing.
  {
    const grpc::Status status = CreateOfSpareUsers("drill-disk-full-second");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("the PostgreSQL state database refuses writes"));
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("No space left on device (SQLSTATE 53100)"));
    EXPECT_FALSE(absl::StrContains(status.error_message(), password_)) << status.error_message();
    EXPECT_EQ(GetCode("migrations/drill-disk-full-second"), grpc::StatusCode::NOT_FOUND);
  }

  // The migration stops (tasks already in a worker's hands finish and wait to be recorded), and stays
  // stopped while the server refuses: no move started, no event recorded.
  auto progress = [&] {
    return std::make_tuple(EmulatorMoveStarts(), Get(name).last_event_sequence(), EventSequences(*db, name).size());
  };
  const auto [stopped, held] = SettleAndHold(progress);
  EXPECT_TRUE(held) << "the migration went on while its database refused writes";
  EXPECT_EQ(OrchestratorSeries(kStoreFull), 1);
  const v1::Migration during = Get(name);
  ASSERT_FALSE(Ended(during)) << "the migration ended before the server refused writes: the drill tested nothing";
  std::cout << "stopped at " << std::get<0>(stopped) << " move starts, event " << std::get<1>(stopped) << "\n";

  // The server takes writes again: the gauge goes back to 0 and the migration carries on by itself.
  ASSERT_TRUE(db->Execute("DROP TRIGGER drill_disk_full ON events; DROP FUNCTION drill_refuse_as_disk_full()").ok());
  const absl::Time freed = absl::Now();
  EXPECT_EQ(WaitForOrchestratorSeries(kStoreFull, 0, absl::Seconds(30)), 0)
      << "orchestrator_store_full did not go back to 0";
  std::cout << "orchestrator_store_full back to 0 " << absl::FormatDuration(absl::Now() - freed)
            << " after the server took writes again\n";
  const v1::Migration migration = WaitUntil(name, Ended, absl::Seconds(150));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  std::cout << "completed " << absl::ToInt64Seconds(absl::Now() - freed) << "s after that\n";
  ExpectFinalStatesMatchEmulator(name);

  // Nothing lost: the event log holds every sequence from 1 to the migration's last, once.
  const std::vector<int64_t> sequences = EventSequences(*db, name);
  ASSERT_EQ(static_cast<int64_t>(sequences.size()), migration.last_event_sequence());
  for (size_t i = 0; i < sequences.size(); ++i) {
    ASSERT_EQ(sequences[i], static_cast<int64_t>(i + 1)) << "a gap in the event log";
  }
  // Loud once, not once per refused request.
  const std::string log = orchestrator_.Stderr();
  EXPECT_EQ(Occurrences(log, "the state database is full"), 1) << Tail(log);
  EXPECT_EQ(Occurrences(log, "the state database has room again"), 1) << Tail(log);
  EXPECT_FALSE(absl::StrContains(log, password_)) << "the password in the orchestrator's log";
}

}  // namespace
}  // namespace crosstenant::testing
