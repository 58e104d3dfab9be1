// Fault drills (issue 8): a whole migration while something goes wrong. Each drill asserts that the
// migration completes with every user in the right final state, that the report agrees with the
// emulator's record of every move, and that the emulator counted 0 duplicate starts and 0 requests
// sent before a Retry-After had elapsed.

#include <chrono>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/integration/migration/migration_fixture.h"

namespace crosstenant::testing {
namespace {

using FaultDrillTest = MigrationTest;

// Waits until the emulator has seen `starts` move starts, so that a fault lands mid-run.
void WaitForStarts(const std::function<int()>& starts, int wanted) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (starts() < wanted && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
}

// kill -9 of each service in turn (connector, orchestrator, each worker), twice over, during a
// 2,000-user migration; each comes back at once at the same address with its state.
TEST_F(FaultDrillTest, KillNineOfEachServiceInTurnDuringTwoThousandUsers) {
  MeshSeed seed;
  seed.nam_users = 1980;
  seed.eur_users = 20;
  seed.move_step = "1m";
  ASSERT_TRUE(StartMesh(seed, 3000, 2));
  ASSERT_TRUE(Create("drill-kill"));
  WaitForStarts([this] { return EmulatorMoveStarts(); }, 100);

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

// The source tenant unreachable for 30 seconds in the middle of the moves.
TEST_F(FaultDrillTest, SourceTenantUnreachableForThirtySecondsMidRun) {
  MeshSeed seed;
  seed.nam_users = 120;
  seed.eur_users = 10;
  ASSERT_TRUE(StartMesh(seed, 600, 2));
  v1::MigrationOptions options;
  options.set_max_queued_per_source_geo(10);
  ASSERT_TRUE(Create("drill-unreachable", options));
  WaitForStarts([this] { return EmulatorMoveStarts(); }, 20);
  emulator_.Admin("PUT", "/_emulator/faults", {{"unreachable_tenants", {"contoso"}}});
  const int starts_before = EmulatorMoveStarts();
  absl::SleepFor(absl::Seconds(30));
  EXPECT_EQ(EmulatorMoveStarts(), starts_before) << "a move started while the source was unreachable";
  emulator_.Admin("DELETE", "/_emulator/faults");
  const v1::Migration migration = WaitUntil("migrations/drill-unreachable", Ended, absl::Seconds(70));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  ExpectFinalStatesMatchEmulator("migrations/drill-unreachable");
}

}  // namespace
}  // namespace crosstenant::testing
