#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_POSTGRES_MIGRATION_STORE_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_POSTGRES_MIGRATION_STORE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "services/orchestrator/store/migration_store.h"
#include "services/orchestrator/store/postgres.h"
#include "services/common/store_health.h"

namespace crosstenant::orchestrator {

struct PostgresMigrationStoreOptions {
  // Connections kept to the database; the orchestrator's threads share them.
  int pool_size = 4;
  // Told of every write (a transaction) that committed and of every one the database refused
  // (RESOURCE_EXHAUSTED: disk full, out of memory, a server limit; UNAVAILABLE: the server unreachable,
  // shutting down, or a read-only standby; INTERNAL, DATA_LOSS), so that the state database's health
  // metrics and alerts work as on SQLite. An episode of "full" ends when an event can be written again
  // (the store installs a room probe: one event inserted and rolled back), not at the next write that
  // commits: a lease renewal updates a row in place and commits on a full disk. Not owned; may be null.
  StoreHealth* health = nullptr;
};

// MigrationStore on a PostgreSQL database, shared by several orchestrator replicas. Same semantics as
// SqliteMigrationStore; what differs is only how they are enforced across processes: tasks are leased
// with SELECT ... FOR UPDATE SKIP LOCKED, migration records carry a revision for the etag, and the
// leadership lease lives in one row, timed by the database's clock.
//
// The schema is versioned: Open() applies, in order and each in its own transaction, every schema
// migration the database has not seen yet, under a transaction-level advisory lock (so that replicas
// starting together on an empty database take turns), and refuses a database written by a newer
// version of the orchestrator. A connection that breaks (the server restarted, the network failed) is
// replaced: a statement that failed before its transaction's COMMIT was sent is run again once on a
// new connection; a COMMIT whose answer was lost fails with UNAVAILABLE.
class PostgresMigrationStore : public MigrationStore {
 public:
  using Options = PostgresMigrationStoreOptions;

  // The schema version this build writes.
  static constexpr int kSchemaVersion = 8;

  // `dsn`: a libpq connection string (`host=... dbname=... user=...` or `postgresql://...`). It is never
  // repeated in errors or logs, as it may hold a password.
  static absl::StatusOr<std::unique_ptr<PostgresMigrationStore>> Open(const std::string& dsn,
                                                                      Options options = Options());
  ~PostgresMigrationStore() override;

  // The schema version of the database (kSchemaVersion once Open succeeded).
  absl::StatusOr<int> SchemaVersion();

  using MigrationStore::CreateMigration;

