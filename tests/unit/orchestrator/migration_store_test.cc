// The MigrationStore contract, run against both stores (SQLite, and PostgreSQL on the test server of
// the ctest fixture `postgres`), then what is particular to each: SQLite's file, PostgreSQL's replicas,
// schema locking, connection loss and error mapping.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/common/audit_chain.h"
#include "services/orchestrator/store/postgres.h"
#include "services/orchestrator/store/postgres_migration_store.h"
#include "services/orchestrator/store/sqlite_migration_store.h"
#include "services/common/store_health.h"
#include "tests/support/server_process.h"
#include "tests/support/test_postgres.h"

namespace crosstenant::orchestrator {
namespace {

using crosstenant::v1::Migration;
using crosstenant::v1::MigrationEvent;
using crosstenant::v1::Task;
using crosstenant::v1::UserMove;
using crosstenant::v1::UserMoveState;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

Migration MakeMigration(const std::string& id, int64_t created_seconds) {
  Migration migration;
  migration.set_name("migrations/" + id);
  migration.set_state(crosstenant::v1::MIGRATION_STATE_RUNNING);
  migration.mutable_create_time()->set_seconds(created_seconds);
  return migration;
}

UserMove MakeMove(const std::string& migration, const std::string& upn, UserMoveState state,
                  const std::string& geo = "nam") {
  UserMove move;
  move.set_name(migration + "/users/" + upn);
  move.set_source_user_principal_name(upn);
  move.set_state(state);
  move.set_source_geo(geo);
  return move;
}

RequestRecord Request(const std::string& request_id, const std::string& migration,
                      const std::string& method = "CreateMigration") {
  return RequestRecord{request_id, method, migration, "fingerprint-of-" + request_id};
}

MigrationEvent MakeEvent(const std::string& migration, int64_t sequence) {
  MigrationEvent event;
  event.set_name(migration);
  event.set_sequence(sequence);
  event.set_message("event " + std::to_string(sequence));
  return event;
}

NewTask MakeTask(const std::string& migration, const std::string& verb, const std::string& upn,
                 crosstenant::v1::TaskKind kind, absl::Time ready) {
  NewTask added;
  const std::string user_move = migration + "/users/" + upn;
  added.task.set_name(UserTaskName(migration, verb, user_move));
  added.task.set_kind(kind);
  added.task.set_user_move(user_move);
  added.ready_time = ready;
  return added;
}

MigrationChange ChangeOf(Migration migration) {
  MigrationChange change;
  change.migration = std::move(migration);
  return change;
}

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);

// The database a test runs against, and how to open a store on it (another one: another replica).
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  virtual absl::StatusOr<std::unique_ptr<MigrationStore>> Open() = 0;
  // Runs SQL on a connection of its own, as someone with the database's credentials could.
  virtual absl::Status ExecuteSql(const std::string& sql) = 0;
  // The schema version that brought the audit trail.
  virtual int AuditTrailSchemaVersion() const = 0;
};

class SqliteBackend : public StoreBackend {
 public:
  absl::StatusOr<std::unique_ptr<MigrationStore>> Open() override {
    auto store = SqliteMigrationStore::Open(dir_.path() + "/orchestrator.db");
    if (!store.ok()) return store.status();
    return std::unique_ptr<MigrationStore>(std::move(*store));
  }
  int AuditTrailSchemaVersion() const override { return 8; }
  absl::Status ExecuteSql(const std::string& sql) override {
    auto db = SqliteDatabase::Open(dir_.path() + "/orchestrator.db");
    if (!db.ok()) return db.status();
    return (*db)->Execute(sql);
  }

 private:
  testing::TempDir dir_;
};

class PostgresBackend : public StoreBackend {
 public:
  explicit PostgresBackend(std::unique_ptr<testing::TestPostgresDatabase> database) : database_(std::move(database)) {}
  absl::StatusOr<std::unique_ptr<MigrationStore>> Open() override {
    auto store = PostgresMigrationStore::Open(database_->dsn());
    if (!store.ok()) return store.status();
    return std::unique_ptr<MigrationStore>(std::move(*store));
  }
  int AuditTrailSchemaVersion() const override { return 5; }
  absl::Status ExecuteSql(const std::string& sql) override {
    auto db = PgConnection::Connect(database_->dsn());
    if (!db.ok()) return db.status();
    return (*db)->Execute(sql);
  }

 private:
  std::unique_ptr<testing::TestPostgresDatabase> database_;
};

struct StoreKind {
  std::string name;
  std::function<absl::StatusOr<std::unique_ptr<StoreBackend>>()> make;
};

void PrintTo(const StoreKind& kind, std::ostream* out) { *out << kind.name; }

const StoreKind kSqlite = {
    "SQLite", []() -> absl::StatusOr<std::unique_ptr<StoreBackend>> { return std::make_unique<SqliteBackend>(); }};
const StoreKind kPostgres = {"PostgreSQL", []() -> absl::StatusOr<std::unique_ptr<StoreBackend>> {
                               auto database = testing::TestPostgresDatabase::Create();
                               if (!database.ok()) return database.status();
                               return std::make_unique<PostgresBackend>(std::move(*database));
                             }};

class MigrationStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    auto backend = GetParam().make();
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  // A store on the same database (the same file, for SQLite).
  std::unique_ptr<MigrationStore> OpenStore() {
    auto store = backend_->Open();
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // A RUNNING migration with one task per user, ready at kT0.
  void CreateWithTasks(const std::string& id, int users, crosstenant::v1::TaskKind kind) {
    const std::string name = "migrations/" + id;
    std::vector<UserMove> moves;
    MigrationChange change = ChangeOf(MakeMigration(id, 1));
    for (int i = 0; i < users; ++i) {
      const std::string upn = "u" + std::to_string(i) + "@x.com";
      moves.push_back(MakeMove(name, upn, crosstenant::v1::USER_MOVE_STATE_QUEUED));
      change.new_tasks.push_back(MakeTask(name, "poll", upn, kind, kT0));
    }
    ASSERT_TRUE(store_->CreateMigration(MakeMigration(id, 1), moves, {}).ok());
    ASSERT_TRUE(store_->Apply(change).ok());
  }

  // The source UPNs of every page of `query`, in order; no page holds more than query.page_size users.
  std::vector<std::string> ListAllUpns(UserMoveQuery query) {
    std::vector<std::string> upns;
    do {
      auto page = store_->ListUserMoves(query);
      if (!page.ok()) {
        ADD_FAILURE() << page.status();
        break;
      }
      EXPECT_LE(page->user_moves.size(), static_cast<size_t>(query.page_size));
      for (const UserMove& user : page->user_moves) upns.push_back(user.source_user_principal_name());
      query.page_token = page->next_page_token;
    } while (!query.page_token.empty());
    return upns;
  }

  std::unique_ptr<StoreBackend> backend_;  // outlives the stores
  std::unique_ptr<MigrationStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, MigrationStoreTest, ::testing::Values(kSqlite));
INSTANTIATE_TEST_SUITE_P(Postgres, MigrationStoreTest, ::testing::Values(kPostgres));

TEST_P(MigrationStoreTest, CreatesAndReadsBackAMigrationWithItsUsersAndEvents) {
  ASSERT_TRUE(store_
                  ->CreateMigration(
                      MakeMigration("m1", 100),
                      {MakeMove("migrations/m1", "bob@contoso.com", crosstenant::v1::USER_MOVE_STATE_PENDING),
                       MakeMove("migrations/m1", "Alice@contoso.com", crosstenant::v1::USER_MOVE_STATE_BLOCKED, "eur")},
                      {MakeEvent("migrations/m1", 1)}, Request("req-1", "migrations/m1"), "source,target\na,b\n")
                  .ok());
  EXPECT_EQ(store_->GetMigration("migrations/m1")->state(), crosstenant::v1::MIGRATION_STATE_RUNNING);
  EXPECT_EQ(store_->GetMigration("migrations/none").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->FindRequest("req-1")->has_value());
  EXPECT_EQ((*store_->FindRequest("req-1"))->migration, "migrations/m1");
  EXPECT_EQ((*store_->FindRequest("req-1"))->method, "CreateMigration");
  EXPECT_EQ((*store_->FindRequest("req-1"))->fingerprint, "fingerprint-of-req-1");
  EXPECT_FALSE(store_->FindRequest("req-2")->has_value());
  EXPECT_EQ(store_->GetIdentityMap("migrations/m1").value_or(""), "source,target\na,b\n");
  EXPECT_EQ(store_->GetIdentityMap("migrations/none").status().code(), absl::StatusCode::kNotFound);

  auto page = store_->ListUserMoves(UserMoveQuery("migrations/m1"));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->user_moves.size(), 2u);
  EXPECT_EQ(page->user_moves[0].source_user_principal_name(), "Alice@contoso.com") << "ordered by UPN, any case";
  EXPECT_EQ(store_->GetUserMove("migrations/m1/users/bob@contoso.com")->state(),
            crosstenant::v1::USER_MOVE_STATE_PENDING);
  EXPECT_EQ(store_->GetUserMove("migrations/m1/users/nobody@contoso.com").status().code(), absl::StatusCode::kNotFound);

  auto counts = store_->CountUserMoves("migrations/m1");
  EXPECT_EQ((*counts)[crosstenant::v1::USER_MOVE_STATE_BLOCKED], 1);
  EXPECT_EQ(store_->ListEvents("migrations/m1", 0, 10)->size(), 1u);
}

StagedIdentityMapRow StagedUser(int line, const std::string& source, const std::string& target) {
  StagedIdentityMapRow row;
  row.line = line;
  row.source_key = absl::AsciiStrToLower(source);
  row.target_key = absl::AsciiStrToLower(target);
  row.source = source;
  row.target = target;
  row.email = target;
  row.csv = "User,t," + source + "," + target + "," + target + ",RegularUser\n";
  return row;
}

