// Fault drills: a whole migration while something goes wrong. Each drill asserts that the
// migration completes with every user in the right final state, that the report agrees with the
// emulator's record of every move, and that the emulator counted 0 duplicate starts and 0 requests
// sent before a Retry-After had elapsed.

#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/common/sqlite_database.h"
#include "tests/integration/migration/migration_fixture.h"

namespace crosstenant::testing {
namespace {

using FaultDrillTest = MigrationTest;

// Fills a SQLite file up to `cap` bytes from a connection of its own, with rows of a filler table: big
// blobs first, then smaller and smaller until not even a small row fits. Each row is its own short
// transaction, so the orchestrator's writes wait at most one insert for the lock. The connection is given
// the same cap, so that the file ends exactly at it: were it to grow the file past the orchestrator's
// cap, SQLite would let the orchestrator's connection grow it that far too (it reads what another wrote).
class DatabaseFiller {
 public:
  DatabaseFiller(const std::string& path, int64_t cap) {
    SqliteDatabase::Options options;
    options.max_size_bytes = cap;
    auto db = SqliteDatabase::Open(path, options);
    EXPECT_TRUE(db.ok()) << db.status();
    if (db.ok()) db_ = std::move(*db);
    EXPECT_TRUE(db_ &&
                db_->Execute("CREATE TABLE IF NOT EXISTS drill_filler (id INTEGER PRIMARY KEY, payload BLOB)").ok());
  }
  // Fills up to the cap; the number of rows it took.
  int Fill() {
    int rows = 0;
    for (int64_t size = 256 * 1024; db_ && size >= 16;) {
      auto insert = db_->Prepare("INSERT INTO drill_filler (payload) VALUES (zeroblob(?1))");
      const absl::Status status = insert.ok() ? insert->Bind(1, size).Run() : insert.status();
      if (status.ok()) {
        ++rows;
      } else if (absl::IsResourceExhausted(status)) {
        size /= 2;
      } else {
        ADD_FAILURE() << "filling the state database: " << status;
        break;
      }
    }
    return rows;
  }
  // Deletes the filler rows, a few at a time: their pages become free for the orchestrator's writes.
  void Empty() {
    while (db_) {
      const absl::Status status =
          db_->Execute("DELETE FROM drill_filler WHERE id IN (SELECT id FROM drill_filler LIMIT 8)");
      ASSERT_TRUE(status.ok()) << status;
      if (sqlite3_changes(db_->handle()) == 0) break;
    }
  }
  // The sequences of `migration`'s events in the file, in order.
  std::vector<int64_t> EventSequences(const std::string& migration) {
    std::vector<int64_t> sequences;
    auto select = db_->Prepare("SELECT sequence FROM events WHERE migration = ?1 ORDER BY sequence");
    if (!select.ok()) {
      ADD_FAILURE() << select.status();
      return sequences;
    }
    select->Bind(1, migration);
    while (true) {
      absl::StatusOr<bool> row = select->Step();
      if (!row.ok() || !*row) break;
      sequences.push_back(select->ColumnInt(0));
    }
    return sequences;
  }
  SqliteDatabase* db() { return db_.get(); }

