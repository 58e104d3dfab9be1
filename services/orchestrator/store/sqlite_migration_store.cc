#include "services/orchestrator/store/sqlite_migration_store.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/common/audit_chain.h"
#include "services/common/sqlite_audit_table.h"
#include "services/common/status_macros.h"
#include "services/orchestrator/store/stored_records.h"

namespace crosstenant::orchestrator {
namespace {

using crosstenant::v1::Migration;
using crosstenant::v1::MigrationEvent;
using crosstenant::v1::UserMove;

constexpr int kMaxPageSize = 1000;

// Schema migrations, applied in order; entry i brings the file from version i to version i + 1.
// Never edit a released entry: append a new one.
constexpr const char* kSchemaMigrations[] = {
    R"sql(
      CREATE TABLE migrations (
        name TEXT PRIMARY KEY,
        create_time_us INTEGER NOT NULL,
        state INTEGER NOT NULL,
        record BLOB NOT NULL
      );
      CREATE INDEX migrations_by_time ON migrations (create_time_us DESC, name);
      CREATE TABLE migration_requests (
        request_id TEXT PRIMARY KEY,
        migration TEXT NOT NULL REFERENCES migrations (name)
      );
      CREATE TABLE user_moves (
        name TEXT PRIMARY KEY,
        migration TEXT NOT NULL REFERENCES migrations (name),
        source_upn TEXT NOT NULL,
        source_geo TEXT NOT NULL,
        state INTEGER NOT NULL,
        record BLOB NOT NULL
      );
      CREATE INDEX user_moves_by_migration ON user_moves (migration, source_upn);
      CREATE INDEX user_moves_by_state ON user_moves (migration, state);
      CREATE TABLE events (
        migration TEXT NOT NULL REFERENCES migrations (name),
        sequence INTEGER NOT NULL,
        record BLOB NOT NULL,
        PRIMARY KEY (migration, sequence)
      );
    )sql",
    // Version 2: per-user work handed to workers under leases.
    R"sql(
      CREATE TABLE tasks (
        name TEXT PRIMARY KEY,
        migration TEXT NOT NULL REFERENCES migrations (name),
        kind INTEGER NOT NULL,
        ready_time_us INTEGER NOT NULL,
        lease_id TEXT NOT NULL DEFAULT '',
        lease_owner TEXT NOT NULL DEFAULT '',
        lease_expire_us INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        record BLOB NOT NULL
      );
      CREATE INDEX tasks_by_ready_time ON tasks (ready_time_us, name);
      CREATE INDEX tasks_by_migration ON tasks (migration);
    )sql",
    // Version 3: the identity map of each migration, for the uploads of step 5; tasks by user.
    R"sql(
      CREATE TABLE identity_maps (
        migration TEXT PRIMARY KEY REFERENCES migrations (name),
        csv BLOB NOT NULL
      );
      ALTER TABLE tasks ADD COLUMN user_move TEXT NOT NULL DEFAULT '';
      CREATE INDEX tasks_by_user_move ON tasks (user_move);
    )sql",
    // Version 4: optimistic writes (the revision behind Migration.etag) and the phase driver's
    // leadership lease.
    R"sql(
      ALTER TABLE migrations ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
      CREATE TABLE leadership (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        holder TEXT NOT NULL,
        term INTEGER NOT NULL,
        expire_us INTEGER NOT NULL
      );
    )sql",
    // Version 5: every remembered request says which RPC made it and with which body (AIP-155). Ids
    // stored before have no fingerprint and are taken as the CreateMigration they were.
    R"sql(
      ALTER TABLE migration_requests ADD COLUMN method TEXT NOT NULL DEFAULT 'CreateMigration';
      ALTER TABLE migration_requests ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
      ALTER TABLE tasks ADD COLUMN lease_request TEXT NOT NULL DEFAULT '';
    )sql",
    // Version 6: users counted by state as they change, so that counting them reads a handful of rows
    // instead of every user of the migration.
    R"sql(
      CREATE TABLE user_move_counts (
        migration TEXT NOT NULL,
        state INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (migration, state)
      );
      INSERT INTO user_move_counts (migration, state, count)
        SELECT migration, state, COUNT(*) FROM user_moves GROUP BY migration, state;
      CREATE TRIGGER user_moves_counted_on_insert AFTER INSERT ON user_moves BEGIN
        INSERT INTO user_move_counts (migration, state, count) VALUES (NEW.migration, NEW.state, 1)
          ON CONFLICT (migration, state) DO UPDATE SET count = count + 1;
      END;
      CREATE TRIGGER user_moves_counted_on_update AFTER UPDATE OF state ON user_moves
        WHEN OLD.state != NEW.state BEGIN
        UPDATE user_move_counts SET count = count - 1 WHERE migration = OLD.migration AND state = OLD.state;
        INSERT INTO user_move_counts (migration, state, count) VALUES (NEW.migration, NEW.state, 1)
          ON CONFLICT (migration, state) DO UPDATE SET count = count + 1;
      END;
      CREATE TRIGGER user_moves_counted_on_delete AFTER DELETE ON user_moves BEGIN
        UPDATE user_move_counts SET count = count - 1 WHERE migration = OLD.migration AND state = OLD.state;
      END;
    )sql",
    // Version 7: identity maps staged by UploadIdentityMap, a page of rows at a time, and kept by the
    // migration created from them (whose identity_maps csv is then empty).
    R"sql(
      CREATE TABLE identity_map_uploads (
        name TEXT PRIMARY KEY,
        create_time_us INTEGER NOT NULL,
        complete INTEGER NOT NULL DEFAULT 0,
        summary BLOB NOT NULL DEFAULT x'',
        migration TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX identity_map_uploads_by_migration ON identity_map_uploads (migration, create_time_us);
      CREATE TABLE identity_map_upload_rows (
        upload TEXT NOT NULL,
        line INTEGER NOT NULL,
        is_group INTEGER NOT NULL,
        source_key TEXT NOT NULL,
        target_key TEXT NOT NULL,
        source TEXT NOT NULL,
        target TEXT NOT NULL,
        email TEXT NOT NULL,
        csv TEXT NOT NULL,
        PRIMARY KEY (upload, line)
      );
      CREATE INDEX identity_map_upload_rows_by_source ON identity_map_upload_rows (upload, source_key);
      CREATE INDEX identity_map_upload_rows_by_target ON identity_map_upload_rows (upload, target_key);
    )sql",
    // Version 8: the audit trail, whose table and append-only triggers CreateSqliteAuditTable makes at
    // every open, before these steps (so that a later step may change the table).
    "SELECT 1;",
    // Version 9: users by state in name order, so that a page of the users in some states reads those
    // users only (ListUserMoves), not every user of the migration before them.
    R"sql(
      CREATE INDEX IF NOT EXISTS user_moves_by_state_and_upn ON user_moves (migration, state, source_upn);
      DROP INDEX IF EXISTS user_moves_by_state;
    )sql",
    // Version 10: users counted by source geo as well as by state, so that a geo's queue is read from its
    // counts, not by counting its queued users (every user of the migration at the start).
    R"sql(
      DROP TRIGGER IF EXISTS user_moves_counted_on_insert;
      DROP TRIGGER IF EXISTS user_moves_counted_on_update;
      DROP TRIGGER IF EXISTS user_moves_counted_on_delete;
      DROP TABLE IF EXISTS user_move_counts;
      CREATE TABLE user_move_counts (
        migration TEXT NOT NULL,
        source_geo TEXT NOT NULL,
        state INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (migration, source_geo, state)
      );
      INSERT INTO user_move_counts (migration, source_geo, state, count)
        SELECT migration, source_geo, state, COUNT(*) FROM user_moves GROUP BY migration, source_geo, state;
      CREATE TRIGGER user_moves_counted_on_insert AFTER INSERT ON user_moves BEGIN
        INSERT INTO user_move_counts (migration, source_geo, state, count)
          VALUES (NEW.migration, NEW.source_geo, NEW.state, 1)
          ON CONFLICT (migration, source_geo, state) DO UPDATE SET count = count + 1;
      END;
      CREATE TRIGGER user_moves_counted_on_update AFTER UPDATE OF state, source_geo ON user_moves
        WHEN OLD.state != NEW.state OR OLD.source_geo != NEW.source_geo BEGIN
        UPDATE user_move_counts SET count = count - 1
          WHERE migration = OLD.migration AND source_geo = OLD.source_geo AND state = OLD.state;
        INSERT INTO user_move_counts (migration, source_geo, state, count)
          VALUES (NEW.migration, NEW.source_geo, NEW.state, 1)
          ON CONFLICT (migration, source_geo, state) DO UPDATE SET count = count + 1;
      END;
      CREATE TRIGGER user_moves_counted_on_delete AFTER DELETE ON user_moves BEGIN
        UPDATE user_move_counts SET count = count - 1
          WHERE migration = OLD.migration AND source_geo = OLD.source_geo AND state = OLD.state;
      END;
    )sql",
};
static_assert(sizeof(kSchemaMigrations) / sizeof(kSchemaMigrations[0]) == SqliteMigrationStore::kSchemaVersion);

