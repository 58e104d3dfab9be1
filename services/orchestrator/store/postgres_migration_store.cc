#include "services/orchestrator/store/postgres_migration_store.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "services/common/audit_chain.h"
#include "services/common/status_macros.h"
#include "services/orchestrator/store/stored_records.h"

namespace crosstenant::orchestrator {
namespace {

using crosstenant::v1::Migration;
using crosstenant::v1::MigrationEvent;
using crosstenant::v1::Task;
using crosstenant::v1::UserMove;

constexpr int kMaxPageSize = 1000;

// The key of the transaction-level advisory lock that serialises schema migrations across replicas
// ("crosstnt" in ASCII).
constexpr int64_t kSchemaLockKey = 0x63726f7373746e74;

// The key of the transaction-level advisory lock that appenders to the audit trail take in turn
// ("crossaud").
constexpr int64_t kAuditLockKey = 0x63726f7373617564;

// Schema migrations, applied in order; entry i brings the database from version i to version i + 1.
// Never edit a released entry: append a new one.
//
// Text keys are compared byte-wise (COLLATE "C"), as SQLite does, whatever the database's locale: the
// order of names and UPNs, and so the page tokens, are the same on both stores.
constexpr const char* kSchemaMigrations[] = {
    R"sql(
      CREATE TABLE migrations (
        name TEXT COLLATE "C" PRIMARY KEY,
        create_time_us BIGINT NOT NULL,
        state INTEGER NOT NULL,
        revision BIGINT NOT NULL,
        record BYTEA NOT NULL
      );
      CREATE INDEX migrations_by_time ON migrations (create_time_us DESC, name);
      CREATE TABLE migration_requests (
        request_id TEXT COLLATE "C" PRIMARY KEY,
        migration TEXT COLLATE "C" NOT NULL REFERENCES migrations (name)
      );
      CREATE TABLE user_moves (
        name TEXT COLLATE "C" PRIMARY KEY,
        migration TEXT COLLATE "C" NOT NULL REFERENCES migrations (name),
        source_upn TEXT COLLATE "C" NOT NULL,
        source_geo TEXT COLLATE "C" NOT NULL,
        state INTEGER NOT NULL,
        record BYTEA NOT NULL
      );
      CREATE INDEX user_moves_by_migration ON user_moves (migration, source_upn);
      CREATE INDEX user_moves_by_state ON user_moves (migration, state);
      CREATE TABLE events (
        migration TEXT COLLATE "C" NOT NULL REFERENCES migrations (name),
        sequence BIGINT NOT NULL,
        record BYTEA NOT NULL,
        PRIMARY KEY (migration, sequence)
      );
      CREATE TABLE tasks (
        name TEXT COLLATE "C" PRIMARY KEY,
        migration TEXT COLLATE "C" NOT NULL REFERENCES migrations (name),
        kind INTEGER NOT NULL,
        ready_time_us BIGINT NOT NULL,
        lease_id TEXT COLLATE "C" NOT NULL DEFAULT '',
        lease_owner TEXT COLLATE "C" NOT NULL DEFAULT '',
        lease_expire_us BIGINT NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        user_move TEXT COLLATE "C" NOT NULL DEFAULT '',
        record BYTEA NOT NULL
      );
      CREATE INDEX tasks_by_ready_time ON tasks (ready_time_us, name);
      CREATE INDEX tasks_by_migration ON tasks (migration);
      CREATE INDEX tasks_by_user_move ON tasks (user_move);
      CREATE TABLE identity_maps (
        migration TEXT COLLATE "C" PRIMARY KEY REFERENCES migrations (name),
        csv BYTEA NOT NULL
      );
      -- The leadership lease: one row, timed by the database's clock.
      CREATE TABLE leadership (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        holder TEXT COLLATE "C" NOT NULL,
        term BIGINT NOT NULL,
        expire_time TIMESTAMPTZ NOT NULL
      );
      INSERT INTO leadership (id, holder, term, expire_time) VALUES (1, '', 0, 'epoch');
    )sql",
    // Version 2: every remembered request says which RPC made it and with which body (AIP-155). Ids
    // stored before have no fingerprint and are taken as the CreateMigration they were.
    R"sql(
      ALTER TABLE migration_requests ADD COLUMN method TEXT COLLATE "C" NOT NULL DEFAULT 'CreateMigration';
      ALTER TABLE migration_requests ADD COLUMN fingerprint TEXT COLLATE "C" NOT NULL DEFAULT '';
      ALTER TABLE tasks ADD COLUMN lease_request TEXT COLLATE "C" NOT NULL DEFAULT '';
    )sql",
    // Version 3: users counted by state as they change (by triggers, so no write costs a round trip
    // more), so that counting them reads a handful of rows instead of every user of the migration.
    R"sql(
      CREATE TABLE user_move_counts (
        migration TEXT COLLATE "C" NOT NULL,
        state INTEGER NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (migration, state)
      );
      INSERT INTO user_move_counts (migration, state, count)
        SELECT migration, state, COUNT(*) FROM user_moves GROUP BY migration, state;
      CREATE FUNCTION count_user_moves() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
          UPDATE user_move_counts SET count = count - 1 WHERE migration = OLD.migration AND state = OLD.state;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
          INSERT INTO user_move_counts (migration, state, count) VALUES (NEW.migration, NEW.state, 1)
            ON CONFLICT (migration, state) DO UPDATE SET count = user_move_counts.count + 1;
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER user_moves_counted AFTER INSERT OR DELETE ON user_moves
        FOR EACH ROW EXECUTE FUNCTION count_user_moves();
      CREATE TRIGGER user_moves_counted_on_update AFTER UPDATE OF state ON user_moves
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION count_user_moves();
    )sql",
    // Version 4: identity maps staged by UploadIdentityMap, a page of rows at a time, and kept by the
    // migration created from them (whose identity_maps csv is then empty).
    R"sql(
      CREATE TABLE identity_map_uploads (
        name TEXT COLLATE "C" PRIMARY KEY,
        create_time_us BIGINT NOT NULL,
        complete BOOLEAN NOT NULL DEFAULT FALSE,
        summary BYTEA NOT NULL DEFAULT '',
        migration TEXT COLLATE "C" NOT NULL DEFAULT ''
      );
      CREATE INDEX identity_map_uploads_by_migration ON identity_map_uploads (migration, create_time_us);
      CREATE TABLE identity_map_upload_rows (
        upload TEXT COLLATE "C" NOT NULL,
        line INTEGER NOT NULL,
        is_group BOOLEAN NOT NULL,
        source_key TEXT COLLATE "C" NOT NULL,
        target_key TEXT COLLATE "C" NOT NULL,
        source TEXT NOT NULL,
        target TEXT NOT NULL,
        email TEXT NOT NULL,
        csv TEXT NOT NULL,
        PRIMARY KEY (upload, line)
      );
      CREATE INDEX identity_map_upload_rows_by_source ON identity_map_upload_rows (upload, source_key);
      CREATE INDEX identity_map_upload_rows_by_target ON identity_map_upload_rows (upload, target_key);
    )sql",
    // Version 5: the audit trail, append-only: the trigger refuses to change, delete or truncate its
    // records (the hash chain shows it if the trigger is dropped to do so).
    R"sql(
      CREATE TABLE audit_records (
        sequence BIGINT PRIMARY KEY,
        time_us BIGINT NOT NULL,
        service TEXT COLLATE "C" NOT NULL,
        caller TEXT COLLATE "C" NOT NULL,
        action TEXT COLLATE "C" NOT NULL,
        target TEXT COLLATE "C" NOT NULL,
        request_id TEXT COLLATE "C" NOT NULL,
        trace_id TEXT COLLATE "C" NOT NULL,
        outcome TEXT COLLATE "C" NOT NULL,
        outcome_message TEXT NOT NULL,
        previous_hash TEXT COLLATE "C" NOT NULL,
        hash TEXT COLLATE "C" NOT NULL
      );
      CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'the audit trail is append-only: % of its records refused', TG_OP;
      END $$;
      CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
        FOR EACH ROW EXECUTE FUNCTION audit_records_append_only();
      CREATE TRIGGER audit_records_never_truncated BEFORE TRUNCATE ON audit_records
        FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only();
    )sql",
    // Version 6: a migration's users created in bulk are counted once at the end (CreateMigrationFromUpload
    // sets crosstenant.count_at_end for its transaction): one counts row updated once per user in one
    // transaction costs time in the square of the users (100,000 users took longer than a minute).
    R"sql(
      CREATE OR REPLACE FUNCTION count_user_moves() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF current_setting('crosstenant.count_at_end', true) = 'on' THEN
          RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
          UPDATE user_move_counts SET count = count - 1 WHERE migration = OLD.migration AND state = OLD.state;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
          INSERT INTO user_move_counts (migration, state, count) VALUES (NEW.migration, NEW.state, 1)
            ON CONFLICT (migration, state) DO UPDATE SET count = user_move_counts.count + 1;
        END IF;
        RETURN NULL;
      END $$;
    )sql",
    // Version 7, for migrations of hundreds of thousands of users:
    // - users by state in name order, so that a page of the users in some states (the users at
    //   Microsoft, the next queued users) reads those users only, not every user of the migration
    //   before them in name order;
    // - the leases a request was granted found by index: the lease of every task looked for them in the
    //   whole tasks table, dead rows included;
    // - tasks leased in the order they become available (available_us: the ready time of a free task,
    //   just after the lease's expiry for a leased one), so that a lease reads the tasks it may take and
    //   not, first, every task other workers hold (hundreds, with a full queue of starts), and by kind
    //   in that order, for a worker that asks for one kind (the rest of a batch of starts or polls);
    // - users counted by source geo as well as by state, so that a geo's queue is read from its counts
    //   (not by counting its queued users, every user of the migration at the start), and once per
    //   statement (transition tables) instead of by two statements per row;
    // - the tables every user's move rewrites vacuumed after a fixed number of dead rows instead of a
    //   fifth of the table: with the default, a 250,000-user migration leaves 50,000 dead versions of
    //   its users in the indexes that every read of a state walks.
    R"sql(
      CREATE INDEX IF NOT EXISTS user_moves_by_state_and_upn ON user_moves (migration, state, source_upn);
      DROP INDEX IF EXISTS user_moves_by_state;
      CREATE INDEX IF NOT EXISTS tasks_by_lease_request ON tasks (lease_request, lease_owner)
        WHERE lease_request <> '';
      ALTER TABLE tasks ADD COLUMN IF NOT EXISTS available_us BIGINT;
      UPDATE tasks SET available_us = CASE WHEN lease_id = '' THEN ready_time_us ELSE lease_expire_us + 1 END;
      ALTER TABLE tasks ALTER COLUMN available_us SET NOT NULL;
      CREATE INDEX IF NOT EXISTS tasks_by_available_time ON tasks (available_us, name);
      CREATE INDEX IF NOT EXISTS tasks_by_kind_and_available_time ON tasks (kind, available_us, name);
      DROP INDEX IF EXISTS tasks_by_ready_time;
      DROP TABLE IF EXISTS user_move_counts;
      CREATE TABLE user_move_counts (
        migration TEXT COLLATE "C" NOT NULL,
        source_geo TEXT COLLATE "C" NOT NULL,
        state INTEGER NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (migration, source_geo, state)
      );
      INSERT INTO user_move_counts (migration, source_geo, state, count)
        SELECT migration, source_geo, state, COUNT(*) FROM user_moves GROUP BY migration, source_geo, state;
      CREATE OR REPLACE FUNCTION count_user_move_changes() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          INSERT INTO user_move_counts (migration, source_geo, state, count)
            SELECT migration, source_geo, state, COUNT(*) FROM new_rows GROUP BY migration, source_geo, state
            ON CONFLICT (migration, source_geo, state) DO UPDATE SET count = user_move_counts.count + EXCLUDED.count;
        ELSIF TG_OP = 'DELETE' THEN
          UPDATE user_move_counts c SET count = c.count - d.removed
            FROM (SELECT migration, source_geo, state, COUNT(*) AS removed FROM old_rows
                  GROUP BY migration, source_geo, state) d
            WHERE c.migration = d.migration AND c.source_geo = d.source_geo AND c.state = d.state;
        ELSE
          INSERT INTO user_move_counts (migration, source_geo, state, count)
            SELECT migration, source_geo, state, SUM(delta) FROM (
              SELECT migration, source_geo, state, -1 AS delta FROM old_rows
              UNION ALL SELECT migration, source_geo, state, 1 FROM new_rows) changes
            GROUP BY migration, source_geo, state HAVING SUM(delta) <> 0
            ON CONFLICT (migration, source_geo, state) DO UPDATE SET count = user_move_counts.count + EXCLUDED.count;
        END IF;
        RETURN NULL;
      END $$;
      DROP TRIGGER IF EXISTS user_moves_counted ON user_moves;
      DROP TRIGGER IF EXISTS user_moves_counted_on_update ON user_moves;
      DROP TRIGGER IF EXISTS user_moves_counted_on_insert ON user_moves;
      DROP TRIGGER IF EXISTS user_moves_counted_on_delete ON user_moves;
      CREATE TRIGGER user_moves_counted_on_insert AFTER INSERT ON user_moves
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_user_move_changes();
      CREATE TRIGGER user_moves_counted_on_update AFTER UPDATE ON user_moves
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION count_user_move_changes();
      CREATE TRIGGER user_moves_counted_on_delete AFTER DELETE ON user_moves
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_user_move_changes();
      DROP FUNCTION IF EXISTS count_user_moves();
      ALTER TABLE user_moves SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
                                  autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 20000);
      ALTER TABLE tasks SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);
      ALTER TABLE user_move_counts SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
      ALTER TABLE migrations SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
    )sql",
    // Version 8: a migration's tasks found as a range of the primary key (their names start with the
    // migration's, TasksOf), not by an index on the migration column: one index less to write on each of
    // the hundreds of thousands of tasks a big migration inserts and leases.
    R"sql(
      DROP INDEX IF EXISTS tasks_by_migration;
    )sql",
};
static_assert(sizeof(kSchemaMigrations) / sizeof(kSchemaMigrations[0]) == PostgresMigrationStore::kSchemaVersion);

