#include "services/common/sqlite_database.h"

#include <sys/statvfs.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/common/byte_size.h"
#include "services/common/errors.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/common/store_health.h"

namespace crosstenant {
namespace {

// What a client refused because the database is full is told to wait before trying again.
const absl::Duration kFullRetryAfter = absl::Seconds(2);
constexpr int64_t kDiskReserve = int64_t{4} << 20;

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// One integer from a PRAGMA on `db`.
absl::StatusOr<int64_t> PragmaInt(sqlite3* db, const char* sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat(sql, ": ", sqlite3_errmsg(db)));
  }
  const int rc = sqlite3_step(statement);
  const int64_t value = rc == SQLITE_ROW ? sqlite3_column_int64(statement, 0) : 0;
  std::string error = rc == SQLITE_ROW ? "" : sqlite3_errmsg(db);
  sqlite3_finalize(statement);
  if (rc != SQLITE_ROW) return absl::InternalError(absl::StrCat(sql, ": ", error));
  return value;
}

}  // namespace

bool SqliteDatabase::Space::HasRoom() const {
  if (limit_bytes > 0) {
    const int64_t reserve = std::min<int64_t>(int64_t{1} << 20, std::max<int64_t>(limit_bytes / 64, 4 * page_size));
    if (limit_bytes - used_bytes < reserve) return false;
  }
  return disk_available_bytes < 0 || disk_available_bytes >= kDiskReserve;
}

absl::StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::Open(const std::string& path, const Options& options) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                 options.vfs.empty() ? nullptr : options.vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open the state database ", path, ": ", message));
  }
  std::unique_ptr<SqliteDatabase> database(new SqliteDatabase(db, path, options));
  sqlite3_busy_timeout(db, static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
  if (absl::Status status = database->Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                              "PRAGMA foreign_keys=ON;");
      !status.ok()) {
    return status;
  }
  if (options.max_size_bytes > 0) {
    absl::StatusOr<int64_t> page_size = PragmaInt(db, "PRAGMA page_size");
    if (!page_size.ok()) return page_size.status();
    const int64_t pages = options.max_size_bytes / *page_size;
    if (pages < 1) {
      return absl::InvalidArgumentError(absl::StrCat("the state database cap ", FormatByteSize(options.max_size_bytes),
                                                     " is smaller than one page (", *page_size, " bytes)"));
    }
    absl::StatusOr<int64_t> applied = PragmaInt(db, absl::StrCat("PRAGMA max_page_count = ", pages).c_str());
    if (!applied.ok()) return applied.status();
    database->max_pages_ = pages;
    if (*applied > pages) {
      // SQLite never sets the cap below the file's size: the file is over it already.
      log::Warning(
          "the state database is already larger than its cap: writes that need a new page are refused "
          "until pages are freed, or the cap is raised",
          {{"database", path},
           {"size", FormatByteSize(*applied * *page_size)},
           {"cap", FormatByteSize(pages * *page_size)}});
    }
  }
  if (options.health != nullptr) {
    SqliteDatabase* measured = database.get();
    options.health->SetRoomProbe([measured]() -> absl::StatusOr<bool> {
      absl::StatusOr<Space> space = measured->MeasureSpace();
      if (!space.ok()) return space.status();
      return space->HasRoom();
    });
  }
  return database;
}

void SqliteDatabase::ReleaseMemory() {
  sqlite3_db_release_memory(db_);
  absl::MutexLock lock(&probe_mutex_);
  if (probe_db_ != nullptr) sqlite3_db_release_memory(probe_db_);
}

SqliteDatabase::~SqliteDatabase() {
  if (options_.health != nullptr) options_.health->SetRoomProbe(nullptr);
  {
    absl::MutexLock lock(&probe_mutex_);
    sqlite3_close_v2(probe_db_);
  }
  for (auto& [sql, statements] : kept_) {
    for (sqlite3_stmt* statement : statements) sqlite3_finalize(statement);
  }
  sqlite3_close_v2(db_);
}

absl::Status SqliteDatabase::StatusFor(int rc, absl::string_view what, absl::string_view detail) const {
  switch (rc & 0xff) {
    case SQLITE_FULL: {
      const std::string cap =
          max_pages_ > 0
              ? absl::StrCat(
                    "; the file is capped at ", FormatByteSize(options_.max_size_bytes),
                    options_.max_size_setting.empty() ? "" : absl::StrCat(" (", options_.max_size_setting, ")"))
              : "";
      const std::string remedy = max_pages_ > 0 ? absl::StrCat("Raise the cap and restart the ", options_.owner,
                                                               " (or free space on its disk, if that is what filled)")
                                                : "Free space on its disk";
      return ResourceExhaustedWithRetry(
          absl::StrCat("the state database ", path_, " is full and refuses writes (SQLite: ", detail, cap,
                       "): nothing of this change was stored. ", remedy,
                       "; work resumes by itself once writes fit again"),
          kFullRetryAfter);
    }
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(absl::StrCat("the state database ", path_, " is locked by another connection (",
                                                 what, ": ", detail, "): try again"));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(absl::StrCat("the state database ", path_, " is corrupt (", what, ": ", detail,
                                              "): stop the ", options_.owner, " and restore the file from a backup"));
    default:
      return absl::InternalError(
          absl::StrCat(what, ": ", detail, " (", sqlite3_errstr(rc), ", state database ", path_, ")"));
  }
}