template <typename Enum>
std::string InList(const std::vector<Enum>& values, int first_index) {
  std::vector<std::string> placeholders;
  for (size_t i = 0; i < values.size(); ++i) placeholders.push_back(absl::StrCat("?", first_index + i));
  return absl::StrCat("(", absl::StrJoin(placeholders, ","), ")");
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteMigrationStore>> SqliteMigrationStore::Open(
    const std::string& path, const SqliteDatabase::Options& options) {
  // The file's errors name the orchestrator's remedies and its cap's setting.
  SqliteDatabase::Options named = options;
  named.owner = "orchestrator";
  named.max_size_setting = "orchestrator --sqlite-max-size, config sqlite_max_size";
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteDatabase> db, SqliteDatabase::Open(path, named));
  std::unique_ptr<SqliteMigrationStore> store(new SqliteMigrationStore(std::move(db)));
  absl::MutexLock lock(&store->mutex_);
  RETURN_IF_ERROR(CreateSqliteAuditTable(*store->db_));
  RETURN_IF_ERROR(store->ApplySchemaMigrations());
  return store;
}

absl::Status SqliteMigrationStore::ApplySchemaMigrations() {
  RETURN_IF_ERROR(db_->Execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
  while (true) {
    RETURN_IF_ERROR(db_->Begin());
    auto read = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::StatusOr<int> {
      ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare("SELECT version FROM schema_version"));
      ASSIGN_OR_RETURN(bool row, select.Step());
      return row ? static_cast<int>(select.ColumnInt(0)) : 0;
    };
    absl::StatusOr<int> version = read();
    if (!version.ok()) {
      db_->Rollback();
      return version.status();
    }
    if (*version > kSchemaVersion) {
      db_->Rollback();
      return absl::FailedPreconditionError(absl::StrCat("the state database has schema version ", *version,
                                                        ", newer than this orchestrator's ", kSchemaVersion,
                                                        ": run the newer orchestrator, or restore a backup"));
    }
    if (*version == kSchemaVersion) return db_->Commit();
    absl::Status applied = db_->Execute(kSchemaMigrations[*version]);
    if (applied.ok()) {
      applied = db_->Execute(*version == 0 ? absl::StrCat("INSERT INTO schema_version VALUES (", *version + 1, ")")
                                           : absl::StrCat("UPDATE schema_version SET version = ", *version + 1));
    }
    if (!applied.ok()) {
      db_->Rollback();
      return absl::InternalError(
          absl::StrCat("schema migration to version ", *version + 1, " failed: ", applied.message()));
    }
    RETURN_IF_ERROR(db_->Commit());
  }
}

absl::StatusOr<int> SqliteMigrationStore::SchemaVersion() {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare("SELECT version FROM schema_version"));
  ASSIGN_OR_RETURN(bool row, select.Step());
  return row ? static_cast<int>(select.ColumnInt(0)) : 0;
}

absl::Status SqliteMigrationStore::WriteMigration(const Migration& migration, bool insert) {
  // The etag lives in the revision column, never in the stored record.
  Migration record = migration;
  record.clear_etag();
  int64_t revision = 0;
  const bool conditional = !insert && !migration.etag().empty();
  if (conditional && !absl::SimpleAtoi(migration.etag(), &revision)) return ConcurrentChangeError(migration.name());
  ASSIGN_OR_RETURN(SqliteStatement statement,
                   db_->Prepare(insert        ? "INSERT INTO migrations (name, create_time_us, state, record) "
                                                "VALUES (?1, ?2, ?3, ?4)"
                                : conditional ? "UPDATE migrations SET create_time_us = ?2, state = ?3, record = ?4, "
                                                "revision = revision + 1 WHERE name = ?1 AND revision = ?5"
                                              : "UPDATE migrations SET create_time_us = ?2, state = ?3, record = ?4, "
                                                "revision = revision + 1 WHERE name = ?1"));
  statement.Bind(1, migration.name())
      .Bind(2, stored::Micros(migration.create_time()))
      .Bind(3, static_cast<int64_t>(migration.state()))
      .BindBlob(4, record.SerializeAsString());
  if (conditional) statement.Bind(5, revision);
  absl::Status status = statement.Run();
  if (insert && absl::IsAlreadyExists(status)) {
    return absl::AlreadyExistsError(absl::StrCat(migration.name(), " already exists"));
  }
  if (!insert && status.ok() && sqlite3_changes(db_->handle()) == 0) {
    ASSIGN_OR_RETURN(SqliteStatement exists, db_->Prepare("SELECT 1 FROM migrations WHERE name = ?1"));
    exists.Bind(1, migration.name());
    ASSIGN_OR_RETURN(bool found, exists.Step());
    if (!found) return absl::NotFoundError(absl::StrCat(migration.name(), " does not exist"));
    return ConcurrentChangeError(migration.name());
  }
  return status;
}

absl::Status SqliteMigrationStore::CheckLeaderTerm(int64_t term) {
  ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare("SELECT term, expire_us FROM leadership WHERE id = 1"));
  ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row || select.ColumnInt(0) != term || select.ColumnInt(1) <= absl::ToUnixMicros(absl::Now())) {
    return absl::AbortedError(
        absl::StrCat("leadership term ", term, " is over: another replica drives the migrations now"));
  }
  return absl::OkStatus();
}