// The database's time as Unix microseconds (NULL for an infinite time).
constexpr absl::string_view kExpireMicros =
    "CASE WHEN isfinite(expire_time) THEN (EXTRACT(EPOCH FROM expire_time) * 1000000)::BIGINT END";

void SetMicros(int64_t micros, google::protobuf::Timestamp* time) {
  time->set_seconds(micros / 1000000);
  time->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

// An INTEGER[] parameter (enum values, attempts).
template <typename Number>
PgParam IntegerArray(const std::vector<Number>& values) {
  std::vector<int32_t> numbers;
  numbers.reserve(values.size());
  for (Number value : values) numbers.push_back(static_cast<int32_t>(value));
  return PgParam::IntegerArray(numbers);
}

// The parameters of a statement built piece by piece: Add returns the placeholder of the new one.
class Params {
 public:
  std::string Add(PgParam param) {
    list_.push_back(std::move(param));
    return absl::StrCat("$", list_.size());
  }
  const std::vector<PgParam>& list() const { return list_; }

 private:
  std::vector<PgParam> list_;
};

// A migration as read: its record, with the etag of the revision it was read at.
absl::StatusOr<Migration> ReadMigration(const PgResult& result, int row, int record_column, int revision_column) {
  ASSIGN_OR_RETURN(Migration migration, stored::ParseRecord<Migration>(result.Bytes(row, record_column), "migration"));
  migration.set_etag(result.Text(row, revision_column));
  return migration;
}

std::string Serialized(Migration migration) {
  migration.clear_etag();  // the revision column is the etag
  return migration.SerializeAsString();
}

constexpr absl::string_view kBegin = "BEGIN ISOLATION LEVEL READ COMMITTED";

// A change's rows go to the server as one statement per table, the rows as arrays (unnest), whatever
// their number: the server parses, plans and answers once per table instead of once per row. The arrays
// go in binary (no element is parsed or hex-decoded) and the statements are prepared once per
// connection: parsing the arrays and planning the statements were a sixth of the server's CPU.

// Deletes the completed leases' tasks; returns the names of those it deleted (a lease no longer held
// deletes nothing).
PgStatement LeasesDelete(const std::vector<CompletedLease>& leases) {
  std::vector<std::string> tasks, lease_ids, workers;
  std::vector<int64_t> now;
  for (const CompletedLease& lease : leases) {
    tasks.push_back(lease.task);
    lease_ids.push_back(lease.lease_id);
    workers.push_back(lease.worker_id);
    now.push_back(absl::ToUnixMicros(lease.now));
  }
  return {
      "DELETE FROM tasks t USING unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[]) "
      "AS c (name, lease_id, worker, now_us) WHERE t.name = c.name AND t.lease_id = c.lease_id "
      "AND t.lease_owner = c.worker AND t.lease_expire_us >= c.now_us RETURNING t.name",
      {PgParam::TextArray(tasks), PgParam::TextArray(lease_ids), PgParam::TextArray(workers),
       PgParam::BigintArray(now)},
      /*prepared=*/true};
}

// Most rows one statement writes. Many users go in statements of this many: a round trip per thousand
// users, not per user, without holding every user's row in memory at once. No statement is larger
// either: libpq keeps a connection's send buffer as large as the largest statement it ever sent, for
// the connection's life, so one round that queues thousands of users would otherwise leave megabytes
// behind in every pooled connection.
constexpr size_t kRowsPerStatement = 1000;

// Appends `build(chunk)` for each chunk of at most kRowsPerStatement of `rows`, in order.
template <typename Row, typename Build>
void AppendInChunks(absl::Span<const Row> rows, Build build, std::vector<PgStatement>* statements) {
  for (size_t from = 0; from < rows.size(); from += kRowsPerStatement) {
    statements->push_back(build(rows.subspan(from, kRowsPerStatement)));
  }
}

// The columns of the users' rows, one array each: name, migration, source_upn, source_geo, state, record.
std::vector<PgParam> UserMoveColumns(absl::Span<const UserMove* const> moves) {
  std::vector<std::string> names, migrations, upns, geos, records;
  std::vector<int64_t> states;
  for (const UserMove* move : moves) {
    names.push_back(move->name());
    migrations.push_back(stored::MigrationOf(move->name()));
    upns.push_back(absl::AsciiStrToLower(move->source_user_principal_name()));
    geos.push_back(move->source_geo());
    states.push_back(move->state());
    records.push_back(move->SerializeAsString());
  }
  return {PgParam::TextArray(names), PgParam::TextArray(migrations), PgParam::TextArray(upns),
          PgParam::TextArray(geos),  IntegerArray(states),           PgParam::ByteaArray(records)};
}

constexpr absl::string_view kUserMoveColumns =
    "unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::INTEGER[], $6::BYTEA[]) "
    "AS c (name, migration, source_upn, source_geo, state, record)";

PgStatement UserMovesInsert(absl::Span<const UserMove* const> moves) {
  return {absl::StrCat("INSERT INTO user_moves (name, migration, source_upn, source_geo, state, record) "
                       "SELECT * FROM ",
                       kUserMoveColumns),
          UserMoveColumns(moves), /*prepared=*/true};
}

// Rewrites the users' rows (each named once: the caller keeps the last of a user's versions); returns
// the names of those it found.
PgStatement UserMovesUpdate(absl::Span<const UserMove* const> moves) {
  return {absl::StrCat("UPDATE user_moves u SET source_geo = c.source_geo, state = c.state, record = c.record FROM ",
                       kUserMoveColumns,
                       " WHERE u.name = c.name AND u.migration = c.migration AND u.source_upn = c.source_upn "
                       "RETURNING u.name"),
          UserMoveColumns(moves), /*prepared=*/true};
}

PgStatement EventsInsert(absl::Span<const MigrationEvent> events) {
  std::vector<std::string> migrations, records;
  std::vector<int64_t> sequences;
  for (const MigrationEvent& event : events) {
    migrations.push_back(event.name());
    sequences.push_back(event.sequence());
    records.push_back(event.SerializeAsString());
  }
  return {
      "INSERT INTO events (migration, sequence, record) SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::BYTEA[])",
      {PgParam::TextArray(migrations), PgParam::BigintArray(sequences), PgParam::ByteaArray(records)},
      /*prepared=*/true};
}

// Inserts the tasks, each replacing a task of the same name whole, lease and all (each named once: the
// caller keeps the last of a name's versions).
PgStatement TasksUpsert(const std::string& migration, absl::Span<const NewTask* const> added) {
  std::vector<std::string> names, migrations, records, user_moves;
  std::vector<int64_t> kinds, ready, attempts;
  for (const NewTask* task : added) {
    Task record = task->task;
    record.clear_lease_id();
    record.clear_lease_expire_time();
    names.push_back(record.name());
    migrations.push_back(migration);
    kinds.push_back(record.kind());
    ready.push_back(absl::ToUnixMicros(task->ready_time));
    attempts.push_back(record.attempt());
    records.push_back(record.SerializeAsString());
    user_moves.push_back(record.user_move());
  }
  return {
      "INSERT INTO tasks (name, migration, kind, ready_time_us, attempt, record, user_move, available_us) "
      "SELECT *, ready FROM unnest($1::TEXT[], $2::TEXT[], $3::INTEGER[], $4::BIGINT[], $5::INTEGER[], $6::BYTEA[], "
      "$7::TEXT[]) AS c (name, migration, kind, ready, attempt, record, user_move) ON CONFLICT (name) DO UPDATE SET "
      "migration = EXCLUDED.migration, kind = EXCLUDED.kind, ready_time_us = EXCLUDED.ready_time_us, "
      "available_us = EXCLUDED.available_us, "
      "attempt = EXCLUDED.attempt, record = EXCLUDED.record, user_move = EXCLUDED.user_move, "
      "lease_id = '', lease_owner = '', lease_expire_us = 0",
      {PgParam::TextArray(names), PgParam::TextArray(migrations), IntegerArray(kinds), PgParam::BigintArray(ready),
       IntegerArray(attempts), PgParam::ByteaArray(records), PgParam::TextArray(user_moves)},
      /*prepared=*/true};
}

// The last of each name's items, in the order of their first appearance.
template <typename Item, typename NameOf>
std::vector<const Item*> LastOfEachName(const std::vector<Item>& items, NameOf name_of) {
  std::map<std::string, size_t> slot;
  std::vector<const Item*> kept;
  for (const Item& item : items) {
    auto [it, added] = slot.emplace(name_of(item), kept.size());
    if (added) {
      kept.push_back(&item);
    } else {
      kept[it->second] = &item;
    }
  }
  return kept;
}

// The names a RETURNING clause gave back, with how many times each came.
std::map<std::string, int> ReturnedNames(const PgResult& result) {
  std::map<std::string, int> names;
  for (int row = 0; row < result.rows(); ++row) ++names[result.Text(row, 0)];
  return names;
}

PgStatement RequestInsert(const RequestRecord& request) {
  return {"INSERT INTO migration_requests (request_id, migration, method, fingerprint) VALUES ($1, $2, $3, $4)",
          {request.request_id, request.migration, request.method, request.fingerprint}};
}

absl::Status WriteRequest(PgConnection& db, const RequestRecord& request) {
  const PgStatement insert = RequestInsert(request);
  absl::Status inserted = db.Exec(insert.sql, insert.params).status();
  if (absl::IsAlreadyExists(inserted)) {
    return absl::AlreadyExistsError(absl::StrCat("request_id ", request.request_id, " is already taken"));
  }
  return inserted;
}

// A new migration's row, and the request that created it: ALREADY_EXISTS naming whichever is taken.
absl::Status InsertMigration(PgConnection& db, const Migration& migration,
                             const std::optional<RequestRecord>& request) {
  absl::Status inserted =
      db.Exec("INSERT INTO migrations (name, create_time_us, state, revision, record) VALUES ($1, $2, $3, 1, $4)",
              {migration.name(), stored::Micros(migration.create_time()), static_cast<int>(migration.state()),
               PgParam::Bytes(Serialized(migration))})
          .status();
  if (absl::IsAlreadyExists(inserted)) {
    return absl::AlreadyExistsError(absl::StrCat(migration.name(), " already exists"));
  }
  RETURN_IF_ERROR(inserted);
  return request ? WriteRequest(db, *request) : absl::OkStatus();
}

// Rows written together: one round trip for all of them.
absl::Status WriteAll(PgConnection& db, const std::vector<PgStatement>& statements) {
  for (absl::StatusOr<PgResult>& result : db.Pipeline(statements)) RETURN_IF_ERROR(result.status());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresMigrationStore>> PostgresMigrationStore::Open(const std::string& dsn,
                                                                                     Options options) {
  std::unique_ptr<PostgresMigrationStore> store(
      new PostgresMigrationStore(std::make_unique<PgConnectionPool>(dsn, options.pool_size), options.health));
  // The first connection fails fast (UNAVAILABLE) if the database cannot be reached.
  ASSIGN_OR_RETURN(PgConnectionPool::Lease connection, store->pool_->Acquire());
  RETURN_IF_ERROR(store->ApplySchemaMigrations(*connection));
  store->dsn_ = dsn;
  if (store->health_ != nullptr) {
    PostgresMigrationStore* probed = store.get();
    store->health_->SetRoomProbe([probed] { return probed->ProbeRoom(); });
  }
  return store;
}

PostgresMigrationStore::~PostgresMigrationStore() {
  if (health_ != nullptr) health_->SetRoomProbe(nullptr);
}

absl::StatusOr<bool> PostgresMigrationStore::ProbeRoom() {
  absl::MutexLock lock(&probe_mutex_);
  if (probe_db_ == nullptr || probe_db_->broken()) {
    probe_db_.reset();
    ASSIGN_OR_RETURN(probe_db_, PgConnection::Connect(dsn_));
  }
  RETURN_IF_ERROR(probe_db_->Begin());
  // Sequence 0 is never a real event's (they start at 1); the row is rolled back whatever happens.
  const absl::Status inserted =
      probe_db_
          ->Exec("INSERT INTO events (migration, sequence, record) SELECT name, 0, ''::BYTEA FROM migrations LIMIT 1")
          .status();
  probe_db_->Rollback();
  if (absl::IsResourceExhausted(inserted)) return false;
  RETURN_IF_ERROR(inserted);
  return true;
}

absl::Status PostgresMigrationStore::ApplySchemaMigrations(PgConnection& db) {
  while (true) {
    RETURN_IF_ERROR(db.Begin());
    auto step = [&]() -> absl::StatusOr<bool> {
      // Replicas starting together wait here for each other; the lock is released at COMMIT/ROLLBACK.
      RETURN_IF_ERROR(db.Exec("SELECT pg_advisory_xact_lock($1)", {kSchemaLockKey}).status());
      RETURN_IF_ERROR(db.Execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
      ASSIGN_OR_RETURN(PgResult read, db.Exec("SELECT version FROM schema_version"));
      const int version = read.rows() > 0 ? static_cast<int>(read.Int(0, 0)) : 0;
      if (version > kSchemaVersion) {
        return absl::FailedPreconditionError(absl::StrCat("the state database has schema version ", version,
                                                          ", newer than this orchestrator's ", kSchemaVersion,
                                                          ": run the newer orchestrator, or restore a backup"));
      }
      if (version == kSchemaVersion) return true;
      absl::Status applied = db.Execute(kSchemaMigrations[version]);
      if (applied.ok()) {
        applied = (version == 0 ? db.Exec("INSERT INTO schema_version (version) VALUES ($1)", {version + 1})
                                : db.Exec("UPDATE schema_version SET version = $1", {version + 1}))
                      .status();
      }
      if (!applied.ok()) {
        return absl::Status(applied.code(),
                            absl::StrCat("schema migration to version ", version + 1, " failed: ", applied.message()));
      }
      return false;
    };
    absl::StatusOr<bool> done = step();
    if (!done.ok()) {
      db.Rollback();
      return done.status();
    }
    RETURN_IF_ERROR(db.Commit());
    if (*done) return absl::OkStatus();
  }
}

absl::Status PostgresMigrationStore::Run(Mode mode, const std::function<absl::Status(PgConnection&)>& body) {
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(PgConnectionPool::Lease db, pool_->Acquire(/*fresh=*/attempt > 0));
    absl::Status status;
    bool committing = false;
    if (mode == Mode::kPipelinedCommit) {
      status = body(*db);
      if (!status.ok()) db->Rollback();  // keeps the connection: the pool closes one left in a transaction
    } else if (mode != Mode::kRead) {
      status = mode == Mode::kTransaction ? db->Begin() : absl::OkStatus();
      if (status.ok()) status = body(*db);
      if (status.ok()) {
        committing = true;
        status = db->Commit();
      } else {
        db->Rollback();
      }
    } else {
      status = body(*db);
    }
    // A connection that broke before COMMIT was sent took its transaction with it: nothing was written,
    // so the work is done again on a new connection. After COMMIT was sent, the outcome is unknown.
    if (!status.ok() && !committing && attempt == 0 && db->broken()) continue;
    if (mode != Mode::kRead) ReportWrite(status);
    return status;
  }
}

void PostgresMigrationStore::ReportWrite(const absl::Status& status) {
  if (health_ == nullptr) return;
  if (status.ok()) {
    health_->WriteSucceeded();
    return;
  }
  // The database's own refusals; a body's answers about the data (a name taken, a concurrent change,
  // a lease lost) say nothing about the database's health.
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kInternal:
      health_->WriteFailed(status);
      break;
    default:
      break;
  }
}

absl::StatusOr<int> PostgresMigrationStore::SchemaVersion() {
  int version = 0;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read, db.Exec("SELECT version FROM schema_version"));
    version = read.rows() > 0 ? static_cast<int>(read.Int(0, 0)) : 0;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return version;
}

