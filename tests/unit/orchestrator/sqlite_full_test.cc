// The state database refusing writes (the full-database drill, in the small): a file at its cap
// (PRAGMA max_page_count, which gives SQLite's SQLITE_FULL exactly as a full disk does) and a disk that
// fills under a COMMIT (a fault-injecting VFS). Each refused write is RESOURCE_EXHAUSTED naming the file,
// leaves the store exactly as it was and usable, is counted by StoreHealth, and writes succeed again
// once space returns. Also: how the other SQLite errors map to status codes.

#include <sqlite3.h>

#include <atomic>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/common/errors.h"
#include "services/orchestrator/core/migration_service.h"
#include "services/orchestrator/core/task_service.h"
#include "services/common/sqlite_database.h"
#include "services/orchestrator/store/sqlite_migration_store.h"
#include "services/common/store_health.h"
#include "tests/support/server_process.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::HasSubstr;

constexpr int64_t kCap = int64_t{1} << 20;  // 1 MiB: 256 pages of 4 KiB

// --- A VFS over the default one whose writes fail SQLITE_FULL while g_disk_full is set: a disk that
// fills up. In WAL mode a transaction's pages reach the file only at COMMIT, so that is where it fails.
std::atomic<bool> g_disk_full{false};
sqlite3_vfs* g_base_vfs = nullptr;

struct FaultyFile {
  sqlite3_file base;
  sqlite3_file* real;  // the default VFS's file, in the same allocation, after this struct
};

sqlite3_file* Real(sqlite3_file* file) { return reinterpret_cast<FaultyFile*>(file)->real; }

int FaultyClose(sqlite3_file* f) { return Real(f)->pMethods->xClose(Real(f)); }
int FaultyRead(sqlite3_file* f, void* data, int amount, sqlite3_int64 offset) {
  return Real(f)->pMethods->xRead(Real(f), data, amount, offset);
}
int FaultyWrite(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
  if (g_disk_full) return SQLITE_FULL;
  return Real(f)->pMethods->xWrite(Real(f), data, amount, offset);
}
int FaultyTruncate(sqlite3_file* f, sqlite3_int64 size) { return Real(f)->pMethods->xTruncate(Real(f), size); }
int FaultySync(sqlite3_file* f, int flags) { return Real(f)->pMethods->xSync(Real(f), flags); }
int FaultyFileSize(sqlite3_file* f, sqlite3_int64* size) { return Real(f)->pMethods->xFileSize(Real(f), size); }
int FaultyLock(sqlite3_file* f, int lock) { return Real(f)->pMethods->xLock(Real(f), lock); }
int FaultyUnlock(sqlite3_file* f, int lock) { return Real(f)->pMethods->xUnlock(Real(f), lock); }
int FaultyCheckReservedLock(sqlite3_file* f, int* out) { return Real(f)->pMethods->xCheckReservedLock(Real(f), out); }
int FaultyFileControl(sqlite3_file* f, int op, void* arg) { return Real(f)->pMethods->xFileControl(Real(f), op, arg); }
int FaultySectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int FaultyDeviceCharacteristics(sqlite3_file* f) { return Real(f)->pMethods->xDeviceCharacteristics(Real(f)); }
int FaultyShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), region, size, extend, out);
}
int FaultyShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void FaultyShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int FaultyShmUnmap(sqlite3_file* f, int delete_flag) { return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag); }
int FaultyFetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return Real(f)->pMethods->xFetch(Real(f), offset, amount, out);
}
int FaultyUnfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
  return Real(f)->pMethods->xUnfetch(Real(f), offset, page);
}

const sqlite3_io_methods kFaultyMethods = {3,
                                           FaultyClose,
                                           FaultyRead,
                                           FaultyWrite,
                                           FaultyTruncate,
                                           FaultySync,
                                           FaultyFileSize,
                                           FaultyLock,
                                           FaultyUnlock,
                                           FaultyCheckReservedLock,
                                           FaultyFileControl,
                                           FaultySectorSize,
                                           FaultyDeviceCharacteristics,
                                           FaultyShmMap,
                                           FaultyShmLock,
                                           FaultyShmBarrier,
                                           FaultyShmUnmap,
                                           FaultyFetch,
                                           FaultyUnfetch};