absl::Status SqliteMigrationStore::WriteUserMoves(const std::vector<UserMove>& user_moves, bool insert) {
  if (user_moves.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(SqliteStatement statement,
                   db_->Prepare(insert ? "INSERT INTO user_moves (name, migration, source_upn, source_geo, state, "
                                         "record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                                       : "UPDATE user_moves SET source_geo = ?4, state = ?5, record = ?6 "
                                         "WHERE name = ?1 AND migration = ?2 AND source_upn = ?3"));
  for (const UserMove& move : user_moves) {
    statement.Bind(1, move.name())
        .Bind(2, stored::MigrationOf(move.name()))
        .Bind(3, absl::AsciiStrToLower(move.source_user_principal_name()))
        .Bind(4, move.source_geo())
        .Bind(5, static_cast<int64_t>(move.state()))
        .BindBlob(6, move.SerializeAsString());
    RETURN_IF_ERROR(statement.Run());
    if (!insert && sqlite3_changes(db_->handle()) == 0) {
      return absl::NotFoundError(absl::StrCat(move.name(), " does not exist"));
    }
  }
  return absl::OkStatus();
}

absl::Status SqliteMigrationStore::WriteEvents(const std::vector<MigrationEvent>& events) {
  if (events.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(SqliteStatement statement,
                   db_->Prepare("INSERT INTO events (migration, sequence, record) VALUES (?1, ?2, ?3)"));
  for (const MigrationEvent& event : events) {
    statement.Bind(1, event.name()).Bind(2, event.sequence()).BindBlob(3, event.SerializeAsString());
    RETURN_IF_ERROR(statement.Run());
  }
  return absl::OkStatus();
}

absl::Status SqliteMigrationStore::CreateMigration(const Migration& migration, const std::vector<UserMove>& user_moves,
                                                   const std::vector<MigrationEvent>& events,
                                                   const std::optional<RequestRecord>& request,
                                                   absl::string_view identity_map_csv) {
  for (const UserMove& move : user_moves) {
    if (stored::MigrationOf(move.name()) != migration.name()) {
      return absl::InternalError(absl::StrCat("user move ", move.name(), " does not belong to ", migration.name()));
    }
  }
  absl::MutexLock lock(&mutex_);
  RETURN_IF_ERROR(db_->Begin());
  absl::Status status = WriteMigration(migration, /*insert=*/true);
  if (status.ok() && request) status = WriteRequest(*request);
  if (status.ok()) status = WriteUserMoves(user_moves, /*insert=*/true);
  if (status.ok()) status = WriteEvents(events);
  if (status.ok()) {
    absl::StatusOr<SqliteStatement> statement =
        db_->Prepare("INSERT INTO identity_maps (migration, csv) VALUES (?1, ?2)");
    status =
        statement.ok() ? statement->Bind(1, migration.name()).BindBlob(2, identity_map_csv).Run() : statement.status();
  }
  if (!status.ok()) {
    db_->Rollback();
    return status;
  }
  return db_->Commit();
}

absl::StatusOr<std::string> SqliteMigrationStore::GetIdentityMap(absl::string_view migration) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare("SELECT csv FROM identity_maps WHERE migration = ?1"));
  select.Bind(1, migration);
  ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("no identity map stored for ", migration));
  return select.ColumnBlob(0);
}

absl::Status SqliteMigrationStore::CreateIdentityMapUpload(absl::string_view name, absl::Time create_time) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement insert,
                   db_->Prepare("INSERT INTO identity_map_uploads (name, create_time_us) VALUES (?1, ?2)"));
  return insert.Bind(1, name).Bind(2, absl::ToUnixMicros(create_time)).Run();
}

absl::Status SqliteMigrationStore::AppendStagedRows(absl::string_view upload,
                                                    const std::vector<StagedIdentityMapRow>& rows) {
  absl::MutexLock lock(&mutex_);
  {
    ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare("SELECT complete FROM identity_map_uploads WHERE name = ?1"));
    select.Bind(1, upload);
    ASSIGN_OR_RETURN(bool found, select.Step());
    if (!found) return absl::NotFoundError(absl::StrCat(upload, " does not exist"));
    if (select.ColumnInt(0) != 0) return absl::FailedPreconditionError(absl::StrCat(upload, " is complete"));
  }
  RETURN_IF_ERROR(db_->Begin());
  auto write = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::Status {
    ASSIGN_OR_RETURN(
        SqliteStatement insert,
        db_->Prepare("INSERT INTO identity_map_upload_rows (upload, line, is_group, source_key, "
                     "target_key, source, target, email, csv) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
    for (const StagedIdentityMapRow& row : rows) {
      RETURN_IF_ERROR(insert.Bind(1, upload)
                          .Bind(2, int64_t{row.line})
                          .Bind(3, int64_t{row.group ? 1 : 0})
                          .Bind(4, row.source_key)
                          .Bind(5, row.target_key)
                          .Bind(6, row.source)
                          .Bind(7, row.target)
                          .Bind(8, row.email)
                          .Bind(9, row.csv)
                          .Run());
    }
    return absl::OkStatus();
  };
  if (absl::Status status = write(); !status.ok()) {
    db_->Rollback();
    return status;
  }
  return db_->Commit();
}

absl::StatusOr<std::map<std::string, int>> SqliteMigrationStore::FindStagedKeys(absl::string_view upload, bool target,
                                                                                const std::vector<std::string>& keys) {
  absl::MutexLock lock(&mutex_);
  // One indexed look-up per key: in-process, that is cheaper than building one statement for a page.
  ASSIGN_OR_RETURN(SqliteStatement select,
                   // No ORDER BY: SQLite would walk the rows by line rather than use the key's index. A
                   // key is on one row at most, since duplicates are never staged.
                   db_->Prepare(target ? "SELECT line FROM identity_map_upload_rows WHERE upload = ?1 AND "
                                         "target_key = ?2 LIMIT 1"
                                       : "SELECT line FROM identity_map_upload_rows WHERE upload = ?1 AND "
                                         "source_key = ?2 LIMIT 1"));
  std::map<std::string, int> found;
  for (const std::string& key : keys) {
    select.Bind(1, upload).Bind(2, key);
    absl::StatusOr<bool> row = select.Step();
    if (row.ok() && *row) found[key] = static_cast<int>(select.ColumnInt(0));
    select.Reset();
    if (!row.ok()) return row.status();
  }
  return found;
}

absl::StatusOr<std::vector<StagedIdentityMapRow>> SqliteMigrationStore::ReadStagedRows(absl::string_view upload,
                                                                                       StagedRows which, int after_line,
                                                                                       int limit) {
  const char* kind = which == StagedRows::kUsers    ? " AND is_group = 0"
                     : which == StagedRows::kGroups ? " AND is_group = 1"
                                                    : "";
  ASSIGN_OR_RETURN(
      SqliteStatement select,
      db_->Prepare(absl::StrCat("SELECT line, is_group, source_key, target_key, source, target, email, csv "
                                "FROM identity_map_upload_rows WHERE upload = ?1 AND line > ?2",
                                kind, " ORDER BY line LIMIT ?3")));
  select.Bind(1, upload).Bind(2, int64_t{after_line}).Bind(3, int64_t{std::max(1, limit)});
  std::vector<StagedIdentityMapRow> rows;
  while (true) {
    ASSIGN_OR_RETURN(bool found, select.Step());
    if (!found) break;
    StagedIdentityMapRow& row = rows.emplace_back();
    row.line = static_cast<int>(select.ColumnInt(0));
    row.group = select.ColumnInt(1) != 0;
    row.source_key = select.ColumnText(2);
    row.target_key = select.ColumnText(3);
    row.source = select.ColumnText(4);
    row.target = select.ColumnText(5);
    row.email = select.ColumnText(6);
    row.csv = select.ColumnText(7);
  }
  return rows;
}

absl::StatusOr<std::vector<StagedIdentityMapRow>> SqliteMigrationStore::ListStagedRows(absl::string_view upload,
                                                                                       StagedRows which, int after_line,
                                                                                       int limit) {
  absl::MutexLock lock(&mutex_);
  return ReadStagedRows(upload, which, after_line, limit);
}

absl::Status SqliteMigrationStore::CompleteIdentityMapUpload(absl::string_view upload,
                                                             const crosstenant::v1::IdentityMapSummary& summary) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement update,
                   db_->Prepare("UPDATE identity_map_uploads SET complete = 1, summary = ?2 WHERE name = ?1"));
  RETURN_IF_ERROR(update.Bind(1, upload).BindBlob(2, summary.SerializeAsString()).Run());
  if (sqlite3_changes(db_->handle()) == 0) return absl::NotFoundError(absl::StrCat(upload, " does not exist"));
  return absl::OkStatus();
}

