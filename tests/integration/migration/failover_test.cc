// Several orchestrator replicas on one PostgreSQL database: a migration survives the death
// of the replica that drives it, watch streams on any replica see every event, and replicas started
// together on an empty database agree on the schema and on one leader.

#include <chrono>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/integration/migration/migration_fixture.h"
#include "tests/support/test_postgres.h"

namespace crosstenant::testing {
namespace {

constexpr int kReplicas = 2;
constexpr const char* kLeads = "this replica now drives the migrations";

// Two orchestrator replicas ("orchestrator-a" is orchestrator_, started first, so it leads first)
// on a fresh database; workers reach both through one round-robin target.
class FailoverTest : public MigrationTest {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestPostgresDatabase>> database = TestPostgresDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = std::move(*database);
    dsn_file_ = secrets_.WriteFile("postgres-dsn", database_->dsn());
  }

  Orchestrator& Replica(int i) { return i == 0 ? orchestrator_ : second_; }
  static std::string ReplicaId(int i) { return i == 0 ? "orchestrator-a" : "orchestrator-b"; }

  bool StartReplica(int i) {
    const bool started = Replica(i).Start(connector_.address(), {"--poll-interval=300ms", "--recheck-max=1s",
                                                                 "--store=postgres", "--postgres-dsn-file=" + dsn_file_,
                                                                 "--replica-id=" + ReplicaId(i), "--leader-lease=3s"});
    EXPECT_TRUE(started) << Replica(i).error();
    return started;
  }

  bool StartOrchestrator() override { return StartReplica(0) && StartReplica(1); }

  bool StartWorker(int n) override {
    const std::string target = absl::StrCat("ipv4:", orchestrator_.address(), ",", second_.address());
    const bool started =
        workers_[n]->Start(absl::StrCat("worker-", n + 1), target, connector_.address(), {"--concurrency=8"});
    EXPECT_TRUE(started) << workers_[n]->error();
    return started;
  }

  // Waits until replica `i` says it drives the migrations; how long that took.
  std::optional<absl::Duration> WaitForLeadership(int i, absl::Duration timeout) {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < timeout) {
      if (absl::StrContains(Replica(i).Stderr(), kLeads)) return absl::Now() - start;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return std::nullopt;
  }

  v1::Migration GetFrom(int i, const std::string& name) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetMigrationRequest request;
    request.set_name(name);
    v1::GetMigrationResponse response;
    const grpc::Status status = Replica(i).stub().GetMigration(&context, request, &response);
    EXPECT_TRUE(status.ok()) << ReplicaId(i) << ": " << status.error_message();
    return response.migration();
  }

  static int Moved(const v1::Migration& migration) {
    for (const v1::UserMoveStateCount& count : migration.counts().by_state()) {
      if (count.state() == v1::USER_MOVE_STATE_SUCCESS) return count.count();
    }
    return 0;
  }

