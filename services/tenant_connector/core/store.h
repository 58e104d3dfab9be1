#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_STORE_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_STORE_H_

// Durable connections: one SQLite file in the state directory, one row per connection holding the
// public Connection (protobuf bytes) and the credential sealed with AES-256-GCM under a 32-byte key
// read from the seal key file. The key never enters the database.
//
// Start-up rules (LoadSealKey):
//   - key file present: used (must hold exactly 32 bytes, raw or 64 hex digits);
//   - key file absent and no sealed secret stored: a new key is created (mode 0600);
//   - key file absent but sealed secrets stored: refused, naming the file, because those secrets
//     could never be opened again.
//
// The same file keeps the connector's audit trail (services/common/sqlite_audit_table.h), which is never
// pruned, and the answers to requests made with a request_id (RequestLog), so that a retry after a
// restart is answered as the first call was.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crosstenant/v1/audit.pb.h"
#include "services/common/request_log.h"
#include "services/common/sqlite_database.h"

namespace crosstenant::tenant_connector {

struct StoredConnection {
  std::string name;               // "connections/contoso-source"
  std::string connection;         // serialized crosstenant.v1.Connection
  std::string sealed_credential;  // Seal(key, serialized crosstenant.v1.Credential, name)
};

class ConnectionStore : public AnswerStore {
 public:
  // The layout this build writes, kept in the file's `PRAGMA user_version`. Version 1: connections and
  // the audit trail (files from before it carried no version and are taken as version 1). Version 2:
  // the answered requests. Open refuses a file of a newer version (FAILED_PRECONDITION), so that a
  // rolled-back connector never misreads it.
  static constexpr int kSchemaVersion = 2;

  // The database file in `state_dir`: `<state_dir>/tenant-connector.db`.
  static std::string DatabasePath(const std::string& state_dir);
  // Opens (creating) DatabasePath(state_dir), bringing its layout to kSchemaVersion.
  static absl::StatusOr<std::unique_ptr<ConnectionStore>> Open(const std::string& state_dir);
  // A store in memory (lost when destroyed): the audit trail of a connector without a state directory,
  // and tests.
  static absl::StatusOr<std::unique_ptr<ConnectionStore>> OpenInMemory();
  ~ConnectionStore() override;

  absl::Status Put(const StoredConnection& row);
  absl::Status Delete(const std::string& name);
  absl::StatusOr<std::vector<StoredConnection>> LoadAll();
  absl::StatusOr<int> CountSealed();

  // Appends `record` to the audit trail in one transaction: gives it the next sequence, seals it
  // (SealAuditRecord) with the last record's hash, and stores it. Returns the record as stored.
  absl::StatusOr<v1::AuditRecord> AppendAudit(v1::AuditRecord record);
  // The records that pass `request`'s filters, in sequence order, after `after_sequence`, at most
  // `page_size` (AuditPageSize), with `next_after_sequence` and `last_sequence` set. The request is
  // taken as valid (AuditTrail::List checks it).
  absl::StatusOr<v1::ListAuditRecordsResponse> ListAudit(const v1::ListAuditRecordsRequest& request);

  // AnswerStore. An answer is one row; the oldest are forgotten once every 1,000 answers kept, so the
  // table holds up to `capacity` + 1,000 rows.
  absl::StatusOr<std::optional<Answer>> FindAnswer(absl::string_view request_id) override;
  absl::Status KeepAnswer(absl::string_view request_id, const Answer& answer, absl::Time forget_before,
                          size_t capacity) override;

  // Frees the database's page cache (SqliteDatabase::ReleaseMemory).
  void ReleaseMemory();

 private:
  static absl::StatusOr<std::unique_ptr<ConnectionStore>> OpenPath(const std::string& path, bool in_memory);
  explicit ConnectionStore(std::unique_ptr<SqliteDatabase> db) : db_(std::move(db)) {}
  absl::Mutex mu_;
  const std::unique_ptr<SqliteDatabase> db_ ABSL_PT_GUARDED_BY(mu_);
  int64_t answers_kept_ ABSL_GUARDED_BY(mu_) = 0;  // since open: every 1,000th forgets the oldest
};

// Loads the 32-byte seal key from `path` (creating it when allowed, see above).
absl::StatusOr<std::string> LoadSealKey(const std::string& path, bool sealed_secrets_exist);

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_STORE_H_
