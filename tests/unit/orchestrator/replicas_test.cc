// Several orchestrator replicas on one store: who drives (LeaderElection) and how a replica's
// watchers learn of events committed through another replica (EventFollower). Two store objects on
// one SQLite file stand in for two replicas; the PostgreSQL store passes the same store suite.

#include <gtest/gtest.h>

#include <atomic>

#include "services/orchestrator/core/event_follower.h"
#include "services/orchestrator/core/leader_election.h"
#include "services/orchestrator/store/sqlite_migration_store.h"
#include "tests/support/server_process.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;

v1::Migration RunningMigration(const std::string& name) {
  v1::Migration migration;
  migration.set_name(name);
  migration.set_state(v1::MIGRATION_STATE_RUNNING);
  return migration;
}

class ReplicasTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteMigrationStore> OpenReplica() {
    auto store = SqliteMigrationStore::Open(dir_.path() + "/orchestrator.db");
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  LeaderElection::Options Election(const std::string& replica, absl::Duration lease = absl::Seconds(30)) {
    LeaderElection::Options options;
    options.replica_id = replica;
    options.lease = lease;
    return options;
  }

  testing::TempDir dir_;
};

TEST_F(ReplicasTest, OneReplicaLeadsAndAnotherTakesOverWhenItResigns) {
  auto store_a = OpenReplica();
  auto store_b = OpenReplica();
  LeaderElection a(store_a.get(), Election("orchestrator-a"));
  LeaderElection b(store_b.get(), Election("orchestrator-b"));

  ASSERT_TRUE(a.Campaign().ok());
  ASSERT_TRUE(b.Campaign().ok());
  EXPECT_TRUE(a.leading());
  EXPECT_FALSE(b.leading());
  EXPECT_EQ(b.leader(), "orchestrator-a");
  const int64_t first_term = a.term();

  ASSERT_TRUE(a.Campaign().ok());
  EXPECT_EQ(a.term(), first_term) << "a renewal keeps the term";

  ASSERT_TRUE(a.Resign().ok());
  EXPECT_FALSE(a.leading());
  ASSERT_TRUE(b.Campaign().ok());
  EXPECT_TRUE(b.leading()) << "a resigned lease is taken at once";
  EXPECT_GT(b.term(), first_term);
  ASSERT_TRUE(a.Campaign().ok());
  EXPECT_FALSE(a.leading());
  EXPECT_EQ(a.leader(), "orchestrator-b");
}

TEST_F(ReplicasTest, ADeadLeaderIsReplacedOnceItsLeaseLapses) {
  auto store_a = OpenReplica();
  auto store_b = OpenReplica();
  LeaderElection a(store_a.get(), Election("orchestrator-a", absl::Seconds(1)));
  LeaderElection b(store_b.get(), Election("orchestrator-b", absl::Seconds(1)));
  ASSERT_TRUE(a.Campaign().ok());
  ASSERT_TRUE(b.Campaign().ok());
  ASSERT_TRUE(a.leading());
  ASSERT_FALSE(b.leading());

  // a stops renewing (killed, or paused): b takes over after the lease, and a, should it wake up,
  // knows by its own clock that it no longer leads, and its old term is fenced off in the store.
  absl::SleepFor(absl::Milliseconds(1100));
  EXPECT_FALSE(a.leading()) << "a lease that was not renewed has lapsed on the holder's clock too";
  ASSERT_TRUE(b.Campaign().ok());
  EXPECT_TRUE(b.leading());

  ASSERT_TRUE(store_a->CreateMigration(RunningMigration("migrations/m1"), {}, {}).ok());
  MigrationChange late;
  late.migration = *store_a->GetMigration("migrations/m1");
  late.migration.set_state_reason("written by a leader that lost its lease");
  late.leader_term = b.term() - 1;
  const absl::Status refused = store_a->Apply(late);
  EXPECT_TRUE(absl::IsAborted(refused)) << refused;
  EXPECT_FALSE(IsConcurrentChange(refused)) << "a lost leadership is not retried";
  EXPECT_EQ(store_b->GetMigration("migrations/m1")->state_reason(), "");

  late.leader_term = b.term();
  EXPECT_TRUE(store_b->Apply(late).ok()) << "the current leader's term commits";
}

TEST_F(ReplicasTest, AWatcherOnOneReplicaIsWokenByACommitThroughAnother) {
  auto store_a = OpenReplica();
  auto store_b = OpenReplica();
  ASSERT_TRUE(store_a->CreateMigration(RunningMigration("migrations/m1"), {}, {}).ok());

  EventHub hub_b;
  EventFollower follower_b(store_b.get(), &hub_b);
  std::atomic<int> woken{0};
  const int64_t id = hub_b.Subscribe("migrations/m1", [&] { ++woken; });
  ASSERT_TRUE(follower_b.PollOnce().ok());
  const int after_first_sight = woken.load();
  ASSERT_TRUE(follower_b.PollOnce().ok());
  EXPECT_EQ(woken.load(), after_first_sight) << "nothing new, nobody woken";

  v1::Migration current = *store_a->GetMigration("migrations/m1");
  v1::MigrationEvent event;
  event.set_name(current.name());
  event.set_sequence(current.last_event_sequence() + 1);
  current.set_last_event_sequence(event.sequence());
  ASSERT_TRUE(store_a->Update(current, {}, {event}).ok());
  ASSERT_TRUE(follower_b.PollOnce().ok());
  EXPECT_EQ(woken.load(), after_first_sight + 1) << "replica a's commit reaches replica b's watcher";

  hub_b.Unsubscribe(id);
  EXPECT_TRUE(hub_b.watched_migrations().empty());
}

TEST_F(ReplicasTest, AWriteFromAStaleReadLosesAndTheRetryWins) {
  auto store_a = OpenReplica();
  auto store_b = OpenReplica();
  ASSERT_TRUE(store_a->CreateMigration(RunningMigration("migrations/m1"), {}, {}).ok());

  int runs = 0;
  absl::Status written = RetryOnConcurrentChange([&] {
    v1::Migration read = *store_a->GetMigration("migrations/m1");
    if (++runs == 1) {
      // Replica b commits between this read and this write.
      v1::Migration other = *store_b->GetMigration("migrations/m1");
      other.set_state(v1::MIGRATION_STATE_PAUSED);
      EXPECT_TRUE(store_b->Update(other, {}, {}).ok());
    }
    read.set_state_reason(absl::StrCat("run ", runs, " saw ", v1::MigrationState_Name(read.state())));
    return store_a->Update(read, {}, {});
  });
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(runs, 2);
  const v1::Migration stored = *store_a->GetMigration("migrations/m1");
  EXPECT_EQ(stored.state(), v1::MIGRATION_STATE_PAUSED) << "b's change was not overwritten";
  EXPECT_EQ(stored.state_reason(), "run 2 saw MIGRATION_STATE_PAUSED");
}

}  // namespace
}  // namespace crosstenant::orchestrator
