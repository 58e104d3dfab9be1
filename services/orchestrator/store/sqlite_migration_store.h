#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_SQLITE_MIGRATION_STORE_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_SQLITE_MIGRATION_STORE_H_

#include <memory>
#include <random>
#include <string>

#include "absl/synchronization/mutex.h"
#include "services/orchestrator/store/migration_store.h"
#include "services/common/sqlite_database.h"

namespace crosstenant::orchestrator {

// MigrationStore on one SQLite file (WAL). The schema is versioned: Open() applies, in order and each
// in its own transaction, every schema migration the file has not seen yet, and refuses a file written
// by a newer version of the orchestrator.
class SqliteMigrationStore : public MigrationStore {
 public:
  // The schema version this build writes.
  static constexpr int kSchemaVersion = 10;

  static absl::StatusOr<std::unique_ptr<SqliteMigrationStore>> Open(const std::string& path,
                                                                    const SqliteDatabase::Options& options = {});

  // The schema version of the open file (kSchemaVersion once Open succeeded).
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
  absl::StatusOr<int> CountTasks(absl::string_view migration) override;
  absl::StatusOr<crosstenant::v1::UserMove> GetUserMove(absl::string_view name) override;
  absl::StatusOr<UserMovePage> ListUserMoves(const UserMoveQuery& query) override;
  absl::StatusOr<std::map<crosstenant::v1::UserMoveState, int>> CountUserMoves(absl::string_view migration) override;
  absl::StatusOr<std::vector<crosstenant::v1::MigrationEvent>> ListEvents(absl::string_view migration,
                                                                          int64_t after_sequence, int limit) override;
  // Leadership by this machine's clock: replicas sharing one SQLite file share one host.
  absl::StatusOr<Leadership> AcquireLeadership(absl::string_view holder, absl::Duration ttl) override;
  absl::Status ReleaseLeadership(absl::string_view holder) override;
  absl::StatusOr<crosstenant::v1::AuditRecord> AppendAuditRecord(crosstenant::v1::AuditRecord record) override;
  absl::StatusOr<crosstenant::v1::ListAuditRecordsResponse> ListAuditRecords(
      const crosstenant::v1::ListAuditRecordsRequest& request) override;
  void ReleaseMemory() override;

 private:
  explicit SqliteMigrationStore(std::unique_ptr<SqliteDatabase> db) : db_(std::move(db)) {}
  absl::Status ApplySchemaMigrations() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status WriteMigration(const crosstenant::v1::Migration& migration, bool insert)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status WriteUserMoves(const std::vector<crosstenant::v1::UserMove>& user_moves, bool insert)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status WriteEvents(const std::vector<crosstenant::v1::MigrationEvent>& events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status WriteChange(const MigrationChange& change) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // ALREADY_EXISTS when the request id is taken.
  absl::Status WriteRequest(const RequestRecord& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::StatusOr<std::vector<StagedIdentityMapRow>> ReadStagedRows(absl::string_view upload, StagedRows which,
                                                                   int after_line, int limit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // ABORTED unless `term` is the current, unexpired leadership term.
  absl::Status CheckLeaderTerm(int64_t term) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  absl::Mutex mutex_;
  std::unique_ptr<SqliteDatabase> db_ ABSL_GUARDED_BY(mutex_);
  // Lease ids are fencing tokens: random, so that no two leases ever share one.
  std::mt19937_64 lease_ids_ ABSL_GUARDED_BY(mutex_){std::random_device{}()};
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_SQLITE_MIGRATION_STORE_H_