absl::Status SqliteDatabase::Error(absl::string_view what) const {
  return StatusFor(sqlite3_extended_errcode(db_), what, sqlite3_errmsg(db_));
}

void SqliteDatabase::WriteFailed(const absl::Status& status) const {
  if (options_.health != nullptr) options_.health->WriteFailed(status);
}

void SqliteDatabase::WriteSucceeded() const {
  if (options_.health != nullptr) options_.health->WriteSucceeded();
}

absl::Status SqliteDatabase::Execute(absl::string_view sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    absl::Status status = StatusFor(rc, "SQL failed", message ? message : sqlite3_errstr(rc));
    sqlite3_free(message);
    WriteFailed(status);
    return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<SqliteStatement> SqliteDatabase::Prepare(absl::string_view sql) {
  if (auto it = kept_.find(std::string(sql)); it != kept_.end() && !it->second.empty()) {
    sqlite3_stmt* statement = it->second.back();
    it->second.pop_back();
    if (it->second.empty()) kept_.erase(it);
    --kept_count_;
    return SqliteStatement(this, statement);
  }
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &statement,
                         nullptr) != SQLITE_OK) {
    return Error(absl::StrCat("cannot prepare [", sql, "]"));
  }
  return SqliteStatement(this, statement);
}

void SqliteDatabase::Keep(sqlite3_stmt* statement) {
  // Enough for every text a store uses, with a few of each in use at once; a text built with values in
  // it would otherwise fill the map.
  constexpr size_t kMostKept = 256;
  const char* sql = sqlite3_sql(statement);
  if (kept_count_ >= kMostKept || sql == nullptr) {
    sqlite3_finalize(statement);
    return;
  }
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  kept_[sql].push_back(statement);
  ++kept_count_;
}

absl::Status SqliteDatabase::RunKept(absl::string_view sql) {
  ASSIGN_OR_RETURN(SqliteStatement statement, Prepare(sql));
  const int rc = sqlite3_step(statement.statement_);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return absl::OkStatus();
  absl::Status status = StatusFor(rc, "SQL failed", sqlite3_errmsg(db_));
  WriteFailed(status);
  return status;
}

absl::Status SqliteDatabase::Begin() { return RunKept("BEGIN IMMEDIATE"); }

absl::Status SqliteDatabase::Commit() {
  absl::Status status = RunKept("COMMIT");
  if (!status.ok()) {
    // A COMMIT refused for want of space (or by an I/O error) may leave the transaction open, or SQLite
    // may have rolled it back already. Either way none of it is kept, and the connection must be out of
    // the transaction for the next BEGIN.
    if (!sqlite3_get_autocommit(db_)) Rollback();
    return status;
  }
  WriteSucceeded();
  return absl::OkStatus();
}

void SqliteDatabase::Rollback() { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

absl::StatusOr<SqliteDatabase::Space> SqliteDatabase::MeasureSpace() {
  absl::MutexLock lock(&probe_mutex_);
  if (probe_db_ == nullptr) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                                   options_.vfs.empty() ? nullptr : options_.vfs.c_str());
    if (rc != SQLITE_OK) {
      std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
      sqlite3_close(db);
      return absl::UnavailableError(absl::StrCat("cannot open ", path_, " to measure it: ", message));
    }
    sqlite3_busy_timeout(db, 1000);
    probe_db_ = db;
  }
  Space space;
  absl::StatusOr<int64_t> page_size = PragmaInt(probe_db_, "PRAGMA page_size");
  absl::StatusOr<int64_t> pages = PragmaInt(probe_db_, "PRAGMA page_count");
  absl::StatusOr<int64_t> free_pages = PragmaInt(probe_db_, "PRAGMA freelist_count");
  for (const auto* value : {&page_size, &pages, &free_pages}) {
    if (!value->ok()) return value->status();
  }
  space.page_size = *page_size;
  space.file_bytes = *pages * *page_size;
  space.used_bytes = (*pages - *free_pages) * *page_size;
  space.limit_bytes = max_pages_ * *page_size;
  struct statvfs disk;
  if (statvfs(DirectoryOf(path_).c_str(), &disk) == 0) {
    space.disk_available_bytes = static_cast<int64_t>(disk.f_bavail) * static_cast<int64_t>(disk.f_frsize);
  }
  return space;
}

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept : db_(other.db_), statement_(other.statement_) {
  other.statement_ = nullptr;
}

SqliteStatement::~SqliteStatement() {
  if (statement_ != nullptr) db_->Keep(statement_);
}

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
  const bool writes = !sqlite3_stmt_readonly(statement_);
  if (rc == SQLITE_DONE) {
    // A write outside a transaction committed by itself.
    if (writes && sqlite3_get_autocommit(db_->handle())) db_->WriteSucceeded();
    return false;
  }
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    return absl::AlreadyExistsError(absl::StrCat("constraint violated: ", sqlite3_errmsg(db_->handle())));
  }
  absl::Status status = db_->StatusFor(rc, "SQL step failed", sqlite3_errmsg(db_->handle()));
  if (writes) db_->WriteFailed(status);
  return status;
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

}  // namespace crosstenant