  // Waits, asking replica `i`, until `users` more users have moved than when it was called.
  bool WaitForProgress(int i, const std::string& name, int users, absl::Duration timeout) {
    const int before = Moved(GetFrom(i, name));
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      const v1::Migration migration = GetFrom(i, name);
      if (Moved(migration) >= before + users) return true;
      if (Ended(migration)) return false;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  TempDir secrets_;
  std::string dsn_file_;
  std::unique_ptr<TestPostgresDatabase> database_;
  Orchestrator second_;
};

// Watches `name` on one replica after another: when a replica dies, the watch resumes on the other
// from the last sequence it got, as a client should. Collects every event until the terminal state.
class RelayWatcher {
 public:
  RelayWatcher(std::function<Orchestrator&(int)> replica, std::string name)
      : replica_(std::move(replica)), name_(std::move(name)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~RelayWatcher() {
    Stop();
    thread_.join();
  }
  void Stop() {
    stop_ = true;
    absl::MutexLock lock(&mutex_);
    if (context_) context_->TryCancel();
  }
  std::vector<int64_t> sequences() {
    absl::MutexLock lock(&mutex_);
    return sequences_;
  }
  int64_t first_after() {
    absl::MutexLock lock(&mutex_);
    return first_after_;
  }
  bool ended() const { return ended_; }

 private:
  void Run() {
    int replica = 1;  // start on the replica that does not lead
    int64_t after = 0;
    while (!stop_ && !ended_) {
      auto context = std::make_shared<grpc::ClientContext>();
      {
        absl::MutexLock lock(&mutex_);
        context_ = context;
      }
      v1::WatchMigrationRequest request;
      request.set_name(name_);
      request.set_after_sequence(after);
      auto reader = replica_(replica).stub().WatchMigration(context.get(), request);
      v1::WatchMigrationResponse response;
      while (reader->Read(&response)) {
        const v1::MigrationEvent& event = response.event();
        absl::MutexLock lock(&mutex_);
        if (event.has_snapshot()) {
          if (first_after_ < 0) first_after_ = event.sequence();
        } else {
          sequences_.push_back(event.sequence());
        }
        after = std::max(after, event.sequence());
        if (event.has_state_change() && (event.state_change().to_state() == v1::MIGRATION_STATE_COMPLETED ||
                                         event.state_change().to_state() == v1::MIGRATION_STATE_FAILED)) {
          ended_ = true;
        }
      }
      reader->Finish();
      replica = 1 - replica;  // that replica died (or the stream ended): go on with the other
      if (!ended_) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  std::function<Orchestrator&(int)> replica_;
  std::string name_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ended_{false};
  absl::Mutex mutex_;
  std::shared_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mutex_);
  std::vector<int64_t> sequences_ ABSL_GUARDED_BY(mutex_);
  int64_t first_after_ ABSL_GUARDED_BY(mutex_) = -1;
  std::thread thread_;
};

// The leading replica is killed (SIGKILL) mid-run, then the other one once the first is back, then the
// replica that only serves: each time the survivor takes over within seconds, no user is lost, none is
// started twice, and a watch relayed from replica to replica sees every event exactly once.
TEST_F(FailoverTest, LeadersAndAServingReplicaKilledMidRunAndTheMigrationCompletes) {
  MeshSeed seed;
  seed.nam_users = 1480;
  seed.eur_users = 20;
  seed.move_step = "1m";
  ASSERT_TRUE(StartMesh(seed, 1000, 4));
  ASSERT_TRUE(WaitForLeadership(0, absl::Seconds(10))) << "orchestrator-a started first and leads";
  // Moves in waves of 100 per geo, so that both kills land while users remain, however fast the machine.
  v1::MigrationOptions options;
  options.set_max_queued_per_source_geo(100);
  ASSERT_TRUE(Create("failover", options));
  const std::string name = "migrations/failover";
  RelayWatcher watcher([this](int i) -> Orchestrator& { return Replica(i); }, name);
  ASSERT_TRUE(WaitForProgress(1, name, 50, absl::Seconds(90))) << "moves under orchestrator-a";

  for (int victim : {0, 1}) {
    const int survivor = 1 - victim;
    std::cout << "SIGKILL " << ReplicaId(victim) << " (leader) with " << Moved(GetFrom(survivor, name))
              << " users moved\n";
    Replica(victim).Kill();
    const std::optional<absl::Duration> takeover = WaitForLeadership(survivor, absl::Seconds(20));
    ASSERT_TRUE(takeover) << ReplicaId(survivor) << " never took over";
    std::cout << ReplicaId(survivor) << " took over after " << absl::FormatDuration(*takeover) << "\n";
    EXPECT_LT(*takeover, absl::Seconds(10)) << "a 3 s lease, renewed every 0.75 s";
    ASSERT_TRUE(WaitForProgress(survivor, name, 50, absl::Seconds(90)))
        << "the migration goes on under " << ReplicaId(survivor) << " (and had not ended before)";
    ASSERT_TRUE(StartReplica(victim)) << "the killed replica comes back (as Kubernetes restarts it)";
  }
  // Now orchestrator-a leads again; the death of orchestrator-b, which only serves, changes nothing.
  std::cout << "SIGKILL orchestrator-b (serving, not leading)\n";
  second_.Kill();
  ASSERT_TRUE(WaitForProgress(0, name, 50, absl::Seconds(90))) << "the migration goes on under orchestrator-a";
  ASSERT_TRUE(StartReplica(1));

  const v1::Migration migration = WaitUntil(name, Ended, absl::Seconds(180));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  ExpectFinalStatesMatchEmulator(name);

  // The relayed watch saw every event after its snapshot, once each, in order.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!watcher.ended() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
  watcher.Stop();
  EXPECT_TRUE(watcher.ended()) << "the watch reached the terminal state";
  const std::vector<int64_t> sequences = watcher.sequences();
  ASSERT_FALSE(sequences.empty());
  int64_t expected = watcher.first_after() + 1;
  int gaps = 0;
  for (int64_t sequence : sequences) {
    if (sequence != expected) ++gaps;
    expected = sequence + 1;
  }
  EXPECT_EQ(gaps, 0) << "events from " << watcher.first_after() + 1 << " to " << sequences.back();
  EXPECT_EQ(sequences.back(), migration.last_event_sequence());
}

// Three replicas started at the same moment on an empty database: all start (the schema is created
// once, under a lock), exactly one drives, and all three serve the same migration.
TEST_F(FailoverTest, ThreeReplicasStartTogetherOnAnEmptyDatabase) {
  MeshSeed seed;
  seed.nam_users = 20;
  seed.eur_users = 0;
  ASSERT_TRUE(emulator_.Start({"--time-scale=3000"}, seed.Yaml())) << emulator_.error();
  seed_ = seed;
  ASSERT_TRUE(StartConnector() && connector_.ConnectSourceAndTarget()) << connector_.error();

  Orchestrator replicas[3];
  // Each replica is started by its own thread, which lives until the test ends: a test server is
  // killed when the thread that started it exits (PR_SET_PDEATHSIG is per thread).
  absl::Notification test_done;
  absl::BlockingCounter all_started(3);
  std::vector<std::thread> starting;
  bool started[3] = {false, false, false};
  for (int i = 0; i < 3; ++i) {
    starting.emplace_back([&, i] {
      started[i] =
          replicas[i].Start(connector_.address(), {"--store=postgres", "--postgres-dsn-file=" + dsn_file_,
                                                   absl::StrCat("--replica-id=replica-", i), "--leader-lease=3s"});
      all_started.DecrementCount();
      test_done.WaitForNotification();
      replicas[i].Kill();
    });
  }
  struct JoinAtEnd {
    absl::Notification& done;
    std::vector<std::thread>& threads;
    ~JoinAtEnd() {
      done.Notify();
      for (std::thread& thread : threads) thread.join();
    }
  } join_at_end{test_done, starting};
  all_started.Wait();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(started[i]) << replicas[i].error();

  absl::SleepFor(absl::Seconds(2));  // several renewals
  int leaders = 0;
  for (Orchestrator& replica : replicas) leaders += absl::StrContains(replica.Stderr(), kLeads) ? 1 : 0;
  EXPECT_EQ(leaders, 1);
  if (HasFailure()) {
    for (Orchestrator& replica : replicas) std::cerr << "--- replica log ---\n" << Tail(replica.Stderr());
  }

  v1::CreateMigrationRequest request;
  request.set_migration_id("together");
  request.mutable_plan()->set_source_connection("connections/contoso");
  request.mutable_plan()->set_target_connection("connections/fabrikam");
  request.mutable_plan()->mutable_identity_map()->set_csv(seed.IdentityMapCsv());
  grpc::ClientContext context;
  v1::CreateMigrationResponse response;
  const grpc::Status created = replicas[1].stub().CreateMigration(&context, request, &response);
  if (!created.ok()) {
    for (Orchestrator& replica : replicas) std::cerr << "--- replica log ---\n" << Tail(replica.Stderr());
  }
  ASSERT_TRUE(created.ok()) << created.error_message();
  for (Orchestrator& replica : replicas) {
    grpc::ClientContext get_context;
    v1::GetMigrationRequest get;
    get.set_name("migrations/together");
    v1::GetMigrationResponse got;
    const grpc::Status status = replica.stub().GetMigration(&get_context, get, &got);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(got.migration().counts().total(), 20);
  }
}

}  // namespace
}  // namespace crosstenant::testing
