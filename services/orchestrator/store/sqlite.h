#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_SQLITE_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_SQLITE_H_

// A thin RAII layer over the SQLite C API that reports errors as absl::Status, so that the store reads
// as SQL and not as error plumbing. Not thread-safe: the owner serialises access.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace crosstenant::orchestrator {

class SqliteStatement;

class SqliteDatabase {
 public:
  // Opens (creating if needed) the database file, in WAL mode with foreign keys on and a busy timeout,
  // so that a second process (or a crashed one's leftovers) is waited for instead of failing at once.
  static absl::StatusOr<std::unique_ptr<SqliteDatabase>> Open(const std::string& path);
  ~SqliteDatabase();

  // Runs one or more statements without results.
  absl::Status Execute(absl::string_view sql);
  absl::StatusOr<SqliteStatement> Prepare(absl::string_view sql);

  // BEGIN IMMEDIATE / COMMIT / ROLLBACK.
  absl::Status Begin();
  absl::Status Commit();
  void Rollback();

  absl::Status Error(absl::string_view what) const;
  sqlite3* handle() const { return db_; }

 private:
  explicit SqliteDatabase(sqlite3* db) : db_(db) {}
  sqlite3* db_;
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
  SqliteStatement(const SqliteDatabase* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
  const SqliteDatabase* db_;
  sqlite3_stmt* statement_;
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_SQLITE_H_