int FaultyOpen(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  auto* faulty = reinterpret_cast<FaultyFile*>(file);
  faulty->real = reinterpret_cast<sqlite3_file*>(faulty + 1);
  const int rc = g_base_vfs->xOpen(g_base_vfs, name, faulty->real, flags, out_flags);
  faulty->base.pMethods = rc == SQLITE_OK && faulty->real->pMethods != nullptr ? &kFaultyMethods : nullptr;
  return rc;
}

const char* RegisterFaultyVfs() {
  static sqlite3_vfs vfs = [] {
    g_base_vfs = sqlite3_vfs_find(nullptr);
    sqlite3_vfs copy = *g_base_vfs;
    copy.szOsFile = static_cast<int>(sizeof(FaultyFile)) + g_base_vfs->szOsFile;
    copy.zName = "crosstenant-faulty";
    copy.xOpen = FaultyOpen;
    copy.pNext = nullptr;
    return copy;
  }();
  static const int registered = sqlite3_vfs_register(&vfs, /*makeDflt=*/0);
  EXPECT_EQ(registered, SQLITE_OK);
  return vfs.zName;
}

// --- Records.

RequestRecord Request(const std::string& request_id, const std::string& migration) {
  return RequestRecord{request_id, "CreateMigration", migration, "fingerprint-of-" + request_id};
}

v1::Migration MakeMigration(const std::string& id) {
  v1::Migration migration;
  migration.set_name("migrations/" + id);
  migration.set_state(v1::MIGRATION_STATE_RUNNING);
  migration.mutable_create_time()->set_seconds(100);
  return migration;
}

std::vector<v1::UserMove> MakeMoves(const std::string& migration, int count) {
  std::vector<v1::UserMove> moves;
  for (int i = 0; i < count; ++i) {
    v1::UserMove& move = moves.emplace_back();
    const std::string upn = "user" + std::to_string(1000 + i) + "@contoso.onmicrosoft.com";
    move.set_name(migration + "/users/" + upn);
    move.set_source_user_principal_name(upn);
    move.set_target_user_principal_name("user" + std::to_string(1000 + i) + "@fabrikam.onmicrosoft.com");
    move.set_state(v1::USER_MOVE_STATE_PENDING);
    move.set_source_geo("connections/contoso/geos/nam");
  }
  return moves;
}

v1::MigrationEvent MakeEvent(const std::string& migration, int64_t sequence) {
  v1::MigrationEvent event;
  event.set_name(migration);
  event.set_sequence(sequence);
  event.set_message("event " + std::to_string(sequence) + ": " + std::string(200, 'x'));
  return event;
}

// A change adding `count` events after the migration's last one.
MigrationChange EventsChange(v1::Migration migration, int count) {
  MigrationChange change;
  for (int i = 0; i < count; ++i) {
    change.events.push_back(MakeEvent(migration.name(), migration.last_event_sequence() + 1));
    migration.set_last_event_sequence(migration.last_event_sequence() + 1);
  }
  change.migration = migration;
  return change;
}

std::vector<int64_t> Sequences(MigrationStore& store, const std::string& migration) {
  std::vector<int64_t> sequences;
  const absl::StatusOr<std::vector<v1::MigrationEvent>> events = store.ListEvents(migration, 0, 100000);
  EXPECT_TRUE(events.ok()) << events.status();
  if (!events.ok()) return sequences;
  for (const v1::MigrationEvent& event : *events) sequences.push_back(event.sequence());
  return sequences;
}

