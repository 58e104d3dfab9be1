#include "services/orchestrator/store/sqlite_migration_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/server_process.h"

namespace crosstenant::orchestrator {
namespace {

using crosstenant::v1::Migration;
using crosstenant::v1::MigrationEvent;
using crosstenant::v1::UserMove;
using crosstenant::v1::UserMoveState;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

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

MigrationEvent MakeEvent(const std::string& migration, int64_t sequence) {
  MigrationEvent event;
  event.set_name(migration);
  event.set_sequence(sequence);
  event.set_message("event " + std::to_string(sequence));
  return event;
}

class SqliteMigrationStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteMigrationStore> OpenStore() {
    auto store = SqliteMigrationStore::Open(dir_.path() + "/orchestrator.db");
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  testing::TempDir dir_;
};

TEST_F(SqliteMigrationStoreTest, CreatesAndReadsBackAMigrationWithItsUsersAndEvents) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateMigration(MakeMigration("m1", 100),
                                     {MakeMove("migrations/m1", "bob@contoso.com", crosstenant::v1::USER_MOVE_STATE_PENDING),
                                      MakeMove("migrations/m1", "Alice@contoso.com",
                                               crosstenant::v1::USER_MOVE_STATE_BLOCKED, "eur")},
                                     {MakeEvent("migrations/m1", 1)}, "req-1")
                  .ok());
  EXPECT_EQ(store->GetMigration("migrations/m1")->state(), crosstenant::v1::MIGRATION_STATE_RUNNING);
  EXPECT_EQ(store->GetMigration("migrations/none").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->FindMigrationByRequest("req-1")->value_or(""), "migrations/m1");
  EXPECT_FALSE(store->FindMigrationByRequest("req-2")->has_value());

  auto page = store->ListUserMoves(UserMoveQuery("migrations/m1"));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->user_moves.size(), 2u);
  EXPECT_EQ(page->user_moves[0].source_user_principal_name(), "Alice@contoso.com") << "ordered by UPN, any case";
  EXPECT_EQ(store->GetUserMove("migrations/m1/users/bob@contoso.com")->state(), crosstenant::v1::USER_MOVE_STATE_PENDING);

  auto counts = store->CountUserMoves("migrations/m1");
  EXPECT_EQ((*counts)[crosstenant::v1::USER_MOVE_STATE_BLOCKED], 1);
  EXPECT_EQ(store->ListEvents("migrations/m1", 0, 10)->size(), 1u);
}