absl::StatusOr<IdentityMapUpload> SqliteMigrationStore::GetIdentityMapUpload(absl::string_view upload) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select,
                   db_->Prepare("SELECT create_time_us, complete, summary, migration FROM identity_map_uploads "
                                "WHERE name = ?1"));
  select.Bind(1, upload);
  ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return absl::NotFoundError(absl::StrCat(upload, " does not exist"));
  IdentityMapUpload result;
  result.name = std::string(upload);
  result.create_time = absl::FromUnixMicros(select.ColumnInt(0));
  result.complete = select.ColumnInt(1) != 0;
  if (!result.summary.ParseFromString(select.ColumnBlob(2))) {
    return absl::DataLossError(absl::StrCat("the summary of ", upload, " is unreadable"));
  }
  result.migration = select.ColumnText(3);
  return result;
}

absl::StatusOr<std::optional<std::string>> SqliteMigrationStore::IdentityMapUploadOf(absl::string_view migration) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select,
                   db_->Prepare("SELECT name FROM identity_map_uploads WHERE migration = ?1 LIMIT 1"));
  select.Bind(1, migration);
  ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found || migration.empty()) return std::nullopt;
  return select.ColumnText(0);
}

absl::StatusOr<int> SqliteMigrationStore::DeleteUnusedIdentityMapUploads(absl::Time created_before,
                                                                         absl::string_view upload) {
  absl::MutexLock lock(&mutex_);
  RETURN_IF_ERROR(db_->Begin());
  int deleted = 0;
  auto remove = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::Status {
    constexpr const char* kUnused = "migration = '' AND (create_time_us < ?1 OR name = ?2)";
    ASSIGN_OR_RETURN(SqliteStatement rows,
                     db_->Prepare(absl::StrCat("DELETE FROM identity_map_upload_rows WHERE upload IN "
                                               "(SELECT name FROM identity_map_uploads WHERE ",
                                               kUnused, ")")));
    RETURN_IF_ERROR(rows.Bind(1, absl::ToUnixMicros(created_before)).Bind(2, upload).Run());
    ASSIGN_OR_RETURN(SqliteStatement uploads,
                     db_->Prepare(absl::StrCat("DELETE FROM identity_map_uploads WHERE ", kUnused)));
    RETURN_IF_ERROR(uploads.Bind(1, absl::ToUnixMicros(created_before)).Bind(2, upload).Run());
    deleted = sqlite3_changes(db_->handle());
    return absl::OkStatus();
  };
  if (absl::Status status = remove(); !status.ok()) {
    db_->Rollback();
    return status;
  }
  RETURN_IF_ERROR(db_->Commit());
  return deleted;
}

absl::StatusOr<std::vector<std::string>> SqliteMigrationStore::StagedUsersIn(absl::string_view upload,
                                                                             const std::vector<std::string>& migrations,
                                                                             int limit) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select,
                   db_->Prepare("SELECT r.line, r.source FROM identity_map_upload_rows r JOIN user_moves u "
                                "ON u.migration = ?2 AND u.source_upn = r.source_key "
                                "WHERE r.upload = ?1 AND r.is_group = 0 ORDER BY r.line LIMIT ?3"));
  std::vector<std::pair<int64_t, std::string>> found;
  for (const std::string& migration : migrations) {
    select.Bind(1, upload).Bind(2, migration).Bind(3, int64_t{limit});
    while (true) {
      absl::StatusOr<bool> row = select.Step();
      if (!row.ok()) {
        select.Reset();
        return row.status();
      }
      if (!*row) break;
      found.emplace_back(select.ColumnInt(0), select.ColumnText(1));
    }
    select.Reset();
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> users;
  for (auto& [line, user] : found) {
    if (static_cast<int>(users.size()) >= limit) break;
    users.push_back(std::move(user));
  }
  return users;
}

absl::StatusOr<std::vector<std::string>> SqliteMigrationStore::UsersIn(const std::vector<std::string>& source_keys,
                                                                       const std::vector<std::string>& migrations,
                                                                       int limit) {
  absl::MutexLock lock(&mutex_);
  // One indexed look-up per key and migration: in-process, cheaper than one statement with every key.
  ASSIGN_OR_RETURN(SqliteStatement select,
                   db_->Prepare("SELECT 1 FROM user_moves WHERE migration = ?1 AND source_upn = ?2 LIMIT 1"));
  std::vector<std::string> users;
  for (const std::string& key : source_keys) {
    if (static_cast<int>(users.size()) >= limit) break;
    for (const std::string& migration : migrations) {
      select.Bind(1, migration).Bind(2, key);
      absl::StatusOr<bool> row = select.Step();
      select.Reset();
      if (!row.ok()) return row.status();
      if (*row) {
        users.push_back(key);
        break;
      }
    }
  }
  return users;
}

