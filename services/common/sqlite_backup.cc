#include "services/common/sqlite_backup.h"

#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace crosstenant {
namespace {

struct CloseDatabase {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
using Database = std::unique_ptr<sqlite3, CloseDatabase>;

absl::StatusOr<Database> OpenFile(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK) {
    return absl::InternalError(
        absl::StrCat("cannot open ", path, ": ", raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(db.get(), 1000);
  return db;
}

absl::Status CopyPages(sqlite3* source, sqlite3* copy, const std::string& database) {
  sqlite3_backup* backup = sqlite3_backup_init(copy, "main", source, "main");
  if (backup == nullptr)
    return absl::InternalError(absl::StrCat("cannot back up ", database, ": ", sqlite3_errmsg(copy)));
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  int rc = SQLITE_OK;
  // All pages in one step: the copy is one snapshot. A writer holding the lock only delays it.
  while ((rc = sqlite3_backup_step(backup, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    if (absl::Now() > give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  sqlite3_backup_finish(backup);
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    return absl::UnavailableError(absl::StrCat(database, " stayed locked for 30 s: try the backup again"));
  }
  if (rc != SQLITE_DONE) {
    return absl::InternalError(absl::StrCat("backing up ", database, " failed: ", sqlite3_errstr(rc)));
  }
  return absl::OkStatus();
}

absl::Status CheckIntegrity(sqlite3* copy, const std::string& path) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(copy, "PRAGMA integrity_check", -1, &statement, nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat("cannot check ", path, ": ", sqlite3_errmsg(copy)));
  }
  std::string verdict;
  if (sqlite3_step(statement) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(statement, 0);
    verdict = text ? reinterpret_cast<const char*>(text) : "";
  }
  sqlite3_finalize(statement);
  if (verdict != "ok")
    return absl::InternalError(absl::StrCat("the copy ", path, " fails its integrity check: ", verdict));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> BackupSqliteDatabase(const std::string& database, const std::string& to) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::is_regular_file(database, error)) {
    return absl::NotFoundError(absl::StrCat("no state database at ", database));
  }
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    if (fs::equivalent(database + suffix, to, error)) {
      return absl::InvalidArgumentError(absl::StrCat("--backup-to ", to, " is the database itself: name another file"));
    }
  }
  const std::string partial = to + ".partial";
  fs::remove(partial, error);
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<Database> source = OpenFile(database, SQLITE_OPEN_READONLY);
    if (!source.ok()) return source.status();
    absl::StatusOr<Database> copy = OpenFile(partial, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (!copy.ok()) return copy.status();
    if (absl::Status copied = CopyPages(source->get(), copy->get(), database); !copied.ok()) return copied;
    // A restored file opens on its own: no -wal beside it.
    if (sqlite3_exec(copy->get(), "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return absl::InternalError(absl::StrCat("cannot finish ", partial, ": ", sqlite3_errmsg(copy->get())));
    }
    return CheckIntegrity(copy->get(), partial);
  }();
  if (status.ok()) {
    fs::rename(partial, to, error);
    if (error) status = absl::InternalError(absl::StrCat("cannot rename ", partial, " to ", to, ": ", error.message()));
  }
  if (!status.ok()) {
    fs::remove(partial, error);
    return status;
  }
  const auto size = fs::file_size(to, error);
  return error ? int64_t{0} : static_cast<int64_t>(size);
}

}  // namespace crosstenant