// Every sequence from 1 to the migration's last, once: nothing lost, nothing half-written.
void ExpectContiguous(MigrationStore& store, const std::string& name) {
  const v1::Migration migration = store.GetMigration(name).value();
  const std::vector<int64_t> sequences = Sequences(store, name);
  ASSERT_EQ(static_cast<int64_t>(sequences.size()), migration.last_event_sequence());
  for (size_t i = 0; i < sequences.size(); ++i) ASSERT_EQ(sequences[i], static_cast<int64_t>(i + 1));
}

StoreHealth::Options QuickProbes() {
  StoreHealth::Options options;
  options.probe_every = absl::ZeroDuration();
  return options;
}

// Fills the database file up to `cap` from a connection of its own (as the drill does), with a filler
// table of blobs: big ones first, then smaller and smaller, until not even a small row fits. The
// connection has the same cap, so the file ends exactly at it (another connection growing the file past
// a connection's cap would raise that connection's cap: SQLite reads what another wrote).
class Filler {
 public:
  Filler(const std::string& path, int64_t cap) {
    SqliteDatabase::Options options;
    options.max_size_bytes = cap;
    db_ = SqliteDatabase::Open(path, options).value();
    EXPECT_TRUE(db_->Execute("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, payload BLOB)").ok());
  }
  // Returns how many rows went in.
  int Fill() {
    int rows = 0;
    for (int size = 256 * 1024; size >= 16;) {
      auto insert = db_->Prepare("INSERT INTO filler (payload) VALUES (zeroblob(?1))").value();
      insert.Bind(1, int64_t{size});
      const absl::Status status = insert.Run();
      if (status.ok()) {
        ++rows;
      } else {
        EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
        size /= 2;
      }
    }
    return rows;
  }
  void Empty() { ASSERT_TRUE(db_->Execute("DELETE FROM filler").ok()); }
  SqliteDatabase& db() { return *db_; }

 private:
  std::unique_ptr<SqliteDatabase> db_;
};

class SqliteFullTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteMigrationStore> OpenStore(SqliteDatabase::Options options) {
    options.health = &health_;
    auto store = SqliteMigrationStore::Open(path_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::unique_ptr<SqliteMigrationStore> OpenCapped() {
    SqliteDatabase::Options options;
    options.max_size_bytes = kCap;
    return OpenStore(options);
  }

  testing::TempDir dir_;
  const std::string path_ = dir_.path() + "/orchestrator.db";
  StoreHealth health_{"orchestrator.db", QuickProbes()};
};

TEST_F(SqliteFullTest, AWriteOverTheCapIsRefusedNamingTheFileAndLeavesTheStoreAsItWas) {
  auto store = OpenCapped();
  ASSERT_NE(store, nullptr);
  v1::Migration first = MakeMigration("first");
  first.set_last_event_sequence(1);
  ASSERT_TRUE(store
                  ->CreateMigration(first, MakeMoves(first.name(), 20), {MakeEvent(first.name(), 1)},
                                    Request("req-1", first.name()))
                  .ok());
  EXPECT_FALSE(health_.full());

  Filler filler(path_, kCap);
  EXPECT_GT(filler.Fill(), 0);
  auto space = filler.db().MeasureSpace().value();
  EXPECT_EQ(space.file_bytes, kCap) << "the file is filled exactly to the cap";

  // A new migration of 300 users needs new pages: refused, and nothing of it stored.
  v1::Migration second = MakeMigration("second");
  second.set_last_event_sequence(1);
  const absl::Status refused = store->CreateMigration(
      second, MakeMoves(second.name(), 300), {MakeEvent(second.name(), 1)}, Request("req-2", second.name()), "csv");
  ASSERT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("the state database " + path_ + " is full and refuses writes"));
  EXPECT_THAT(refused.message(), HasSubstr("capped at 1 MiB"));
  EXPECT_THAT(refused.message(), HasSubstr("nothing of this change was stored"));
  EXPECT_GT(RetryDelayOf(refused), absl::ZeroDuration()) << "RetryInfo tells clients to back off";
  EXPECT_TRUE(absl::IsNotFound(store->GetMigration(second.name()).status()));
  EXPECT_FALSE(store->FindRequest("req-2").value().has_value());
  EXPECT_TRUE(absl::IsNotFound(store->GetUserMove(second.name() + "/users/user1000@contoso.onmicrosoft.com").status()));