absl::Status SqliteMigrationStore::CreateMigrationFromUpload(
    const Migration& migration, const std::vector<MigrationEvent>& events, const std::optional<RequestRecord>& request,
    absl::string_view upload, const std::function<UserMove(const StagedIdentityMapRow&)>& make_move) {
  absl::MutexLock lock(&mutex_);
  RETURN_IF_ERROR(db_->Begin());
  auto create = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::Status {
    // Claimed first, so that a second migration from the same upload fails here and writes nothing.
    ASSIGN_OR_RETURN(SqliteStatement claim, db_->Prepare("UPDATE identity_map_uploads SET migration = ?2 "
                                                         "WHERE name = ?1 AND complete = 1 AND migration = ''"));
    RETURN_IF_ERROR(claim.Bind(1, upload).Bind(2, migration.name()).Run());
    if (sqlite3_changes(db_->handle()) == 0) {
      ASSIGN_OR_RETURN(SqliteStatement exists, db_->Prepare("SELECT 1 FROM identity_map_uploads WHERE name = ?1"));
      exists.Bind(1, upload);
      ASSIGN_OR_RETURN(bool found, exists.Step());
      if (!found)
        return absl::NotFoundError(absl::StrCat(upload, " does not exist (unused uploads are deleted after 24 hours)"));
      return absl::FailedPreconditionError(
          absl::StrCat(upload, " is incomplete or a migration was already created from it"));
    }
    RETURN_IF_ERROR(WriteMigration(migration, /*insert=*/true));
    if (request) RETURN_IF_ERROR(WriteRequest(*request));
    RETURN_IF_ERROR(WriteEvents(events));
    ASSIGN_OR_RETURN(SqliteStatement map, db_->Prepare("INSERT INTO identity_maps (migration, csv) VALUES (?1, x'')"));
    RETURN_IF_ERROR(map.Bind(1, migration.name()).Run());
    constexpr int kPage = 1000;
    int after_line = 0;
    while (true) {
      ASSIGN_OR_RETURN(std::vector<StagedIdentityMapRow> rows,
                       ReadStagedRows(upload, StagedRows::kUsers, after_line, kPage));
      if (rows.empty()) break;
      std::vector<UserMove> moves;
      moves.reserve(rows.size());
      for (const StagedIdentityMapRow& row : rows) moves.push_back(make_move(row));
      for (const UserMove& move : moves) {
        if (stored::MigrationOf(move.name()) != migration.name()) {
          return absl::InternalError(absl::StrCat("user move ", move.name(), " does not belong to ", migration.name()));
        }
      }
      RETURN_IF_ERROR(WriteUserMoves(moves, /*insert=*/true));
      after_line = rows.back().line;
    }
    return absl::OkStatus();
  };
  if (absl::Status status = create(); !status.ok()) {
    db_->Rollback();
    return status;
  }
  return db_->Commit();
}

namespace {

// The users of a source geo (?1 migration, ?2 geo) that count against its queue limit, as two counts:
// the moves active at Microsoft (?3 to ?7), from the counts by geo and state, and the QUEUED users (?8)
// whose start task waits for a worker, read through the tasks (they exist only for users in flight).
// The moves active at Microsoft (?3 to ?7) from the counts by geo and state, and the QUEUED users (?8)
// whose start task (?9, one per user) waits for a worker. Only a QUEUED user has a start task, and a
// user has no other task while QUEUED: only the migration's start tasks are joined to their users (the
// starts in flight, not every poll of the moves at Microsoft). The user's state is checked all the same:
// a cancelled migration's users keep start tasks no worker took.
constexpr absl::string_view kSqliteActiveMoves =
    "(SELECT COALESCE(SUM(count), 0) FROM user_move_counts WHERE migration = ?1 AND source_geo = ?2 "
    "AND state IN (?3, ?4, ?5, ?6, ?7)), "
    "(SELECT COUNT(*) FROM tasks t JOIN user_moves u ON u.name = t.user_move "
    "WHERE t.migration = ?1 AND t.kind = ?9 AND u.state = ?8 AND u.source_geo = ?2)";

void BindActiveMoves(SqliteStatement& select, absl::string_view migration, absl::string_view source_geo) {
  select.Bind(1, migration).Bind(2, source_geo);
  const crosstenant::v1::UserMoveState states[] = {
      crosstenant::v1::USER_MOVE_STATE_NOT_STARTED,      crosstenant::v1::USER_MOVE_STATE_SCHEDULED,
      crosstenant::v1::USER_MOVE_STATE_READY_TO_TRIGGER, crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS,
      crosstenant::v1::USER_MOVE_STATE_RESCHEDULED,      crosstenant::v1::USER_MOVE_STATE_QUEUED};
  for (int i = 0; i < 6; ++i) select.Bind(3 + i, static_cast<int64_t>(states[i]));
  select.Bind(9, static_cast<int64_t>(crosstenant::v1::TASK_KIND_START_MOVE));
}

}  // namespace

absl::StatusOr<crosstenant::v1::SourceGeoQueue> SqliteMigrationStore::GetSourceGeoQueue(absl::string_view migration,
                                                                                        absl::string_view source_geo) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select,
                   db_->Prepare(absl::StrCat("SELECT ", kSqliteActiveMoves,
                                             ", (SELECT COALESCE(SUM(count), 0) FROM user_move_counts "
                                             "WHERE migration = ?1 AND source_geo = ?2 AND state = ?8)")));
  BindActiveMoves(select, migration, source_geo);
  crosstenant::v1::SourceGeoQueue queue;
  queue.set_source_geo(std::string(source_geo));
  ASSIGN_OR_RETURN(bool row, select.Step());
  if (row) {
    const int64_t starting = select.ColumnInt(1);
    queue.set_active(static_cast<int32_t>(select.ColumnInt(0) + starting));
    queue.set_queued(static_cast<int32_t>(select.ColumnInt(2) - starting));
  }
  return queue;
}

absl::StatusOr<int> SqliteMigrationStore::CountActiveMoves(absl::string_view migration, absl::string_view source_geo) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare(absl::StrCat("SELECT ", kSqliteActiveMoves)));
  BindActiveMoves(select, migration, source_geo);
  ASSIGN_OR_RETURN(bool row, select.Step());
  return row ? static_cast<int>(select.ColumnInt(0) + select.ColumnInt(1)) : 0;
}

absl::StatusOr<std::vector<UserMove>> SqliteMigrationStore::NextQueuedUsers(absl::string_view migration,
                                                                            absl::string_view source_geo, int limit) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select,
                   db_->Prepare("SELECT u.record FROM user_moves u WHERE u.migration = ?1 AND u.source_geo = ?2 AND "
                                "u.state = ?3 AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.user_move = u.name) "
                                "ORDER BY u.source_upn LIMIT ?4"));
  select.Bind(1, migration)
      .Bind(2, source_geo)
      .Bind(3, static_cast<int64_t>(crosstenant::v1::USER_MOVE_STATE_QUEUED))
      .Bind(4, std::max(limit, 0));
  std::vector<UserMove> users;
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(UserMove move, stored::ParseRecord<UserMove>(select.ColumnBlob(0), "user move"));
    users.push_back(std::move(move));
  }
  return users;
}

absl::Status SqliteMigrationStore::WriteRequest(const RequestRecord& request) {
  ASSIGN_OR_RETURN(SqliteStatement insert,
                   db_->Prepare("INSERT INTO migration_requests (request_id, migration, method, fingerprint) "
                                "VALUES (?1, ?2, ?3, ?4)"));
  insert.Bind(1, request.request_id).Bind(2, request.migration).Bind(3, request.method).Bind(4, request.fingerprint);
  absl::Status status = insert.Run();
  if (absl::IsAlreadyExists(status)) {
    return absl::AlreadyExistsError(absl::StrCat("request_id ", request.request_id, " is already taken"));
  }
  return status;
}