 private:
  std::unique_ptr<SqliteDatabase> db_;
};

// kill -9 of each service in turn (connector, orchestrator, each worker), twice over, during a
// 2,000-user migration; each comes back at once at the same address with its state.
TEST_F(FaultDrillTest, KillNineOfEachServiceInTurnDuringTwoThousandUsers) {
  MeshSeed seed;
  seed.nam_users = 1980;
  seed.eur_users = 20;
  seed.move_step = "1m";
  ASSERT_TRUE(StartMesh(seed, 3000, 2));
  ASSERT_TRUE(Create("drill-kill"));
  ASSERT_TRUE(WaitForCount([this] { return EmulatorMoveStarts(); }, 100, absl::Seconds(60)));

  const char* victims[] = {"connector", "orchestrator", "worker-1", "worker-2"};
  for (int round = 0; round < 8; ++round) {
    const std::string victim = victims[round % 4];
    std::cout << "SIGKILL " << victim << " after " << EmulatorMoveStarts() << " move starts\n";
    if (victim == "connector") {
      KillConnector();
      ASSERT_TRUE(StartConnector());
    } else if (victim == "orchestrator") {
      orchestrator_.Kill();
      ASSERT_TRUE(StartOrchestrator());
    } else {
      const int n = victim == "worker-1" ? 0 : 1;
      workers_[n]->Kill();
      ASSERT_TRUE(StartWorker(n));
    }
    absl::SleepFor(absl::Milliseconds(1500));
  }
  const v1::Migration migration = WaitUntil("migrations/drill-kill", Ended, absl::Seconds(150));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  ExpectFinalStatesMatchEmulator("migrations/drill-kill");
}

// Microsoft throttling hard: 30% of requests answered 429 with Retry-After 1-3 s, 5% answered 503,
// and 50 ms added to every answer, from the moment the migration is created to its end (the
// connections are made before: a sign-in throttled five times in a row is refused, as it should be).
TEST_F(FaultDrillTest, ThrottlingStormOfFourTwoNinesAndFiveOhThrees) {
  MeshSeed seed;
  seed.nam_users = 10;
  seed.eur_users = 2;
  seed.blocked_users = true;
  ASSERT_TRUE(StartMesh(seed, 3000, 2));
  emulator_.Admin("PUT", "/_emulator/faults",
                  {{"throttle_ratio", 0.3},
                   {"retry_after_seconds", 1},
                   {"retry_after_max_seconds", 3},
                   {"unavailable_ratio", 0.05},
                   {"latency_ms", 50}});
  ASSERT_TRUE(Create("drill-throttle"));
  const v1::Migration migration = WaitUntil("migrations/drill-throttle", Ended, absl::Seconds(200));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS) << migration.DebugString();
  ExpectFinalStatesMatchEmulator("migrations/drill-throttle");
  const nlohmann::json accounting = emulator_.Admin("GET", "/_emulator/accounting");
  std::cout << "requests " << accounting["requests"]["total"] << ", faults " << accounting["faults"].dump() << "\n";
  EXPECT_GT(accounting["faults"]["throttled"].get<int>(), 10) << "the storm did not happen";
}

// Tokens that live 10 seconds for the whole run: every connection signs in again and again.
TEST_F(FaultDrillTest, TokensLivingTenSecondsForTheWholeRun) {
  MeshSeed seed;
  seed.nam_users = 150;
  seed.blocked_users = true;
  ASSERT_TRUE(StartMesh(seed, 600, 2, {{"token_lifetime_seconds", 10}}));
  v1::MigrationOptions options;
  options.set_max_queued_per_source_geo(6);  // spreads the moves over several token lifetimes
  const absl::Time begin = absl::Now();
  ASSERT_TRUE(Create("drill-tokens", options));
  const v1::Migration migration = WaitUntil("migrations/drill-tokens", Ended, absl::Seconds(100));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS) << migration.DebugString();
  EXPECT_GT(absl::Now() - begin, absl::Seconds(20)) << "the run did not outlive two token lifetimes";
  ExpectFinalStatesMatchEmulator("migrations/drill-tokens");
}

// The source tenant unreachable in the middle of the moves. The queue is full, so what the mesh tries
// is polls, each retried after 5 s: after two unanswered tries in a row the migration says it WAITS for
// the source connection, and starts nothing, until the tenant is back; then it runs to its end.
TEST_F(FaultDrillTest, SourceTenantUnreachableMidRunMakesTheMigrationWaitAndHoldNewMovesUntilItIsBack) {
  MeshSeed seed;
  seed.nam_users = 120;
  seed.eur_users = 10;
  ASSERT_TRUE(StartMesh(seed, 600, 2));
  v1::MigrationOptions options;
  options.set_max_queued_per_source_geo(10);
  ASSERT_TRUE(Create("drill-unreachable", options));
  ASSERT_TRUE(WaitForCount([this] { return EmulatorMoveStarts(); }, 20, absl::Seconds(60)));
  emulator_.Admin("PUT", "/_emulator/faults", {{"unreachable_tenants", {"contoso"}}});
  const int starts_before = EmulatorMoveStarts();
  const absl::Time outage = absl::Now();
  const v1::Migration waiting = WaitUntil(
      "migrations/drill-unreachable",
      [](const v1::Migration& m) { return m.state() == v1::MIGRATION_STATE_WAITING || Ended(m); }, absl::Seconds(90));
  const int refused = emulator_.Admin("GET", "/_emulator/accounting")["faults"]["unreachable"].get<int>();
  std::cout << "unreachable drill: WAITING after " << absl::FormatDuration(absl::Now() - outage) << ", " << refused
            << " calls refused; " << waiting.state_reason() << "\n";
  ASSERT_EQ(waiting.state(), v1::MIGRATION_STATE_WAITING) << waiting.DebugString();
  EXPECT_THAT(waiting.state_reason(), ::testing::HasSubstr("waiting for connections/contoso ("));
  EXPECT_THAT(waiting.state_reason(), ::testing::HasSubstr("no new move is started meanwhile"));
  EXPECT_EQ(EmulatorMoveStarts(), starts_before) << "a move started while the source was unreachable";
  emulator_.Admin("DELETE", "/_emulator/faults");
  const v1::Migration migration = WaitUntil("migrations/drill-unreachable", Ended, absl::Seconds(90));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  ExpectFinalStatesMatchEmulator("migrations/drill-unreachable");
}

