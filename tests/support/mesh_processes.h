#ifndef CROSSTENANT_TESTS_SUPPORT_MESH_PROCESSES_H_
#define CROSSTENANT_TESTS_SUPPORT_MESH_PROCESSES_H_

// The mesh as real processes for integration tests: the tenant-emulator (with a test CA, certificates
// and seed made in a temp directory), tenant-connectors pointed at it with only a connect-to rule and a
// CA file, orchestrators and workers. gRPC between them is plaintext on loopback. Orchestrators and
// workers keep their address and state across a SIGKILL and a restart, as a crashed pod would.

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "crosstenant/v1/tenant_connector.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "services/tenant_connector/core/http.h"
#include "tests/support/server_process.h"

namespace crosstenant::testing {

// Ids and secrets of the test seed. Both migration apps (kContosoApp, kFabrikamApp) also have the
// emulator's app certificate (Emulator::AppCertificate); connect them with MigrationAppCredential,
// since SharePoint refuses app-only tokens obtained with a client secret (docs/sharepoint-admin-protocol.md).
// The secrets stay for Graph-only use and for tests of the secret path itself.
inline constexpr char kContosoApp[] = "11111111-1111-4111-8111-111111111111";
inline constexpr char kContosoSecret[] = "contoso-test-secret-d1e7";
inline constexpr char kContosoPublicApp[] = "33333333-3333-4333-8333-333333333333";
inline constexpr char kContosoWeakApp[] = "44444444-4444-4444-8444-444444444444";
inline constexpr char kContosoWeakSecret[] = "weak-app-secret-0b5a";
inline constexpr char kFabrikamApp[] = "22222222-2222-4222-8222-222222222222";
inline constexpr char kFabrikamSecret[] = "fabrikam-test-secret-93c2";
inline constexpr char kAdminPassword[] = "Adm1n-Passw0rd-7f3e";

// A seed with the tenants, apps and admins of the constants above, and generated users:
// contoso (geos NAM and EUR) is the source, fabrikam (NAM) the target.
struct MeshSeed {
  int nam_users = 0;  // userNNN@contoso (NAM) -> userNNN@fabrikam, licensed, target without OneDrive
  int eur_users = 0;  // euserNN@contoso (EUR) -> euserNN@fabrikam
  // Users that each hit one real blocker, on both sides: taken (target OneDrive exists), nodrive,
  // huge (> 5 TB), readonly, legalhold, unlicensed, manyitems (> 1M items).
  bool blocked_users = false;
  std::string dormant_period = "0s";  // emulated
  std::string move_step = "1m";       // emulated duration of each SharePoint move state
  std::string max_queued_per_geo = "4000";
  std::string contoso_compatibility = "Compatible";
  std::string contoso_compatible_after = "0s";
  std::string Yaml() const;
  // The six-column identity map of every seeded user (blocked ones included).
  std::string IdentityMapCsv() const;
};

// Users of MeshSeed's blocked set and the final state each must reach.
struct ExpectedBlocker {
  const char* local_part;
  const char* state;  // "BLOCKED" or "FAILED"
};
const std::vector<ExpectedBlocker>& MeshBlockers();

// A free TCP port on 127.0.0.1 (bound and released), for servers that must keep their address
// across restarts.
int FreeLoopbackPort();

class Emulator {
 public:
  // Starts the emulator with `extra` flags and `seed_yaml` (empty: the connector tests' seed); false,
  // with error() saying why, if it does not start.
  bool Start(const std::vector<std::string>& extra = {}, const std::string& seed_yaml = "");
  const std::string& error() const { return error_; }
  const std::string& port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string CaFile() const { return dir_.path() + "/ca.pem"; }
  std::string AppCertificate() const { return dir_.path() + "/app.pem"; }
  std::string AppKey() const { return dir_.path() + "/app.key"; }
  std::string ConnectTo() const { return "*:443:127.0.0.1:" + port_; }
  // The emulator's admin API (`/_emulator/...`).
  nlohmann::json Admin(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr);
  std::string Stderr() const { return process_ ? process_->Stderr() : ""; }