absl::Status PostgresMigrationStore::CreateMigration(const Migration& migration,
                                                     const std::vector<UserMove>& user_moves,
                                                     const std::vector<MigrationEvent>& events,
                                                     const std::optional<RequestRecord>& request,
                                                     absl::string_view identity_map_csv) {
  for (const UserMove& move : user_moves) {
    if (stored::MigrationOf(move.name()) != migration.name()) {
      return absl::InternalError(absl::StrCat("user move ", move.name(), " does not belong to ", migration.name()));
    }
  }
  return Run(Mode::kTransaction, [&](PgConnection& db) -> absl::Status {
    RETURN_IF_ERROR(InsertMigration(db, migration, request));
    std::vector<const UserMove*> batch;
    for (const UserMove& move : user_moves) {
      batch.push_back(&move);
      if (batch.size() == kRowsPerStatement) {
        RETURN_IF_ERROR(WriteAll(db, {UserMovesInsert(batch)}));
        batch.clear();
      }
    }
    std::vector<PgStatement> rows;
    if (!batch.empty()) rows.push_back(UserMovesInsert(batch));
    if (!events.empty()) rows.push_back(EventsInsert(events));
    RETURN_IF_ERROR(WriteAll(db, rows));
    return db
        .Exec("INSERT INTO identity_maps (migration, csv) VALUES ($1, $2)",
              {migration.name(), PgParam::Bytes(identity_map_csv)})
        .status();
  });
}