  // So is a change of the existing migration that needs new pages: its record and events stay as they were.
  const v1::Migration before = store->GetMigration(first.name()).value();
  const absl::Status change = store->Apply(EventsChange(before, 300));
  ASSERT_TRUE(absl::IsResourceExhausted(change)) << change;
  EXPECT_EQ(store->GetMigration(first.name()).value().DebugString(), before.DebugString());
  ExpectContiguous(*store, first.name());

  EXPECT_TRUE(health_.full());
  const absl::Status writable = health_.CheckWritable();
  EXPECT_TRUE(absl::IsResourceExhausted(writable));
  EXPECT_THAT(writable.message(), HasSubstr(path_));
  EXPECT_GE(health_.WriteFailures()["resource_exhausted"], 2);
  // Reads go on.
  EXPECT_EQ(store->ListUserMoves(UserMoveQuery(first.name())).value().user_moves.size(), 20u);

  // Space returns: the freed pages are reused, and the same writes go through.
  filler.Empty();
  EXPECT_FALSE(health_.full()) << "the probe sees the room";
  EXPECT_TRUE(health_.CheckWritable().ok());
  ASSERT_TRUE(store
                  ->CreateMigration(second, MakeMoves(second.name(), 300), {MakeEvent(second.name(), 1)},
                                    Request("req-2", second.name()), "csv")
                  .ok());
  ASSERT_TRUE(store->Apply(EventsChange(store->GetMigration(first.name()).value(), 300)).ok());
  ExpectContiguous(*store, first.name());
  ExpectContiguous(*store, second.name());
  EXPECT_EQ(store->GetMigration(first.name()).value().last_event_sequence(), 301);
  EXPECT_EQ(filler.db().MeasureSpace().value().file_bytes, kCap) << "all of it fitted in the freed pages";
}

TEST_F(SqliteFullTest, ACommitThatFailsForADiskFullIsRolledBackAndTheConnectionCarriesOn) {
  SqliteDatabase::Options options;
  options.vfs = RegisterFaultyVfs();
  auto store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  v1::Migration migration = MakeMigration("m");
  migration.set_last_event_sequence(1);
  ASSERT_TRUE(store->CreateMigration(migration, MakeMoves(migration.name(), 5), {MakeEvent(migration.name(), 1)}).ok());

  g_disk_full = true;
  const v1::Migration before = store->GetMigration(migration.name()).value();
  const absl::Status refused = store->Apply(EventsChange(before, 3));
  g_disk_full = false;
  ASSERT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("is full and refuses writes"));
  EXPECT_THAT(refused.message(), ::testing::Not(HasSubstr("capped"))) << "no cap was set: the disk is full";
  EXPECT_EQ(store->GetMigration(migration.name()).value().DebugString(), before.DebugString());
  ExpectContiguous(*store, migration.name());

  // Not left inside the failed transaction: the next one begins and commits.
  ASSERT_TRUE(store->Apply(EventsChange(store->GetMigration(migration.name()).value(), 3)).ok());
  ExpectContiguous(*store, migration.name());
  EXPECT_EQ(store->GetMigration(migration.name()).value().last_event_sequence(), 4);
  // A fresh connection (the orchestrator after a restart) reads the same.
  store.reset();
  store = OpenStore(options);
  ExpectContiguous(*store, migration.name());
}