TEST_P(MigrationStoreTest, AStagedIdentityMapIsWrittenInPagesReadBackInOrderAndConsumedOnce) {
  const std::string upload = "identityMapUploads/u-1";
  ASSERT_TRUE(store_->CreateIdentityMapUpload(upload, kT0).ok());
  EXPECT_EQ(store_->CreateIdentityMapUpload(upload, kT0).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(store_
                  ->AppendStagedRows(upload, {StagedUser(1, "Alice@contoso.com", "alice@fabrikam.com"),
                                              StagedUser(3, "bob@contoso.com", "bob@fabrikam.com")})
                  .ok());
  StagedIdentityMapRow group = StagedUser(4, "g-source", "g-target");
  group.group = true;
  ASSERT_TRUE(store_->AppendStagedRows(upload, {group, StagedUser(7, "carol@contoso.com", "carol@fabrikam.com")}).ok());

  // Duplicates across pages are found by key (lower case), with the line that has it.
  auto sources = store_->FindStagedKeys(upload, false, {"alice@contoso.com", "nobody@contoso.com"});
  ASSERT_TRUE(sources.ok()) << sources.status();
  EXPECT_EQ(*sources, (std::map<std::string, int>{{"alice@contoso.com", 1}}));
  auto targets = store_->FindStagedKeys(upload, true, {"carol@fabrikam.com", "alice@contoso.com", "g-target"});
  ASSERT_TRUE(targets.ok()) << targets.status();
  EXPECT_EQ(*targets, (std::map<std::string, int>{{"carol@fabrikam.com", 7}, {"g-target", 4}}));
  EXPECT_TRUE(store_->FindStagedKeys("identityMapUploads/other", false, {"alice@contoso.com"})->empty());

  // Paged reads, by kind.
  auto first = store_->ListStagedRows(upload, StagedRows::kAll, 0, 2);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].source, "Alice@contoso.com");
  EXPECT_EQ((*first)[1].line, 3);
  auto rest = store_->ListStagedRows(upload, StagedRows::kAll, 3, 2);
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_TRUE((*rest)[0].group);
  EXPECT_EQ((*rest)[1].csv, "User,t,carol@contoso.com,carol@fabrikam.com,carol@fabrikam.com,RegularUser\n");
  EXPECT_EQ(store_->ListStagedRows(upload, StagedRows::kUsers, 0, 10)->size(), 3u);
  EXPECT_EQ(store_->ListStagedRows(upload, StagedRows::kGroups, 0, 10)->size(), 1u);

  // Incomplete: no migration from it yet.
  auto make_move = [](const StagedIdentityMapRow& row) {
    return MakeMove("migrations/m1", row.source_key, crosstenant::v1::USER_MOVE_STATE_PENDING);
  };
  EXPECT_EQ(store_->CreateMigrationFromUpload(MakeMigration("m1", 1), {}, std::nullopt, upload, make_move).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetMigration("migrations/m1").status().code(), absl::StatusCode::kNotFound);

  crosstenant::v1::IdentityMapSummary summary;
  summary.set_user_rows(3);
  summary.set_group_rows(1);
  summary.set_sha256("abc");
  ASSERT_TRUE(store_->CompleteIdentityMapUpload(upload, summary).ok());
  EXPECT_EQ(store_->AppendStagedRows(upload, {StagedUser(9, "d@contoso.com", "d@fabrikam.com")}).code(),
            absl::StatusCode::kFailedPrecondition);
  auto stored = store_->GetIdentityMapUpload(upload);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(stored->complete);
  EXPECT_EQ(stored->summary.sha256(), "abc");
  EXPECT_EQ(stored->create_time, kT0);
  EXPECT_TRUE(stored->migration.empty());

  ASSERT_TRUE(store_
                  ->CreateMigrationFromUpload(MakeMigration("m1", 1), {MakeEvent("migrations/m1", 1)},
                                              Request("req-1", "migrations/m1"), upload, make_move)
                  .ok());
  EXPECT_EQ(store_->CountUserMoves("migrations/m1")->at(crosstenant::v1::USER_MOVE_STATE_PENDING), 3);
  ASSERT_TRUE(store_->GetUserMove("migrations/m1/users/alice@contoso.com").ok());
  // Counted in bulk at the creation's end; after it each change counts as usual.
  UserMove alice = *store_->GetUserMove("migrations/m1/users/alice@contoso.com");
  alice.set_state(crosstenant::v1::USER_MOVE_STATE_QUEUED);
  ASSERT_TRUE(store_->Update(*store_->GetMigration("migrations/m1"), {alice}, {}).ok());
  EXPECT_EQ(*store_->CountUserMoves("migrations/m1"),
            (std::map<crosstenant::v1::UserMoveState, int>{{crosstenant::v1::USER_MOVE_STATE_PENDING, 2},
                                                           {crosstenant::v1::USER_MOVE_STATE_QUEUED, 1}}));
  EXPECT_EQ((*store_->FindRequest("req-1"))->migration, "migrations/m1");
  EXPECT_EQ(store_->ListEvents("migrations/m1", 0, 10)->size(), 1u);
  EXPECT_EQ(store_->GetIdentityMap("migrations/m1").value_or("x"), "");
  // Which staged users another migration already has, by index, in line order.
  ASSERT_TRUE(store_
                  ->CreateMigration(
                      MakeMigration("other", 1),
                      {MakeMove("migrations/other", "carol@contoso.com", crosstenant::v1::USER_MOVE_STATE_PENDING),
                       MakeMove("migrations/other", "alice@contoso.com", crosstenant::v1::USER_MOVE_STATE_PENDING)},
                      {})
                  .ok());
  auto taken = store_->StagedUsersIn(upload, {"migrations/other", "migrations/none"}, 10);
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(*taken, (std::vector<std::string>{"Alice@contoso.com", "carol@contoso.com"}));
  EXPECT_EQ(store_->StagedUsersIn(upload, {"migrations/other"}, 1).value_or(std::vector<std::string>{}).size(), 1u);
  EXPECT_TRUE(store_->StagedUsersIn(upload, {"migrations/none"}, 10)->empty());
  // The same for an inline map's keys, in the keys' order.
  auto inline_taken = store_->UsersIn({"bob@contoso.com", "carol@contoso.com", "alice@contoso.com"},
                                      {"migrations/none", "migrations/other"}, 10);
  ASSERT_TRUE(inline_taken.ok()) << inline_taken.status();
  EXPECT_EQ(*inline_taken, (std::vector<std::string>{"carol@contoso.com", "alice@contoso.com"}));
  EXPECT_EQ(store_->UsersIn({"carol@contoso.com", "alice@contoso.com"}, {"migrations/other"}, 1)
                .value_or(std::vector<std::string>{})
                .size(),
            1u);
  EXPECT_TRUE(store_->UsersIn({"alice@contoso.com"}, {"migrations/none"}, 10)->empty());
  EXPECT_TRUE(store_->UsersIn({"alice@contoso.com"}, {}, 10)->empty());
  EXPECT_EQ(store_->IdentityMapUploadOf("migrations/m1").value_or(std::nullopt), upload);
  EXPECT_EQ(store_->IdentityMapUploadOf("migrations/m2").value_or("x"), std::nullopt);
  // Used once; a used upload is kept with its migration, whatever its age.
  EXPECT_EQ(store_->CreateMigrationFromUpload(MakeMigration("m2", 1), {}, std::nullopt, upload, make_move).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetMigration("migrations/m2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteUnusedIdentityMapUploads(absl::InfiniteFuture()).value_or(-1), 0);
  EXPECT_EQ(store_->ListStagedRows(upload, StagedRows::kAll, 0, 10)->size(), 4u);
  EXPECT_EQ(
      store_->CreateMigrationFromUpload(MakeMigration("m3", 1), {}, std::nullopt, "identityMapUploads/none", make_move)
          .code(),
      absl::StatusCode::kNotFound);
}

TEST_P(MigrationStoreTest, UnusedUploadsAreDeletedWithTheirRowsOnceOldOrByName) {
  ASSERT_TRUE(store_->CreateIdentityMapUpload("identityMapUploads/old", kT0).ok());
  ASSERT_TRUE(store_->CreateIdentityMapUpload("identityMapUploads/new", kT0 + absl::Hours(1)).ok());
  ASSERT_TRUE(store_->CreateIdentityMapUpload("identityMapUploads/bad", kT0 + absl::Hours(1)).ok());
  for (const char* upload : {"identityMapUploads/old", "identityMapUploads/new", "identityMapUploads/bad"}) {
    ASSERT_TRUE(store_->AppendStagedRows(upload, {StagedUser(1, "a@contoso.com", "a@fabrikam.com")}).ok());
  }
  EXPECT_EQ(store_->DeleteUnusedIdentityMapUploads(kT0 + absl::Minutes(30)).value_or(-1), 1);
  EXPECT_EQ(store_->GetIdentityMapUpload("identityMapUploads/old").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->ListStagedRows("identityMapUploads/old", StagedRows::kAll, 0, 10)->empty());
  EXPECT_TRUE(store_->GetIdentityMapUpload("identityMapUploads/new").ok());
  EXPECT_EQ(store_->DeleteUnusedIdentityMapUploads(absl::InfinitePast(), "identityMapUploads/bad").value_or(-1), 1);
  EXPECT_EQ(store_->GetIdentityMapUpload("identityMapUploads/bad").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListStagedRows("identityMapUploads/new", StagedRows::kAll, 0, 10)->size(), 1u);
  EXPECT_EQ(
      store_->AppendStagedRows("identityMapUploads/bad", {StagedUser(2, "b@contoso.com", "b@fabrikam.com")}).code(),
      absl::StatusCode::kNotFound);
}

TEST_P(MigrationStoreTest, ANameIsTakenOnceAndAFailedCreateLeavesNothing) {
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("m1", 1), {}, {}).ok());
  absl::Status again = store_->CreateMigration(MakeMigration("m1", 2), {}, {});
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr("migrations/m1 already exists"));

  // Two users with the same name: the whole creation rolls back.
  absl::Status duplicate =
      store_->CreateMigration(MakeMigration("m2", 3),
                              {MakeMove("migrations/m2", "a@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING),
                               MakeMove("migrations/m2", "a@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING)},
                              {}, Request("req-m2", "migrations/m2"));
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->GetMigration("migrations/m2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(store_->FindRequest("req-m2")->has_value());
}

TEST_P(MigrationStoreTest, AChangeRemembersItsRequestAndATakenRequestIdWritesNothing) {
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("m1", 1), {}, {}).ok());
  Migration migration = store_->GetMigration("migrations/m1").value();
  migration.set_state(crosstenant::v1::MIGRATION_STATE_PAUSED);
  MigrationChange pause;
  pause.migration = migration;
  pause.request = Request("pause-1", "migrations/m1", "PauseMigration");
  ASSERT_TRUE(store_->Apply(pause).ok());
  const std::optional<RequestRecord> found = store_->FindRequest("pause-1").value();
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->method, "PauseMigration");
  EXPECT_EQ(found->migration, "migrations/m1");
  EXPECT_EQ(found->fingerprint, "fingerprint-of-pause-1");

  // The same id again: refused whole, the record as it was.
  Migration again = store_->GetMigration("migrations/m1").value();
  again.set_state(crosstenant::v1::MIGRATION_STATE_CANCELLED);
  again.set_last_event_sequence(1);
  MigrationChange cancel;
  cancel.migration = again;
  cancel.events = {MakeEvent("migrations/m1", 1)};
  cancel.request = Request("pause-1", "migrations/m1", "CancelMigration");
  const absl::Status refused = store_->Apply(cancel);
  EXPECT_EQ(refused.code(), absl::StatusCode::kAlreadyExists) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("request_id pause-1 is already taken"));
  EXPECT_EQ(store_->GetMigration("migrations/m1")->state(), crosstenant::v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(store_->ListEvents("migrations/m1", 0, 10)->size(), 0u);
  EXPECT_EQ(store_->FindRequest("pause-1").value()->method, "PauseMigration");
}

TEST_P(MigrationStoreTest, UpdateWritesMigrationUsersAndEventsTogether) {
  ASSERT_TRUE(store_
                  ->CreateMigration(MakeMigration("m1", 1),
                                    {MakeMove("migrations/m1", "a@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING)},
                                    {MakeEvent("migrations/m1", 1)})
                  .ok());
  Migration paused = MakeMigration("m1", 1);
  paused.set_state(crosstenant::v1::MIGRATION_STATE_PAUSED);
  paused.set_last_event_sequence(3);
  ASSERT_TRUE(store_
                  ->Update(paused, {MakeMove("migrations/m1", "a@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED)},
                           {MakeEvent("migrations/m1", 2), MakeEvent("migrations/m1", 3)})
                  .ok());
  EXPECT_EQ(store_->GetMigration("migrations/m1")->state(), crosstenant::v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(store_->GetUserMove("migrations/m1/users/a@x.com")->state(), crosstenant::v1::USER_MOVE_STATE_QUEUED);
  auto events = store_->ListEvents("migrations/m1", 1, 10);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].sequence(), 3);

  // An update naming an unknown user changes nothing at all.
  Migration later = paused;
  later.set_state(crosstenant::v1::MIGRATION_STATE_CANCELLED);
  EXPECT_EQ(store_
                ->Update(later, {MakeMove("migrations/m1", "ghost@x.com", crosstenant::v1::USER_MOVE_STATE_STOPPED)},
                         {MakeEvent("migrations/m1", 4)})
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetMigration("migrations/m1")->state(), crosstenant::v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(store_->ListEvents("migrations/m1", 3, 10)->size(), 0u);
  // So does an update of a migration that does not exist.
  EXPECT_EQ(store_->Update(MakeMigration("ghost", 1), {}, {}).code(), absl::StatusCode::kNotFound);
}

TEST_P(MigrationStoreTest, PagesThroughMigrationsNewestFirstAndUsersByUpnWithFilters) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->CreateMigration(MakeMigration("m" + std::to_string(i), i), {}, {}).ok());
  }
  // Two created in the same second: by name.
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("m3b", 3), {}, {}).ok());
  std::vector<std::string> names;
  std::string token;
  do {
    auto page = store_->ListMigrations({}, 2, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& migration : page->migrations) names.push_back(migration.name());
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_THAT(names, ElementsAre("migrations/m4", "migrations/m3", "migrations/m3b", "migrations/m2", "migrations/m1",
                                 "migrations/m0"));
  EXPECT_EQ(store_->ListMigrations({}, 2, "!!not-a-token").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListMigrations({crosstenant::v1::MIGRATION_STATE_PAUSED}, 10, "")->migrations.size(), 0u);
  EXPECT_EQ(
      store_
          ->ListMigrations({crosstenant::v1::MIGRATION_STATE_PAUSED, crosstenant::v1::MIGRATION_STATE_RUNNING}, 10, "")
          ->migrations.size(),
      6u);
}

