#include "services/tenant_connector/core/store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/common/atomic_file.h"
#include "services/common/audit_chain.h"
#include "services/common/proto_time.h"
#include "services/tenant_connector/core/crypto.h"

namespace crosstenant::tenant_connector {
namespace {

absl::Status SqlError(sqlite3* db, absl::string_view what) {
  return absl::InternalError(absl::StrCat("state database: ", what, ": ", sqlite3_errmsg(db)));
}

struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

}  // namespace

std::string ConnectionStore::DatabasePath(const std::string& state_dir) {
  return absl::StrCat(state_dir, "/tenant-connector.db");
}

absl::StatusOr<std::unique_ptr<ConnectionStore>> ConnectionStore::Open(const std::string& state_dir) {
  if (mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create state directory ", state_dir, ": ", strerror(errno)));
  }
  return OpenPath(DatabasePath(state_dir), /*in_memory=*/false);
}

absl::StatusOr<std::unique_ptr<ConnectionStore>> ConnectionStore::OpenInMemory() {
  return OpenPath(":memory:", /*in_memory=*/true);
}

absl::StatusOr<std::unique_ptr<ConnectionStore>> ConnectionStore::OpenPath(const std::string& path, bool in_memory) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    absl::Status status = absl::FailedPreconditionError(absl::StrCat("cannot open ", path, ": ", sqlite3_errmsg(db)));
    sqlite3_close(db);
    return status;
  }
  if (!in_memory) chmod(path.c_str(), 0600);
  char* error = nullptr;
  // The audit triggers are created again at every start: a trigger dropped by hand comes back, and
  // what was changed meanwhile is found by the hash chain (`migratectl audit verify`).
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS connections ("
      "  name TEXT PRIMARY KEY,"
      "  connection BLOB NOT NULL,"
      "  sealed_credential BLOB NOT NULL,"
      "  update_time INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS audit_records ("
      "  sequence INTEGER PRIMARY KEY,"
      "  time_micros INTEGER NOT NULL,"
      "  service TEXT NOT NULL,"
      "  caller TEXT NOT NULL,"
      "  action TEXT NOT NULL,"
      "  target TEXT NOT NULL,"
      "  request_id TEXT NOT NULL,"
      "  trace_id TEXT NOT NULL,"
      "  outcome TEXT NOT NULL,"
      "  outcome_message TEXT NOT NULL,"
      "  previous_hash TEXT NOT NULL,"
      "  hash TEXT NOT NULL);"
      "CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records "
      "  BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: records cannot be changed'); END;"
      "CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records "
      "  BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: records cannot be deleted'); END;";
  if (sqlite3_exec(db, schema, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown";
    sqlite3_free(error);
    sqlite3_close(db);
    return absl::FailedPreconditionError(absl::StrCat("cannot initialise ", path, ": ", message));
  }
  sqlite3_busy_timeout(db, 5000);
  return std::unique_ptr<ConnectionStore>(new ConnectionStore(db));
}

ConnectionStore::~ConnectionStore() { sqlite3_close(db_); }

absl::Status ConnectionStore::Put(const StoredConnection& row) {
  absl::MutexLock lock(&mu_);
  Statement s;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO connections(name, connection, sealed_credential, update_time) VALUES(?,?,?,?) "
                         "ON CONFLICT(name) DO UPDATE SET connection=excluded.connection, "
                         "sealed_credential=excluded.sealed_credential, update_time=excluded.update_time",
                         -1, &s.stmt, nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare insert");
  }
  sqlite3_bind_text(s.stmt, 1, row.name.data(), static_cast<int>(row.name.size()), SQLITE_TRANSIENT);
  sqlite3_bind_blob(s.stmt, 2, row.connection.data(), static_cast<int>(row.connection.size()), SQLITE_TRANSIENT);
  sqlite3_bind_blob(s.stmt, 3, row.sealed_credential.data(), static_cast<int>(row.sealed_credential.size()),
                    SQLITE_TRANSIENT);
  sqlite3_bind_int64(s.stmt, 4, absl::ToUnixSeconds(absl::Now()));
  if (sqlite3_step(s.stmt) != SQLITE_DONE) return SqlError(db_, "insert");
  return absl::OkStatus();
}