absl::StatusOr<std::string> PostgresMigrationStore::GetIdentityMap(absl::string_view migration) {
  std::string csv;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read, db.Exec("SELECT csv FROM identity_maps WHERE migration = $1", {migration}));
    if (read.rows() == 0) return absl::NotFoundError(absl::StrCat("no identity map stored for ", migration));
    csv = read.Bytes(0, 0);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return csv;
}

namespace {

constexpr const char* kStagedRowColumns = "line, is_group, source_key, target_key, source, target, email, csv";

absl::StatusOr<std::vector<StagedIdentityMapRow>> ReadStagedRows(PgConnection& db, absl::string_view upload,
                                                                 StagedRows which, int after_line, int limit) {
  const char* kind = which == StagedRows::kUsers    ? " AND NOT is_group"
                     : which == StagedRows::kGroups ? " AND is_group"
                                                    : "";
  ASSIGN_OR_RETURN(PgResult read, db.Exec(absl::StrCat("SELECT ", kStagedRowColumns,
                                                       " FROM identity_map_upload_rows "
                                                       "WHERE upload = $1 AND line > $2",
                                                       kind, " ORDER BY line LIMIT $3"),
                                          {upload, after_line, std::max(1, limit)}));
  std::vector<StagedIdentityMapRow> rows;
  rows.reserve(read.rows());
  for (int i = 0; i < read.rows(); ++i) {
    StagedIdentityMapRow& row = rows.emplace_back();
    row.line = static_cast<int>(read.Int(i, 0));
    row.group = read.Bool(i, 1);
    row.source_key = read.Text(i, 2);
    row.target_key = read.Text(i, 3);
    row.source = read.Text(i, 4);
    row.target = read.Text(i, 5);
    row.email = read.Text(i, 6);
    row.csv = read.Text(i, 7);
  }
  return rows;
}

}  // namespace

namespace {

// Stages rows of an upload, as arrays like a change's rows (one statement per page of rows, not per row).
PgStatement StagedRowsInsert(absl::string_view upload, absl::Span<const StagedIdentityMapRow> rows) {
  std::vector<int32_t> lines, groups;
  std::vector<std::string> source_keys, target_keys, sources, targets, emails, csvs;
  for (const StagedIdentityMapRow& row : rows) {
    lines.push_back(row.line);
    groups.push_back(row.group ? 1 : 0);
    source_keys.push_back(row.source_key);
    target_keys.push_back(row.target_key);
    sources.push_back(row.source);
    targets.push_back(row.target);
    emails.push_back(row.email);
    csvs.push_back(row.csv);
  }
  return {
      "INSERT INTO identity_map_upload_rows (upload, line, is_group, source_key, target_key, source, target, "
      "email, csv) SELECT $1, c.line, c.is_group <> 0, c.source_key, c.target_key, c.source, c.target, c.email, "
      "c.csv FROM unnest($2::INTEGER[], $3::INTEGER[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], "
      "$8::TEXT[], $9::TEXT[]) AS c (line, is_group, source_key, target_key, source, target, email, csv)",
      {upload, PgParam::IntegerArray(lines), PgParam::IntegerArray(groups), PgParam::TextArray(source_keys),
       PgParam::TextArray(target_keys), PgParam::TextArray(sources), PgParam::TextArray(targets),
       PgParam::TextArray(emails), PgParam::TextArray(csvs)},
      /*prepared=*/true};
}

}  // namespace

absl::Status PostgresMigrationStore::CreateIdentityMapUpload(absl::string_view name, absl::Time create_time) {
  return Run(Mode::kTransaction, [&](PgConnection& db) -> absl::Status {
    return db
        .Exec("INSERT INTO identity_map_uploads (name, create_time_us) VALUES ($1, $2)",
              {name, absl::ToUnixMicros(create_time)})
        .status();
  });
}

absl::Status PostgresMigrationStore::AppendStagedRows(absl::string_view upload,
                                                      const std::vector<StagedIdentityMapRow>& rows) {
  return Run(Mode::kTransaction, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult upload_row,
                     db.Exec("SELECT complete FROM identity_map_uploads WHERE name = $1 FOR UPDATE", {upload}));
    if (upload_row.rows() == 0) return absl::NotFoundError(absl::StrCat(upload, " does not exist"));
    if (upload_row.Bool(0, 0)) return absl::FailedPreconditionError(absl::StrCat(upload, " is complete"));
    std::vector<PgStatement> inserts;
    for (size_t first = 0; first < rows.size(); first += kRowsPerStatement) {
      inserts.push_back(StagedRowsInsert(upload, absl::MakeConstSpan(rows).subspan(first, kRowsPerStatement)));
    }
    return WriteAll(db, inserts);
  });
}

absl::StatusOr<std::map<std::string, int>> PostgresMigrationStore::FindStagedKeys(
    absl::string_view upload, bool target, const std::vector<std::string>& keys) {
  std::map<std::string, int> found;
  if (keys.empty()) return found;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    // One round trip for a page of keys.
    const char* column = target ? "target_key" : "source_key";
    ASSIGN_OR_RETURN(PgResult read, db.Exec(absl::StrCat("SELECT ", column,
                                                         ", MIN(line) FROM identity_map_upload_rows "
                                                         "WHERE upload = $1 AND ",
                                                         column, " = ANY($2::text[]) GROUP BY ", column),
                                            {upload, PgParam::TextArray(keys)}));
    found.clear();
    for (int i = 0; i < read.rows(); ++i) found[read.Text(i, 0)] = static_cast<int>(read.Int(i, 1));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<std::vector<StagedIdentityMapRow>> PostgresMigrationStore::ListStagedRows(absl::string_view upload,
                                                                                         StagedRows which,
                                                                                         int after_line, int limit) {
  std::vector<StagedIdentityMapRow> rows;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(rows, ReadStagedRows(db, upload, which, after_line, limit));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return rows;
}

absl::Status PostgresMigrationStore::CompleteIdentityMapUpload(absl::string_view upload,
                                                               const crosstenant::v1::IdentityMapSummary& summary) {
  return Run(Mode::kTransaction, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult update,
                     db.Exec("UPDATE identity_map_uploads SET complete = TRUE, summary = $2 WHERE name = $1",
                             {upload, PgParam::Bytes(summary.SerializeAsString())}));
    if (update.affected_rows() == 0) return absl::NotFoundError(absl::StrCat(upload, " does not exist"));
    return absl::OkStatus();
  });
}

absl::StatusOr<IdentityMapUpload> PostgresMigrationStore::GetIdentityMapUpload(absl::string_view upload) {
  IdentityMapUpload result;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read, db.Exec("SELECT create_time_us, complete, summary, migration "
                                            "FROM identity_map_uploads WHERE name = $1",
                                            {upload}));
    if (read.rows() == 0) return absl::NotFoundError(absl::StrCat(upload, " does not exist"));
    result.name = std::string(upload);
    result.create_time = absl::FromUnixMicros(read.Int(0, 0));
    result.complete = read.Bool(0, 1);
    if (!result.summary.ParseFromString(read.Bytes(0, 2))) {
      return absl::DataLossError(absl::StrCat("the summary of ", upload, " is unreadable"));
    }
    result.migration = read.Text(0, 3);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<std::optional<std::string>> PostgresMigrationStore::IdentityMapUploadOf(absl::string_view migration) {
  std::optional<std::string> upload;
  if (migration.empty()) return upload;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read,
                     db.Exec("SELECT name FROM identity_map_uploads WHERE migration = $1 LIMIT 1", {migration}));
    upload.reset();
    if (read.rows() > 0) upload = read.Text(0, 0);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return upload;
}