// The orchestrator's database refusing writes mid-run. The state file is capped (--sqlite-max-size=16MiB:
// SQLite's max_page_count, which gives the SQLITE_FULL of a full disk without privileges); once 100 of
// 400 users have started, the test fills the file up to the cap from a connection of its own. The
// refusal must be loud (orchestrator_store_full reads 1, an operator's CreateMigration fails
// RESOURCE_EXHAUSTED naming the file, one ERROR line in the log), the migration must stop instead of
// working on without recording, and after the filler rows are deleted it must carry on by itself to the
// end with nothing lost: every user right, no start twice, no event missing from the log.
TEST_F(FaultDrillTest, StateDatabaseFullMidRunThenSpaceReturns) {
  constexpr int64_t kCap = int64_t{16} << 20;
  MeshSeed seed;
  seed.nam_users = 380;
  seed.eur_users = 20;
  orchestrator_flags_ = {"--sqlite-max-size=16MiB"};
  ASSERT_TRUE(StartMesh(seed, 600, 2));
  EXPECT_EQ(OrchestratorSeries(kStoreFull), 0);
  EXPECT_EQ(OrchestratorSeries(kStoreRefused), 0);
  v1::MigrationOptions options;
  options.set_max_queued_per_source_geo(40);  // spreads the moves out: the fault lands mid-run
  ASSERT_TRUE(Create("drill-full", options));
  ASSERT_TRUE(WaitForCount([this] { return EmulatorMoveStarts(); }, 100, absl::Seconds(60)));

  DatabaseFiller filler(orchestrator_.db_path(), kCap);
  ASSERT_NE(filler.db(), nullptr);
  const int rows = filler.Fill();
  const auto space = filler.db()->MeasureSpace();
  ASSERT_TRUE(space.ok()) << space.status();
  EXPECT_EQ(space->file_bytes, kCap);
  std::cout << "filled the state database to its 16 MiB cap with " << rows << " rows after " << EmulatorMoveStarts()
            << " move starts\n";

  // Loud: the gauge goes to 1 as soon as a write is refused, and the refusals are counted.
  ASSERT_EQ(WaitForOrchestratorSeries(kStoreFull, 1, absl::Seconds(30)), 1)
      << "orchestrator_store_full did not go to 1";
  EXPECT_GT(OrchestratorSeries(kStoreRefused), 0);

  // Loud: an operator's write is refused, naming the file and what is wrong, and leaves nothing behind.
  {
    const grpc::Status status = CreateOfSpareUsers("drill-full-second");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr("the state database " + orchestrator_.db_path() + " is full and refuses writes"));
    EXPECT_EQ(GetCode("migrations/drill-full-second"), grpc::StatusCode::NOT_FOUND);
  }

  // The migration stops (tasks already in a worker's hands finish and wait to be recorded), and stays
  // stopped while the database is full: no move started, nothing recorded.
  auto progress = [this] {
    return std::make_tuple(EmulatorMoveStarts(), Get("migrations/drill-full").last_event_sequence());
  };
  const auto [stopped, held] = SettleAndHold(progress);
  EXPECT_TRUE(held) << "the migration went on while its database refused writes";
  EXPECT_EQ(OrchestratorSeries(kStoreFull), 1);
  const v1::Migration during = Get("migrations/drill-full");
  ASSERT_FALSE(Ended(during)) << "the migration ended before the database filled: the drill tested nothing";
  std::cout << "stopped at " << std::get<0>(stopped) << " move starts, event " << std::get<1>(stopped) << "\n";

  // Space returns: the filler rows go, their pages are free, and the migration carries on by itself.
  filler.Empty();
  const absl::Time freed = absl::Now();
  EXPECT_EQ(WaitForOrchestratorSeries(kStoreFull, 0, absl::Seconds(30)), 0)
      << "orchestrator_store_full did not go back to 0";
  const v1::Migration migration = WaitUntil("migrations/drill-full", Ended, absl::Seconds(150));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  std::cout << "completed " << absl::ToInt64Seconds(absl::Now() - freed) << "s after space returned\n";
  ExpectFinalStatesMatchEmulator("migrations/drill-full");

  // Nothing lost: the event log holds every sequence from 1 to the migration's last, once.
  const std::vector<int64_t> sequences = filler.EventSequences("migrations/drill-full");
  ASSERT_EQ(static_cast<int64_t>(sequences.size()), migration.last_event_sequence());
  for (size_t i = 0; i < sequences.size(); ++i) {
    ASSERT_EQ(sequences[i], static_cast<int64_t>(i + 1)) << "a gap in the event log";
  }
  // Loud once, not once per refused request.
  const std::string log = orchestrator_.Stderr();
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (absl::StrContains(line, "the state database is full") || absl::StrContains(line, "has room again")) {
      std::cout << line << "\n";
    }
  }
  EXPECT_EQ(Occurrences(log, "the state database is full"), 1) << Tail(log);
  EXPECT_EQ(Occurrences(log, "the state database has room again"), 1) << Tail(log);
}

}  // namespace
}  // namespace crosstenant::testing