 private:
  TempDir dir_;
  std::string error_;
  std::string port_;
  std::unique_ptr<ServerProcess> process_;
  std::unique_ptr<tenant_connector::CurlTransport> transport_;
};

class Connector {
 public:
  // Starts a tenant-connector against `emulator` with `state_dir` (empty: memory only) and `extra` flags;
  // false, with error() saying why, if it does not start.
  bool Start(const Emulator& emulator, const std::string& state_dir, const std::vector<std::string>& extra = {});
  const std::string& error() const { return error_; }
  // Connects contoso as the source (`connections/{source_id}`) and fabrikam as the target
  // (`connections/{target_id}`) with the seed's app certificate (MigrationAppCredential); false, with
  // error() saying why, on error.
  bool ConnectSourceAndTarget(const std::string& source_id = "contoso", const std::string& target_id = "fabrikam");
  std::unique_ptr<ServerProcess>& process() { return process_; }
  crosstenant::v1::TenantConnector::Stub& stub() { return *stub_; }
  const std::string& address() const { return address_; }
  const std::string& metrics_address() const { return metrics_address_; }
  std::string Stderr() const { return process_ ? process_->Stderr() : ""; }
  // SIGTERM and wait.
  int Stop();

 private:
  TempDir dir_;
  std::string error_;
  std::unique_ptr<ServerProcess> process_;
  std::unique_ptr<crosstenant::v1::TenantConnector::Stub> stub_;
  std::string address_;
  std::string metrics_address_;
  std::string app_certificate_;  // the emulator's, from Start
  std::string app_key_;
};

// An orchestrator with its SQLite file in its own directory, at one address for its whole life.
class Orchestrator {
 public:
  Orchestrator();
  // Starts it (again, after Kill) against the connector at `connector_address`; false, with error()
  // saying why, if it does not start.
  bool Start(const std::string& connector_address, const std::vector<std::string>& extra = {});
  const std::string& error() const { return error_; }
  void Kill();  // SIGKILL: a crash, nothing flushed
  crosstenant::v1::Orchestrator::Stub& stub() { return *stub_; }
  const std::string& address() const { return address_; }
  // Where its /metrics is served (changes with each start).
  const std::string& metrics_address() const { return metrics_address_; }
  // Its SQLite state file (--sqlite-path), the same across restarts.
  std::string db_path() const { return dir_.path() + "/orchestrator.db"; }
  std::string Stderr() const { return process_ ? process_->Stderr() : ""; }

 private:
  TempDir dir_;
  std::string error_;
  std::string address_;
  std::string metrics_address_;
  std::unique_ptr<ServerProcess> process_;
  std::unique_ptr<crosstenant::v1::Orchestrator::Stub> stub_;
};

class Worker {
 public:
  // Starts worker `id` (again, after Kill) with a 5 s lease, so that a killed worker's tasks move on soon;
  // false, with error() saying why, if it does not start.
  bool Start(const std::string& id, const std::string& orchestrator_address, const std::string& connector_address,
             const std::vector<std::string>& extra = {});
  const std::string& error() const { return error_; }
  void Kill();
  std::string Stderr() const { return process_ ? process_->Stderr() : ""; }

 private:
  TempDir dir_;
  std::string error_;
  std::unique_ptr<ServerProcess> process_;
};

// Test suites that share one emulator and one connector (started with a fast upstream back-off and
// no scheduled probes). A start-up failure fails every test of the suite: gtest would report a
// failure inside SetUpTestSuite as skipped tests.
class ConnectorSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  inline static Emulator* emulator_ = nullptr;
  inline static Connector* connector_ = nullptr;
  inline static std::string setup_error_;
};

// Credentials of the seed.
//
// The one credential the tests connect a migration app (kContosoApp, kFabrikamApp) with: the app
// certificate `emulator` registers for both (a client assertion signed with its key). SharePoint, and
// the emulator like it, refuses app-only tokens obtained with a client secret, so a connection that runs
// SharePoint steps (trust, verify, compatibility, redirect sites) must use this, not SecretCredential.
crosstenant::v1::Credential MigrationAppCredential(const Emulator& emulator, const std::string& client_id,
                                                   const std::string& tenant = "");
crosstenant::v1::Credential MigrationAppCredential(const std::string& certificate_file, const std::string& key_file,
                                                   const std::string& client_id, const std::string& tenant = "");
// A client secret: for Graph-only use and for tests of the secret path itself.
crosstenant::v1::Credential SecretCredential(const std::string& client_id, const std::string& secret,
                                             const std::string& tenant = "");
crosstenant::v1::CreateConnectionRequest ConnectRequest(const std::string& id, crosstenant::v1::ConnectionRole role,
                                                        const std::string& admin_url,
                                                        const crosstenant::v1::Credential& credential);

}  // namespace crosstenant::testing

#endif  // CROSSTENANT_TESTS_SUPPORT_MESH_PROCESSES_H_