absl::StatusOr<int> PostgresMigrationStore::DeleteUnusedIdentityMapUploads(absl::Time created_before,
                                                                           absl::string_view upload) {
  int deleted = 0;
  const absl::Status status = Run(Mode::kTransaction, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult uploads, db.Exec("DELETE FROM identity_map_uploads WHERE migration = '' AND "
                                               "(create_time_us < $1 OR name = $2) RETURNING name",
                                               {absl::ToUnixMicros(created_before), upload}));
    deleted = uploads.rows();
    if (deleted == 0) return absl::OkStatus();
    std::vector<std::string> names;
    for (int i = 0; i < uploads.rows(); ++i) names.push_back(uploads.Text(i, 0));
    return db.Exec("DELETE FROM identity_map_upload_rows WHERE upload = ANY($1::text[])", {PgParam::TextArray(names)})
        .status();
  });
  if (!status.ok()) return status;
  return deleted;
}

absl::StatusOr<std::vector<std::string>> PostgresMigrationStore::StagedUsersIn(
    absl::string_view upload, const std::vector<std::string>& migrations, int limit) {
  std::vector<std::string> users;
  if (migrations.empty()) return users;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read, db.Exec("SELECT r.source FROM identity_map_upload_rows r JOIN user_moves u "
                                            "ON u.migration = ANY($2::text[]) AND u.source_upn = r.source_key "
                                            "WHERE r.upload = $1 AND NOT r.is_group ORDER BY r.line LIMIT $3",
                                            {upload, PgParam::TextArray(migrations), limit}));
    users.clear();
    for (int i = 0; i < read.rows(); ++i) users.push_back(read.Text(i, 0));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return users;
}

absl::StatusOr<std::vector<std::string>> PostgresMigrationStore::UsersIn(const std::vector<std::string>& source_keys,
                                                                         const std::vector<std::string>& migrations,
                                                                         int limit) {
  std::vector<std::string> users;
  if (migrations.empty() || source_keys.empty()) return users;
  std::set<std::string> taken;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    // One round trip for the whole map; the order of `source_keys` is restored below.
    ASSIGN_OR_RETURN(PgResult read, db.Exec("SELECT DISTINCT source_upn FROM user_moves "
                                            "WHERE migration = ANY($1::text[]) AND source_upn = ANY($2::text[])",
                                            {PgParam::TextArray(migrations), PgParam::TextArray(source_keys)}));
    taken.clear();
    for (int i = 0; i < read.rows(); ++i) taken.insert(read.Text(i, 0));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  for (const std::string& key : source_keys) {
    if (static_cast<int>(users.size()) >= limit) break;
    if (taken.count(key) > 0) users.push_back(key);
  }
  return users;
}

absl::Status PostgresMigrationStore::CreateMigrationFromUpload(
    const Migration& migration, const std::vector<MigrationEvent>& events, const std::optional<RequestRecord>& request,
    absl::string_view upload, const std::function<UserMove(const StagedIdentityMapRow&)>& make_move) {
  return Run(Mode::kTransaction, [&](PgConnection& db) -> absl::Status {
    // Claimed first (the row stays locked to the end), so that a second migration from the same upload
    // fails here and writes nothing.
    ASSIGN_OR_RETURN(PgResult claim, db.Exec("UPDATE identity_map_uploads SET migration = $2 "
                                             "WHERE name = $1 AND complete AND migration = ''",
                                             {upload, migration.name()}));
    if (claim.affected_rows() == 0) {
      ASSIGN_OR_RETURN(PgResult exists, db.Exec("SELECT 1 FROM identity_map_uploads WHERE name = $1", {upload}));
      if (exists.rows() == 0) {
        return absl::NotFoundError(absl::StrCat(upload, " does not exist (unused uploads are deleted after 24 hours)"));
      }
      return absl::FailedPreconditionError(
          absl::StrCat(upload, " is incomplete or a migration was already created from it"));
    }
    RETURN_IF_ERROR(InsertMigration(db, migration, request));
    std::vector<PgStatement> writes;
    if (!events.empty()) writes.push_back(EventsInsert(events));
    writes.push_back(
        {"INSERT INTO identity_maps (migration, csv) VALUES ($1, $2)", {migration.name(), PgParam::Bytes("")}});
    RETURN_IF_ERROR(WriteAll(db, writes));
    // A statement per page of users: the users are counted once per page (schema version 7), not once
    // per user.
    int after_line = 0;
    while (true) {
      ASSIGN_OR_RETURN(std::vector<StagedIdentityMapRow> rows,
                       ReadStagedRows(db, upload, StagedRows::kUsers, after_line, static_cast<int>(kRowsPerStatement)));
      if (rows.empty()) return absl::OkStatus();
      std::vector<UserMove> moves;
      moves.reserve(rows.size());
      std::vector<const UserMove*> batch;
      for (const StagedIdentityMapRow& row : rows) {
        moves.push_back(make_move(row));
        if (stored::MigrationOf(moves.back().name()) != migration.name()) {
          return absl::InternalError(
              absl::StrCat("user move ", moves.back().name(), " does not belong to ", migration.name()));
        }
      }
      for (const UserMove& move : moves) batch.push_back(&move);
      RETURN_IF_ERROR(WriteAll(db, {UserMovesInsert(batch)}));
      after_line = rows.back().line;
    }
  });
}

namespace {

// The condition on `name` that selects the tasks of the migration whose name is `migration` (a Params
// placeholder, or $1 as in PostgresActiveMoves): every task is named "<migration>/tasks/<id>"
// (UserTaskName), and '0' is the byte after '/', so they are one range of the primary key.
std::string TasksOf(absl::string_view migration) {
  return absl::StrCat("name >= ", migration, "::TEXT || '/tasks/' AND name < ", migration, "::TEXT || '/tasks0'");
}

// The users of a source geo ($1 migration, $2 geo) that count against its queue limit, as two counts:
// the moves active at Microsoft ($3), from the counts by geo and state, and the QUEUED users ($4) whose
// start task ($5, one per user) waits for a worker. Only a QUEUED user has a start task, and a user has
// no other task while QUEUED, so the second reads the migration's start tasks only (the starts in
// flight, not every poll of the moves at Microsoft), each user looked up by its key in a subquery, which
// PostgreSQL runs per task and never turns into a join: as a join, with statistics older than the
// migration's rows, the planner chose a nested loop over every QUEUED user that read the migration's
// tasks again for each (up to 6 s per call at 10,000 users). The user's state is checked all the same:
// a cancelled migration's users keep start tasks no worker took.
const std::string& PostgresActiveMoves() {
  static const std::string* const sql = new std::string(absl::StrCat(
      "(SELECT COALESCE(SUM(count), 0)::BIGINT FROM user_move_counts WHERE migration = $1 AND source_geo = $2 "
      "AND state = ANY($3::INTEGER[])), "
      "(SELECT COUNT(*) FROM (SELECT user_move FROM tasks WHERE kind = $5 AND ",
      TasksOf("$1"),
      ") t WHERE (SELECT u.state = $4 AND u.source_geo = $2 FROM user_moves u WHERE u.name = t.user_move))"));
  return *sql;
}

std::vector<PgParam> ActiveMovesParams(absl::string_view migration, absl::string_view source_geo) {
  const std::vector<crosstenant::v1::UserMoveState> active = {
      crosstenant::v1::USER_MOVE_STATE_NOT_STARTED, crosstenant::v1::USER_MOVE_STATE_SCHEDULED,
      crosstenant::v1::USER_MOVE_STATE_READY_TO_TRIGGER, crosstenant::v1::USER_MOVE_STATE_IN_PROGRESS,
      crosstenant::v1::USER_MOVE_STATE_RESCHEDULED};
  return {migration, source_geo, IntegerArray(active), static_cast<int>(crosstenant::v1::USER_MOVE_STATE_QUEUED),
          static_cast<int>(crosstenant::v1::TASK_KIND_START_MOVE)};
}

}  // namespace

absl::StatusOr<crosstenant::v1::SourceGeoQueue> PostgresMigrationStore::GetSourceGeoQueue(
    absl::string_view migration, absl::string_view source_geo) {
  crosstenant::v1::SourceGeoQueue queue;
  queue.set_source_geo(std::string(source_geo));
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read,
                     db.Exec(absl::StrCat("SELECT ", PostgresActiveMoves(),
                                          ", (SELECT COALESCE(SUM(count), 0)::BIGINT FROM user_move_counts "
                                          "WHERE migration = $1 AND source_geo = $2 AND state = $4)"),
                             ActiveMovesParams(migration, source_geo)));
    if (read.rows() > 0) {
      const int64_t starting = read.Int(0, 1);
      queue.set_active(static_cast<int32_t>(read.Int(0, 0) + starting));
      queue.set_queued(static_cast<int32_t>(read.Int(0, 2) - starting));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return queue;
}

absl::StatusOr<int> PostgresMigrationStore::CountActiveMoves(absl::string_view migration,
                                                             absl::string_view source_geo) {
  int active = 0;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read,
                     db.Exec(absl::StrCat("SELECT ", PostgresActiveMoves()), ActiveMovesParams(migration, source_geo)));
    if (read.rows() > 0) active = static_cast<int>(read.Int(0, 0) + read.Int(0, 1));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return active;
}

absl::StatusOr<std::vector<UserMove>> PostgresMigrationStore::NextQueuedUsers(absl::string_view migration,
                                                                              absl::string_view source_geo, int limit) {
  std::vector<UserMove> users;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    users.clear();
    ASSIGN_OR_RETURN(
        PgResult read,
        db.Exec(
            "SELECT u.record FROM user_moves u WHERE u.migration = $1 AND u.source_geo = $2 AND u.state = $3 "
            "AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.user_move = u.name) ORDER BY u.source_upn LIMIT $4",
            {migration, source_geo, static_cast<int>(crosstenant::v1::USER_MOVE_STATE_QUEUED), std::max(limit, 0)}));
    for (int row = 0; row < read.rows(); ++row) {
      ASSIGN_OR_RETURN(UserMove move, stored::ParseRecord<UserMove>(read.Bytes(row, 0), "user move"));
      users.push_back(std::move(move));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return users;
}

absl::StatusOr<std::optional<RequestRecord>> PostgresMigrationStore::FindRequest(absl::string_view request_id) {
  std::optional<RequestRecord> request;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read, db.Exec("SELECT migration, method, fingerprint FROM migration_requests "
                                            "WHERE request_id = $1",
                                            {request_id}));
    if (read.rows() > 0) {
      request = RequestRecord{std::string(request_id), read.Text(0, 1), read.Text(0, 0), read.Text(0, 2)};
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return request;
}

absl::StatusOr<Migration> PostgresMigrationStore::GetMigration(absl::string_view name) {
  Migration migration;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read, db.Exec("SELECT record, revision FROM migrations WHERE name = $1", {name}));
    if (read.rows() == 0) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
    ASSIGN_OR_RETURN(migration, ReadMigration(read, 0, 0, 1));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return migration;
}