absl::Status ConnectionStore::Delete(const std::string& name) {
  absl::MutexLock lock(&mu_);
  Statement s;
  if (sqlite3_prepare_v2(db_, "DELETE FROM connections WHERE name = ?", -1, &s.stmt, nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare delete");
  }
  sqlite3_bind_text(s.stmt, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(s.stmt) != SQLITE_DONE) return SqlError(db_, "delete");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredConnection>> ConnectionStore::LoadAll() {
  absl::MutexLock lock(&mu_);
  Statement s;
  if (sqlite3_prepare_v2(db_, "SELECT name, connection, sealed_credential FROM connections ORDER BY name", -1, &s.stmt,
                         nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare select");
  }
  std::vector<StoredConnection> rows;
  int rc;
  while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
    StoredConnection row;
    row.name.assign(reinterpret_cast<const char*>(sqlite3_column_text(s.stmt, 0)),
                    static_cast<size_t>(sqlite3_column_bytes(s.stmt, 0)));
    row.connection.assign(static_cast<const char*>(sqlite3_column_blob(s.stmt, 1)),
                          static_cast<size_t>(sqlite3_column_bytes(s.stmt, 1)));
    row.sealed_credential.assign(static_cast<const char*>(sqlite3_column_blob(s.stmt, 2)),
                                 static_cast<size_t>(sqlite3_column_bytes(s.stmt, 2)));
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "select");
  return rows;
}

absl::StatusOr<int> ConnectionStore::CountSealed() {
  absl::StatusOr<std::vector<StoredConnection>> rows = LoadAll();
  if (!rows.ok()) return rows.status();
  return static_cast<int>(rows->size());
}

namespace {

constexpr char kAuditColumns[] =
    "sequence, time_micros, service, caller, action, target, request_id, trace_id, outcome, outcome_message, "
    "previous_hash, hash";

std::string ColumnText(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text == nullptr ? std::string()
                         : std::string(reinterpret_cast<const char*>(text),
                                       static_cast<size_t>(sqlite3_column_bytes(stmt, column)));
}

v1::AuditRecord AuditRecordOfRow(sqlite3_stmt* stmt) {
  v1::AuditRecord record;
  record.set_sequence(sqlite3_column_int64(stmt, 0));
  SetTimestamp(absl::FromUnixMicros(sqlite3_column_int64(stmt, 1)), record.mutable_time());
  record.set_service(ColumnText(stmt, 2));
  record.set_caller(ColumnText(stmt, 3));
  record.set_action(ColumnText(stmt, 4));
  record.set_target(ColumnText(stmt, 5));
  record.set_request_id(ColumnText(stmt, 6));
  record.set_trace_id(ColumnText(stmt, 7));
  record.set_outcome(ColumnText(stmt, 8));
  record.set_outcome_message(ColumnText(stmt, 9));
  record.set_previous_hash(ColumnText(stmt, 10));
  record.set_hash(ColumnText(stmt, 11));
  return record;
}

void BindText(sqlite3_stmt* stmt, int index, absl::string_view text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

}  // namespace

absl::StatusOr<v1::AuditRecord> ConnectionStore::AppendAudit(v1::AuditRecord record) {
  absl::MutexLock lock(&mu_);
  // IMMEDIATE: the last hash is read under the write lock, so no other writer of the file (a second
  // process by mistake) can chain a record to the same one.
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqlError(db_, "begin audit append");
  }
  auto append = [&]() -> absl::Status {
    int64_t last_sequence = 0;
    std::string last_hash(kAuditGenesisHash);
    {
      Statement s;
      if (sqlite3_prepare_v2(db_, "SELECT sequence, hash FROM audit_records ORDER BY sequence DESC LIMIT 1", -1,
                             &s.stmt, nullptr) != SQLITE_OK) {
        return SqlError(db_, "prepare audit last");
      }
      const int rc = sqlite3_step(s.stmt);
      if (rc == SQLITE_ROW) {
        last_sequence = sqlite3_column_int64(s.stmt, 0);
        last_hash = ColumnText(s.stmt, 1);
      } else if (rc != SQLITE_DONE) {
        return SqlError(db_, "audit last");
      }
    }
    record.set_sequence(last_sequence + 1);
    SealAuditRecord(last_hash, &record);
    Statement s;
    if (sqlite3_prepare_v2(
            db_, absl::StrCat("INSERT INTO audit_records(", kAuditColumns, ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?)").c_str(),
            -1, &s.stmt, nullptr) != SQLITE_OK) {
      return SqlError(db_, "prepare audit insert");
    }
    sqlite3_bind_int64(s.stmt, 1, record.sequence());
    sqlite3_bind_int64(s.stmt, 2, absl::ToUnixMicros(TimeOf(record.time())));
    int index = 3;
    for (const std::string* field :
         {&record.service(), &record.caller(), &record.action(), &record.target(), &record.request_id(),
          &record.trace_id(), &record.outcome(), &record.outcome_message(), &record.previous_hash(), &record.hash()}) {
      BindText(s.stmt, index++, *field);
    }
    if (sqlite3_step(s.stmt) != SQLITE_DONE) return SqlError(db_, "audit insert");
    return absl::OkStatus();
  };
  absl::Status appended = append();
  if (appended.ok() && sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    appended = SqlError(db_, "commit audit append");
  }
  if (!appended.ok()) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return appended;
  }
  return record;
}

absl::StatusOr<v1::ListAuditRecordsResponse> ConnectionStore::ListAudit(const v1::ListAuditRecordsRequest& request) {
  constexpr int kDefaultPageSize = 1000;
  constexpr int kMaxPageSize = 10000;
  const int page_size = request.page_size() <= 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  std::string sql = absl::StrCat("SELECT ", kAuditColumns, " FROM audit_records WHERE sequence > ?1");
  if (request.has_since()) absl::StrAppend(&sql, " AND time_micros >= ?2");
  if (request.has_until()) absl::StrAppend(&sql, " AND time_micros < ?3");
  if (!request.action().empty()) absl::StrAppend(&sql, " AND action = ?4");
  if (!request.caller().empty()) absl::StrAppend(&sql, " AND instr(caller, ?5) > 0");
  // The resource itself or anything under it; no LIKE, whose wildcards a name could contain.
  if (!request.target().empty())
    absl::StrAppend(&sql, " AND (target = ?6 OR substr(target, 1, length(?6) + 1) = ?6 || '/')");
  if (request.failures_only()) absl::StrAppend(&sql, " AND outcome != 'OK'");
  absl::StrAppend(&sql, " ORDER BY sequence LIMIT ?7");

  absl::MutexLock lock(&mu_);
  v1::ListAuditRecordsResponse response;
  {
    Statement s;
    if (sqlite3_prepare_v2(db_, "SELECT COALESCE(MAX(sequence), 0) FROM audit_records", -1, &s.stmt, nullptr) !=
            SQLITE_OK ||
        sqlite3_step(s.stmt) != SQLITE_ROW) {
      return SqlError(db_, "audit last sequence");
    }
    response.set_last_sequence(sqlite3_column_int64(s.stmt, 0));
  }
  Statement s;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s.stmt, nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare audit list");
  }
  sqlite3_bind_int64(s.stmt, 1, request.after_sequence());
  if (request.has_since()) sqlite3_bind_int64(s.stmt, 2, absl::ToUnixMicros(TimeOf(request.since())));
  if (request.has_until()) sqlite3_bind_int64(s.stmt, 3, absl::ToUnixMicros(TimeOf(request.until())));
  if (!request.action().empty()) BindText(s.stmt, 4, request.action());
  if (!request.caller().empty()) BindText(s.stmt, 5, request.caller());
  if (!request.target().empty()) BindText(s.stmt, 6, request.target());
  // One more than a page: whether another page follows.
  sqlite3_bind_int64(s.stmt, 7, page_size + 1);
  int rc;
  int rows = 0;
  while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
    if (++rows > page_size) {
      response.set_next_after_sequence(response.records(page_size - 1).sequence());
      break;
    }
    *response.add_records() = AuditRecordOfRow(s.stmt);
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(db_, "audit list");
  return response;
}

absl::StatusOr<std::string> LoadSealKey(const std::string& path, bool sealed_secrets_exist) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string content = buffer.str();
    std::string trimmed(absl::StripAsciiWhitespace(content));
    if (trimmed.size() == 64) {
      std::string raw = absl::HexStringToBytes(trimmed);
      if (raw.size() == 32 && HexLower(raw) == absl::AsciiStrToLower(trimmed)) return raw;
    }
    if (content.size() == 32) return content;
    return absl::FailedPreconditionError(
        absl::StrCat("seal key file ", path,
                     " must hold 32 random bytes or 64 hex digits (e.g. `openssl rand -hex 32 > ", path, "`)"));
  }
  if (sealed_secrets_exist) {
    return absl::FailedPreconditionError(absl::StrCat(
        "seal key file ", path,
        " is missing but the state database holds sealed credentials; restore the key file (or remove the state "
        "directory to start without connections)"));
  }
  std::string key = RandomBytes(32);
  if (absl::Status written = WriteFileAtomically(path, HexLower(key) + "\n"); !written.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot create seal key file ", path, ": ", written.message()));
  }
  chmod(path.c_str(), 0600);
  return key;
}

}  // namespace crosstenant::tenant_connector