absl::StatusOr<std::optional<RequestRecord>> SqliteMigrationStore::FindRequest(absl::string_view request_id) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select,
                   db_->Prepare("SELECT migration, method, fingerprint FROM migration_requests WHERE request_id = ?1"));
  select.Bind(1, request_id);
  ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return std::optional<RequestRecord>();
  return RequestRecord{std::string(request_id), select.ColumnText(1), select.ColumnText(0), select.ColumnText(2)};
}

absl::StatusOr<Migration> SqliteMigrationStore::GetMigration(absl::string_view name) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare("SELECT record, revision FROM migrations WHERE name = ?1"));
  select.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
  ASSIGN_OR_RETURN(Migration migration, stored::ParseRecord<Migration>(select.ColumnBlob(0), name));
  migration.set_etag(absl::StrCat(select.ColumnInt(1)));
  return migration;
}

absl::StatusOr<MigrationPage> SqliteMigrationStore::ListMigrations(
    const std::vector<crosstenant::v1::MigrationState>& states, int page_size, absl::string_view page_token) {
  page_size = std::clamp(page_size <= 0 ? 50 : page_size, 1, kMaxPageSize);
  ASSIGN_OR_RETURN(const stored::MigrationPageKey after, stored::FromMigrationPageToken(page_token));
  std::string sql =
      "SELECT record, create_time_us, name, revision FROM migrations "
      "WHERE (create_time_us < ?1 OR (create_time_us = ?1 AND name > ?2))";
  if (!states.empty()) absl::StrAppend(&sql, " AND state IN ", InList(states, 4));
  absl::StrAppend(&sql, " ORDER BY create_time_us DESC, name LIMIT ?3");
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare(sql));
  select.Bind(1, after.create_time_us).Bind(2, after.name).Bind(3, page_size + 1);
  for (size_t i = 0; i < states.size(); ++i) select.Bind(static_cast<int>(4 + i), static_cast<int64_t>(states[i]));
  MigrationPage page;
  std::string last_token;
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    if (static_cast<int>(page.migrations.size()) == page_size) {
      page.next_page_token = last_token;
      break;
    }
    ASSIGN_OR_RETURN(Migration migration, stored::ParseRecord<Migration>(select.ColumnBlob(0), "migration"));
    migration.set_etag(absl::StrCat(select.ColumnInt(3)));
    last_token = stored::MigrationPageToken(select.ColumnInt(1), select.ColumnText(2));
    page.migrations.push_back(std::move(migration));
  }
  return page;
}

absl::Status SqliteMigrationStore::WriteChange(const MigrationChange& change) {
  if (change.leader_term) RETURN_IF_ERROR(CheckLeaderTerm(*change.leader_term));
  if (!change.completed.empty()) {
    ASSIGN_OR_RETURN(SqliteStatement remove,
                     db_->Prepare("DELETE FROM tasks WHERE name = ?1 AND lease_id = ?2 AND lease_owner = ?3 "
                                  "AND lease_expire_us >= ?4"));
    for (const CompletedLease& lease : change.completed) {
      remove.Bind(1, lease.task)
          .Bind(2, lease.lease_id)
          .Bind(3, lease.worker_id)
          .Bind(4, absl::ToUnixMicros(lease.now));
      RETURN_IF_ERROR(remove.Run());
      if (sqlite3_changes(db_->handle()) == 0) return LeaseLostError(lease);
    }
  }
  RETURN_IF_ERROR(WriteMigration(change.migration, /*insert=*/false));
  if (change.request) RETURN_IF_ERROR(WriteRequest(*change.request));
  RETURN_IF_ERROR(WriteUserMoves(change.user_moves, /*insert=*/false));
  RETURN_IF_ERROR(WriteEvents(change.events));
  if (!change.new_tasks.empty()) {
    ASSIGN_OR_RETURN(SqliteStatement insert,
                     db_->Prepare("INSERT OR REPLACE INTO tasks (name, migration, kind, ready_time_us, attempt, "
                                  "record, user_move) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    for (const NewTask& added : change.new_tasks) {
      crosstenant::v1::Task task = added.task;
      task.clear_lease_id();
      task.clear_lease_expire_time();
      insert.Bind(1, task.name())
          .Bind(2, change.migration.name())
          .Bind(3, static_cast<int64_t>(task.kind()))
          .Bind(4, absl::ToUnixMicros(added.ready_time))
          .Bind(5, static_cast<int64_t>(task.attempt()))
          .BindBlob(6, task.SerializeAsString())
          .Bind(7, task.user_move());
      RETURN_IF_ERROR(insert.Run());
    }
  }
  return absl::OkStatus();
}

absl::Status SqliteMigrationStore::Apply(const MigrationChange& change) {
  RETURN_IF_ERROR(CheckTaskNames(change));
  absl::MutexLock lock(&mutex_);
  RETURN_IF_ERROR(db_->Begin());
  absl::Status status = WriteChange(change);
  if (!status.ok()) {
    db_->Rollback();
    return status;
  }
  return db_->Commit();
}

absl::StatusOr<std::vector<crosstenant::v1::Task>> SqliteMigrationStore::LeaseTasks(const LeaseQuery& query) {
  const int64_t now = absl::ToUnixMicros(query.now);
  const int64_t expire = absl::ToUnixMicros(query.now + query.lease_duration);
  std::string sql =
      "SELECT t.name, t.attempt, t.record FROM tasks t JOIN migrations m ON m.name = t.migration "
      "WHERE t.ready_time_us <= ?1 AND (t.lease_id = '' OR t.lease_expire_us < ?1) AND "
      // While cancelling, a start no worker has taken yet is never handed out.
      "(m.state IN (?3, ?4) OR (m.state = ?5 AND NOT (t.kind = ?6 AND t.attempt = 0)))";
  if (!query.kinds.empty()) absl::StrAppend(&sql, " AND t.kind IN ", InList(query.kinds, 7));
  absl::StrAppend(&sql, " ORDER BY t.ready_time_us, t.name LIMIT ?2");
  absl::MutexLock lock(&mutex_);
  RETURN_IF_ERROR(db_->Begin());
  auto lease = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::StatusOr<std::vector<crosstenant::v1::Task>> {
    std::vector<crosstenant::v1::Task> tasks;
    if (!query.request_id.empty()) {
      // A retry of a call whose answer was lost: the leases it granted, if still held.
      ASSIGN_OR_RETURN(SqliteStatement granted,
                       db_->Prepare("SELECT attempt, record, lease_id, lease_expire_us FROM tasks WHERE "
                                    "lease_owner = ?1 AND lease_request = ?2 AND lease_id != '' AND "
                                    "lease_expire_us >= ?3 ORDER BY ready_time_us, name"));
      granted.Bind(1, query.worker_id).Bind(2, query.request_id).Bind(3, now);
      while (true) {
        ASSIGN_OR_RETURN(bool row, granted.Step());
        if (!row) break;
        ASSIGN_OR_RETURN(crosstenant::v1::Task task,
                         stored::ParseRecord<crosstenant::v1::Task>(granted.ColumnBlob(1), "task"));
        task.set_attempt(static_cast<int32_t>(granted.ColumnInt(0)));
        task.set_lease_id(granted.ColumnText(2));
        const int64_t granted_expire = granted.ColumnInt(3);
        task.mutable_lease_expire_time()->set_seconds(granted_expire / 1000000);
        task.mutable_lease_expire_time()->set_nanos(static_cast<int32_t>(granted_expire % 1000000) * 1000);
        tasks.push_back(std::move(task));
      }
      if (!tasks.empty()) return tasks;
    }
    ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare(sql));
    select.Bind(1, now).Bind(2, std::max(query.max_tasks, 1));
    select.Bind(3, static_cast<int64_t>(crosstenant::v1::MIGRATION_STATE_RUNNING))
        .Bind(4, static_cast<int64_t>(crosstenant::v1::MIGRATION_STATE_WAITING))
        .Bind(5, static_cast<int64_t>(crosstenant::v1::MIGRATION_STATE_CANCELLING))
        .Bind(6, static_cast<int64_t>(crosstenant::v1::TASK_KIND_START_MOVE));
    for (size_t i = 0; i < query.kinds.size(); ++i) {
      select.Bind(static_cast<int>(7 + i), static_cast<int64_t>(query.kinds[i]));
    }
    while (true) {
      ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      ASSIGN_OR_RETURN(crosstenant::v1::Task task,
                       stored::ParseRecord<crosstenant::v1::Task>(select.ColumnBlob(2), "task"));
      task.set_attempt(static_cast<int32_t>(select.ColumnInt(1)) + 1);
      task.set_lease_id(
          absl::StrCat(absl::Hex(lease_ids_(), absl::kZeroPad16), absl::Hex(lease_ids_(), absl::kZeroPad16)));
      task.mutable_lease_expire_time()->set_seconds(expire / 1000000);
      task.mutable_lease_expire_time()->set_nanos(static_cast<int32_t>(expire % 1000000) * 1000);
      tasks.push_back(std::move(task));
    }
    ASSIGN_OR_RETURN(SqliteStatement update,
                     db_->Prepare("UPDATE tasks SET lease_id = ?2, lease_owner = ?3, lease_expire_us = ?4, "
                                  "attempt = ?5, lease_request = ?6 WHERE name = ?1"));
    for (const crosstenant::v1::Task& task : tasks) {
      update.Bind(1, task.name())
          .Bind(2, task.lease_id())
          .Bind(3, query.worker_id)
          .Bind(4, expire)
          .Bind(5, static_cast<int64_t>(task.attempt()))
          .Bind(6, query.request_id);
      RETURN_IF_ERROR(update.Run());
    }
    return tasks;
  };
  absl::StatusOr<std::vector<crosstenant::v1::Task>> tasks = lease();
  if (!tasks.ok()) {
    db_->Rollback();
    return tasks.status();
  }
  RETURN_IF_ERROR(db_->Commit());
  return tasks;
}