// The worker side of "lose nothing" against the real TaskService: while the database is full no task is
// leased, a completion is refused RESOURCE_EXHAUSTED with the lease intact, and the same completion
// sent again once space returns is recorded.
TEST_F(SqliteFullTest, WhileFullNoTaskIsLeasedAndACompletionSentAgainLaterIsRecorded) {
  SqliteDatabase::Options options;
  options.vfs = RegisterFaultyVfs();
  auto store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  absl::Time now = absl::FromUnixSeconds(1800000000);
  MigrationService::Options migration_options;
  migration_options.now = [&] { return now; };
  MigrationService migrations(store.get(), migration_options);
  TaskService::Options task_options;
  task_options.now = [&] { return now; };
  task_options.health = &health_;
  TaskService tasks(store.get(), &migrations.events(), &migrations.write_mutex(), task_options);
  v1::CreateMigrationRequest create;
  create.set_migration_id("m");
  create.mutable_plan()->set_source_connection("connections/contoso");
  create.mutable_plan()->set_target_connection("connections/fabrikam");
  create.mutable_plan()->mutable_identity_map()->set_csv(
      "User,7f1d1c1e-0000-4000-8000-000000000001,a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\n"
      "User,7f1d1c1e-0000-4000-8000-000000000001,b@contoso.com,b@fabrikam.com,b@fabrikam.com,RegularUser\n");
  ASSERT_TRUE(migrations.CreateMigration(create).ok());
  MigrationChange change;
  change.migration = store->GetMigration("migrations/m").value();
  for (const char* user : {"a@contoso.com", "b@contoso.com"}) {
    v1::Task task;
    task.set_name(UserTaskName("migrations/m", "start", std::string("migrations/m/users/") + user));
    task.set_kind(v1::TASK_KIND_START_MOVE);
    task.set_user_move(std::string("migrations/m/users/") + user);
    task.mutable_start_move()->set_source_user_principal_name(user);
    change.new_tasks.push_back({task, now});
  }
  ASSERT_TRUE(store->Apply(change).ok());
  v1::LeaseTasksRequest lease;
  lease.set_worker_id("w1");
  lease.set_max_tasks(1);
  const v1::Task leased = tasks.LeaseTasks(lease).value().tasks(0);

  v1::CompleteTaskRequest completion;
  completion.set_worker_id("w1");
  completion.set_task(leased.name());
  completion.set_lease_id(leased.lease_id());
  completion.set_outcome(v1::TASK_OUTCOME_SUCCEEDED);
  completion.mutable_move()->set_state(v1::MOVE_STATE_IN_PROGRESS);
  completion.mutable_move()->set_task_id("ms-task-1");
  const int64_t sequence_before = store->GetMigration("migrations/m").value().last_event_sequence();
  const v1::UserMove user_before = store->GetUserMove("migrations/m/users/a@contoso.com").value();

  g_disk_full = true;
  now += absl::Seconds(1);
  const auto refused = tasks.CompleteTask(completion);
  ASSERT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_GE(health_.WriteFailures()["resource_exhausted"], 1);
  // No new work while the disk is full: the lease is refused (by the gate, or by the store: the probe
  // measures the real disk, which this VFS only pretends is full), and the other user's start stays
  // unleased.
  const auto no_lease = tasks.LeaseTasks(lease);
  g_disk_full = false;
  EXPECT_TRUE(absl::IsResourceExhausted(no_lease.status())) << no_lease.status();
  EXPECT_EQ(store->GetTask(UserTaskName("migrations/m", "start", "migrations/m/users/b@contoso.com")).value().attempt(),
            0);
  EXPECT_EQ(store->GetUserMove("migrations/m/users/a@contoso.com").value().DebugString(), user_before.DebugString());
  EXPECT_EQ(store->GetMigration("migrations/m").value().last_event_sequence(), sequence_before);
  EXPECT_TRUE(store->GetTask(leased.name()).ok()) << "the task and its lease are still there";

  // Space is back: the very same completion is recorded, once.
  now += absl::Seconds(2);
  const auto recorded = tasks.CompleteTask(completion);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_EQ(recorded->user_move_state(), v1::USER_MOVE_STATE_IN_PROGRESS);
  EXPECT_EQ(store->GetMigration("migrations/m").value().last_event_sequence(), sequence_before + 1);
  ExpectContiguous(*store, "migrations/m");
  EXPECT_TRUE(absl::IsAborted(tasks.CompleteTask(completion).status())) << "a second copy is fenced off";
}