TEST_F(SqliteMigrationStoreTest, ANameIsTakenOnceAndAFailedCreateLeavesNothing) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateMigration(MakeMigration("m1", 1), {}, {}, "").ok());
  absl::Status again = store->CreateMigration(MakeMigration("m1", 2), {}, {}, "");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr("migrations/m1 already exists"));

  // Two users with the same name: the whole creation rolls back.
  absl::Status duplicate = store->CreateMigration(
      MakeMigration("m2", 3),
      {MakeMove("migrations/m2", "a@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING),
       MakeMove("migrations/m2", "a@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING)},
      {}, "req-m2");
  EXPECT_FALSE(duplicate.ok());
  EXPECT_EQ(store->GetMigration("migrations/m2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(store->FindMigrationByRequest("req-m2")->has_value());
}

TEST_F(SqliteMigrationStoreTest, UpdateWritesMigrationUsersAndEventsTogether) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateMigration(MakeMigration("m1", 1),
                                     {MakeMove("migrations/m1", "a@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING)},
                                     {MakeEvent("migrations/m1", 1)}, "")
                  .ok());
  Migration paused = MakeMigration("m1", 1);
  paused.set_state(crosstenant::v1::MIGRATION_STATE_PAUSED);
  paused.set_last_event_sequence(3);
  ASSERT_TRUE(store->Update(paused, {MakeMove("migrations/m1", "a@x.com", crosstenant::v1::USER_MOVE_STATE_QUEUED)},
                            {MakeEvent("migrations/m1", 2), MakeEvent("migrations/m1", 3)})
                  .ok());
  EXPECT_EQ(store->GetMigration("migrations/m1")->state(), crosstenant::v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(store->GetUserMove("migrations/m1/users/a@x.com")->state(), crosstenant::v1::USER_MOVE_STATE_QUEUED);
  auto events = store->ListEvents("migrations/m1", 1, 10);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].sequence(), 3);

  // An update naming an unknown user changes nothing at all.
  Migration later = paused;
  later.set_state(crosstenant::v1::MIGRATION_STATE_CANCELLED);
  EXPECT_EQ(store->Update(later, {MakeMove("migrations/m1", "ghost@x.com", crosstenant::v1::USER_MOVE_STATE_STOPPED)},
                          {MakeEvent("migrations/m1", 4)})
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->GetMigration("migrations/m1")->state(), crosstenant::v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(store->ListEvents("migrations/m1", 3, 10)->size(), 0u);
}

TEST_F(SqliteMigrationStoreTest, PagesThroughMigrationsNewestFirstAndUsersByUpnWithFilters) {
  auto store = OpenStore();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->CreateMigration(MakeMigration("m" + std::to_string(i), i), {}, {}, "").ok());
  std::vector<std::string> names;
  std::string token;
  do {
    auto page = store->ListMigrations({}, 2, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& migration : page->migrations) names.push_back(migration.name());
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_THAT(names, ElementsAre("migrations/m4", "migrations/m3", "migrations/m2", "migrations/m1", "migrations/m0"));
  EXPECT_EQ(store->ListMigrations({}, 2, "!!not-a-token").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ListMigrations({crosstenant::v1::MIGRATION_STATE_PAUSED}, 10, "")->migrations.size(), 0u);

}

TEST_F(SqliteMigrationStoreTest, UserMovesMustBelongToTheMigrationTheyAreCreatedWith) {
  auto store = OpenStore();
  absl::Status stray = store->CreateMigration(
      MakeMigration("m1", 1), {MakeMove("migrations/other", "a@x.com", crosstenant::v1::USER_MOVE_STATE_PENDING)}, {}, "");
  EXPECT_EQ(stray.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(store->GetMigration("migrations/m1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteMigrationStoreTest, FiltersUsersByStateAndGeoAcrossPages) {
  auto store = OpenStore();
  std::vector<UserMove> moves;
  for (int i = 0; i < 7; ++i) {
    moves.push_back(MakeMove("migrations/m", "u" + std::to_string(i) + "@x.com",
                             i % 2 ? crosstenant::v1::USER_MOVE_STATE_BLOCKED : crosstenant::v1::USER_MOVE_STATE_PENDING,
                             i < 3 ? "eur" : "nam"));
  }
  ASSERT_TRUE(store->CreateMigration(MakeMigration("m", 1), moves, {}, "").ok());
  UserMoveQuery query;
  query.migration = "migrations/m";
  query.states = {crosstenant::v1::USER_MOVE_STATE_PENDING};
  query.source_geo = "nam";
  query.page_size = 1;
  std::vector<std::string> upns;
  do {
    auto page = store->ListUserMoves(query);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& move : page->user_moves) upns.push_back(move.source_user_principal_name());
    query.page_token = page->next_page_token;
  } while (!query.page_token.empty());
  EXPECT_THAT(upns, ElementsAre("u4@x.com", "u6@x.com"));
}

TEST_F(SqliteMigrationStoreTest, SurvivesReopenAndRefusesANewerSchema) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->CreateMigration(MakeMigration("m1", 1), {}, {}, "").ok());
    EXPECT_EQ(store->SchemaVersion().value(), SqliteMigrationStore::kSchemaVersion);
  }
  {
    auto store = OpenStore();
    EXPECT_TRUE(store->GetMigration("migrations/m1").ok()) << "state survives a restart";
  }
  {
    auto db = SqliteDatabase::Open(dir_.path() + "/orchestrator.db");
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Execute("UPDATE schema_version SET version = 99").ok());
  }
  auto newer = SqliteMigrationStore::Open(dir_.path() + "/orchestrator.db");
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(newer.status().message(), HasSubstr("schema version 99"));
}

}  // namespace
}  // namespace crosstenant::orchestrator
