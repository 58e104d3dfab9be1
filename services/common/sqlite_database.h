#ifndef CROSSTENANT_SERVICES_COMMON_SQLITE_DATABASE_H_
#define CROSSTENANT_SERVICES_COMMON_SQLITE_DATABASE_H_

// A thin RAII layer over the SQLite C API that reports errors as absl::Status, so that a store reads
// as SQL and not as error plumbing (the orchestrator's store and the connector's state database). Not
// thread-safe: the owner serialises access (except MeasureSpace).
//
// Errors map to codes by what the caller can do about them:
//   SQLITE_FULL (the file reached its cap, or the disk is full)  RESOURCE_EXHAUSTED, with RetryInfo and a
//                                                                message naming the file and the remedy
//   SQLITE_BUSY, SQLITE_LOCKED (locked past the busy timeout)    UNAVAILABLE
//   SQLITE_CORRUPT, SQLITE_NOTADB                                DATA_LOSS
//   SQLITE_CONSTRAINT (from Step)                                ALREADY_EXISTS
//   anything else                                                INTERNAL
// A write that fails leaves nothing behind: a failed COMMIT is rolled back here, and callers roll back
// after any other failure inside a transaction (SQLite may already have rolled back on SQLITE_FULL; the
// ROLLBACK is then a harmless no-op).

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace crosstenant {

class SqliteStatement;
class StoreHealth;

class SqliteDatabase {
 public:
  struct Options {
    // The program that owns the file, and the setting that caps it (empty: none named): named in the
    // remedies of errors.
    std::string owner = "service";
    std::string max_size_setting;
    // Most bytes the file may hold, applied as PRAGMA max_page_count (whole pages, rounded down); 0: no
    // cap. A write that needs more fails RESOURCE_EXHAUSTED exactly as on a full disk; pages freed by
    // deletes are reused. The cap binds this connection's writes only: the orchestrator must be the
    // file's only writer (SQLite lets a connection read a file another one grew past its cap).
    int64_t max_size_bytes = 0;
    // How long a statement waits for another connection's lock before UNAVAILABLE.
    absl::Duration busy_timeout = absl::Seconds(10);
    // Told of every write refused or made, and given a probe of the room left; may be null. Must
    // outlive the database.
    StoreHealth* health = nullptr;
    // The SQLite VFS to open the file with (tests inject I/O faults with one); empty: the default.
    std::string vfs;
  };

  // Room in the file and on its disk.
  struct Space {
    int64_t page_size = 0;
    int64_t used_bytes = 0;             // pages in use (the file's pages minus its free list)
    int64_t file_bytes = 0;             // pages in the file, used or free
    int64_t limit_bytes = 0;            // the cap, 0 if none
    int64_t disk_available_bytes = -1;  // for unprivileged writers on the file's file system; -1 unknown
    // Room for writes: the cap (if any) leaves at least min(1 MiB, cap / 64) and the disk at least 4 MiB.
    bool HasRoom() const;
  };

  // Opens (creating if needed) the database file, in WAL mode with foreign keys on and a busy timeout,
  // so that a second process (or a crashed one's leftovers) is waited for instead of failing at once.
  static absl::StatusOr<std::unique_ptr<SqliteDatabase>> Open(const std::string& path, const Options& options);
  static absl::StatusOr<std::unique_ptr<SqliteDatabase>> Open(const std::string& path) { return Open(path, {}); }
  ~SqliteDatabase();

  // Runs one or more statements without results.
  absl::Status Execute(absl::string_view sql);
  // One statement. SQLite parses a text once per connection: a SqliteStatement that goes out of scope is
  // reset and kept, and the next Prepare of the same text gets it back.
  absl::StatusOr<SqliteStatement> Prepare(absl::string_view sql);

  // BEGIN IMMEDIATE / COMMIT / ROLLBACK. A COMMIT that fails rolls the transaction back.
  absl::Status Begin();
  absl::Status Commit();
  void Rollback();

  // The status for the connection's last error (`what` says what was being done).
  absl::Status Error(absl::string_view what) const;
  // The status for SQLite result code `rc`, with SQLite's `detail`.
  absl::Status StatusFor(int rc, absl::string_view what, absl::string_view detail) const;

  // Measures the room left, on a connection of its own: safe from any thread at any time.
  absl::StatusOr<Space> MeasureSpace();

  // Frees the pages SQLite caches for the connections (up to its default 2 MiB each), which a busy hour
  // fills and an idle service would otherwise keep; the next statements read them back from the file.
  // Serialised like any other call (MeasureSpace's connection is released under its own lock).
  void ReleaseMemory();

  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

 private:
  friend class SqliteStatement;
  SqliteDatabase(sqlite3* db, std::string path, const Options& options)
      : db_(db), path_(std::move(path)), options_(options) {}
  // Tell the health tracker (if any).
  void WriteFailed(const absl::Status& status) const;
  void WriteSucceeded() const;
  // Runs one statement without results through the kept statements (BEGIN, COMMIT).
  absl::Status RunKept(absl::string_view sql);
  // Takes back a statement its SqliteStatement is done with: reset and kept for its text, or finalized
  // when enough are kept.
  void Keep(sqlite3_stmt* statement);

  sqlite3* db_;
  const std::string path_;
  const Options options_;
  int64_t max_pages_ = 0;                                             // the cap in pages, 0 if none
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>> kept_;  // statements not in use, by text
  size_t kept_count_ = 0;

  absl::Mutex probe_mutex_;
  sqlite3* probe_db_ ABSL_GUARDED_BY(probe_mutex_) = nullptr;  // MeasureSpace's own connection
};

class SqliteStatement {
 public:
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&&) = delete;
  ~SqliteStatement();

  // Parameters are 1-based, as in SQLite.
  SqliteStatement& Bind(int index, int64_t value);
  SqliteStatement& Bind(int index, absl::string_view text);
  SqliteStatement& BindBlob(int index, absl::string_view bytes);

  // Advances to the next row: true if there is one, false when done.
  absl::StatusOr<bool> Step();
  // Runs a statement that returns no rows.
  absl::Status Run();
  void Reset();

  int64_t ColumnInt(int index) const;
  std::string ColumnText(int index) const;
  std::string ColumnBlob(int index) const;

 private:
  friend class SqliteDatabase;
  SqliteStatement(SqliteDatabase* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
  SqliteDatabase* db_;
  sqlite3_stmt* statement_;
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_SQLITE_DATABASE_H_