// The operator's writes while the disk is full: each is refused whole, and succeeds once space returns.
TEST_F(SqliteFullTest, CreatePauseAndCancelAreRefusedWholeWhileTheDiskIsFull) {
  SqliteDatabase::Options options;
  options.vfs = RegisterFaultyVfs();
  auto store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  MigrationService migrations(store.get(), {});
  auto create = [](const std::string& id) {
    v1::CreateMigrationRequest request;
    request.set_migration_id(id);
    request.set_request_id("create-" + id);
    request.mutable_plan()->set_source_connection("connections/contoso");
    request.mutable_plan()->set_target_connection("connections/fabrikam");
    std::string csv;
    for (int i = 0; i < 50; ++i) {
      // Each migration its own users: one user in two live migrations is refused before any write.
      const std::string user = id + std::to_string(i);
      csv += "User,7f1d1c1e-0000-4000-8000-000000000001," + user + "@contoso.com," + user + "@fabrikam.com," + user +
             "@fabrikam.com,RegularUser\n";
    }
    request.mutable_plan()->mutable_identity_map()->set_csv(csv);
    return request;
  };
  ASSERT_TRUE(migrations.CreateMigration(create("m")).ok());
  const v1::Migration before = store->GetMigration("migrations/m").value();

  g_disk_full = true;
  const auto created = migrations.CreateMigration(create("n"));
  v1::PauseMigrationRequest pause;
  pause.set_name("migrations/m");
  const auto paused = migrations.PauseMigration(pause);
  v1::CancelMigrationRequest cancel;
  cancel.set_name("migrations/m");
  const auto cancelled = migrations.CancelMigration(cancel);
  g_disk_full = false;

  for (const absl::Status& status : {created.status(), paused.status(), cancelled.status()}) {
    EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
    EXPECT_THAT(status.message(), HasSubstr("the state database " + path_ + " is full and refuses writes"));
  }
  EXPECT_TRUE(absl::IsNotFound(store->GetMigration("migrations/n").status()));
  EXPECT_FALSE(store->FindRequest("create-n").value().has_value());
  EXPECT_EQ(store->GetMigration("migrations/m").value().DebugString(), before.DebugString());
  EXPECT_EQ(store->CountUserMoves("migrations/m").value().at(v1::USER_MOVE_STATE_PENDING), 50) << "no user stopped";
  ExpectContiguous(*store, "migrations/m");

  // Space is back: the same requests go through (the create by its request id, once).
  ASSERT_TRUE(migrations.CreateMigration(create("n")).ok());
  ASSERT_TRUE(migrations.CreateMigration(create("n")).ok()) << "a retry with the same request id";
  EXPECT_EQ(migrations.PauseMigration(pause).value().state(), v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(migrations.CancelMigration(cancel).value().state(), v1::MIGRATION_STATE_CANCELLED);
  EXPECT_EQ(store->CountUserMoves("migrations/m").value().at(v1::USER_MOVE_STATE_STOPPED), 50);
  ExpectContiguous(*store, "migrations/m");
  ExpectContiguous(*store, "migrations/n");
}

TEST_F(SqliteFullTest, LeasingIsRefusedWhileTheCapIsReachedAndResumesWhenPagesAreFreed) {
  auto store = OpenCapped();
  ASSERT_NE(store, nullptr);
  MigrationService migrations(store.get(), {});
  TaskService::Options task_options;
  task_options.health = &health_;
  TaskService tasks(store.get(), &migrations.events(), &migrations.write_mutex(), task_options);
  v1::Migration migration = MakeMigration("m");
  migration.set_last_event_sequence(1);
  ASSERT_TRUE(store->CreateMigration(migration, MakeMoves(migration.name(), 5), {MakeEvent(migration.name(), 1)}).ok());
  Filler filler(path_, kCap);
  filler.Fill();
  ASSERT_TRUE(
      absl::IsResourceExhausted(store->Apply(EventsChange(store->GetMigration(migration.name()).value(), 300))));

  v1::LeaseTasksRequest lease;
  lease.set_worker_id("w1");
  const auto refused = tasks.LeaseTasks(lease);
  ASSERT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr(path_));
  EXPECT_THAT(refused.status().message(), HasSubstr("no new work is handed out while the state database is full"));
  EXPECT_GT(RetryDelayOf(refused.status()), absl::ZeroDuration());

  filler.Empty();
  EXPECT_TRUE(tasks.LeaseTasks(lease).ok()) << "the probe found the freed pages";
  EXPECT_FALSE(health_.full());
}