TEST_P(MigrationStoreTest, UserMovesMustBelongToTheMigrationTheyAreCreatedWith) {
  absl::Status stray = store_->CreateMigration(
      MakeMigration("m1", 1), {MakeMove("migrations/other", "a@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING)}, {});
  EXPECT_EQ(stray.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(store_->GetMigration("migrations/m1").status().code(), absl::StatusCode::kNotFound);
}

// A migration's tasks are found by their names (migrations/{m}/tasks/...): a task named otherwise is
// refused, and the tasks of migrations whose names share a prefix ("m", "m2") are kept apart.
TEST_P(MigrationStoreTest, TasksBelongToTheMigrationTheirNameStartsWith) {
  for (const std::string id : {"m", "m2"}) {
    const std::string m = "migrations/" + id;
    ASSERT_TRUE(store_
                    ->CreateMigration(MakeMigration(id, 1),
                                      {MakeMove(m, "a@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED)}, {})
                    .ok());
  }
  MigrationChange stray = ChangeOf(*store_->GetMigration("migrations/m"));
  stray.new_tasks = {MakeTask("migrations/m2", "start", "a@x.com", crosstenant::v1::TASK_KIND_START_MOVE, kT0)};
  EXPECT_EQ(store_->Apply(stray).code(), absl::StatusCode::kInternal);

  MigrationChange second = ChangeOf(*store_->GetMigration("migrations/m2"));
  second.new_tasks = {MakeTask("migrations/m2", "start", "a@x.com", crosstenant::v1::TASK_KIND_START_MOVE, kT0),
                      MakeTask("migrations/m2", "poll", "a@x.com", crosstenant::v1::TASK_KIND_POLL_MOVE, kT0)};
  second.new_tasks[0].task.set_attempt(1);  // leased once, and retried
  ASSERT_TRUE(store_->Apply(second).ok());
  EXPECT_EQ(store_->CountTasks("migrations/m").value_or(-1), 0);
  EXPECT_EQ(store_->CountTasks("migrations/m2").value_or(-1), 2);
  UserMoveQuery with_task("migrations/m");
  with_task.with_leased_task = true;
  EXPECT_TRUE(store_->ListUserMoves(with_task)->user_moves.empty()) << "m2's tasks are not m's";
  with_task.migration = "migrations/m2";
  EXPECT_EQ(store_->ListUserMoves(with_task)->user_moves.size(), 1u);
  EXPECT_EQ(store_->CountActiveMoves("migrations/m", "nam").value_or(-1), 0);
  EXPECT_EQ(store_->CountActiveMoves("migrations/m2", "nam").value_or(-1), 1) << "a queued user with a start task";
}

TEST_P(MigrationStoreTest, FiltersUsersByStateAndGeoAcrossPages) {
  std::vector<UserMove> moves;
  for (int i = 0; i < 7; ++i) {
    moves.push_back(
        MakeMove("migrations/m", "u" + std::to_string(i) + "@x.com",
                 i % 2 ? crosstenant::v1::USER_MOVE_STATE_BLOCKED : crosstenant::v1::USER_MOVE_STATE_PENDING,
                 i < 3 ? "eur" : "nam"));
  }
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("m", 1), moves, {}).ok());
  UserMoveQuery query;
  query.migration = "migrations/m";
  query.states = {crosstenant::v1::USER_MOVE_STATE_PENDING};
  query.source_geo = "nam";
  query.page_size = 1;
  EXPECT_THAT(ListAllUpns(query), ElementsAre("u4@x.com", "u6@x.com"));
}

TEST_P(MigrationStoreTest, OrdersUpnsByteWiseWhateverTheDatabaseLocale) {
  // A locale-aware collation would put these in another order (it ignores punctuation at first).
  const std::vector<std::string> upns = {"a-c@x.com", "a.b@x.com", "a_a@x.com", "ab@x.com", "a~z@x.com"};
  std::vector<UserMove> moves;
  for (const std::string& upn : upns)
    moves.push_back(MakeMove("migrations/m", upn, crosstenant::v1::USER_MOVE_STATE_PENDING));
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("m", 1), moves, {}).ok());
  UserMoveQuery query("migrations/m");
  query.page_size = 2;
  EXPECT_THAT(ListAllUpns(query), ElementsAre("a-c@x.com", "a.b@x.com", "a_a@x.com", "ab@x.com", "a~z@x.com"));
}

TEST_P(MigrationStoreTest, StateSurvivesReopening) {
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("m1", 1), {}, {}, Request("req", "migrations/m1")).ok());
  store_.reset();
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_TRUE(store_->GetMigration("migrations/m1").ok());
  ASSERT_TRUE(store_->FindRequest("req")->has_value());
  EXPECT_EQ((*store_->FindRequest("req"))->fingerprint, "fingerprint-of-req");
}

// --- Tasks and leases ---

TEST_P(MigrationStoreTest, ALeaseCallRetriedWithItsRequestIdGetsTheSameLeasesNotMore) {
  const std::string m = "migrations/m";
  ASSERT_TRUE(store_
                  ->CreateMigration(MakeMigration("m", 1),
                                    {MakeMove(m, "a@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED),
                                     MakeMove(m, "b@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED),
                                     MakeMove(m, "c@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED)},
                                    {})
                  .ok());
  MigrationChange change = ChangeOf(*store_->GetMigration(m));
  for (const char* upn : {"a@x.com", "b@x.com", "c@x.com"}) {
    change.new_tasks.push_back(MakeTask(m, "start", upn, crosstenant::v1::TASK_KIND_START_MOVE, kT0));
  }
  ASSERT_TRUE(store_->Apply(change).ok());

  LeaseQuery query{"w1", 2, {}, absl::Seconds(30), kT0 + absl::Seconds(1), "lease-call-1"};
  auto first = store_->LeaseTasks(query);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u);
  query.now = kT0 + absl::Seconds(2);
  auto retried = store_->LeaseTasks(query);
  ASSERT_TRUE(retried.ok()) << retried.status();
  ASSERT_EQ(retried->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*retried)[i].name(), (*first)[i].name());
    EXPECT_EQ((*retried)[i].lease_id(), (*first)[i].lease_id()) << "the same leases, not new ones";
    EXPECT_EQ((*retried)[i].attempt(), 1);
    EXPECT_EQ((*retried)[i].lease_expire_time().seconds(), (*first)[i].lease_expire_time().seconds());
  }
  // Another call (another id) gets what is left; another worker with the same id gets nothing of w1's.
  query.request_id = "lease-call-2";
  EXPECT_EQ(store_->LeaseTasks(query)->size(), 1u);
  query.worker_id = "w2";
  query.request_id = "lease-call-1";
  EXPECT_TRUE(store_->LeaseTasks(query)->empty());
}

TEST_P(MigrationStoreTest, LeasesReadyTasksOldestFirstEachToOneWorkerUntilTheLeaseExpires) {
  const std::string m = "migrations/m";
  ASSERT_TRUE(store_
                  ->CreateMigration(MakeMigration("m", 1),
                                    {MakeMove(m, "a@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED),
                                     MakeMove(m, "b@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED),
                                     MakeMove(m, "c@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED)},
                                    {})
                  .ok());
  MigrationChange change = ChangeOf(*store_->GetMigration(m));
  change.new_tasks = {MakeTask(m, "start", "b@x.com", crosstenant::v1::TASK_KIND_START_MOVE, kT0 + absl::Seconds(1)),
                      MakeTask(m, "start", "a@x.com", crosstenant::v1::TASK_KIND_START_MOVE, kT0 + absl::Seconds(2)),
                      MakeTask(m, "start", "c@x.com", crosstenant::v1::TASK_KIND_START_MOVE, kT0 + absl::Hours(1))};
  ASSERT_TRUE(store_->Apply(change).ok());
  EXPECT_EQ(store_->CountTasks(m).value_or(-1), 3);

  LeaseQuery query{"w1", 10, {}, absl::Seconds(30), kT0 + absl::Seconds(5)};
  auto first = store_->LeaseTasks(query);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u) << "the third is not ready yet";
  EXPECT_EQ((*first)[0].name(), UserTaskName(m, "start", m + "/users/b@x.com")) << "oldest ready time first";
  EXPECT_EQ((*first)[0].attempt(), 1);
  EXPECT_EQ((*first)[0].lease_id().size(), 32u);
  EXPECT_NE((*first)[0].lease_id(), (*first)[1].lease_id());
  EXPECT_EQ((*first)[0].lease_expire_time().seconds(), absl::ToUnixSeconds(kT0 + absl::Seconds(35)));
  EXPECT_EQ(store_->GetTask((*first)[0].name())->attempt(), 1);

  // Nobody else gets them while the lease lives...
  query.worker_id = "w2";
  query.now = kT0 + absl::Seconds(20);
  EXPECT_TRUE(store_->LeaseTasks(query)->empty());
  // ...the holder can extend it, nobody else can...
  const Task& held = (*first)[0];
  auto renewed = store_->RenewLease(held.name(), held.lease_id(), "w1", absl::Seconds(30), kT0 + absl::Seconds(20));
  ASSERT_TRUE(renewed.ok());
  EXPECT_TRUE(renewed->renewed());
  EXPECT_EQ(renewed->lease_expire_time().seconds(), absl::ToUnixSeconds(kT0 + absl::Seconds(50)));
  EXPECT_FALSE(
      store_->RenewLease(held.name(), held.lease_id(), "w2", absl::Seconds(30), kT0 + absl::Seconds(20))->renewed());
  EXPECT_FALSE(
      store_->RenewLease(held.name(), "not-the-lease", "w1", absl::Seconds(30), kT0 + absl::Seconds(20))->renewed());
  // ...and once it lapses the task goes to another worker, under a new lease id and the next attempt.
  query.now = kT0 + absl::Seconds(40);
  auto second = store_->LeaseTasks(query);
  ASSERT_EQ(second->size(), 1u) << "the renewed one is still held";
  EXPECT_EQ((*second)[0].name(), (*first)[1].name());
  EXPECT_EQ((*second)[0].attempt(), 2);
  EXPECT_NE((*second)[0].lease_id(), (*first)[1].lease_id());
  auto late = store_->RenewLease((*first)[1].name(), (*first)[1].lease_id(), "w1", absl::Seconds(30), query.now);
  EXPECT_FALSE(late->renewed());
  EXPECT_FALSE(late->reason().empty());
  EXPECT_EQ(store_->GetTask("migrations/m/tasks/none").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(MigrationStoreTest, ACompletedLeaseIsConsumedOnlyWhileStillHeld) {
  CreateWithTasks("m", 1, crosstenant::v1::TASK_KIND_POLL_MOVE);
  const std::string m = "migrations/m";
  auto leased = store_->LeaseTasks({"w1", 1, {}, absl::Seconds(30), kT0});
  ASSERT_EQ(leased->size(), 1u);
  const Task task = (*leased)[0];

  // A lapsed lease (re-leased to w2 meanwhile) is fenced off: nothing of the change is written.
  auto stolen = store_->LeaseTasks({"w2", 1, {}, absl::Seconds(30), kT0 + absl::Minutes(1)});
  ASSERT_EQ(stolen->size(), 1u);
  MigrationChange late = ChangeOf(*store_->GetMigration(m));
  late.migration.set_state_reason("from w1");
  late.migration.set_last_event_sequence(1);
  late.events = {MakeEvent(m, 1)};
  late.completed = {CompletedLease{task.name(), task.lease_id(), "w1", kT0 + absl::Seconds(10)}};
  absl::Status refused = store_->Apply(late);
  EXPECT_EQ(refused.code(), absl::StatusCode::kAborted);
  EXPECT_FALSE(IsConcurrentChange(refused));
  EXPECT_THAT(refused.message(), HasSubstr(task.lease_id()));
  EXPECT_EQ(store_->GetMigration(m)->state_reason(), "");
  EXPECT_TRUE(store_->ListEvents(m, 0, 10)->empty());
  EXPECT_EQ(store_->CountTasks(m).value_or(-1), 1);

  // The current holder's result is taken, and the task is done.
  MigrationChange done = ChangeOf(*store_->GetMigration(m));
  done.migration.set_state_reason("from w2");
  done.completed = {CompletedLease{task.name(), (*stolen)[0].lease_id(), "w2", kT0 + absl::Minutes(1)}};
  ASSERT_TRUE(store_->Apply(done).ok());
  EXPECT_EQ(store_->GetMigration(m)->state_reason(), "from w2");
  EXPECT_EQ(store_->CountTasks(m).value_or(-1), 0);
  EXPECT_EQ(store_->GetTask(task.name()).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(MigrationStoreTest, AChangeOfSeveralResultsIsWrittenOnlyIfEveryLeaseIsStillHeld) {
  CreateWithTasks("m", 3, crosstenant::v1::TASK_KIND_POLL_MOVE);
  const std::string m = "migrations/m";
  auto leased = store_->LeaseTasks({"w1", 3, {}, absl::Seconds(30), kT0});
  ASSERT_EQ(leased->size(), 3u);
  const absl::Time now = kT0 + absl::Seconds(10);
  std::vector<CompletedLease> leases;
  for (const Task& task : *leased) leases.push_back({task.name(), task.lease_id(), "w1", now});

  // One of the three is not this worker's lease: nothing of the change is written, whichever it is.
  MigrationChange mixed = ChangeOf(*store_->GetMigration(m));
  mixed.migration.set_state_reason("three results");
  mixed.completed = leases;
  mixed.completed[1].lease_id = "not-the-lease";
  absl::Status refused = store_->Apply(mixed);
  EXPECT_EQ(refused.code(), absl::StatusCode::kAborted);
  EXPECT_FALSE(IsConcurrentChange(refused));
  EXPECT_THAT(refused.message(), HasSubstr("not-the-lease"));
  EXPECT_EQ(store_->GetMigration(m)->state_reason(), "");
  EXPECT_EQ(store_->CountTasks(m).value_or(-1), 3) << "the two good leases were not consumed either";

  MigrationChange all = ChangeOf(*store_->GetMigration(m));
  all.migration.set_state_reason("three results");
  all.completed = leases;
  ASSERT_TRUE(store_->Apply(all).ok());
  EXPECT_EQ(store_->GetMigration(m)->state_reason(), "three results");
  EXPECT_EQ(store_->CountTasks(m).value_or(-1), 0);
}

TEST_P(MigrationStoreTest, AChangeNamingARowTwiceWritesItsLastVersionAndOddNamesGoThroughWhole) {
  const std::string m = "migrations/m";
  // Quotes, backslashes, braces, commas and non-ASCII: what an array literal must escape.
  const std::string odd = "o'\"\\{a,b}\xc3\xa9@x.com";
  ASSERT_TRUE(store_
                  ->CreateMigration(MakeMigration("m", 1),
                                    {MakeMove(m, "a@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED),
                                     MakeMove(m, odd, crosstenant::v1::USER_MOVE_STATE_QUEUED)},
                                    {})
                  .ok());
  MigrationChange change = ChangeOf(*store_->GetMigration(m));
  UserMove a = *store_->GetUserMove(m + "/users/a@x.com");
  a.set_state(crosstenant::v1::USER_MOVE_STATE_SCHEDULED);
  change.user_moves.push_back(a);
  UserMove odd_move = *store_->GetUserMove(m + "/users/" + odd);
  odd_move.set_state(crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS);
  odd_move.mutable_error()->set_message(std::string("nul \0 quote \" backslash \\ \xc3\xa9 end", 32));
  change.user_moves.push_back(odd_move);
  a.set_state(crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS);
  change.user_moves.push_back(a);  // the same user again: its last version counts
  change.new_tasks.push_back(MakeTask(m, "poll", "a@x.com", crosstenant::v1::TASK_KIND_POLL_MOVE, kT0));
  change.new_tasks.push_back(MakeTask(m, "poll", odd, crosstenant::v1::TASK_KIND_POLL_MOVE, kT0));
  change.new_tasks.push_back(
      MakeTask(m, "poll", "a@x.com", crosstenant::v1::TASK_KIND_POLL_MOVE, kT0 + absl::Hours(1)));
  change.migration.set_last_event_sequence(2);
  change.events = {MakeEvent(m, 1), MakeEvent(m, 2)};
  ASSERT_TRUE(store_->Apply(change).ok());

  EXPECT_EQ(store_->GetUserMove(m + "/users/a@x.com")->state(), crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS);
  auto stored_odd = store_->GetUserMove(m + "/users/" + odd);
  ASSERT_TRUE(stored_odd.ok()) << stored_odd.status();
  EXPECT_EQ(stored_odd->error().message(), odd_move.error().message());
  auto counts = store_->CountUserMoves(m);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->at(crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS), 2);
  EXPECT_EQ(counts->count(crosstenant::v1::USER_MOVE_STATE_QUEUED), 0u);
  EXPECT_EQ(counts->count(crosstenant::v1::USER_MOVE_STATE_SCHEDULED), 0u);
  EXPECT_EQ(store_->CountTasks(m).value_or(-1), 2) << "one poll per user";
  auto due = store_->LeaseTasks({"w1", 10, {}, absl::Seconds(30), kT0});
  ASSERT_TRUE(due.ok()) << due.status();
  ASSERT_EQ(due->size(), 1u) << "a's poll is the later version, due in an hour";
  EXPECT_EQ((*due)[0].user_move(), m + "/users/" + odd);
  EXPECT_EQ(store_->ListEvents(m, 0, 10)->size(), 2u);

  // A lease named twice is consumed once: the second is lost, and nothing of the change is written.
  MigrationChange twice = ChangeOf(*store_->GetMigration(m));
  twice.migration.set_state_reason("twice");
  twice.completed = {{(*due)[0].name(), (*due)[0].lease_id(), "w1", kT0},
                     {(*due)[0].name(), (*due)[0].lease_id(), "w1", kT0}};
  EXPECT_EQ(store_->Apply(twice).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store_->GetMigration(m)->state_reason(), "");
  EXPECT_EQ(store_->CountTasks(m).value_or(-1), 2);

  // An unknown user among known ones is named, and nothing is written.
  MigrationChange ghost = ChangeOf(*store_->GetMigration(m));
  a.set_state(crosstenant::v1::USER_MOVE_STATE_SUCCESS);
  ghost.user_moves = {a, MakeMove(m, "ghost@x.com", crosstenant::v1::USER_MOVE_STATE_SUCCESS)};
  absl::Status unknown = store_->Apply(ghost);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.message(), HasSubstr("ghost@x.com"));
  EXPECT_EQ(store_->GetUserMove(m + "/users/a@x.com")->state(), crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS);
}

TEST_P(MigrationStoreTest, CountsUsersByStateAsTheyChangeAndNotWhatWasRolledBack) {
  using State = crosstenant::v1::UserMoveState;
  using Counts = std::map<State, int>;
  const std::string m = "migrations/m";
  std::vector<UserMove> moves;
  for (int i = 0; i < 5; ++i) {
    moves.push_back(MakeMove(m, "u" + std::to_string(i) + "@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING));
  }
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("m", 1), moves, {}).ok());
  ASSERT_TRUE(store_
                  ->CreateMigration(MakeMigration("other", 2),
                                    {MakeMove("migrations/other", "a@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING)},
                                    {})
                  .ok());
  EXPECT_EQ(*store_->CountUserMoves(m), (Counts{{crosstenant::v1::USER_MOVE_STATE_PENDING, 5}}));

  moves[0].set_state(crosstenant::v1::USER_MOVE_STATE_QUEUED);
  moves[1].set_state(crosstenant::v1::USER_MOVE_STATE_QUEUED);
  moves[2].set_raw_state("same state, other fields");
  ASSERT_TRUE(store_->Update(*store_->GetMigration(m), {moves[0], moves[1], moves[2]}, {}).ok());
  moves[0].set_state(crosstenant::v1::USER_MOVE_STATE_SUCCESS);
  ASSERT_TRUE(store_->Update(*store_->GetMigration(m), {moves[0]}, {}).ok());
  const Counts expected = {{crosstenant::v1::USER_MOVE_STATE_PENDING, 3},
                           {crosstenant::v1::USER_MOVE_STATE_QUEUED, 1},
                           {crosstenant::v1::USER_MOVE_STATE_SUCCESS, 1}};
  EXPECT_EQ(*store_->CountUserMoves(m), expected);

  // A change refused (a stale etag) counts nothing.
  Migration stale = *store_->GetMigration(m);
  ASSERT_TRUE(store_->Update(*store_->GetMigration(m), {}, {}).ok());
  moves[3].set_state(crosstenant::v1::USER_MOVE_STATE_FAILED);
  EXPECT_TRUE(IsConcurrentChange(store_->Update(stale, {moves[3]}, {})));
  EXPECT_EQ(*store_->CountUserMoves(m), expected);
  EXPECT_EQ(*store_->CountUserMoves("migrations/other"), (Counts{{crosstenant::v1::USER_MOVE_STATE_PENDING, 1}}));
  EXPECT_TRUE(store_->CountUserMoves("migrations/none")->empty());
}

TEST_P(MigrationStoreTest, ReadsATaskWithItsMigrationAndUserMoveTogether) {
  CreateWithTasks("m", 2, crosstenant::v1::TASK_KIND_POLL_MOVE);
  const std::string m = "migrations/m";
  const std::string name = UserTaskName(m, "poll", m + "/users/u1@x.com");
  auto leased = store_->LeaseTasks({"w1", 2, {}, absl::Seconds(30), kT0});
  ASSERT_EQ(leased->size(), 2u);
  auto context = store_->GetTaskContext(name);
  ASSERT_TRUE(context.ok()) << context.status();
  ASSERT_TRUE(context->has_value());
  EXPECT_EQ((*context)->task.name(), name);
  EXPECT_EQ((*context)->task.attempt(), 1);
  EXPECT_EQ((*context)->user_move.name(), m + "/users/u1@x.com");
  EXPECT_EQ((*context)->migration.name(), m);
  EXPECT_EQ((*context)->migration.etag(), store_->GetMigration(m)->etag()) << "the etag to write it back with";

  auto unknown = store_->GetTaskContext(m + "/tasks/poll-nobody@x.com");
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_FALSE(unknown->has_value());
}

TEST_P(MigrationStoreTest, ReadsSeveralTasksContextsInTheOrderAsked) {
  CreateWithTasks("m", 3, crosstenant::v1::TASK_KIND_POLL_MOVE);
  const std::string m = "migrations/m";
  auto task = [&](int i) { return UserTaskName(m, "poll", m + "/users/u" + std::to_string(i) + "@x.com"); };
  auto contexts = store_->GetTaskContexts({task(2), m + "/tasks/poll-nobody@x.com", task(0)});
  ASSERT_TRUE(contexts.ok()) << contexts.status();
  ASSERT_EQ(contexts->size(), 3u);
  ASSERT_TRUE((*contexts)[0].ok() && (*contexts)[0]->has_value());
  EXPECT_EQ((*(*contexts)[0])->task.name(), task(2));
  EXPECT_EQ((*(*contexts)[0])->user_move.name(), m + "/users/u2@x.com");
  EXPECT_EQ((*(*contexts)[0])->migration.etag(), store_->GetMigration(m)->etag());
  ASSERT_TRUE((*contexts)[1].ok());
  EXPECT_FALSE((*contexts)[1]->has_value()) << "no such task";
  ASSERT_TRUE((*contexts)[2].ok() && (*contexts)[2]->has_value());
  EXPECT_EQ((*(*contexts)[2])->user_move.name(), m + "/users/u0@x.com");
}

TEST_P(MigrationStoreTest, ANewTaskReplacesOneOfTheSameNameLeaseAndAll) {
  CreateWithTasks("m", 1, crosstenant::v1::TASK_KIND_POLL_MOVE);
  const std::string m = "migrations/m";
  auto leased = store_->LeaseTasks({"w1", 1, {}, absl::Seconds(30), kT0});
  ASSERT_EQ(leased->size(), 1u);
  MigrationChange retry = ChangeOf(*store_->GetMigration(m));
  NewTask again = MakeTask(m, "poll", "u0@x.com", crosstenant::v1::TASK_KIND_POLL_MOVE, kT0 + absl::Seconds(5));
  again.task.set_attempt(3);
  retry.new_tasks = {again};
  ASSERT_TRUE(store_->Apply(retry).ok());
  EXPECT_EQ(store_->CountTasks(m).value_or(-1), 1);
  EXPECT_EQ(store_->GetTask(again.task.name())->attempt(), 3);
  EXPECT_FALSE(
      store_->RenewLease((*leased)[0].name(), (*leased)[0].lease_id(), "w1", absl::Seconds(30), kT0)->renewed())
      << "the old lease went with the old task";
  auto next = store_->LeaseTasks({"w2", 5, {}, absl::Seconds(30), kT0 + absl::Seconds(6)});
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].attempt(), 4);
}

TEST_P(MigrationStoreTest, LeasesOnlyForRunnableMigrationsAndNoUnstartedMovesWhileCancelling) {
  const std::string m = "migrations/m";
  ASSERT_TRUE(store_
                  ->CreateMigration(MakeMigration("m", 1),
                                    {MakeMove(m, "a@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED),
                                     MakeMove(m, "b@x.com", crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS),
                                     MakeMove(m, "c@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED)},
                                    {})
                  .ok());
  MigrationChange change = ChangeOf(*store_->GetMigration(m));
  NewTask retried_start = MakeTask(m, "start", "c@x.com", crosstenant::v1::TASK_KIND_START_MOVE, kT0);
  retried_start.task.set_attempt(1);  // a worker took it once already
  change.new_tasks = {MakeTask(m, "start", "a@x.com", crosstenant::v1::TASK_KIND_START_MOVE, kT0),
                      MakeTask(m, "poll", "b@x.com", crosstenant::v1::TASK_KIND_POLL_MOVE, kT0), retried_start};
  change.migration.set_state(crosstenant::v1::MIGRATION_STATE_PAUSED);
  ASSERT_TRUE(store_->Apply(change).ok());
  const LeaseQuery query{"w1", 10, {}, absl::Seconds(30), kT0 + absl::Seconds(1)};
  EXPECT_TRUE(store_->LeaseTasks(query)->empty()) << "paused";

  Migration cancelling = *store_->GetMigration(m);
  cancelling.set_state(crosstenant::v1::MIGRATION_STATE_CANCELLING);
  ASSERT_TRUE(store_->Update(cancelling, {}, {}).ok());
  // By kind first: only the start moves asked for.
  LeaseQuery starts = query;
  starts.kinds = {crosstenant::v1::TASK_KIND_START_MOVE};
  auto started = store_->LeaseTasks(starts);
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_EQ(started->size(), 1u) << "a start no worker has taken yet is held back while cancelling";
  EXPECT_EQ((*started)[0].name(), retried_start.task.name());
  auto rest = store_->LeaseTasks(query);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].kind(), crosstenant::v1::TASK_KIND_POLL_MOVE);
}

TEST_P(MigrationStoreTest, AUserCountsInTheQueueOfItsSourceGeoAsItsGeoAndStateChange) {
  const std::string m = "migrations/m";
  UserMove unchecked = MakeMove(m, "a@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED, "");
  UserMove queued = MakeMove(m, "b@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED, "nam");
  UserMove moving = MakeMove(m, "d@x.com", crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS, "nam");
  ASSERT_TRUE(
      store_
          ->CreateMigration(
              MakeMigration("m", 1),
              {unchecked, queued, moving, MakeMove(m, "c@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED, "eur")}, {})
          .ok());
  EXPECT_EQ(store_->GetSourceGeoQueue(m, "")->queued(), 1);
  EXPECT_EQ(store_->GetSourceGeoQueue(m, "nam")->queued(), 1);
  EXPECT_EQ(store_->GetSourceGeoQueue(m, "nam")->active(), 1);
  EXPECT_EQ(store_->GetSourceGeoQueue(m, "eur")->queued(), 1);

  // In one change: a's geo found (eur), b started, d done.
  MigrationChange change = ChangeOf(*store_->GetMigration(m));
  unchecked.set_source_geo("eur");
  queued.set_state(crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS);
  moving.set_state(crosstenant::v1::USER_MOVE_STATE_SUCCESS);
  change.user_moves = {unchecked, queued, moving};
  ASSERT_TRUE(store_->Apply(change).ok());

  EXPECT_EQ(store_->GetSourceGeoQueue(m, "")->queued(), 0);
  EXPECT_EQ(store_->GetSourceGeoQueue(m, "eur")->queued(), 2);
  EXPECT_EQ(store_->GetSourceGeoQueue(m, "nam")->queued(), 0);
  EXPECT_EQ(store_->GetSourceGeoQueue(m, "nam")->active(), 1) << "b, in progress; d is done";
  EXPECT_EQ(store_->CountActiveMoves(m, "nam").value_or(-1), 1);
  EXPECT_EQ(*store_->CountUserMoves(m), (std::map<UserMoveState, int>{{crosstenant::v1::USER_MOVE_STATE_QUEUED, 2},
                                                                      {crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS, 1},
                                                                      {crosstenant::v1::USER_MOVE_STATE_SUCCESS, 1}}))
      << "the counts of every geo, summed by state";
}

TEST_P(MigrationStoreTest, AChangeOfThousandsOfUsersIsWrittenWholeOrNotAtAll) {
  // More users, events and tasks than one statement of the PostgreSQL store carries (1,000).
  const std::string m = "migrations/m";
  const int n = 2500;
  std::vector<UserMove> users;
  for (int i = 0; i < n; ++i) {
    users.push_back(MakeMove(m, absl::StrCat("u", i, "@x.com"), crosstenant::v1::USER_MOVE_STATE_QUEUED));
  }
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("m", 1), users, {}).ok());

  MigrationChange start = ChangeOf(*store_->GetMigration(m));
  for (int i = 0; i < n; ++i) {
    UserMove started = users[i];
    started.set_state(crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS);
    start.user_moves.push_back(started);
    start.events.push_back(MakeEvent(m, i + 1));
    start.new_tasks.push_back(
        MakeTask(m, "poll", started.source_user_principal_name(), crosstenant::v1::TASK_KIND_POLL_MOVE, kT0));
  }
  ASSERT_TRUE(store_->Apply(start).ok());
  EXPECT_EQ(*store_->CountUserMoves(m),
            (std::map<UserMoveState, int>{{crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS, n}}));
  EXPECT_EQ(store_->CountTasks(m).value_or(-1), n);
  auto events = store_->ListEvents(m, 0, 2 * n);
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_EQ(events->size(), static_cast<size_t>(n));

  // The last user of the next change does not exist: none of its writes stays, whichever statement
  // carried them.
  MigrationChange finish = ChangeOf(*store_->GetMigration(m));
  for (int i = 0; i < n; ++i) {
    UserMove done = users[i];
    done.set_state(crosstenant::v1::USER_MOVE_STATE_SUCCESS);
    finish.user_moves.push_back(done);
    finish.events.push_back(MakeEvent(m, n + i + 1));
  }
  finish.user_moves.push_back(MakeMove(m, "nobody@x.com", crosstenant::v1::USER_MOVE_STATE_SUCCESS));
  const absl::Status refused = store_->Apply(finish);
  EXPECT_EQ(refused.code(), absl::StatusCode::kNotFound) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("nobody@x.com"));
  EXPECT_EQ(*store_->CountUserMoves(m),
            (std::map<UserMoveState, int>{{crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS, n}}));
  EXPECT_EQ(store_->ListEvents(m, 0, 3 * n)->size(), static_cast<size_t>(n));
}

TEST_P(MigrationStoreTest, CountsASourceGeoQueueAndPicksTheNextQueuedUsers) {
  const std::string m = "migrations/m";
  ASSERT_TRUE(store_
                  ->CreateMigration(MakeMigration("m", 1),
                                    {MakeMove(m, "q1@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED),
                                     MakeMove(m, "q2@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED),
                                     MakeMove(m, "q3@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED),
                                     MakeMove(m, "p@x.com", crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS),
                                     MakeMove(m, "s@x.com", crosstenant::v1::USER_MOVE_STATE_SCHEDULED),
                                     MakeMove(m, "done@x.com", crosstenant::v1::USER_MOVE_STATE_SUCCESS),
                                     MakeMove(m, "pending@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING),
                                     MakeMove(m, "e@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED, "eur")},
                                    {})
                  .ok());
  MigrationChange change = ChangeOf(*store_->GetMigration(m));
  change.new_tasks = {MakeTask(m, "start", "q2@x.com", crosstenant::v1::TASK_KIND_START_MOVE, kT0)};
  ASSERT_TRUE(store_->Apply(change).ok());

  auto queue = store_->GetSourceGeoQueue(m, "nam");
  ASSERT_TRUE(queue.ok()) << queue.status();
  EXPECT_EQ(queue->source_geo(), "nam");
  EXPECT_EQ(queue->active(), 3) << "in progress, scheduled, and the queued user whose start waits for a worker";
  EXPECT_EQ(queue->queued(), 2);
  EXPECT_EQ(store_->GetSourceGeoQueue(m, "eur")->queued(), 1);
  EXPECT_EQ(store_->GetSourceGeoQueue(m, "apc")->active(), 0);
  EXPECT_EQ(store_->CountActiveMoves(m, "nam").value_or(-1), 3);
  EXPECT_EQ(store_->CountActiveMoves(m, "eur").value_or(-1), 0);
  // A queued user with two tasks (its start, and a stop asked meanwhile) is one user in the queue.
  MigrationChange stop = ChangeOf(*store_->GetMigration(m));
  stop.new_tasks = {MakeTask(m, "stop", "q2@x.com", crosstenant::v1::TASK_KIND_STOP_MOVE, kT0)};
  ASSERT_TRUE(store_->Apply(stop).ok());
  EXPECT_EQ(store_->GetSourceGeoQueue(m, "nam")->active(), 3);
  EXPECT_EQ(store_->GetSourceGeoQueue(m, "nam")->queued(), 2);
  EXPECT_EQ(store_->CountActiveMoves(m, "nam").value_or(-1), 3);

  auto next = store_->NextQueuedUsers(m, "nam", 10);
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ((*next)[0].source_user_principal_name(), "q1@x.com");
  EXPECT_EQ((*next)[1].source_user_principal_name(), "q3@x.com");
  EXPECT_EQ(store_->NextQueuedUsers(m, "nam", 1)->size(), 1u);
  EXPECT_TRUE(store_->NextQueuedUsers(m, "nam", 0)->empty());

  UserMoveQuery starting(m);
  starting.states = {crosstenant::v1::USER_MOVE_STATE_QUEUED};
  starting.with_leased_task = true;
  ASSERT_TRUE(store_->ListUserMoves(starting).ok());
  EXPECT_TRUE(store_->ListUserMoves(starting)->user_moves.empty()) << "no worker has leased q2's tasks yet";
  // q2's start, leased and then retried (a retry keeps the task's attempt).
  MigrationChange retried = ChangeOf(*store_->GetMigration(m));
  retried.new_tasks = {MakeTask(m, "start", "q2@x.com", crosstenant::v1::TASK_KIND_START_MOVE, kT0)};
  retried.new_tasks[0].task.set_attempt(1);
  ASSERT_TRUE(store_->Apply(retried).ok());
  EXPECT_EQ(store_->CountActiveMoves(m, "nam").value_or(-1), 3) << "still one user in the queue";
  auto with_task = store_->ListUserMoves(starting);
  ASSERT_TRUE(with_task.ok()) << with_task.status();
  ASSERT_EQ(with_task->user_moves.size(), 1u) << "only the queued user that has a leased task";
  EXPECT_EQ(with_task->user_moves[0].source_user_principal_name(), "q2@x.com");
  starting.states.clear();
  EXPECT_EQ(store_->ListUserMoves(starting)->user_moves.size(), 1u) << "no other user has a task";

  // Users with a task come in source UPN order, a page at a time, filtered by geo and state.
  MigrationChange polls = ChangeOf(*store_->GetMigration(m));
  polls.new_tasks = {MakeTask(m, "poll-p", "p@x.com", crosstenant::v1::TASK_KIND_POLL_MOVE, kT0),
                     MakeTask(m, "poll-s", "s@x.com", crosstenant::v1::TASK_KIND_POLL_MOVE, kT0),
                     MakeTask(m, "start-e", "e@x.com", crosstenant::v1::TASK_KIND_START_MOVE, kT0),
                     MakeTask(m, "poll-d", "done@x.com", crosstenant::v1::TASK_KIND_POLL_MOVE, kT0)};
  for (int i = 0; i < 3; ++i) polls.new_tasks[i].task.set_attempt(i + 1);  // done@x.com's was never leased
  ASSERT_TRUE(store_->Apply(polls).ok());
  starting.page_size = 1;
  EXPECT_THAT(ListAllUpns(starting), ElementsAre("e@x.com", "p@x.com", "q2@x.com", "s@x.com"));
  UserMoveQuery nam_active(m);
  nam_active.with_leased_task = true;
  nam_active.source_geo = "nam";
  nam_active.states = {crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS, crosstenant::v1::USER_MOVE_STATE_QUEUED};
  auto filtered = store_->ListUserMoves(nam_active);
  ASSERT_TRUE(filtered.ok()) << filtered.status();
  ASSERT_EQ(filtered->user_moves.size(), 2u);
  EXPECT_EQ(filtered->user_moves[0].source_user_principal_name(), "p@x.com");
  EXPECT_EQ(filtered->user_moves[1].source_user_principal_name(), "q2@x.com");
}

// Users in any of several states come in one source UPN order, page after page, each once, whatever
// the state of the users between them; a geo narrows them further.
TEST_P(MigrationStoreTest, UsersInSeveralStatesArePagedInOneUpnOrder) {
  const std::string m = "migrations/states";
  std::vector<UserMove> moves;
  const crosstenant::v1::UserMoveState cycle[] = {
      crosstenant::v1::USER_MOVE_STATE_SUCCESS, crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS,
      crosstenant::v1::USER_MOVE_STATE_PENDING, crosstenant::v1::USER_MOVE_STATE_SCHEDULED,
      crosstenant::v1::USER_MOVE_STATE_SUCCESS};
  std::vector<std::string> expected, expected_eur;
  for (int i = 0; i < 25; ++i) {
    const std::string upn = absl::StrCat("u", 100 - i, "@x.com");  // created out of UPN order
    const crosstenant::v1::UserMoveState state = cycle[i % 5];
    const std::string geo = i % 2 == 0 ? "nam" : "eur";
    moves.push_back(MakeMove(m, upn, state, geo));
    if (state == crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS || state == crosstenant::v1::USER_MOVE_STATE_SCHEDULED) {
      expected.push_back(upn);
      if (geo == "eur") expected_eur.push_back(upn);
    }
  }
  std::sort(expected.begin(), expected.end());
  std::sort(expected_eur.begin(), expected_eur.end());
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("states", 25), moves, {}).ok());
  for (const std::string& geo : {std::string(), std::string("eur")}) {
    UserMoveQuery query(m);
    query.states = {crosstenant::v1::USER_MOVE_STATE_SCHEDULED, crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS};
    query.source_geo = geo;
    query.page_size = 3;
    EXPECT_EQ(ListAllUpns(query), geo.empty() ? expected : expected_eur) << "geo '" << geo << "'";
  }
}

TEST_P(MigrationStoreTest, ThreadsLeasingFromOneStoreAtOnceNeverGetTheSameTask) {
  constexpr int kTasks = 60;
  CreateWithTasks("m", kTasks, crosstenant::v1::TASK_KIND_POLL_MOVE);
  absl::Mutex mutex;
  std::vector<std::string> leased;
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      for (int round = 0; round < kTasks; ++round) {
        auto tasks = store_->LeaseTasks({"w" + std::to_string(w), 3, {}, absl::Minutes(5), kT0});
        if (!tasks.ok()) {
          ++failures;
          ADD_FAILURE() << tasks.status();
          return;
        }
        if (tasks->empty()) return;
        absl::MutexLock lock(&mutex);
        for (const Task& task : *tasks) leased.push_back(task.name());
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(store_->LeaseTasks({"late", 100, {}, absl::Minutes(5), kT0})->empty()) << "all were leased";
  const std::set<std::string> distinct(leased.begin(), leased.end());
  EXPECT_EQ(leased.size(), static_cast<size_t>(kTasks)) << "no task went to two workers";
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kTasks));
}

// --- Optimistic writes (etag) ---

TEST_P(MigrationStoreTest, AChangeCommitsOnlyIfTheMigrationIsStillAtTheRevisionItWasReadAt) {
  const std::string m = "migrations/m1";
  ASSERT_TRUE(store_
                  ->CreateMigration(MakeMigration("m1", 1),
                                    {MakeMove(m, "a@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING)},
                                    {MakeEvent(m, 1)})
                  .ok());
  Migration first = *store_->GetMigration(m);
  Migration second = *store_->GetMigration(m);
  ASSERT_FALSE(first.etag().empty()) << "every read fills the etag";
  EXPECT_EQ(first.etag(), second.etag());
  EXPECT_EQ(store_->ListMigrations({}, 10, "")->migrations.at(0).etag(), first.etag()) << "lists fill it too";

  // The first writer wins...
  MigrationChange won = ChangeOf(first);
  won.migration.set_state(crosstenant::v1::MIGRATION_STATE_PAUSED);
  won.migration.set_last_event_sequence(2);
  won.user_moves = {MakeMove(m, "a@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED)};
  won.events = {MakeEvent(m, 2)};
  ASSERT_TRUE(store_->Apply(won).ok());
  const Migration after = *store_->GetMigration(m);
  EXPECT_EQ(after.state(), crosstenant::v1::MIGRATION_STATE_PAUSED);
  EXPECT_NE(after.etag(), first.etag()) << "a write sets a new etag";

  // ...the second, computed from the same read, is refused whole: no record, event, user move or task.
  MigrationChange lost = ChangeOf(second);
  lost.migration.set_state(crosstenant::v1::MIGRATION_STATE_CANCELLING);
  lost.migration.set_last_event_sequence(3);
  lost.user_moves = {MakeMove(m, "a@x.com", crosstenant::v1::USER_MOVE_STATE_STOPPED)};
  lost.events = {MakeEvent(m, 3)};
  lost.new_tasks = {MakeTask(m, "stop", "a@x.com", crosstenant::v1::TASK_KIND_STOP_MOVE, kT0)};
  absl::Status refused = store_->Apply(lost);
  EXPECT_EQ(refused.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(IsConcurrentChange(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr(m));
  const Migration unchanged = *store_->GetMigration(m);
  EXPECT_EQ(unchanged.state(), crosstenant::v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(unchanged.etag(), after.etag());
  EXPECT_EQ(store_->GetUserMove(m + "/users/a@x.com")->state(), crosstenant::v1::USER_MOVE_STATE_QUEUED);
  EXPECT_EQ(store_->ListEvents(m, 2, 10)->size(), 0u);
  EXPECT_EQ(store_->CountTasks(m).value_or(-1), 0);

  // Read again, recompute, and it commits.
  lost.migration.set_etag(unchanged.etag());
  ASSERT_TRUE(store_->Apply(lost).ok());
  const Migration cancelling = *store_->GetMigration(m);
  EXPECT_EQ(cancelling.state(), crosstenant::v1::MIGRATION_STATE_CANCELLING);
  EXPECT_NE(cancelling.etag(), unchanged.etag());
  EXPECT_EQ(store_->CountTasks(m).value_or(-1), 1);

  // An etag the store never issued is not the stored one.
  Migration forged = cancelling;
  forged.set_etag("forged");
  EXPECT_TRUE(IsConcurrentChange(store_->Update(forged, {}, {})));

  // An empty etag writes unconditionally (and still moves the etag on).
  Migration blind = first;
  blind.clear_etag();
  blind.set_state(crosstenant::v1::MIGRATION_STATE_CANCELLED);
  blind.set_last_event_sequence(3);
  ASSERT_TRUE(store_->Update(blind, {}, {}).ok());
  const Migration cancelled = *store_->GetMigration(m);
  EXPECT_EQ(cancelled.state(), crosstenant::v1::MIGRATION_STATE_CANCELLED);
  EXPECT_NE(cancelled.etag(), cancelling.etag());
}

TEST_P(MigrationStoreTest, TwoStoresOnOneDatabaseSeeEachOthersEtags) {
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("m1", 1), {}, {}).ok());
  auto other = OpenStore();
  ASSERT_NE(other, nullptr);
  Migration mine = *store_->GetMigration("migrations/m1");
  Migration theirs = *other->GetMigration("migrations/m1");
  EXPECT_EQ(mine.etag(), theirs.etag());
  theirs.set_state_reason("theirs");
  ASSERT_TRUE(other->Update(theirs, {}, {}).ok());
  mine.set_state_reason("mine");
  EXPECT_TRUE(IsConcurrentChange(store_->Update(mine, {}, {})));
  EXPECT_EQ(store_->GetMigration("migrations/m1")->state_reason(), "theirs");
}

// --- Leadership ---

TEST_P(MigrationStoreTest, OneLeaderAtATimeRenewingUnderItsTermAndHandingOverOnRelease) {
  auto a = store_->AcquireLeadership("replica-a", absl::Minutes(1));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->held);
  EXPECT_EQ(a->leader, "replica-a");
  EXPECT_GT(a->term, 0);
  EXPECT_GT(a->expire_time, absl::Now()) << "same machine: the store's clock is close to ours";
  EXPECT_LT(a->expire_time, absl::Now() + absl::Minutes(2));

  auto renewed = store_->AcquireLeadership("replica-a", absl::Minutes(1));
  ASSERT_TRUE(renewed.ok());
  EXPECT_TRUE(renewed->held);
  EXPECT_EQ(renewed->term, a->term) << "a renewal keeps the term";
  EXPECT_GE(renewed->expire_time, a->expire_time);

  auto b = store_->AcquireLeadership("replica-b", absl::Minutes(1));
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->held) << "the lease of replica-a lives";
  EXPECT_EQ(b->leader, "replica-a");
  EXPECT_EQ(b->term, a->term);
  // (To the microsecond: the SQLite store answers a renewal with its clock's nanoseconds.)
  EXPECT_EQ(absl::ToUnixMicros(b->expire_time), absl::ToUnixMicros(renewed->expire_time));

  ASSERT_TRUE(store_->ReleaseLeadership("replica-b").ok()) << "releasing what one does not hold does nothing";
  EXPECT_FALSE(store_->AcquireLeadership("replica-b", absl::Minutes(1))->held);

  ASSERT_TRUE(store_->ReleaseLeadership("replica-a").ok());
  b = store_->AcquireLeadership("replica-b", absl::Minutes(1));
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->held) << "released: taken over at once";
  EXPECT_EQ(b->term, a->term + 1);
  auto a_again = store_->AcquireLeadership("replica-a", absl::Minutes(1));
  EXPECT_FALSE(a_again->held);
  EXPECT_EQ(a_again->leader, "replica-b");
  EXPECT_EQ(a_again->term, b->term);
}

TEST_P(MigrationStoreTest, ALapsedLeaseIsTakenOverUnderTheNextTermAndFencesTheOldLeader) {
  const std::string m = "migrations/m1";
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("m1", 1), {}, {}).ok());
  auto a = store_->AcquireLeadership("replica-a", absl::Milliseconds(1));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(a->held);
  // Replica-a stops renewing (paused, partitioned): once its lease lapses by the store's clock,
  // replica-b takes over. (Polled: the store's clock cannot be injected for PostgreSQL.)
  absl::StatusOr<Leadership> b;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    b = store_->AcquireLeadership("replica-b", absl::Minutes(1));
    ASSERT_TRUE(b.ok()) << b.status();
    if (!b->held) absl::SleepFor(absl::Milliseconds(2));
  } while (!b->held && absl::Now() < deadline);
  ASSERT_TRUE(b->held);
  EXPECT_EQ(b->term, a->term + 1);

  // Replica-a, unaware, writes under its old term: refused, and not as a race to retry.
  MigrationChange stale = ChangeOf(*store_->GetMigration(m));
  stale.migration.set_state_reason("by a");
  stale.migration.set_last_event_sequence(1);
  stale.events = {MakeEvent(m, 1)};
  stale.leader_term = a->term;
  absl::Status fenced = store_->Apply(stale);
  EXPECT_EQ(fenced.code(), absl::StatusCode::kAborted);
  EXPECT_FALSE(IsConcurrentChange(fenced)) << fenced;
  EXPECT_THAT(fenced.message(), HasSubstr("leader"));
  EXPECT_EQ(store_->GetMigration(m)->state_reason(), "");
  EXPECT_TRUE(store_->ListEvents(m, 0, 10)->empty());

  // A term nobody holds is refused too; the current one commits.
  stale.leader_term = b->term + 1;
  EXPECT_EQ(store_->Apply(stale).code(), absl::StatusCode::kAborted);
  stale.leader_term = b->term;
  stale.migration.set_state_reason("by b");
  ASSERT_TRUE(store_->Apply(stale).ok());
  EXPECT_EQ(store_->GetMigration(m)->state_reason(), "by b");

  // The leader's own lease lapsing fences it as well, and it comes back under a new term.
  ASSERT_TRUE(store_->ReleaseLeadership("replica-b").ok());
  MigrationChange after_release = ChangeOf(*store_->GetMigration(m));
  after_release.leader_term = b->term;
  EXPECT_EQ(store_->Apply(after_release).code(), absl::StatusCode::kAborted);
  auto b_again = store_->AcquireLeadership("replica-b", absl::Minutes(1));
  EXPECT_TRUE(b_again->held);
  EXPECT_EQ(b_again->term, b->term + 1);
}

// --- The audit trail ---

crosstenant::v1::AuditRecord MakeAuditRecord(const std::string& action, const std::string& target,
                                             const std::string& outcome = "OK",
                                             const std::string& caller = "migratectl", absl::Time time = kT0) {
  crosstenant::v1::AuditRecord record;
  record.set_service("orchestrator");
  record.set_caller(caller);
  record.set_action(action);
  record.set_target(target);
  record.set_request_id("request-" + action + "-" + target);
  record.set_trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
  record.set_outcome(outcome);
  record.set_outcome_message(outcome == "OK" ? "" : "refused: " + target);
  record.mutable_time()->set_seconds(absl::ToUnixSeconds(time));
  record.mutable_time()->set_nanos(123456789);  // kept to the microsecond
  return record;
}

// The whole trail, read a page of `page_size` at a time and checked as migratectl audit verify does.
std::vector<crosstenant::v1::AuditRecord> ReadWholeTrail(MigrationStore& store, int page_size = 0) {
  std::vector<crosstenant::v1::AuditRecord> records;
  AuditChainVerifier verifier;
  crosstenant::v1::ListAuditRecordsRequest request;
  request.set_page_size(page_size);
  do {
    auto page = store.ListAuditRecords(request);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    for (const auto& record : page->records()) {
      const absl::Status verified = verifier.Add(record);
      EXPECT_TRUE(verified.ok()) << verified;
      records.push_back(record);
    }
    request.set_after_sequence(page->next_after_sequence());
  } while (request.after_sequence() != 0);
  return records;
}

// The sequences of a listing.
std::vector<int64_t> Sequences(const absl::StatusOr<crosstenant::v1::ListAuditRecordsResponse>& page) {
  std::vector<int64_t> sequences;
  EXPECT_TRUE(page.ok()) << page.status();
  if (page.ok()) {
    for (const auto& record : page->records()) sequences.push_back(record.sequence());
  }
  return sequences;
}

TEST_P(MigrationStoreTest, AuditRecordsAreNumberedAndEachChainedToThePreviousOne) {
  auto empty = store_->ListAuditRecords({});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->records_size(), 0);
  EXPECT_EQ(empty->last_sequence(), 0);
  EXPECT_EQ(empty->next_after_sequence(), 0);

  constexpr int kRecords = 60;
  std::vector<crosstenant::v1::AuditRecord> appended;
  for (int i = 0; i < kRecords; ++i) {
    auto record = store_->AppendAuditRecord(
        MakeAuditRecord(i % 2 ? "PauseMigration" : "ResumeMigration", "migrations/m" + std::to_string(i % 7)));
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_EQ(record->sequence(), i + 1);
    EXPECT_EQ(record->previous_hash(), i == 0 ? std::string(kAuditGenesisHash) : appended.back().hash());
    EXPECT_EQ(record->hash(), AuditRecordHash(*record));
    EXPECT_EQ(record->time().nanos(), 123456000) << "whole microseconds";
    appended.push_back(*record);
  }
  const std::vector<crosstenant::v1::AuditRecord> whole = ReadWholeTrail(*store_, 7);
  ASSERT_EQ(whole.size(), appended.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(whole[i].SerializeAsString(), appended[i].SerializeAsString()) << "record " << i + 1 << " as appended";
  }
  EXPECT_EQ(ReadWholeTrail(*store_).size(), appended.size()) << "in one page of the default size";

  // A record without a time gets the store's; the trail survives reopening and chains on.
  crosstenant::v1::AuditRecord untimed = MakeAuditRecord("CancelMigration", "migrations/m1");
  untimed.clear_time();
  store_.reset();
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  const absl::Time before = absl::Now() - absl::Seconds(1);
  auto next = store_->AppendAuditRecord(untimed);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->sequence(), kRecords + 1);
  EXPECT_EQ(next->previous_hash(), appended.back().hash());
  EXPECT_GE(absl::FromUnixSeconds(next->time().seconds()), before);
  EXPECT_EQ(ReadWholeTrail(*store_).size(), appended.size() + 1);
}

TEST_P(MigrationStoreTest, AuditRecordsAreFilteredAndPagedInSequenceOrder) {
  const std::vector<crosstenant::v1::AuditRecord> records = {
      MakeAuditRecord("CreateMigration", "migrations/m-1", "OK", "migratectl", kT0),                    // 1
      MakeAuditRecord("PauseMigration", "migrations/m-1", "OK", "spiffe://a/ns/x/sa/migratectl", kT0),  // 2
      MakeAuditRecord("ResumeMigration", "migrations/m-1", "FAILED_PRECONDITION", "migratectl", kT0),   // 3
      MakeAuditRecord("PauseMigration", "migrations/m-10", "OK", "ops_100%", kT0 + absl::Hours(1)),     // 4
      MakeAuditRecord("CancelMigration", "migrations/m-1/users/a@x.com", "OK", "migratectl",            // 5
                      kT0 + absl::Hours(2)),
      MakeAuditRecord("CreateMigration", "", "INVALID_ARGUMENT", "migratectl", kT0 + absl::Hours(3)),  // 6
      MakeAuditRecord("UploadIdentityMap", "identityMapUploads/u-1", "OK", "", kT0 + absl::Hours(3)),  // 7
  };
  for (const auto& record : records) ASSERT_TRUE(store_->AppendAuditRecord(record).ok());

  crosstenant::v1::ListAuditRecordsRequest request;
  request.set_action("PauseMigration");
  EXPECT_THAT(Sequences(store_->ListAuditRecords(request)), ElementsAre(2, 4));
  request.Clear();
  request.set_caller("migratectl");
  EXPECT_THAT(Sequences(store_->ListAuditRecords(request)), ElementsAre(1, 2, 3, 5, 6)) << "contains";
  request.set_caller("m_gratectl");
  EXPECT_THAT(Sequences(store_->ListAuditRecords(request)), ElementsAre()) << "no LIKE wildcards";
  request.set_caller("100%");
  EXPECT_THAT(Sequences(store_->ListAuditRecords(request)), ElementsAre(4));
  request.Clear();
  request.set_target("migrations/m-1");
  EXPECT_THAT(Sequences(store_->ListAuditRecords(request)), ElementsAre(1, 2, 3, 5))
      << "the resource and what lies under it, not migrations/m-10";
  request.set_target("migrations/m_1");
  EXPECT_THAT(Sequences(store_->ListAuditRecords(request)), ElementsAre());
  request.Clear();
  request.set_failures_only(true);
  EXPECT_THAT(Sequences(store_->ListAuditRecords(request)), ElementsAre(3, 6));
  request.Clear();
  request.mutable_since()->set_seconds(absl::ToUnixSeconds(kT0 + absl::Hours(1)));
  request.mutable_until()->set_seconds(absl::ToUnixSeconds(kT0 + absl::Hours(3)));
  EXPECT_THAT(Sequences(store_->ListAuditRecords(request)), ElementsAre(4, 5))
      << "since inclusive (record 4 is at 1h and 123456us), until exclusive";
  request.mutable_since()->set_nanos(123457000);
  EXPECT_THAT(Sequences(store_->ListAuditRecords(request)), ElementsAre(5));

  // Filters combine, and pages follow them; last_sequence is the whole trail's.
  request.Clear();
  request.set_caller("migratectl");
  request.set_page_size(2);
  auto page = store_->ListAuditRecords(request);
  EXPECT_THAT(Sequences(page), ElementsAre(1, 2));
  EXPECT_EQ(page->next_after_sequence(), 2);
  EXPECT_EQ(page->last_sequence(), 7);
  request.set_after_sequence(page->next_after_sequence());
  page = store_->ListAuditRecords(request);
  EXPECT_THAT(Sequences(page), ElementsAre(3, 5));
  EXPECT_EQ(page->next_after_sequence(), 5);
  request.set_after_sequence(page->next_after_sequence());
  page = store_->ListAuditRecords(request);
  EXPECT_THAT(Sequences(page), ElementsAre(6));
  EXPECT_EQ(page->next_after_sequence(), 0) << "the last page";
  request.Clear();
  request.set_action("DeleteEverything");
  page = store_->ListAuditRecords(request);
  EXPECT_THAT(Sequences(page), ElementsAre());
  EXPECT_EQ(page->last_sequence(), 7) << "where the trail ends, though nothing matched";
  EXPECT_EQ(page->next_after_sequence(), 0);
  request.Clear();
  request.set_page_size(1000000);
  EXPECT_EQ(Sequences(store_->ListAuditRecords(request)).size(), 7u) << "a page size above the most is the most";
}

TEST_P(MigrationStoreTest, TheDatabaseRefusesToChangeOrDeleteAuditRecordsAndTheChainShowsItIfForced) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_->AppendAuditRecord(MakeAuditRecord("PauseMigration", "migrations/m" + std::to_string(i))).ok());
  }
  const std::vector<crosstenant::v1::AuditRecord> before = ReadWholeTrail(*store_);
  ASSERT_EQ(before.size(), 3u);
  absl::Status updated = backend_->ExecuteSql("UPDATE audit_records SET caller = 'someone else' WHERE sequence = 2");
  EXPECT_FALSE(updated.ok());
  EXPECT_THAT(updated.message(), HasSubstr("append-only"));
  absl::Status deleted = backend_->ExecuteSql("DELETE FROM audit_records WHERE sequence = 3");
  EXPECT_FALSE(deleted.ok());
  EXPECT_THAT(deleted.message(), HasSubstr("append-only"));
  if (GetParam().name == "PostgreSQL") {
    EXPECT_THAT(backend_->ExecuteSql("TRUNCATE audit_records").message(), HasSubstr("append-only"));
  }
  const std::vector<crosstenant::v1::AuditRecord> after = ReadWholeTrail(*store_);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[1].caller(), "migratectl");

  // Whoever drops the guard to rewrite a record is caught by the chain, at that record.
  ASSERT_TRUE(backend_
                  ->ExecuteSql(GetParam().name == "PostgreSQL"
                                   ? "DROP TRIGGER audit_records_append_only ON audit_records"
                                   : "DROP TRIGGER audit_records_never_updated")
                  .ok());
  ASSERT_TRUE(backend_->ExecuteSql("UPDATE audit_records SET caller = 'someone else' WHERE sequence = 2").ok());
  AuditChainVerifier verifier;
  auto page = store_->ListAuditRecords({});
  ASSERT_TRUE(page.ok()) << page.status();
  absl::Status verified;
  for (const auto& record : page->records()) verified.Update(verifier.Add(record));
  EXPECT_EQ(verified.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(verified.message(), HasSubstr("orchestrator audit record 2: its content does not match its hash"));
  EXPECT_EQ(verifier.last_sequence(), 1);
}

TEST_P(MigrationStoreTest, AppendsFromThreadsAndTwoStoresOnOneDatabaseAtOnceMakeOneUnbrokenChain) {
  // Two stores on one database (two replicas, on PostgreSQL; two connections to one file, on SQLite),
  // two threads appending through each.
  std::unique_ptr<MigrationStore> other = OpenStore();
  ASSERT_NE(other, nullptr);
  constexpr int kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      MigrationStore& store = t % 2 ? *other : *store_;
      for (int i = 0; i < kPerThread; ++i) {
        auto appended = store.AppendAuditRecord(MakeAuditRecord(
            "PauseMigration", absl::StrCat("migrations/t", t, "-", i), "OK", "migratectl", absl::Now()));
        if (!appended.ok()) {
          ++failures;
          ADD_FAILURE() << appended.status();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  const std::vector<crosstenant::v1::AuditRecord> trail = ReadWholeTrail(*store_, 10);
  ASSERT_EQ(trail.size(), 4u * kPerThread);
  std::set<std::string> targets;
  for (const auto& record : trail) targets.insert(record.target());
  EXPECT_EQ(targets.size(), trail.size()) << "every append is in the trail once";
  EXPECT_EQ(ReadWholeTrail(*other).size(), trail.size()) << "both see the same trail";
}

TEST_P(MigrationStoreTest, ADatabaseFromBeforeTheAuditTrailUpgradesAndKeepsItsMigrations) {
  ASSERT_TRUE(store_->CreateMigration(MakeMigration("m1", 1), {}, {}).ok());
  // A migration under way: users counted, their starts waiting for workers, one leased.
  CreateWithTasks("m3", 3, crosstenant::v1::TASK_KIND_START_MOVE);
  auto held = store_->LeaseTasks({"w1", 1, {}, absl::Seconds(30), kT0});
  ASSERT_TRUE(held.ok() && held->size() == 1u);
  store_.reset();
  // The database as the schema version before the audit trail left it.
  ASSERT_TRUE(backend_->ExecuteSql("DROP TABLE audit_records").ok());
  ASSERT_TRUE(
      backend_
          ->ExecuteSql(absl::StrCat("UPDATE schema_version SET version = ", backend_->AuditTrailSchemaVersion() - 1))
          .ok());
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_TRUE(store_->GetMigration("migrations/m1").ok());
  auto first = store_->AppendAuditRecord(MakeAuditRecord("CreateMigration", "migrations/m2"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->sequence(), 1);
  EXPECT_FALSE(backend_->ExecuteSql("DELETE FROM audit_records").ok()) << "the upgrade installs the guard too";
  // The migration under way goes on: its counts, and its leases (the held one stays held until it lapses).
  EXPECT_EQ(store_->CountUserMoves("migrations/m3")->at(crosstenant::v1::USER_MOVE_STATE_QUEUED), 3);
  EXPECT_EQ(store_->GetSourceGeoQueue("migrations/m3", "nam")->queued(), 0) << "each queued user has a start task";
  EXPECT_EQ(store_->LeaseTasks({"w2", 10, {}, absl::Seconds(30), kT0 + absl::Seconds(1)})->size(), 2u);
  EXPECT_EQ(store_->LeaseTasks({"w2", 10, {}, absl::Seconds(30), kT0 + absl::Seconds(31)})->size(), 1u);
}

// --- SQLite only ---

TEST(SqliteMigrationStoreTest, SurvivesReopenAndRefusesANewerSchema) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/orchestrator.db";
  {
    auto store = SqliteMigrationStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->CreateMigration(MakeMigration("m1", 1), {}, {}).ok());
    EXPECT_EQ((*store)->SchemaVersion().value(), SqliteMigrationStore::kSchemaVersion);
  }
  {
    auto store = SqliteMigrationStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_TRUE((*store)->GetMigration("migrations/m1").ok()) << "state survives a restart";
  }
  {
    auto db = SqliteDatabase::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Execute("UPDATE schema_version SET version = 99").ok());
  }
  auto newer = SqliteMigrationStore::Open(path);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(newer.status().message(), HasSubstr("schema version 99"));
}

// --- PostgreSQL only ---

class PostgresMigrationStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto database = testing::TestPostgresDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = std::move(*database);
  }
  std::unique_ptr<PostgresMigrationStore> Open(PostgresMigrationStore::Options options = {}) {
    auto store = PostgresMigrationStore::Open(database_->dsn(), options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::unique_ptr<PgConnection> Connect() {
    auto connection = PgConnection::Connect(database_->dsn());
    EXPECT_TRUE(connection.ok()) << connection.status();
    return connection.ok() ? std::move(*connection) : nullptr;
  }
  // The test role's password, read back from the connection string.
  std::string Password() const {
    const std::string& dsn = database_->dsn();
    const size_t at = dsn.find("password='");
    if (at == std::string::npos) return "";
    const size_t start = at + 10;
    return dsn.substr(start, dsn.find('\'', start) - start);
  }
  std::unique_ptr<testing::TestPostgresDatabase> database_;
};

TEST_F(PostgresMigrationStoreTest, ReplicasStartingTogetherOnAnEmptyDatabaseAllOpenItAtTheCurrentSchema) {
  constexpr int kReplicas = 3;
  std::vector<absl::StatusOr<std::unique_ptr<PostgresMigrationStore>>> stores(kReplicas);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] { stores[i] = PostgresMigrationStore::Open(database_->dsn()); });
  }
  for (std::thread& thread : threads) thread.join();
  for (auto& store : stores) {
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->SchemaVersion().value_or(-1), PostgresMigrationStore::kSchemaVersion);
  }
  auto db = Connect();
  ASSERT_NE(db, nullptr);
  auto rows = db->Exec("SELECT version FROM schema_version");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->rows(), 1) << "one version row, not one per replica";
  EXPECT_EQ(rows->Int(0, 0), PostgresMigrationStore::kSchemaVersion);
  auto leadership = db->Exec("SELECT COUNT(*) FROM leadership");
  EXPECT_EQ(leadership->Int(0, 0), 1);
}

// An idle store gives its connections back (and libpq's buffers with them); a busy one keeps them, and
// the next call opens what it needs again.
TEST_F(PostgresMigrationStoreTest, ThePoolClosesConnectionsIdleLongEnoughAndOpensThemAgainWhenCalled) {
  auto observer = Connect();
  ASSERT_NE(observer, nullptr);
  auto backends = [&] {
    auto rows = observer->Exec(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? rows->Int(0, 0) : -1;
  };
  PgConnectionPool pool(database_->dsn(), 3);
  {
    auto first = pool.Acquire();
    auto second = pool.Acquire();
    ASSERT_TRUE(first.ok() && second.ok());
  }
  EXPECT_EQ(backends(), 2);
  EXPECT_EQ(pool.CloseIdle(absl::Hours(1)), 0) << "used a moment ago";
  EXPECT_EQ(backends(), 2);
  EXPECT_EQ(pool.CloseIdle(absl::ZeroDuration()), 2);
  // A backend leaves pg_stat_activity a moment after its client said goodbye.
  for (int i = 0; i < 100 && backends() != 0; ++i) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(backends(), 0);

  auto again = pool.Acquire();
  ASSERT_TRUE(again.ok()) << again.status();
  auto answered = (*again)->Exec("SELECT 1");
  ASSERT_TRUE(answered.ok()) << answered.status();
  EXPECT_EQ(answered->Int(0, 0), 1);
}

TEST_F(PostgresMigrationStoreTest, RefusesADatabaseWrittenByANewerOrchestrator) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateMigration(MakeMigration("m1", 1), {}, {}).ok());
  }
  ASSERT_TRUE(Connect()->Execute("UPDATE schema_version SET version = 99").ok());
  auto newer = PostgresMigrationStore::Open(database_->dsn());
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(newer.status().message(), HasSubstr("schema version 99"));
}

TEST_F(PostgresMigrationStoreTest, TwoReplicasLeasingAtOnceNeverShareATask) {
  constexpr int kTasks = 80;
  auto first = Open();
  auto second = Open();
  ASSERT_TRUE(first && second);
  std::vector<UserMove> moves;
  MigrationChange change = ChangeOf(MakeMigration("m", 1));
  for (int i = 0; i < kTasks; ++i) {
    const std::string upn = "u" + std::to_string(i) + "@x.com";
    moves.push_back(MakeMove("migrations/m", upn, crosstenant::v1::USER_MOVE_STATE_QUEUED));
    change.new_tasks.push_back(MakeTask("migrations/m", "poll", upn, crosstenant::v1::TASK_KIND_POLL_MOVE, kT0));
  }
  ASSERT_TRUE(first->CreateMigration(MakeMigration("m", 1), moves, {}).ok());
  ASSERT_TRUE(first->Apply(change).ok());

  absl::Mutex mutex;
  std::vector<std::string> leased;
  std::vector<std::thread> workers;
  for (int w = 0; w < 6; ++w) {
    MigrationStore* replica = w % 2 ? second.get() : first.get();
    workers.emplace_back([&, w, replica] {
      for (int round = 0; round < kTasks; ++round) {
        auto tasks = replica->LeaseTasks({"w" + std::to_string(w), 2, {}, absl::Minutes(5), kT0});
        if (!tasks.ok()) {
          ADD_FAILURE() << tasks.status();
          return;
        }
        if (tasks->empty()) return;
        absl::MutexLock lock(&mutex);
        for (const Task& task : *tasks) leased.push_back(task.name());
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  EXPECT_TRUE(first->LeaseTasks({"late", 100, {}, absl::Minutes(5), kT0})->empty());
  const std::set<std::string> distinct(leased.begin(), leased.end());
  EXPECT_EQ(leased.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kTasks));
}

TEST_F(PostgresMigrationStoreTest, ReplicasRacingForTheLeadershipGetOneLeaderPerTerm) {
  std::vector<std::unique_ptr<PostgresMigrationStore>> replicas;
  for (int i = 0; i < 3; ++i) replicas.push_back(Open());
  std::vector<absl::StatusOr<Leadership>> results(replicas.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < replicas.size(); ++i) {
    threads.emplace_back(
        [&, i] { results[i] = replicas[i]->AcquireLeadership("replica-" + std::to_string(i), absl::Minutes(1)); });
  }
  for (std::thread& thread : threads) thread.join();
  int held = 0;
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    held += result->held ? 1 : 0;
    EXPECT_EQ(result->term, 1);
  }
  EXPECT_EQ(held, 1);
}

TEST_F(PostgresMigrationStoreTest, ABrokenConnectionIsReplacedNotKeptInThePool) {
  PostgresMigrationStore::Options options;
  options.pool_size = 2;
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateMigration(MakeMigration("m1", 1), {}, {}).ok());
  // Two connections in the pool, both used.
  std::thread other([&] { EXPECT_TRUE(store->GetMigration("migrations/m1").ok()); });
  EXPECT_TRUE(store->GetMigration("migrations/m1").ok());
  other.join();

  // The server drops every session of the store (a restart, a failover, an idle timeout).
  auto admin = Connect();
  ASSERT_NE(admin, nullptr);
  auto killed = admin->Exec(
      "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_GE(killed->Int(0, 0), 1);

  // Reads and writes go on, on new connections.
  auto read = store->GetMigration("migrations/m1");
  EXPECT_TRUE(read.ok()) << read.status();
  Migration changed = *read;
  changed.set_state_reason("after reconnect");
  EXPECT_TRUE(store->Update(changed, {}, {}).ok());
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(store->GetMigration("migrations/m1").ok());
  EXPECT_EQ(store->GetMigration("migrations/m1")->state_reason(), "after reconnect");
}

// The state database's health (orchestrator_store_write_failures_total, orchestrator_store_full and
// their alerts) is fed by the PostgreSQL store as by SQLite: here the database turns read-only under the
// store (a failover left it on a standby), then writable again.
TEST_F(PostgresMigrationStoreTest, TellsStoreHealthOfEveryWriteTheDatabaseRefusedAndOfTheNextThatCommitted) {
  StoreHealth health("postgres");
  PostgresMigrationStore::Options options;
  options.pool_size = 1;
  options.health = &health;
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateMigration(MakeMigration("m1", 1), {}, {}).ok());
  EXPECT_EQ(health.WriteFailures()["unavailable"], 0);
  EXPECT_EQ(store->CreateMigration(MakeMigration("m1", 1), {}, {}).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(health.WriteFailures()["internal"], 0) << "a name taken says nothing about the database";

  auto admin = Connect();
  ASSERT_NE(admin, nullptr);
  auto drop_sessions = [&] {
    ASSERT_TRUE(admin
                    ->Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                    .ok());
  };
  ASSERT_TRUE(admin->Execute("ALTER DATABASE " + database_->name() + " SET default_transaction_read_only = on").ok());
  drop_sessions();
  Migration changed = *store->GetMigration("migrations/m1");
  changed.set_state_reason("while read-only");
  const absl::Status refused = store->Update(changed, {}, {});
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("read-only"));
  EXPECT_EQ(health.WriteFailures()["unavailable"], 1);
  EXPECT_TRUE(health.CheckWritable().ok()) << "only a database out of room holds work back";
  EXPECT_TRUE(store->GetMigration("migrations/m1").ok()) << "reads go on";

  ASSERT_TRUE(admin->Execute("ALTER DATABASE " + database_->name() + " RESET default_transaction_read_only").ok());
  drop_sessions();
  changed = *store->GetMigration("migrations/m1");
  changed.set_state_reason("writable again");
  EXPECT_TRUE(store->Update(changed, {}, {}).ok());
  EXPECT_EQ(store->GetMigration("migrations/m1")->state_reason(), "writable again");
  EXPECT_EQ(health.WriteFailures()["unavailable"], 1);
}

// TLS to the database as the deploy docs configure it (sslmode=verify-full with the server's CA): the
// session is encrypted, and a server whose certificate does not name the host, or chains to another CA,
// is refused with a reason and without the password.
TEST_F(PostgresMigrationStoreTest, VerifyFullTlsConnectsAndRefusesAWrongHostOrCa) {
  const std::string tls = absl::StrCat(" sslmode=verify-full sslrootcert=", database_->ca_file());
  auto store = PostgresMigrationStore::Open(database_->dsn() + tls);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->CreateMigration(MakeMigration("m1", 1), {}, {}).ok());
  auto connection = PgConnection::Connect(database_->dsn() + tls);
  ASSERT_TRUE(connection.ok()) << connection.status();
  auto ssl = (*connection)->Exec("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  ASSERT_TRUE(ssl.ok()) << ssl.status();
  EXPECT_TRUE(ssl->Bool(0, 0));
  EXPECT_THAT(ssl->Text(0, 1), HasSubstr("TLSv1."));

  // The same server by a name its certificate does not carry (a later keyword wins in libpq's strings).
  auto wrong_host = PostgresMigrationStore::Open(database_->dsn() + " host=localhost" + tls);
  ASSERT_FALSE(wrong_host.ok());
  EXPECT_EQ(wrong_host.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(wrong_host.status().message(), HasSubstr("does not match host name"));
  EXPECT_THAT(wrong_host.status().message(), Not(HasSubstr(Password())));

  auto wrong_ca = PostgresMigrationStore::Open(database_->dsn() +
                                               " sslmode=verify-full sslrootcert=/etc/ssl/certs/ca-certificates.crt");
  ASSERT_FALSE(wrong_ca.ok());
  EXPECT_EQ(wrong_ca.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(wrong_ca.status().message(), HasSubstr("certificate verify failed"));
  EXPECT_THAT(wrong_ca.status().message(), Not(HasSubstr(Password())));
}

TEST_F(PostgresMigrationStoreTest, ConnectionErrorsNeverRepeatTheConnectionStringOrPassword) {
  const std::string password = Password();
  ASSERT_FALSE(password.empty());
  // A wrong password: refused login.
  std::string wrong = database_->dsn() + " password='wrong-pass-123'";
  auto refused = PostgresMigrationStore::Open(wrong);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("cannot connect"));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("wrong-pass-123")));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr(password)));

  // Nobody listening.
  auto closed = PostgresMigrationStore::Open("host=127.0.0.1 port=1 user=x password=s3cret-value dbname=y");
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(closed.status().message(), Not(HasSubstr("s3cret-value")));

  // Malformed: libpq would quote the string back.
  for (const std::string& malformed :
       {std::string("host=127.0.0.1 password=s3cret-value port"), std::string("postgresql://u:s3cret-value@[::1")}) {
    auto bad = PostgresMigrationStore::Open(malformed);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
    EXPECT_THAT(bad.status().message(), Not(HasSubstr("s3cret-value")));
  }
}

