#include "services/tenant_connector/core/store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/common/atomic_file.h"
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
  std::string path = DatabasePath(state_dir);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    absl::Status status = absl::FailedPreconditionError(absl::StrCat("cannot open ", path, ": ", sqlite3_errmsg(db)));
    sqlite3_close(db);
    return status;
  }
  chmod(path.c_str(), 0600);
  char* error = nullptr;
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS connections ("
      "  name TEXT PRIMARY KEY,"
      "  connection BLOB NOT NULL,"
      "  sealed_credential BLOB NOT NULL,"
      "  update_time INTEGER NOT NULL);";
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