TEST_F(SqliteFullTest, SqliteErrorsMapToStatusCodesByWhatTheCallerCanDo) {
  auto db = SqliteDatabase::Open(path_).value();
  EXPECT_TRUE(absl::IsResourceExhausted(db->StatusFor(SQLITE_FULL, "step", "database or disk is full")));
  EXPECT_TRUE(absl::IsUnavailable(db->StatusFor(SQLITE_BUSY, "step", "database is locked")));
  EXPECT_TRUE(absl::IsUnavailable(db->StatusFor(SQLITE_LOCKED, "step", "database table is locked")));
  EXPECT_TRUE(absl::IsDataLoss(db->StatusFor(SQLITE_CORRUPT, "step", "database disk image is malformed")));
  EXPECT_TRUE(absl::IsDataLoss(db->StatusFor(SQLITE_NOTADB, "step", "file is not a database")));
  EXPECT_TRUE(absl::IsInternal(db->StatusFor(SQLITE_IOERR, "step", "disk I/O error")));
  EXPECT_TRUE(absl::IsInternal(db->StatusFor(SQLITE_MISUSE, "step", "bad parameter or other API misuse")));
  EXPECT_THAT(db->StatusFor(SQLITE_CORRUPT, "step", "malformed").message(),
              HasSubstr("restore the file from a backup"));
}

TEST_F(SqliteFullTest, ALockHeldPastTheBusyTimeoutIsUnavailableAndCounted) {
  SqliteDatabase::Options options;
  options.busy_timeout = absl::Milliseconds(50);
  auto store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  v1::Migration migration = MakeMigration("m");
  ASSERT_TRUE(store->CreateMigration(migration, {}, {}).ok());
  auto other = SqliteDatabase::Open(path_).value();
  ASSERT_TRUE(other->Begin().ok());
  const absl::Status locked = store->Apply(EventsChange(store->GetMigration(migration.name()).value(), 1));
  other->Rollback();
  EXPECT_TRUE(absl::IsUnavailable(locked)) << locked;
  EXPECT_THAT(locked.message(), HasSubstr("locked by another connection"));
  EXPECT_EQ(health_.WriteFailures()["unavailable"], 1);
  EXPECT_FALSE(health_.full()) << "a lock is not a full database";
  EXPECT_TRUE(store->Apply(EventsChange(store->GetMigration(migration.name()).value(), 1)).ok());
}

TEST_F(SqliteFullTest, AFileThatIsNotADatabaseIsDataLoss) {
  std::ofstream(path_) << std::string(8192, 'z');
  const auto store = SqliteMigrationStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsDataLoss(store.status())) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr(path_));
}

TEST_F(SqliteFullTest, AFileAlreadyOverItsCapOpensAndOnlyWritesThatNeedNewPagesAreRefused) {
  {
    auto store = OpenStore({});
    v1::Migration migration = MakeMigration("big");
    migration.set_last_event_sequence(1);
    ASSERT_TRUE(
        store->CreateMigration(migration, MakeMoves(migration.name(), 4000), {MakeEvent(migration.name(), 1)}).ok());
  }
  ASSERT_GT(SqliteDatabase::Open(path_).value()->MeasureSpace().value().file_bytes, kCap);
  auto store = OpenCapped();
  ASSERT_NE(store, nullptr) << "the cap does not stop the orchestrator from starting";
  EXPECT_EQ(store->ListUserMoves(UserMoveQuery("migrations/big")).value().user_moves.size(), 100u);
  EXPECT_TRUE(
      absl::IsResourceExhausted(store->Apply(EventsChange(store->GetMigration("migrations/big").value(), 500))));
}