TEST_F(PostgresMigrationStoreTest, MapsServerErrorsBySqlstate) {
  auto db = Connect();
  ASSERT_NE(db, nullptr);
  auto raise = [&](const std::string& sqlstate) {
    return db->Execute("DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '" + sqlstate + "'; END $$");
  };
  EXPECT_EQ(raise("40001").code(), absl::StatusCode::kAborted);
  EXPECT_EQ(raise("40P01").code(), absl::StatusCode::kAborted);
  EXPECT_EQ(raise("23505").code(), absl::StatusCode::kAlreadyExists);
  for (const char* full : {"53100", "53200", "54000"}) {
    absl::Status status = raise(full);
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << full;
    EXPECT_THAT(status.message(), HasSubstr("refuses writes"));
    EXPECT_THAT(status.message(), HasSubstr("disk full"));
  }
  EXPECT_EQ(raise("08006").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(raise("25006").code(), absl::StatusCode::kUnavailable) << "a read-only standby";
  EXPECT_EQ(raise("57P01").code(), absl::StatusCode::kUnavailable) << "the server shutting down";
  absl::Status syntax = db->Execute("SELEC 1");
  EXPECT_EQ(syntax.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(syntax.message(), HasSubstr("SELEC 1")) << "names what failed";
  EXPECT_THAT(syntax.message(), HasSubstr("42601"));

  // Parameters and bytes go through unchanged; NULLs are NULL.
  auto echo = db->Exec("SELECT $1::TEXT, $2::BIGINT, $3::BYTEA, $4::TEXT IS NULL",
                       {"it's", int64_t{-5}, PgParam::Bytes(std::string("\0\x01\xff", 3)), PgParam::Null()});
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_EQ(echo->Text(0, 0), "it's");
  EXPECT_EQ(echo->Int(0, 1), -5);
  EXPECT_EQ(echo->Bytes(0, 2), std::string("\0\x01\xff", 3));
  EXPECT_TRUE(echo->Bool(0, 3));

  // A transaction rolls back whole; a COMMIT after a failure reports it.
  ASSERT_TRUE(db->Execute("CREATE TABLE t (k INTEGER PRIMARY KEY)").ok());
  ASSERT_TRUE(db->Begin().ok());
  ASSERT_TRUE(db->Execute("INSERT INTO t VALUES (1)").ok());
  db->Rollback();
  EXPECT_EQ(db->Exec("SELECT COUNT(*) FROM t")->Int(0, 0), 0);
  ASSERT_TRUE(db->Begin().ok());
  ASSERT_TRUE(db->Execute("INSERT INTO t VALUES (1)").ok());
  EXPECT_EQ(db->Execute("INSERT INTO t VALUES (1)").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(db->Commit().ok());
  EXPECT_EQ(db->Exec("SELECT COUNT(*) FROM t")->Int(0, 0), 0);
}

// A lease is BEGIN ... COMMIT in one pipeline: a statement the server refuses skips the COMMIT, leaves
// nothing leased, answers with its own error, and the next lease is served.
TEST_F(PostgresMigrationStoreTest, ALeaseTheServerRefusesLeasesNothingAndTheNextIsServed) {
  PostgresMigrationStore::Options options;
  options.pool_size = 1;
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  const std::string m = "migrations/m";
  MigrationChange change = ChangeOf(MakeMigration("m", 1));
  change.new_tasks.push_back(MakeTask(m, "poll", "a@x.com", crosstenant::v1::TASK_KIND_POLL_MOVE, kT0));
  ASSERT_TRUE(store
                  ->CreateMigration(MakeMigration("m", 1),
                                    {MakeMove(m, "a@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED)}, {})
                  .ok());
  ASSERT_TRUE(store->Apply(change).ok());
  auto admin = Connect();
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(admin->Execute("ALTER TABLE tasks ADD CONSTRAINT never_leased CHECK (attempt = 0) NOT VALID").ok());

  auto refused = store->LeaseTasks({"w1", 10, {}, absl::Seconds(30), kT0});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().code(), absl::StatusCode::kAborted)
      << "the refusal's own error, not the skipped COMMIT's: " << refused.status();
  EXPECT_EQ(store->GetTask(change.new_tasks[0].task.name())->attempt(), 0) << "nothing was leased";

  ASSERT_TRUE(admin->Execute("ALTER TABLE tasks DROP CONSTRAINT never_leased").ok());
  auto leased = store->LeaseTasks({"w1", 10, {}, absl::Seconds(30), kT0});
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->size(), 1u);
  EXPECT_EQ(store->GetTask(change.new_tasks[0].task.name())->attempt(), 1) << "committed";
}

TEST_F(PostgresMigrationStoreTest, AWorkersResultsCostThreeRoundTripsAndEightStatementsHoweverManyArriveTogether) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::string m = "migrations/m";
  constexpr int kUsers = 3000;  // more than one pipeline of CreateMigration's rows
  std::vector<UserMove> moves;
  MigrationChange tasks = ChangeOf(MakeMigration("m", 1));
  for (int i = 0; i < kUsers; ++i) {
    const std::string upn = "u" + std::to_string(i) + "@x.com";
    moves.push_back(MakeMove(m, upn, crosstenant::v1::USER_MOVE_STATE_QUEUED));
    if (i < 10) tasks.new_tasks.push_back(MakeTask(m, "poll", upn, crosstenant::v1::TASK_KIND_POLL_MOVE, kT0));
  }
  const PgTraffic before_create = PgTrafficSoFar();
  ASSERT_TRUE(store->CreateMigration(MakeMigration("m", 1), moves, {}).ok());
  const PgTraffic created = PgTrafficSoFar();
  EXPECT_LE(created.round_trips - before_create.round_trips, 8) << "users in pipelines of a thousand";
  EXPECT_EQ(store->CountUserMoves(m)->at(crosstenant::v1::USER_MOVE_STATE_QUEUED), kUsers);
  ASSERT_TRUE(store->Apply(tasks).ok());

  const PgTraffic before_lease = PgTrafficSoFar();
  auto leased = store->LeaseTasks({"w1", 10, {}, absl::Seconds(30), kT0});
  ASSERT_EQ(leased->size(), 10u);
  const PgTraffic after_lease = PgTrafficSoFar();
  EXPECT_EQ(after_lease.round_trips - before_lease.round_trips, 1)
      << "BEGIN, the ten leases in one statement and COMMIT in one pipeline";

  // What TaskService does with a poll's answer: read, then write the lease, the migration, the user,
  // an event and the next poll in one transaction. First one result alone, then the nine others together.
  auto apply = [&](const std::vector<Task>& done) {
    std::vector<std::string> names;
    for (const Task& task : done) names.push_back(task.name());
    auto contexts = store->GetTaskContexts(names);
    ASSERT_TRUE(contexts.ok()) << contexts.status();
    MigrationChange change;
    for (size_t i = 0; i < done.size(); ++i) {
      ASSERT_TRUE((*contexts)[i].ok() && (*contexts)[i]->has_value());
      const TaskContext& context = **(*contexts)[i];
      if (i == 0) change = ChangeOf(context.migration);
      UserMove user = context.user_move;
      user.set_state(crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS);
      change.user_moves.push_back(user);
      change.migration.set_last_event_sequence(change.migration.last_event_sequence() + 1);
      change.events.push_back(MakeEvent(m, change.migration.last_event_sequence()));
      change.new_tasks.push_back(MakeTask(m, "poll", user.source_user_principal_name(),
                                          crosstenant::v1::TASK_KIND_POLL_MOVE, kT0 + absl::Seconds(30)));
      change.completed.push_back({done[i].name(), done[i].lease_id(), "w1", kT0});
    }
    ASSERT_TRUE(store->Apply(change).ok());
  };
  const PgTraffic start = PgTrafficSoFar();
  apply({leased->front()});
  const PgTraffic one = PgTrafficSoFar();
  apply(std::vector<Task>(leased->begin() + 1, leased->end()));
  const PgTraffic nine = PgTrafficSoFar();
  std::cout << "a worker's result alone on PostgreSQL: " << one.statements - start.statements << " statements in "
            << one.round_trips - start.round_trips
            << " round trips; nine together: " << nine.statements - one.statements << " statements in "
            << nine.round_trips - one.round_trips << " round trips\n";
  EXPECT_EQ(one.round_trips - start.round_trips, 3) << "one read; the change's statements in one pipeline; COMMIT";
  EXPECT_EQ(one.statements - start.statements, 8) << "read; BEGIN, lease, migration, user, event, task; COMMIT";
  EXPECT_EQ(nine.round_trips - one.round_trips, 3) << "as many as for one";
  EXPECT_EQ(nine.statements - one.statements, 8)
      << "as many as for one: each table's rows go in one statement, whatever their number";
  EXPECT_EQ(store->CountUserMoves(m)->at(crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS), 10);
  EXPECT_EQ(store->ListEvents(m, 0, 100)->size(), 10u);
  EXPECT_EQ(store->CountTasks(m).value_or(-1), 10);
  // What the orchestrator's metrics export (orchestrator_store_statements_total, ..._round_trips_total).
  const std::optional<MigrationStore::Traffic> exported = store->ServerTraffic();
  const PgTraffic now = PgTrafficSoFar();
  ASSERT_TRUE(exported.has_value());
  EXPECT_EQ(exported->statements, now.statements);
  EXPECT_EQ(exported->round_trips, now.round_trips);
}

TEST_F(PostgresMigrationStoreTest, APipelineAnswersEachStatementAndSkipsWhatFollowsAFailure) {
  auto db = Connect();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Execute("CREATE TABLE p (k INTEGER PRIMARY KEY)").ok());
  auto results = db->Pipeline({{"BEGIN"},
                               {"INSERT INTO p VALUES ($1)", {1}},
                               {"INSERT INTO p VALUES ($1)", {1}},
                               {"INSERT INTO p VALUES ($1)", {2}}});
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0].ok());
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_EQ(results[1]->affected_rows(), 1);
  EXPECT_EQ(results[2].status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(results[3].status().code(), absl::StatusCode::kAborted) << "skipped";
  EXPECT_FALSE(db->idle()) << "the failed transaction is still open";
  db->Rollback();
  EXPECT_TRUE(db->idle()) << "and the connection takes single statements again";
  EXPECT_EQ(db->Exec("SELECT COUNT(*) FROM p")->Int(0, 0), 0);
  auto rows = db->Pipeline({{"INSERT INTO p VALUES ($1)", {3}}, {"SELECT k FROM p"}});
  ASSERT_TRUE(rows[1].ok()) << rows[1].status();
  EXPECT_EQ(rows[1]->Text(0, 0), "3");
}

TEST_F(PostgresMigrationStoreTest, APreparedStatementIsPreparedOncePerConnectionAndAgainIfItsPipelineFailedFirst) {
  auto db = Connect();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Execute("CREATE TABLE p (k INTEGER PRIMARY KEY)").ok());
  const PgStatement insert{"INSERT INTO p VALUES ($1) RETURNING k", {1}, /*prepared=*/true};
  auto prepared_count = [&] { return db->Exec("SELECT COUNT(*) FROM pg_prepared_statements")->Int(0, 0); };

  // Skipped behind a failure: nothing prepared, and the next pipeline prepares it.
  auto failed = db->Pipeline({{"SELECT 1/0"}, insert});
  EXPECT_EQ(failed[1].status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(prepared_count(), 0);
  auto first = db->Pipeline({insert, {"INSERT INTO p VALUES ($1) RETURNING k", {2}, /*prepared=*/true}});
  ASSERT_TRUE(first[0].ok()) << first[0].status();
  ASSERT_TRUE(first[1].ok()) << first[1].status() << ": the same text twice in one pipeline, prepared once";
  EXPECT_EQ(first[1]->Text(0, 0), "2");
  EXPECT_EQ(prepared_count(), 1);

  // Run again under the same name; an error of its own is reported as any statement's.
  auto again = db->Pipeline({{"INSERT INTO p VALUES ($1) RETURNING k", {3}, /*prepared=*/true}, insert});
  ASSERT_TRUE(again[0].ok()) << again[0].status();
  EXPECT_EQ(again[1].status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(prepared_count(), 1);
  EXPECT_EQ(db->Exec("SELECT COUNT(*) FROM p")->Int(0, 0), 2) << "a pipeline is one transaction: 3 was undone";
}

TEST_F(PostgresMigrationStoreTest, BinaryArraysArriveElementForElementWhateverTheyHold) {
  auto db = Connect();
  ASSERT_NE(db, nullptr);
  std::string every_byte;
  for (int c = 0; c < 256; ++c) every_byte.push_back(static_cast<char>(c));
  const std::vector<std::string> texts = {"", "a,b", "{braces}", "\"quoted\" \\ back", "NULL", "zürich 東京", " "};
  const std::vector<std::string> bytes = {every_byte, "", std::string("\0\0", 2)};
  const std::vector<int64_t> bigints = {0, -1, std::numeric_limits<int64_t>::min(),
                                        std::numeric_limits<int64_t>::max()};
  const std::vector<int32_t> integers = {0, -7, std::numeric_limits<int32_t>::min(),
                                         std::numeric_limits<int32_t>::max()};
  auto read = db->Pipeline({{"SELECT t, ordinality FROM unnest($1::TEXT[]) WITH ORDINALITY t ORDER BY ordinality",
                             {PgParam::TextArray(texts)}},
                            {"SELECT b, ordinality FROM unnest($1::BYTEA[]) WITH ORDINALITY b ORDER BY ordinality",
                             {PgParam::ByteaArray(bytes)}},
                            {"SELECT n::TEXT FROM unnest($1::BIGINT[]) WITH ORDINALITY n ORDER BY ordinality",
                             {PgParam::BigintArray(bigints)}},
                            {"SELECT n::TEXT FROM unnest($1::INTEGER[]) WITH ORDINALITY n ORDER BY ordinality",
                             {PgParam::IntegerArray(integers)}},
                            {"SELECT cardinality($1::TEXT[]), cardinality($2::BIGINT[])",
                             {PgParam::TextArray({}), PgParam::BigintArray({})}}});
  for (const auto& result : read) ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(read[0]->rows(), static_cast<int>(texts.size()));
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(read[0]->Text(static_cast<int>(i), 0), texts[i]) << i;
  ASSERT_EQ(read[1]->rows(), static_cast<int>(bytes.size()));
  for (size_t i = 0; i < bytes.size(); ++i) EXPECT_EQ(read[1]->Bytes(static_cast<int>(i), 0), bytes[i]) << i;
  ASSERT_EQ(read[2]->rows(), static_cast<int>(bigints.size()));
  for (size_t i = 0; i < bigints.size(); ++i)
    EXPECT_EQ(read[2]->Text(static_cast<int>(i), 0), absl::StrCat(bigints[i]));
  ASSERT_EQ(read[3]->rows(), static_cast<int>(integers.size()));
  for (size_t i = 0; i < integers.size(); ++i) {
    EXPECT_EQ(read[3]->Text(static_cast<int>(i), 0), absl::StrCat(integers[i]));
  }
  EXPECT_EQ(read[4]->Int(0, 0), 0) << "an empty array is an array, not NULL";
  EXPECT_EQ(read[4]->Int(0, 1), 0);

  // An array cast to another element type is refused by the server, not misread.
  auto mismatched = db->Exec("SELECT cardinality($1::INTEGER[])", {PgParam::BigintArray({1})});
  EXPECT_FALSE(mismatched.ok());
}

}  // namespace
}  // namespace crosstenant::orchestrator