absl::StatusOr<crosstenant::v1::LeaseRenewal> SqliteMigrationStore::RenewLease(const std::string& task,
                                                                               const std::string& lease_id,
                                                                               const std::string& worker_id,
                                                                               absl::Duration lease_duration,
                                                                               absl::Time now) {
  const int64_t expire = absl::ToUnixMicros(now + lease_duration);
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement update,
                   db_->Prepare("UPDATE tasks SET lease_expire_us = ?4 WHERE name = ?1 AND lease_id = ?2 "
                                "AND lease_owner = ?3 AND lease_expire_us >= ?5"));
  update.Bind(1, task).Bind(2, lease_id).Bind(3, worker_id).Bind(4, expire).Bind(5, absl::ToUnixMicros(now));
  RETURN_IF_ERROR(update.Run());
  crosstenant::v1::LeaseRenewal renewal;
  renewal.set_task(task);
  renewal.set_lease_id(lease_id);
  renewal.set_renewed(sqlite3_changes(db_->handle()) > 0);
  if (renewal.renewed()) {
    renewal.mutable_lease_expire_time()->set_seconds(expire / 1000000);
    renewal.mutable_lease_expire_time()->set_nanos(static_cast<int32_t>(expire % 1000000) * 1000);
  } else {
    renewal.set_reason("the lease expired or the task was done or re-leased: stop working on it");
  }
  return renewal;
}

absl::StatusOr<crosstenant::v1::Task> SqliteMigrationStore::GetTask(const std::string& name) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare("SELECT record, attempt FROM tasks WHERE name = ?1"));
  select.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("task ", name, " does not exist (already done?)"));
  ASSIGN_OR_RETURN(crosstenant::v1::Task task,
                   stored::ParseRecord<crosstenant::v1::Task>(select.ColumnBlob(0), "task"));
  task.set_attempt(static_cast<int32_t>(select.ColumnInt(1)));
  return task;
}

absl::StatusOr<int> SqliteMigrationStore::CountTasks(absl::string_view migration) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare("SELECT COUNT(*) FROM tasks WHERE migration = ?1"));
  select.Bind(1, migration);
  ASSIGN_OR_RETURN(bool row, select.Step());
  return row ? static_cast<int>(select.ColumnInt(0)) : 0;
}

absl::StatusOr<UserMove> SqliteMigrationStore::GetUserMove(absl::string_view name) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare("SELECT record FROM user_moves WHERE name = ?1"));
  select.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
  return stored::ParseRecord<UserMove>(select.ColumnBlob(0), name);
}