// A busy hour's page cache is given back (what the services' housekeeping asks for every 10 s) and the
// next reads find every row in the file.
TEST_F(SqliteFullTest, ReleasingMemoryEmptiesThePageCacheAndLosesNothing) {
  auto store = OpenStore({});
  v1::Migration migration = MakeMigration("big");
  migration.set_last_event_sequence(1);
  ASSERT_TRUE(
      store->CreateMigration(migration, MakeMoves(migration.name(), 4000), {MakeEvent(migration.name(), 1)}).ok());

  // A connection of its own, whose cache a read of every user fills.
  auto db = SqliteDatabase::Open(path_).value();
  ASSERT_EQ(sqlite3_exec(db->handle(), "SELECT COUNT(record) FROM user_moves", nullptr, nullptr, nullptr), SQLITE_OK);
  int filled = 0, released = 0, highest = 0;
  ASSERT_EQ(sqlite3_db_status(db->handle(), SQLITE_DBSTATUS_CACHE_USED, &filled, &highest, 0), SQLITE_OK);
  db->ReleaseMemory();
  ASSERT_EQ(sqlite3_db_status(db->handle(), SQLITE_DBSTATUS_CACHE_USED, &released, &highest, 0), SQLITE_OK);
  EXPECT_GT(filled, 256 * 1024) << "the read did not fill the cache";
  EXPECT_LT(released, filled / 4);

  store->ReleaseMemory();
  EXPECT_EQ(store->CountUserMoves(migration.name()).value().at(v1::USER_MOVE_STATE_PENDING), 4000);
  EXPECT_EQ(store->ListUserMoves(UserMoveQuery(migration.name())).value().user_moves.size(), 100u);
}

// StoreHealth on its own: one ERROR line per episode, however many writes are refused; the episode
// ends when the probe sees room.
TEST(StoreHealthTest, OneEpisodePerFullSpellAndTheProbeEndsIt) {
  absl::Time now = absl::FromUnixSeconds(1000);
  StoreHealth::Options options;
  options.now = [&] { return now; };
  StoreHealth health("db", options);
  bool room = false;
  int probes = 0;
  health.SetRoomProbe([&]() -> absl::StatusOr<bool> {
    ++probes;
    return room;
  });
  const absl::Status full = absl::ResourceExhaustedError("the state database db is full and refuses writes");
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 50; ++i) {
    health.WriteFailed(full);
    now += absl::Milliseconds(100);
  }
  EXPECT_TRUE(health.full());
  EXPECT_FALSE(health.CheckWritable().ok());
  now += absl::Seconds(2);
  room = true;
  EXPECT_TRUE(health.CheckWritable().ok());
  EXPECT_FALSE(health.full());
  const std::string log = ::testing::internal::GetCapturedStderr();
  auto count = [&log](const std::string& what) {
    int n = 0;
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("the state database is full"), 1) << log;
  EXPECT_EQ(count("the state database has room again"), 1) << log;
  EXPECT_THAT(log, HasSubstr("refused_writes=50"));
  EXPECT_LE(probes, 2) << "probes are rate-limited";
  EXPECT_EQ(health.WriteFailures()["resource_exhausted"], 50);
  EXPECT_EQ(health.WriteFailures()["data_loss"], 0) << "every counted code is exported from 0";

  // Flapping within the quiet period is not logged again.
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 10; ++i) {
    room = false;
    health.WriteFailed(full);
    now += absl::Seconds(2);
    room = true;
    EXPECT_FALSE(health.full());
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace crosstenant::orchestrator
