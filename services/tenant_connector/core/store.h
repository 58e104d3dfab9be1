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

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

struct sqlite3;

namespace crosstenant::tenant_connector {

struct StoredConnection {
  std::string name;               // "connections/contoso-source"
  std::string connection;         // serialized crosstenant.v1.Connection
  std::string sealed_credential;  // Seal(key, serialized crosstenant.v1.Credential, name)
};

class ConnectionStore {
 public:
  // The database file in `state_dir`: `<state_dir>/tenant-connector.db`.
  static std::string DatabasePath(const std::string& state_dir);
  // Opens (creating) DatabasePath(state_dir).
  static absl::StatusOr<std::unique_ptr<ConnectionStore>> Open(const std::string& state_dir);
  ~ConnectionStore();

  absl::Status Put(const StoredConnection& row);
  absl::Status Delete(const std::string& name);
  absl::StatusOr<std::vector<StoredConnection>> LoadAll();
  absl::StatusOr<int> CountSealed();

 private:
  explicit ConnectionStore(sqlite3* db) : db_(db) {}
  absl::Mutex mu_;
  sqlite3* db_;
};

// Loads the 32-byte seal key from `path` (creating it when allowed, see above).
absl::StatusOr<std::string> LoadSealKey(const std::string& path, bool sealed_secrets_exist);

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_STORE_H_