absl::StatusOr<UserMovePage> SqliteMigrationStore::ListUserMoves(const UserMoveQuery& query) {
  const int page_size = std::clamp(query.page_size <= 0 ? 100 : query.page_size, 1, kMaxPageSize);
  std::string after;
  if (!query.page_token.empty()) {
    ASSIGN_OR_RETURN(after, stored::FromPageToken(query.page_token));
  }
  absl::MutexLock lock(&mutex_);
  // (source_upn, record) of up to page_size + 1 users after `after`, in source_upn order.
  std::vector<std::pair<std::string, std::string>> rows;
  // Appends up to page_size + 1 rows of `select` to `rows`.
  auto read = [&](SqliteStatement& select) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::Status {
    const size_t first = rows.size();
    while (static_cast<int>(rows.size() - first) <= page_size) {
      ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      rows.emplace_back(select.ColumnText(1), select.ColumnBlob(0));
    }
    return absl::OkStatus();
  };
  if (query.with_leased_task) {
    // Driven by the migration's leased tasks, each user read by key (CROSS JOIN fixes that order), so
    // that the cost follows those tasks and not the migration's users, which SQLite would otherwise walk
    // in source_upn order, testing each against the tasks.
    std::string sql =
        "SELECT u.record, u.source_upn FROM (SELECT DISTINCT user_move FROM tasks WHERE migration = ?1 "
        "AND attempt > 0) t "
        "CROSS JOIN user_moves u ON u.name = t.user_move WHERE u.source_upn > ?2";
    if (!query.source_geo.empty()) absl::StrAppend(&sql, " AND u.source_geo = ?4");
    if (!query.states.empty()) absl::StrAppend(&sql, " AND u.state IN ", InList(query.states, 5));
    absl::StrAppend(&sql, " ORDER BY u.source_upn LIMIT ?3");
    ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare(sql));
    select.Bind(1, query.migration).Bind(2, after).Bind(3, page_size + 1);
    if (!query.source_geo.empty()) select.Bind(4, query.source_geo);
    for (size_t i = 0; i < query.states.size(); ++i) {
      select.Bind(static_cast<int>(5 + i), static_cast<int64_t>(query.states[i]));
    }
    RETURN_IF_ERROR(read(select));
  } else if (!query.states.empty()) {
    // One range of user_moves_by_state_and_upn per state, merged here. SQLite, asked for several states
    // at once in name order, walks every user of the migration in name order and tests its state: a
    // scan of the whole table, for a page of the few users at Microsoft, on every round of the moves.
    std::string sql =
        "SELECT u.record, u.source_upn FROM user_moves u INDEXED BY user_moves_by_state_and_upn "
        "WHERE u.migration = ?1 AND u.state = ?4 AND u.source_upn > ?2";
    if (!query.source_geo.empty()) absl::StrAppend(&sql, " AND u.source_geo = ?5");
    absl::StrAppend(&sql, " ORDER BY u.source_upn LIMIT ?3");
    for (const crosstenant::v1::UserMoveState state :
         std::set<crosstenant::v1::UserMoveState>(query.states.begin(), query.states.end())) {
      ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare(sql));
      select.Bind(1, query.migration).Bind(2, after).Bind(3, page_size + 1).Bind(4, static_cast<int64_t>(state));
      if (!query.source_geo.empty()) select.Bind(5, query.source_geo);
      // Each state's range gives up to page_size + 1 rows; the merge below keeps the first of all.
      RETURN_IF_ERROR(read(select));
    }
    std::sort(rows.begin(), rows.end());
    if (static_cast<int>(rows.size()) > page_size + 1) rows.resize(page_size + 1);
  } else {
    std::string sql = "SELECT u.record, u.source_upn FROM user_moves u WHERE u.migration = ?1 AND u.source_upn > ?2";
    if (!query.source_geo.empty()) absl::StrAppend(&sql, " AND u.source_geo = ?4");
    absl::StrAppend(&sql, " ORDER BY u.source_upn LIMIT ?3");
    ASSIGN_OR_RETURN(SqliteStatement select, db_->Prepare(sql));
    select.Bind(1, query.migration).Bind(2, after).Bind(3, page_size + 1);
    if (!query.source_geo.empty()) select.Bind(4, query.source_geo);
    RETURN_IF_ERROR(read(select));
  }
  UserMovePage page;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (static_cast<int>(i) == page_size) {
      page.next_page_token = stored::PageToken(rows[i - 1].first);
      break;
    }
    ASSIGN_OR_RETURN(UserMove move, stored::ParseRecord<UserMove>(rows[i].second, "user move"));
    page.user_moves.push_back(std::move(move));
  }
  return page;
}

absl::StatusOr<std::map<crosstenant::v1::UserMoveState, int>> SqliteMigrationStore::CountUserMoves(
    absl::string_view migration) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select,
                   db_->Prepare("SELECT state, SUM(count) FROM user_move_counts WHERE migration = ?1 GROUP BY state "
                                "HAVING SUM(count) > 0"));
  select.Bind(1, migration);
  std::map<crosstenant::v1::UserMoveState, int> counts;
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    counts[static_cast<crosstenant::v1::UserMoveState>(select.ColumnInt(0))] = static_cast<int>(select.ColumnInt(1));
  }
  return counts;
}

absl::StatusOr<std::vector<MigrationEvent>> SqliteMigrationStore::ListEvents(absl::string_view migration,
                                                                             int64_t after_sequence, int limit) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement select,
                   db_->Prepare("SELECT record FROM events WHERE migration = ?1 AND sequence > ?2 "
                                "ORDER BY sequence LIMIT ?3"));
  select.Bind(1, migration).Bind(2, after_sequence).Bind(3, std::max(limit, 1));
  std::vector<MigrationEvent> events;
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(MigrationEvent event, stored::ParseRecord<MigrationEvent>(select.ColumnBlob(0), "event"));
    events.push_back(std::move(event));
  }
  return events;
}

absl::StatusOr<Leadership> SqliteMigrationStore::AcquireLeadership(absl::string_view holder, absl::Duration ttl) {
  absl::MutexLock lock(&mutex_);
  RETURN_IF_ERROR(db_->Begin());
  auto acquire = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::StatusOr<Leadership> {
    const absl::Time now = absl::Now();
    ASSIGN_OR_RETURN(SqliteStatement select,
                     db_->Prepare("SELECT holder, term, expire_us FROM leadership WHERE id = 1"));
    ASSIGN_OR_RETURN(bool row, select.Step());
    Leadership current;
    if (row) {
      current.leader = select.ColumnText(0);
      current.term = select.ColumnInt(1);
      current.expire_time = absl::FromUnixMicros(select.ColumnInt(2));
    }
    const bool live = row && current.expire_time > now;
    if (live && current.leader != holder) return current;
    Leadership taken;
    taken.held = true;
    taken.leader = std::string(holder);
    taken.term = live ? current.term : current.term + 1;
    taken.expire_time = now + ttl;
    ASSIGN_OR_RETURN(SqliteStatement write,
                     db_->Prepare("INSERT OR REPLACE INTO leadership (id, holder, term, expire_us) "
                                  "VALUES (1, ?1, ?2, ?3)"));
    write.Bind(1, holder).Bind(2, taken.term).Bind(3, absl::ToUnixMicros(taken.expire_time));
    RETURN_IF_ERROR(write.Run());
    return taken;
  };
  absl::StatusOr<Leadership> leadership = acquire();
  if (!leadership.ok()) {
    db_->Rollback();
    return leadership.status();
  }
  RETURN_IF_ERROR(db_->Commit());
  return leadership;
}

absl::Status SqliteMigrationStore::ReleaseLeadership(absl::string_view holder) {
  absl::MutexLock lock(&mutex_);
  ASSIGN_OR_RETURN(SqliteStatement update,
                   db_->Prepare("UPDATE leadership SET expire_us = 0 WHERE id = 1 AND holder = ?1"));
  update.Bind(1, holder);
  return update.Run();
}

absl::StatusOr<crosstenant::v1::AuditRecord> SqliteMigrationStore::AppendAuditRecord(
    crosstenant::v1::AuditRecord record) {
  absl::MutexLock lock(&mutex_);
  return AppendSqliteAuditRecord(*db_, std::move(record));
}

absl::StatusOr<crosstenant::v1::ListAuditRecordsResponse> SqliteMigrationStore::ListAuditRecords(
    const crosstenant::v1::ListAuditRecordsRequest& request) {
  absl::MutexLock lock(&mutex_);
  return ListSqliteAuditRecords(*db_, request);
}

void SqliteMigrationStore::ReleaseMemory() {
  absl::MutexLock lock(&mutex_);
  db_->ReleaseMemory();
}

}  // namespace crosstenant::orchestrator
