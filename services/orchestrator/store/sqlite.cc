#include "services/orchestrator/store/sqlite.h"

#include "absl/strings/str_cat.h"

namespace crosstenant::orchestrator {

absl::StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::Open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open the state database ", path, ": ", message));
  }
  std::unique_ptr<SqliteDatabase> database(new SqliteDatabase(db));
  sqlite3_busy_timeout(db, 10000);
  if (absl::Status status = database->Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                              "PRAGMA foreign_keys=ON;");
      !status.ok()) {
    return status;
  }
  return database;
}

SqliteDatabase::~SqliteDatabase() { sqlite3_close_v2(db_); }

absl::Status SqliteDatabase::Error(absl::string_view what) const {
  return absl::InternalError(absl::StrCat(what, ": ", sqlite3_errmsg(db_)));
}

absl::Status SqliteDatabase::Execute(absl::string_view sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    absl::Status status = absl::InternalError(absl::StrCat("SQL failed: ", message ? message : "unknown error"));
    sqlite3_free(message);
    return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<SqliteStatement> SqliteDatabase::Prepare(absl::string_view sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &statement, nullptr) != SQLITE_OK) {
    return Error(absl::StrCat("cannot prepare [", sql, "]"));
  }
  return SqliteStatement(this, statement);
}

absl::Status SqliteDatabase::Begin() { return Execute("BEGIN IMMEDIATE"); }
absl::Status SqliteDatabase::Commit() { return Execute("COMMIT"); }
void SqliteDatabase::Rollback() { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : db_(other.db_), statement_(other.statement_) {
  other.statement_ = nullptr;
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(statement_); }

SqliteStatement& SqliteStatement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(statement_, index, value);
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, absl::string_view text) {
  sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

SqliteStatement& SqliteStatement::BindBlob(int index, absl::string_view bytes) {
  sqlite3_bind_blob(statement_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}

absl::StatusOr<bool> SqliteStatement::Step() {
  const int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  if (rc == SQLITE_CONSTRAINT) {
    return absl::AlreadyExistsError(absl::StrCat("constraint violated: ", sqlite3_errmsg(db_->handle())));
  }
  return db_->Error("SQL step failed");
}

absl::Status SqliteStatement::Run() {
  absl::StatusOr<bool> row = Step();
  Reset();
  return row.status();
}

void SqliteStatement::Reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

int64_t SqliteStatement::ColumnInt(int index) const { return sqlite3_column_int64(statement_, index); }

std::string SqliteStatement::ColumnText(int index) const {
  const auto* text = sqlite3_column_text(statement_, index);
  return text ? std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(statement_, index)) : "";
}

std::string SqliteStatement::ColumnBlob(int index) const {
  const void* blob = sqlite3_column_blob(statement_, index);
  return blob ? std::string(static_cast<const char*>(blob), sqlite3_column_bytes(statement_, index)) : "";
}

}  // namespace crosstenant::orchestrator