  absl::Status CreateMigration(const crosstenant::v1::Migration& migration,
                               const std::vector<crosstenant::v1::UserMove>& user_moves,
                               const std::vector<crosstenant::v1::MigrationEvent>& events,
                               const std::optional<RequestRecord>& request,
                               absl::string_view identity_map_csv) override;
  absl::StatusOr<std::string> GetIdentityMap(absl::string_view migration) override;
  absl::Status CreateIdentityMapUpload(absl::string_view name, absl::Time create_time) override;
  absl::Status AppendStagedRows(absl::string_view upload, const std::vector<StagedIdentityMapRow>& rows) override;
  absl::StatusOr<std::map<std::string, int>> FindStagedKeys(absl::string_view upload, bool target,
                                                            const std::vector<std::string>& keys) override;
  absl::StatusOr<std::vector<StagedIdentityMapRow>> ListStagedRows(absl::string_view upload, StagedRows which,
                                                                   int after_line, int limit) override;
  absl::Status CompleteIdentityMapUpload(absl::string_view upload,
                                         const crosstenant::v1::IdentityMapSummary& summary) override;
  absl::StatusOr<IdentityMapUpload> GetIdentityMapUpload(absl::string_view upload) override;
  absl::StatusOr<std::optional<std::string>> IdentityMapUploadOf(absl::string_view migration) override;
  absl::StatusOr<int> DeleteUnusedIdentityMapUploads(absl::Time created_before, absl::string_view upload) override;
  absl::StatusOr<std::vector<std::string>> StagedUsersIn(absl::string_view upload,
                                                         const std::vector<std::string>& migrations,
                                                         int limit) override;
  absl::StatusOr<std::vector<std::string>> UsersIn(const std::vector<std::string>& source_keys,
                                                   const std::vector<std::string>& migrations, int limit) override;
  absl::Status CreateMigrationFromUpload(
      const crosstenant::v1::Migration& migration, const std::vector<crosstenant::v1::MigrationEvent>& events,
      const std::optional<RequestRecord>& request, absl::string_view upload,
      const std::function<crosstenant::v1::UserMove(const StagedIdentityMapRow&)>& make_move) override;
  absl::StatusOr<crosstenant::v1::SourceGeoQueue> GetSourceGeoQueue(absl::string_view migration,
                                                                    absl::string_view source_geo) override;
  absl::StatusOr<int> CountActiveMoves(absl::string_view migration, absl::string_view source_geo) override;
  absl::StatusOr<std::vector<crosstenant::v1::UserMove>> NextQueuedUsers(absl::string_view migration,
                                                                         absl::string_view source_geo,
                                                                         int limit) override;
  absl::StatusOr<std::optional<RequestRecord>> FindRequest(absl::string_view request_id) override;
  absl::StatusOr<crosstenant::v1::Migration> GetMigration(absl::string_view name) override;
  absl::StatusOr<MigrationPage> ListMigrations(const std::vector<crosstenant::v1::MigrationState>& states,
                                               int page_size, absl::string_view page_token) override;
  absl::Status Apply(const MigrationChange& change) override;
  absl::StatusOr<std::vector<crosstenant::v1::Task>> LeaseTasks(const LeaseQuery& query) override;
  absl::StatusOr<crosstenant::v1::LeaseRenewal> RenewLease(const std::string& task, const std::string& lease_id,
                                                           const std::string& worker_id, absl::Duration lease_duration,
                                                           absl::Time now) override;
  absl::StatusOr<crosstenant::v1::Task> GetTask(const std::string& name) override;
  absl::StatusOr<std::optional<TaskContext>> GetTaskContext(const std::string& task) override;
  absl::StatusOr<std::vector<absl::StatusOr<std::optional<TaskContext>>>> GetTaskContexts(
      const std::vector<std::string>& tasks) override;
  absl::StatusOr<int> CountTasks(absl::string_view migration) override;
  absl::StatusOr<crosstenant::v1::UserMove> GetUserMove(absl::string_view name) override;
  absl::StatusOr<UserMovePage> ListUserMoves(const UserMoveQuery& query) override;
  absl::StatusOr<std::map<crosstenant::v1::UserMoveState, int>> CountUserMoves(absl::string_view migration) override;
  absl::StatusOr<std::vector<crosstenant::v1::MigrationEvent>> ListEvents(absl::string_view migration,
                                                                          int64_t after_sequence, int limit) override;
  absl::StatusOr<Leadership> AcquireLeadership(absl::string_view holder, absl::Duration ttl) override;
  absl::Status ReleaseLeadership(absl::string_view holder) override;
  // Appenders on every replica take turns under a transaction-level advisory lock.
  absl::StatusOr<crosstenant::v1::AuditRecord> AppendAuditRecord(crosstenant::v1::AuditRecord record) override;
  absl::StatusOr<crosstenant::v1::ListAuditRecordsResponse> ListAuditRecords(
      const crosstenant::v1::ListAuditRecordsRequest& request) override;
  // Every PostgreSQL connection of this process, this store's and any other's (PgTrafficSoFar).
  std::optional<Traffic> ServerTraffic() const override;
  // Closes the pooled connections idle for 5 s or more (PgConnectionPool::CloseIdle): a busy store
  // keeps its connections, an idle one gives back their buffers and opens them again when called.
  void ReleaseMemory() override;

 private:
  // kPipelinedTransaction: the body opens the transaction itself, as the first statement of a
  // pipeline (saving BEGIN's own round trip); Run commits or rolls back as for kTransaction.
  // kPipelinedCommit: the body's one pipeline opens and commits it (BEGIN first, COMMIT last: one round
  // trip in all); Run rolls back what a failed statement left open. Only for a body that may run twice
  // (Run repeats it on a new connection when the first broke, though its COMMIT may have been done).
  enum class Mode { kRead, kTransaction, kPipelinedTransaction, kPipelinedCommit };

  PostgresMigrationStore(std::unique_ptr<PgConnectionPool> pool, StoreHealth* health)
      : pool_(std::move(pool)), health_(health) {}
  // Whether an event could be written now: one inserted and rolled back, on a connection of its own
  // (the probe runs under StoreHealth's lock, which pooled writers take while holding a connection).
  absl::StatusOr<bool> ProbeRoom();
  // Runs `body` on a pooled connection (inside BEGIN ... COMMIT for kTransaction), once more on a new
  // connection if the pooled one turns out to be broken before anything could have been committed.
  absl::Status Run(Mode mode, const std::function<absl::Status(PgConnection&)>& body);
  absl::Status ApplySchemaMigrations(PgConnection& db);
  // Tells health_ (if any) how a write ended.
  void ReportWrite(const absl::Status& status);

  std::unique_ptr<PgConnectionPool> pool_;
  StoreHealth* const health_;
  std::string dsn_;
  absl::Mutex probe_mutex_;
  std::unique_ptr<PgConnection> probe_db_ ABSL_GUARDED_BY(probe_mutex_);
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_POSTGRES_MIGRATION_STORE_H_
