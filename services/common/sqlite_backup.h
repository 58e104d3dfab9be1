#ifndef CROSSTENANT_SERVICES_COMMON_SQLITE_BACKUP_H_
#define CROSSTENANT_SERVICES_COMMON_SQLITE_BACKUP_H_

// A consistent copy of a live SQLite database (SQLite's online backup API): safe while the service
// that owns the file keeps writing to it, WAL included, and never a half-written file at `to`.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace crosstenant {

// Copies `database` to `to`: written to `to`.partial, checked with PRAGMA integrity_check, then renamed
// over `to`. Returns the copy's size in bytes. NOT_FOUND if `database` does not exist;
// INVALID_ARGUMENT if `to` is the database itself or one of its -wal/-shm files; UNAVAILABLE if the
// database stayed locked for 30 s; INTERNAL, naming the file, for any other failure (and no `to` is left
// behind).
absl::StatusOr<int64_t> BackupSqliteDatabase(const std::string& database, const std::string& to);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_SQLITE_BACKUP_H_
