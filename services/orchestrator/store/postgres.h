#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_POSTGRES_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_POSTGRES_H_

// A thin RAII layer over libpq that reports errors as absl::Status, so that the store reads as SQL and
// not as error plumbing. A PgConnection is not thread-safe: one thread uses it at a time, which
// PgConnectionPool arranges.
//
// Errors are mapped by SQLSTATE: serialization failure and deadlock (40001, 40P01) -> ABORTED; unique
// violation (23505) -> ALREADY_EXISTS; disk full, out of memory, program limit (53100, 53200, 54000)
// -> RESOURCE_EXHAUSTED; connection errors (class 08, or a connection that broke) -> UNAVAILABLE;
// anything else -> INTERNAL. Messages name what failed; they never contain the connection string or
// its password.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

struct pg_conn;
struct pg_result;

namespace crosstenant::orchestrator {

// One query parameter, sent as text (or as raw bytes for a bytea, or as NULL).
class PgParam {
 public:
  PgParam(absl::string_view text) : value_(text) {}             // NOLINT: implicit, so that calls read as SQL
  PgParam(const char* text) : value_(text) {}                   // NOLINT
  PgParam(const std::string& text) : value_(text) {}            // NOLINT
  PgParam(int64_t value);                                       // NOLINT
  PgParam(int value) : PgParam(static_cast<int64_t>(value)) {}  // NOLINT
  // Raw bytes for a bytea parameter (sent in binary, so any byte goes through unchanged).
  static PgParam Bytes(absl::string_view bytes);
  static PgParam Null();
  // A one-dimensional array in PostgreSQL's binary array format: the server takes its elements as they
  // are, where an array literal has each one parsed, unquoted and (for bytea) hex-decoded. The statement
  // must cast the parameter to the same type: $n::TEXT[], $n::BYTEA[], $n::BIGINT[] or $n::INTEGER[].
  static PgParam TextArray(absl::Span<const std::string> values);
  static PgParam ByteaArray(absl::Span<const std::string> values);
  static PgParam BigintArray(absl::Span<const int64_t> values);
  static PgParam IntegerArray(absl::Span<const int32_t> values);

  const std::string& value() const { return value_; }
  bool binary() const { return binary_; }
  bool null() const { return null_; }

 private:
  PgParam() = default;
  static PgParam Binary(std::string value);
  std::string value_;
  bool binary_ = false;
  bool null_ = false;
};

// The rows of one statement. Values are read as text (the server's text output).
class PgResult {
 public:
  PgResult(PgResult&& other) noexcept;
  PgResult& operator=(PgResult&& other) noexcept;
  ~PgResult();

  int rows() const;
  // Rows changed by an INSERT, UPDATE or DELETE.
  int64_t affected_rows() const;
  bool IsNull(int row, int column) const;
  std::string Text(int row, int column) const;
  int64_t Int(int row, int column) const;        // 0 for NULL
  bool Bool(int row, int column) const;          // PostgreSQL's 't'
  std::string Bytes(int row, int column) const;  // a bytea column, decoded

 private:
  friend class PgConnection;
  explicit PgResult(pg_result* result) : result_(result) {}
  pg_result* result_;
};

// One statement of a pipeline, with its $1, $2... parameters.
struct PgStatement {
  std::string sql;
  std::vector<PgParam> params = {};
  // Planned once per connection (a prepared statement) instead of on every call: for statements run
  // many times a second whose plan does not depend on their parameters' values. Each connection keeps
  // every prepared text, so `sql` must be one of a few texts, never one built from values.
  bool prepared = false;
};

// What this process's connections sent to the database, all together: statements, and round trips
// (waits for the server's answer). Their ratio is what pipelining saves.
struct PgTraffic {
  int64_t statements = 0;
  int64_t round_trips = 0;
};
PgTraffic PgTrafficSoFar();

class PgConnection {
 public:
  // Connects with a libpq connection string (key=value pairs or a postgresql:// URI). UNAVAILABLE if the
  // server cannot be reached or refuses the login; INVALID_ARGUMENT if the string is malformed.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const std::string& dsn);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // One statement with $1, $2... parameters.
  absl::StatusOr<PgResult> Exec(absl::string_view sql, const std::vector<PgParam>& params = {});
  // One or more statements without parameters or results.
  absl::Status Execute(absl::string_view sql);
  // Sends all `statements` at once (libpq's pipeline mode) and waits for their answers once: one round
  // trip instead of one per statement. One result per statement, in order. When one fails, the server
  // skips the rest: they come back ABORTED. A transaction the statements opened stays open.
  std::vector<absl::StatusOr<PgResult>> Pipeline(const std::vector<PgStatement>& statements);

  // BEGIN (READ COMMITTED) / COMMIT / ROLLBACK.
  absl::Status Begin();
  absl::Status Commit();
  void Rollback();

  // True once the connection is lost (the server went away, or terminated this session): it is of no
  // further use and must be replaced.
  bool broken() const;
  // Connected and outside any transaction: fit to be used again.
  bool idle() const;

 private:
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  absl::Status Error(pg_result* result, absl::string_view sql) const;
  pg_conn* conn_;
  std::vector<std::string> secrets_;  // the connection string and its password: never in a message
  absl::flat_hash_map<std::string, std::string> prepared_;  // statement text -> its name on this connection
  int64_t statements_prepared_ = 0;                         // names them: crosstenant_1, crosstenant_2...
};

// Up to `size` connections to one database, shared by threads. A connection that broke is closed when
// handed back, and a new one is opened in its place when needed (reconnect).
class PgConnectionPool {
 public:
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), connection_(std::move(other.connection_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PgConnection* operator->() const { return connection_.get(); }
    PgConnection& operator*() const { return *connection_; }

   private:
    friend class PgConnectionPool;
    Lease(PgConnectionPool* pool, std::unique_ptr<PgConnection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    PgConnectionPool* pool_;
    std::unique_ptr<PgConnection> connection_;
  };

  PgConnectionPool(std::string dsn, int size);
  ~PgConnectionPool();

  // Waits for an idle connection, or opens one while fewer than `size` are open. With `fresh`, never
  // hands out an idle one (which may have been broken by a server restart without knowing it yet).
  absl::StatusOr<Lease> Acquire(bool fresh = false);

  // Closes the connections idle for at least `idle_for`: libpq keeps each connection's buffers as large
  // as the largest statement it sent or result it read (hundreds of kilobytes after a migration's
  // batches) for as long as the connection lives. Returns how many it closed.
  int CloseIdle(absl::Duration idle_for);

 private:
  struct Idle {
    std::unique_ptr<PgConnection> connection;
    absl::Time since;
  };
  void Release(std::unique_ptr<PgConnection> connection);

  const std::string dsn_;
  const int size_;
  absl::Mutex mutex_;
  std::vector<Idle> idle_ ABSL_GUARDED_BY(mutex_);  // the most recently used last
  int open_ ABSL_GUARDED_BY(mutex_) = 0;            // idle and leased
  absl::CondVar released_;
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_POSTGRES_H_