absl::StatusOr<MigrationPage> PostgresMigrationStore::ListMigrations(
    const std::vector<crosstenant::v1::MigrationState>& states, int page_size, absl::string_view page_token) {
  page_size = std::clamp(page_size <= 0 ? 50 : page_size, 1, kMaxPageSize);
  ASSIGN_OR_RETURN(const stored::MigrationPageKey after, stored::FromMigrationPageToken(page_token));
  Params params;
  const std::string time = params.Add(after.create_time_us);
  std::string sql =
      absl::StrCat("SELECT record, revision, create_time_us, name FROM migrations WHERE (create_time_us < ", time,
                   " OR (create_time_us = ", time, " AND name > ", params.Add(after.name), "))");
  if (!states.empty()) absl::StrAppend(&sql, " AND state = ANY(", params.Add(IntegerArray(states)), "::INTEGER[])");
  absl::StrAppend(&sql, " ORDER BY create_time_us DESC, name LIMIT ", params.Add(page_size + 1));
  MigrationPage page;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    page = MigrationPage();
    ASSIGN_OR_RETURN(PgResult read, db.Exec(sql, params.list()));
    for (int row = 0; row < read.rows(); ++row) {
      if (row == page_size) {
        page.next_page_token = stored::MigrationPageToken(read.Int(row - 1, 2), read.Text(row - 1, 3));
        break;
      }
      ASSIGN_OR_RETURN(Migration migration, ReadMigration(read, row, 0, 1));
      page.migrations.push_back(std::move(migration));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return page;
}

absl::Status PostgresMigrationStore::Apply(const MigrationChange& change) {
  RETURN_IF_ERROR(CheckTaskNames(change));
  const Migration& migration = change.migration;
  // The whole change goes to the server in one pipeline, BEGIN included, and COMMIT follows once the
  // answers show every condition held: two round trips however many rows the change writes. The
  // conditions (leadership, lease, etag) are checked in the order the statements were sent, so the
  // first one that failed is the one reported; whatever ran after it is rolled back.
  std::vector<PgStatement> statements = {{std::string(kBegin)}};
  int leader_at = -1;
  int request_at = -1;
  if (change.leader_term) {
    leader_at = static_cast<int>(statements.size());
    // FOR SHARE: a replica taking the leadership over waits until this change has committed.
    statements.push_back(
        {"SELECT term FROM leadership WHERE id = 1 AND term = $1 "
         "AND expire_time > clock_timestamp() FOR SHARE",
         {*change.leader_term},
         /*prepared=*/true});
  }
  int leases_at = -1;
  if (!change.completed.empty()) {
    leases_at = static_cast<int>(statements.size());
    statements.push_back(LeasesDelete(change.completed));
  }
  Params params;
  std::string sql =
      absl::StrCat("UPDATE migrations SET create_time_us = ", params.Add(stored::Micros(migration.create_time())),
                   ", state = ", params.Add(static_cast<int>(migration.state())),
                   ", record = ", params.Add(PgParam::Bytes(Serialized(migration))),
                   ", revision = revision + 1 WHERE name = ", params.Add(migration.name()));
  if (!migration.etag().empty()) {
    int64_t revision = 0;
    // An etag this store never issued cannot be the stored one.
    if (!absl::SimpleAtoi(migration.etag(), &revision)) return ConcurrentChangeError(migration.name());
    absl::StrAppend(&sql, " AND revision = ", params.Add(revision));
  }
  const int update_at = static_cast<int>(statements.size());
  statements.push_back({std::move(sql), params.list(), /*prepared=*/true});
  if (change.request) {
    request_at = static_cast<int>(statements.size());
    statements.push_back(RequestInsert(*change.request));
  }
  // A user or a task named twice in one change is written once, as its last version: the same rows as
  // writing each version in turn (a user's row and its count by state are rewritten whole each time).
  const int moves_from = static_cast<int>(statements.size());
  AppendInChunks<const UserMove*>(LastOfEachName(change.user_moves, [](const UserMove& move) { return move.name(); }),
                                  UserMovesUpdate, &statements);
  const int moves_to = static_cast<int>(statements.size());
  AppendInChunks<MigrationEvent>(change.events, EventsInsert, &statements);
  AppendInChunks<const NewTask*>(
      LastOfEachName(change.new_tasks, [](const NewTask& added) { return added.task.name(); }),
      [&](absl::Span<const NewTask* const> tasks) { return TasksUpsert(migration.name(), tasks); }, &statements);
  return Run(Mode::kPipelinedTransaction, [&](PgConnection& db) -> absl::Status {
    std::vector<absl::StatusOr<PgResult>> results = db.Pipeline(statements);
    std::map<std::string, int> found_moves;
    for (int i = 0; i < static_cast<int>(results.size()); ++i) {
      if (i == request_at && absl::IsAlreadyExists(results[i].status())) {
        return absl::AlreadyExistsError(absl::StrCat("request_id ", change.request->request_id, " is already taken"));
      }
      RETURN_IF_ERROR(results[i].status());
      const PgResult& result = *results[i];
      if (i == leader_at && result.rows() == 0) {
        return absl::AbortedError(absl::StrCat("leadership term ", *change.leader_term,
                                               " is over: another replica drives the migrations now"));
      }
      if (i == leases_at) {
        // The first lease, in the change's order, whose task was not deleted (a task named twice
        // is deleted once: its second lease is lost, as it would be deleting them in turn).
        std::map<std::string, int> deleted = ReturnedNames(result);
        for (const CompletedLease& lease : change.completed) {
          if (deleted[lease.task]-- <= 0) return LeaseLostError(lease);
        }
      }
      if (i == update_at && result.affected_rows() == 0) {
        ASSIGN_OR_RETURN(PgResult exists, db.Exec("SELECT 1 FROM migrations WHERE name = $1", {migration.name()}));
        if (exists.rows() == 0) return absl::NotFoundError(absl::StrCat(migration.name(), " does not exist"));
        return ConcurrentChangeError(migration.name());
      }
      if (i >= moves_from && i < moves_to) {
        for (auto& [name, count] : ReturnedNames(result)) found_moves[name] += count;
      }
    }
    for (const UserMove& move : change.user_moves) {
      if (found_moves.count(move.name()) == 0) return absl::NotFoundError(absl::StrCat(move.name(), " does not exist"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<Task>> PostgresMigrationStore::LeaseTasks(const LeaseQuery& query) {
  const int64_t now = absl::ToUnixMicros(query.now);
  const int64_t expire = absl::ToUnixMicros(query.now + query.lease_duration);
  Params params;
  const std::string at = params.Add(now);
  const std::string worker = params.Add(query.worker_id);
  const std::string request = params.Add(query.request_id);
  std::string picked = absl::StrCat(
      "SELECT t.name FROM tasks t JOIN migrations m ON m.name = t.migration "
      "WHERE t.available_us <= ",
      at,
      " AND "
      // While cancelling, a start no worker has taken yet is never handed out.
      "(m.state IN (",
      params.Add(static_cast<int>(crosstenant::v1::MIGRATION_STATE_RUNNING)), ", ",
      params.Add(static_cast<int>(crosstenant::v1::MIGRATION_STATE_WAITING)),
      ") OR (m.state = ", params.Add(static_cast<int>(crosstenant::v1::MIGRATION_STATE_CANCELLING)),
      " AND NOT (t.kind = ", params.Add(static_cast<int>(crosstenant::v1::TASK_KIND_START_MOVE)),
      " AND t.attempt = 0)))");
  if (query.kinds.size() == 1) {
    // As an equality, so that tasks_by_kind_and_available_time gives this kind's tasks in order.
    absl::StrAppend(&picked, " AND t.kind = ", params.Add(static_cast<int>(query.kinds.front())));
  } else if (!query.kinds.empty()) {
    absl::StrAppend(&picked, " AND t.kind = ANY(", params.Add(IntegerArray(query.kinds)), "::INTEGER[])");
  }
  if (!query.request_id.empty()) {
    // A retry of a call whose answer was lost leases nothing more while the first call's leases are held.
    absl::StrAppend(&picked, " AND NOT EXISTS (SELECT 1 FROM tasks g WHERE g.lease_request = ", request,
                    " AND g.lease_request <> '' AND g.lease_owner = ", worker,
                    " AND g.lease_id != '' AND g.lease_expire_us >= ", at, ")");
  }
  // Rows another replica is leasing right now are skipped, not waited for: each goes to one worker.
  absl::StrAppend(&picked, " ORDER BY t.available_us, t.name LIMIT ", params.Add(std::max(query.max_tasks, 1)),
                  " FOR UPDATE OF t SKIP LOCKED");
  // Lease ids are fencing tokens: random (gen_random_uuid draws from the server's strong random
  // source), so that no two leases, on any replica, ever share one.
  const std::string lease = absl::StrCat(
      "WITH picked AS (", picked,
      ") UPDATE tasks SET lease_id = replace(gen_random_uuid()::text, '-', ''), lease_owner = ", worker,
      ", lease_expire_us = ", params.Add(expire), ", available_us = ", params.Add(expire + 1),
      ", attempt = tasks.attempt + 1, lease_request = ", request,
      " FROM picked WHERE tasks.name = picked.name "
      "RETURNING tasks.attempt, tasks.record, tasks.lease_id, tasks.lease_expire_us, tasks.ready_time_us, tasks.name");
  // BEGIN, the leases already granted to this request (a retry's), the new leases and COMMIT in one
  // round trip. A lease may be asked for twice (kPipelinedCommit): under its request id, the second
  // call is answered with what the first granted; without one, what the first granted expires unused.
  std::vector<PgStatement> statements = {{std::string(kBegin)}};
  if (!query.request_id.empty()) {
    statements.push_back(
        {"SELECT attempt, record, lease_id, lease_expire_us, ready_time_us, name FROM tasks WHERE lease_request = $2 "
         "AND lease_request <> '' AND lease_owner = $1 AND lease_id != '' AND lease_expire_us >= $3",
         {query.worker_id, query.request_id, now},
         /*prepared=*/true});
  }
  // Prepared and planned once per connection (a generic plan, for this transaction only): a lease is
  // the statement the workers run most, and planning it took a third of its time. Its text depends on
  // the query's shape only (kinds, request id), never on values, and its plan on none of them: the
  // indexes on available_us give the tasks in lease order whatever the time and the limit.
  statements.insert(statements.begin() + 1, {"SET LOCAL plan_cache_mode = force_generic_plan"});
  statements.push_back({lease, params.list(), /*prepared=*/true});
  statements.push_back({"COMMIT"});
  std::vector<Task> tasks;
  const absl::Status status = Run(Mode::kPipelinedCommit, [&](PgConnection& db) -> absl::Status {
    tasks.clear();
    std::vector<absl::StatusOr<PgResult>> results = db.Pipeline(statements);
    // The first failure: the statements after it, COMMIT included, were skipped.
    for (const absl::StatusOr<PgResult>& result : results) RETURN_IF_ERROR(result.status());
    std::vector<std::pair<std::pair<int64_t, std::string>, Task>> ordered;
    for (size_t i = 1; i + 1 < results.size(); ++i) {
      const PgResult& read = *results[i];
      for (int row = 0; row < read.rows(); ++row) {
        ASSIGN_OR_RETURN(Task task, stored::ParseRecord<Task>(read.Bytes(row, 1), "task"));
        task.set_attempt(static_cast<int32_t>(read.Int(row, 0)));
        task.set_lease_id(read.Text(row, 2));
        SetMicros(read.Int(row, 3), task.mutable_lease_expire_time());
        ordered.push_back({{read.Int(row, 4), read.Text(row, 5)}, std::move(task)});
      }
    }
    // Oldest first, as they were picked (RETURNING keeps no order).
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [key, task] : ordered) tasks.push_back(std::move(task));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return tasks;
}

absl::StatusOr<crosstenant::v1::LeaseRenewal> PostgresMigrationStore::RenewLease(const std::string& task,
                                                                                 const std::string& lease_id,
                                                                                 const std::string& worker_id,
                                                                                 absl::Duration lease_duration,
                                                                                 absl::Time now) {
  const int64_t expire = absl::ToUnixMicros(now + lease_duration);
  int64_t renewed = 0;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult updated,
                     db.Exec("UPDATE tasks SET lease_expire_us = $4, available_us = $6 WHERE name = $1 "
                             "AND lease_id = $2 AND lease_owner = $3 AND lease_expire_us >= $5",
                             {task, lease_id, worker_id, expire, absl::ToUnixMicros(now), expire + 1}));
    renewed = updated.affected_rows();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  crosstenant::v1::LeaseRenewal renewal;
  renewal.set_task(task);
  renewal.set_lease_id(lease_id);
  renewal.set_renewed(renewed > 0);
  if (renewal.renewed()) {
    SetMicros(expire, renewal.mutable_lease_expire_time());
  } else {
    renewal.set_reason("the lease expired or the task was done or re-leased: stop working on it");
  }
  return renewal;
}

absl::StatusOr<Task> PostgresMigrationStore::GetTask(const std::string& name) {
  Task task;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read, db.Exec("SELECT record, attempt FROM tasks WHERE name = $1", {name}));
    if (read.rows() == 0) return absl::NotFoundError(absl::StrCat("task ", name, " does not exist (already done?)"));
    ASSIGN_OR_RETURN(task, stored::ParseRecord<Task>(read.Bytes(0, 0), "task"));
    task.set_attempt(static_cast<int32_t>(read.Int(0, 1)));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return task;
}

absl::StatusOr<std::optional<TaskContext>> PostgresMigrationStore::GetTaskContext(const std::string& task) {
  ASSIGN_OR_RETURN(auto contexts, GetTaskContexts({task}));
  return std::move(contexts.front());
}

absl::StatusOr<std::vector<absl::StatusOr<std::optional<TaskContext>>>> PostgresMigrationStore::GetTaskContexts(
    const std::vector<std::string>& tasks) {
  std::vector<absl::StatusOr<std::optional<TaskContext>>> contexts;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    contexts.assign(tasks.size(), std::optional<TaskContext>());
    // One round trip for the three rows each worker result is applied to, for every task.
    // Prepared: planning the three-table join took as long as running it.
    std::vector<absl::StatusOr<PgResult>> results =
        db.Pipeline({{"SELECT t.record, t.attempt, m.record, m.revision, u.record, t.migration, t.user_move, "
                      "t.name FROM tasks t LEFT JOIN migrations m ON m.name = t.migration "
                      "LEFT JOIN user_moves u ON u.name = t.user_move WHERE t.name = ANY($1::text[])",
                      {PgParam::TextArray(tasks)},
                      /*prepared=*/true}});
    ASSIGN_OR_RETURN(PgResult read, std::move(results.front()));
    std::map<std::string, int> rows;
    for (int row = 0; row < read.rows(); ++row) rows[read.Text(row, 7)] = row;
    for (size_t i = 0; i < tasks.size(); ++i) {
      auto found = rows.find(tasks[i]);
      if (found == rows.end()) continue;
      const int row = found->second;
      contexts[i] = [&]() -> absl::StatusOr<std::optional<TaskContext>> {
        if (read.IsNull(row, 2)) return absl::NotFoundError(absl::StrCat(read.Text(row, 5), " does not exist"));
        if (read.IsNull(row, 4)) return absl::NotFoundError(absl::StrCat(read.Text(row, 6), " does not exist"));
        TaskContext context;
        ASSIGN_OR_RETURN(context.task, stored::ParseRecord<Task>(read.Bytes(row, 0), "task"));
        context.task.set_attempt(static_cast<int32_t>(read.Int(row, 1)));
        ASSIGN_OR_RETURN(context.migration, ReadMigration(read, row, 2, 3));
        ASSIGN_OR_RETURN(context.user_move, stored::ParseRecord<UserMove>(read.Bytes(row, 4), read.Text(row, 6)));
        return context;
      }();
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return contexts;
}

absl::StatusOr<int> PostgresMigrationStore::CountTasks(absl::string_view migration) {
  int count = 0;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read,
                     db.Exec(absl::StrCat("SELECT COUNT(*) FROM tasks WHERE ", TasksOf("$1")), {migration}));
    count = read.rows() > 0 ? static_cast<int>(read.Int(0, 0)) : 0;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return count;
}

absl::StatusOr<UserMove> PostgresMigrationStore::GetUserMove(absl::string_view name) {
  UserMove move;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult read, db.Exec("SELECT record FROM user_moves WHERE name = $1", {name}));
    if (read.rows() == 0) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
    ASSIGN_OR_RETURN(move, stored::ParseRecord<UserMove>(read.Bytes(0, 0), name));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return move;
}

absl::StatusOr<UserMovePage> PostgresMigrationStore::ListUserMoves(const UserMoveQuery& query) {
  const int page_size = std::clamp(query.page_size <= 0 ? 100 : query.page_size, 1, kMaxPageSize);
  std::string after;
  if (!query.page_token.empty()) {
    ASSIGN_OR_RETURN(after, stored::FromPageToken(query.page_token));
  }
  Params params;
  const std::string migration = params.Add(query.migration);
  const std::string after_upn = params.Add(after);
  const std::string limit = params.Add(page_size + 1);
  std::string geo;
  if (!query.source_geo.empty()) geo = absl::StrCat(" AND u.source_geo = ", params.Add(query.source_geo));
  const std::string states = query.states.empty() ? "" : params.Add(IntegerArray(query.states));
  std::string sql;
  if (query.with_leased_task) {
    // Driven by the migration's leased tasks, each user read by key (OFFSET 0 keeps the planner from
    // flattening the lookup into a join it may run over every user of the migration), so that the cost
    // follows those tasks and not the users.
    sql = absl::StrCat(
        "SELECT u.record, u.source_upn FROM (SELECT DISTINCT user_move FROM tasks WHERE ", TasksOf(migration),
        " AND attempt > 0) t, "
        "LATERAL (SELECT record, source_upn, source_geo, state FROM user_moves WHERE name = t.user_move OFFSET 0) u "
        "WHERE u.source_upn > ",
        after_upn, geo);
    if (!states.empty()) absl::StrAppend(&sql, " AND u.state = ANY(", states, "::INTEGER[])");
  } else if (!states.empty()) {
    // One range of user_moves_by_state_and_upn per state, each cut at the page, merged by name: asked
    // for several states at once, the planner walks every user of the migration in name order and
    // tests its state, or sorts every user in those states.
    sql = absl::StrCat("SELECT u.record, u.source_upn FROM (SELECT DISTINCT unnest(", states,
                       "::INTEGER[]) AS state) s, LATERAL (SELECT record, source_upn FROM user_moves u "
                       "WHERE u.migration = ",
                       migration, " AND u.state = s.state AND u.source_upn > ", after_upn, geo,
                       " ORDER BY u.source_upn LIMIT ", limit, ") u");
  } else {
    sql = absl::StrCat("SELECT u.record, u.source_upn FROM user_moves u WHERE u.migration = ", migration,
                       " AND u.source_upn > ", after_upn, geo);
  }
  absl::StrAppend(&sql, " ORDER BY u.source_upn LIMIT ", limit);
  UserMovePage page;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    page = UserMovePage();
    ASSIGN_OR_RETURN(PgResult read, db.Exec(sql, params.list()));
    for (int row = 0; row < read.rows(); ++row) {
      if (row == page_size) {
        page.next_page_token = stored::PageToken(read.Text(row - 1, 1));
        break;
      }
      ASSIGN_OR_RETURN(UserMove move, stored::ParseRecord<UserMove>(read.Bytes(row, 0), "user move"));
      page.user_moves.push_back(std::move(move));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return page;
}

absl::StatusOr<std::map<crosstenant::v1::UserMoveState, int>> PostgresMigrationStore::CountUserMoves(
    absl::string_view migration) {
  std::map<crosstenant::v1::UserMoveState, int> counts;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    counts.clear();
    ASSIGN_OR_RETURN(
        PgResult read,
        db.Exec("SELECT state, SUM(count)::BIGINT FROM user_move_counts WHERE migration = $1 GROUP BY state "
                "HAVING SUM(count) > 0",
                {migration}));
    for (int row = 0; row < read.rows(); ++row) {
      counts[static_cast<crosstenant::v1::UserMoveState>(read.Int(row, 0))] = static_cast<int>(read.Int(row, 1));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return counts;
}

absl::StatusOr<std::vector<MigrationEvent>> PostgresMigrationStore::ListEvents(absl::string_view migration,
                                                                               int64_t after_sequence, int limit) {
  std::vector<MigrationEvent> events;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    events.clear();
    ASSIGN_OR_RETURN(PgResult read, db.Exec("SELECT record FROM events WHERE migration = $1 AND sequence > $2 "
                                            "ORDER BY sequence LIMIT $3",
                                            {migration, after_sequence, std::max(limit, 1)}));
    for (int row = 0; row < read.rows(); ++row) {
      ASSIGN_OR_RETURN(MigrationEvent event, stored::ParseRecord<MigrationEvent>(read.Bytes(row, 0), "event"));
      events.push_back(std::move(event));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return events;
}

absl::StatusOr<Leadership> PostgresMigrationStore::AcquireLeadership(absl::string_view holder, absl::Duration ttl) {
  const int64_t ttl_micros = absl::ToInt64Microseconds(ttl);
  Leadership leadership;
  const absl::Status status = Run(Mode::kTransaction, [&](PgConnection& db) -> absl::Status {
    leadership = Leadership();
    RETURN_IF_ERROR(db.Exec("INSERT INTO leadership (id, holder, term, expire_time) VALUES (1, '', 0, 'epoch') "
                            "ON CONFLICT (id) DO NOTHING")
                        .status());
    // FOR UPDATE: replicas asking at once take turns, and a takeover waits for changes still being
    // written under the current term (Apply holds the row FOR SHARE).
    ASSIGN_OR_RETURN(PgResult current,
                     db.Exec(absl::StrCat("SELECT holder, term, expire_time > clock_timestamp(), ", kExpireMicros,
                                          " FROM leadership WHERE id = 1 FOR UPDATE")));
    const std::string leader = current.Text(0, 0);
    const bool live = current.Bool(0, 2);
    if (live && leader != holder) {
      leadership.held = false;
      leadership.term = current.Int(0, 1);
      leadership.leader = leader;
      leadership.expire_time = current.IsNull(0, 3) ? absl::InfiniteFuture() : absl::FromUnixMicros(current.Int(0, 3));
      return absl::OkStatus();
    }
    // The holder renews its live lease under the same term; anyone takes a lapsed one under the next.
    ASSIGN_OR_RETURN(PgResult taken,
                     db.Exec(absl::StrCat("UPDATE leadership SET holder = $1, term = term + $2, "
                                          "expire_time = clock_timestamp() + $3::BIGINT * INTERVAL '1 microsecond' "
                                          "WHERE id = 1 RETURNING term, ",
                                          kExpireMicros),
                             {holder, live ? 0 : 1, ttl_micros}));
    leadership.held = true;
    leadership.term = taken.Int(0, 0);
    leadership.leader = std::string(holder);
    leadership.expire_time = taken.IsNull(0, 1) ? absl::InfiniteFuture() : absl::FromUnixMicros(taken.Int(0, 1));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return leadership;
}

absl::Status PostgresMigrationStore::ReleaseLeadership(absl::string_view holder) {
  return Run(Mode::kTransaction, [&](PgConnection& db) -> absl::Status {
    return db
        .Exec(
            "UPDATE leadership SET expire_time = clock_timestamp() "
            "WHERE id = 1 AND holder = $1 AND expire_time > clock_timestamp()",
            {holder})
        .status();
  });
}

absl::StatusOr<crosstenant::v1::AuditRecord> PostgresMigrationStore::AppendAuditRecord(
    crosstenant::v1::AuditRecord record) {
  if (!record.has_time()) stored::SetMicros(absl::ToUnixMicros(absl::Now()), record.mutable_time());
  const absl::Status status = Run(Mode::kPipelinedTransaction, [&](PgConnection& db) -> absl::Status {
    // Every replica's appender takes the lock before it reads the newest record, and holds it until
    // its own record is committed: the next one reads that record and chains after it.
    std::vector<absl::StatusOr<PgResult>> read =
        db.Pipeline({{std::string(kBegin)},
                     {"SELECT pg_advisory_xact_lock($1)", {kAuditLockKey}},
                     {"SELECT sequence, hash FROM audit_records ORDER BY sequence DESC LIMIT 1"}});
    for (const absl::StatusOr<PgResult>& result : read) RETURN_IF_ERROR(result.status());
    const PgResult& last = *read.back();
    const bool found = last.rows() > 0;
    record.set_sequence(found ? last.Int(0, 0) + 1 : 1);
    SealAuditRecord(found ? last.Text(0, 1) : std::string(kAuditGenesisHash), &record);
    return db
        .Exec(absl::StrCat("INSERT INTO audit_records (", stored::kAuditColumns,
                           ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"),
              {record.sequence(), stored::Micros(record.time()), record.service(), record.caller(), record.action(),
               record.target(), record.request_id(), record.trace_id(), record.outcome(), record.outcome_message(),
               record.previous_hash(), record.hash()})
        .status();
  });
  if (!status.ok()) return status;
  return record;
}

std::optional<MigrationStore::Traffic> PostgresMigrationStore::ServerTraffic() const {
  const PgTraffic traffic = PgTrafficSoFar();
  return Traffic{traffic.statements, traffic.round_trips};
}

void PostgresMigrationStore::ReleaseMemory() { pool_->CloseIdle(absl::Seconds(5)); }

absl::StatusOr<crosstenant::v1::ListAuditRecordsResponse> PostgresMigrationStore::ListAuditRecords(
    const crosstenant::v1::ListAuditRecordsRequest& request) {
  const int page_size = AuditPageSize(request.page_size());
  crosstenant::v1::ListAuditRecordsResponse response;
  const absl::Status status = Run(Mode::kRead, [&](PgConnection& db) -> absl::Status {
    response.Clear();
    // The newest record first, and no record past it: appenders commit in sequence order (under the
    // lock), so the page is a view of the trail as it was then, whatever is appended meanwhile.
    ASSIGN_OR_RETURN(PgResult last, db.Exec("SELECT COALESCE(MAX(sequence), 0) FROM audit_records"));
    response.set_last_sequence(last.Int(0, 0));
    Params params;
    std::string sql = absl::StrCat("SELECT ", stored::kAuditColumns, " FROM audit_records WHERE sequence > ",
                                   params.Add(std::max<int64_t>(request.after_sequence(), 0)),
                                   " AND sequence <= ", params.Add(response.last_sequence()));
    if (request.has_since()) absl::StrAppend(&sql, " AND time_us >= ", params.Add(stored::Micros(request.since())));
    if (request.has_until()) absl::StrAppend(&sql, " AND time_us < ", params.Add(stored::Micros(request.until())));
    if (!request.action().empty()) absl::StrAppend(&sql, " AND action = ", params.Add(request.action()));
    // strpos and left rather than LIKE, whose wildcards the caller's text may contain.
    if (!request.caller().empty()) absl::StrAppend(&sql, " AND strpos(caller, ", params.Add(request.caller()), ") > 0");
    if (!request.target().empty()) {
      const std::string target = params.Add(request.target());
      absl::StrAppend(&sql, " AND (target = ", target, " OR left(target, length(", target, ") + 1) = ", target,
                      " || '/')");
    }
    if (request.failures_only()) absl::StrAppend(&sql, " AND outcome <> 'OK'");
    absl::StrAppend(&sql, " ORDER BY sequence LIMIT ", params.Add(page_size + 1));
    ASSIGN_OR_RETURN(PgResult read, db.Exec(sql, params.list()));
    for (int row = 0; row < read.rows() && row < page_size; ++row) {
      crosstenant::v1::AuditRecord* record = response.add_records();
      record->set_sequence(read.Int(row, 0));
      stored::SetMicros(read.Int(row, 1), record->mutable_time());
      record->set_service(read.Text(row, 2));
      record->set_caller(read.Text(row, 3));
      record->set_action(read.Text(row, 4));
      record->set_target(read.Text(row, 5));
      record->set_request_id(read.Text(row, 6));
      record->set_trace_id(read.Text(row, 7));
      record->set_outcome(read.Text(row, 8));
      record->set_outcome_message(read.Text(row, 9));
      record->set_previous_hash(read.Text(row, 10));
      record->set_hash(read.Text(row, 11));
    }
    EndAuditPage(read.rows(), page_size, &response);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return response;
}

}  // namespace crosstenant::orchestrator
