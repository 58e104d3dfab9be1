#include "services/tenant_connector/core/store.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/atomic_file.h"
#include "services/common/sqlite_audit_table.h"
#include "services/common/status_macros.h"
#include "services/tenant_connector/core/crypto.h"

namespace crosstenant::tenant_connector {
namespace {

// A state database written before the audit table was shared with the orchestrator's store named the
// time column `time_micros` and its triggers otherwise; renamed in place (the triggers come back under
// the shared names).
absl::Status UpgradeAuditTable(SqliteDatabase& db) {
  ASSIGN_OR_RETURN(SqliteStatement column,
                   db.Prepare("SELECT 1 FROM pragma_table_info('audit_records') WHERE name = 'time_micros'"));
  ASSIGN_OR_RETURN(bool old_layout, column.Step());
  if (!old_layout) return absl::OkStatus();
  return db.Execute(
      "DROP TRIGGER IF EXISTS audit_records_no_update; DROP TRIGGER IF EXISTS audit_records_no_delete; "
      "ALTER TABLE audit_records RENAME COLUMN time_micros TO time_us;");
}

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
  SqliteDatabase::Options options;
  options.owner = "tenant-connector";
  options.busy_timeout = absl::Seconds(5);
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteDatabase> db, SqliteDatabase::Open(path, options));
  if (!in_memory) chmod(path.c_str(), 0600);
  // A file written by a newer release may hold what this one cannot read: refused, never rewritten.
  ASSIGN_OR_RETURN(SqliteStatement read_version, db->Prepare("PRAGMA user_version"));
  ASSIGN_OR_RETURN(bool has_version, read_version.Step());
  const int64_t version = has_version ? read_version.ColumnInt(0) : 0;
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("the state database ", path, " has schema version ", version,
                                                      ", newer than this tenant-connector's ", kSchemaVersion,
                                                      ": run the newer tenant-connector, or restore a backup"));
  }
  absl::Status initialised = db->Execute(
      "CREATE TABLE IF NOT EXISTS connections ("
      "  name TEXT PRIMARY KEY,"
      "  connection BLOB NOT NULL,"
      "  sealed_credential BLOB NOT NULL,"
      "  update_time INTEGER NOT NULL);");
  if (initialised.ok()) {
    // The answer's order of arrival is its rowid: the oldest are forgotten first.
    initialised = db->Execute(
        "CREATE TABLE IF NOT EXISTS answered_requests ("
        "  request_id TEXT NOT NULL UNIQUE,"
        "  method TEXT NOT NULL,"
        "  fingerprint BLOB NOT NULL,"
        "  answer_time_us INTEGER NOT NULL,"
        "  response BLOB NOT NULL);");
  }
  if (initialised.ok()) initialised = UpgradeAuditTable(*db);
  if (initialised.ok()) initialised = CreateSqliteAuditTable(*db);
  if (initialised.ok()) initialised = db->Execute(absl::StrCat("PRAGMA user_version = ", kSchemaVersion));
  if (!initialised.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot initialise ", path, ": ", initialised.message()));
  }
  return std::unique_ptr<ConnectionStore>(new ConnectionStore(std::move(db)));
}

ConnectionStore::~ConnectionStore() = default;

absl::Status ConnectionStore::Put(const StoredConnection& row) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqliteStatement insert,
                   db_->Prepare("INSERT INTO connections(name, connection, sealed_credential, update_time) "
                                "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(name) DO UPDATE SET "
                                "connection=excluded.connection, sealed_credential=excluded.sealed_credential, "
                                "update_time=excluded.update_time"));
  return insert.Bind(1, row.name)
      .BindBlob(2, row.connection)
      .BindBlob(3, row.sealed_credential)
      .Bind(4, absl::ToUnixSeconds(absl::Now()))
      .Run();
}

absl::Status ConnectionStore::Delete(const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqliteStatement remove, db_->Prepare("DELETE FROM connections WHERE name = ?1"));
  return remove.Bind(1, name).Run();
}

absl::StatusOr<std::vector<StoredConnection>> ConnectionStore::LoadAll() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqliteStatement select,
                   db_->Prepare("SELECT name, connection, sealed_credential FROM connections ORDER BY name"));
  std::vector<StoredConnection> rows;
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    rows.push_back({select.ColumnText(0), select.ColumnBlob(1), select.ColumnBlob(2)});
  }
  return rows;
}

absl::StatusOr<int> ConnectionStore::CountSealed() {
  ASSIGN_OR_RETURN(std::vector<StoredConnection> rows, LoadAll());
  return static_cast<int>(rows.size());
}

absl::StatusOr<v1::AuditRecord> ConnectionStore::AppendAudit(v1::AuditRecord record) {
  absl::MutexLock lock(&mu_);
  return AppendSqliteAuditRecord(*db_, std::move(record));
}

absl::StatusOr<v1::ListAuditRecordsResponse> ConnectionStore::ListAudit(const v1::ListAuditRecordsRequest& request) {
  absl::MutexLock lock(&mu_);
  return ListSqliteAuditRecords(*db_, request);
}

absl::StatusOr<std::optional<AnswerStore::Answer>> ConnectionStore::FindAnswer(absl::string_view request_id) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqliteStatement select,
                   db_->Prepare("SELECT method, fingerprint, answer_time_us, response FROM answered_requests "
                                "WHERE request_id = ?1"));
  select.Bind(1, request_id);
  ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return std::nullopt;
  return Answer{select.ColumnText(0), select.ColumnBlob(1), select.ColumnBlob(3),
                absl::FromUnixMicros(select.ColumnInt(2))};
}

absl::Status ConnectionStore::KeepAnswer(absl::string_view request_id, const Answer& answer, absl::Time forget_before,
                                         size_t capacity) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(
      SqliteStatement insert,
      db_->Prepare("INSERT OR REPLACE INTO answered_requests "
                   "(request_id, method, fingerprint, answer_time_us, response) VALUES (?1, ?2, ?3, ?4, ?5)"));
  RETURN_IF_ERROR(insert.Bind(1, request_id)
                      .Bind(2, answer.method)
                      .BindBlob(3, answer.fingerprint)
                      .Bind(4, absl::ToUnixMicros(answer.answered))
                      .BindBlob(5, answer.response)
                      .Run());
  if (++answers_kept_ % 1000 != 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(SqliteStatement forget, db_->Prepare("DELETE FROM answered_requests WHERE answer_time_us < ?1 "
                                                        "OR rowid <= (SELECT MAX(rowid) FROM answered_requests) - ?2"));
  return forget.Bind(1, absl::ToUnixMicros(forget_before)).Bind(2, static_cast<int64_t>(capacity)).Run();
}

void ConnectionStore::ReleaseMemory() {
  absl::MutexLock lock(&mu_);
  db_->ReleaseMemory();
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
