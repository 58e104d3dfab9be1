#ifndef CROSSTENANT_TESTS_INTEGRATION_MIGRATECTL_MESH_H_
#define CROSSTENANT_TESTS_INTEGRATION_MIGRATECTL_MESH_H_

// The real mesh for migratectl's integration tests, started by the tests' one launcher
// (tests/support/mesh_processes.h): tenant-emulator (a small seed written here), tenant-connector,
// orchestrator and one worker, on loopback with mutual TLS from deploy/local/dev-certs.sh and the
// roles of deploy/local/config; and the real migratectl binary run against it as a separate process,
// as an admin runs it.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/mesh_processes.h"
#include "tests/support/server_process.h"

namespace crosstenant::migratectl::testing {

using crosstenant::testing::ServerProcess;
using crosstenant::testing::TempDir;

// What a migratectl run printed and how it exited.
struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Ids and secrets of the test seed, the launcher's. Both migration apps also have the emulator's app
// certificate: the tests connect them with CertificateFlags(), since SharePoint refuses app-only tokens
// obtained with a client secret (docs/sharepoint-admin-protocol.md). The secrets stay for the tests of
// the secret path itself.
using crosstenant::testing::kContosoApp;
using crosstenant::testing::kContosoSecret;
using crosstenant::testing::kFabrikamApp;
using crosstenant::testing::kFabrikamSecret;
inline constexpr char kContosoTenantId[] = "7f1d1c1e-0000-4000-8000-000000000001";

class Mesh {
 public:
  // Starts every process; fails the test (and returns false) if one does not come up.
  bool Start();
  // Starts the tenant-emulator and the tenant-connector only (for tests of the connector alone).
  bool StartTenantSide();

  // Stops the tenant-connector with SIGTERM (false, and a test failure, unless it exits 0), and starts
  // it again on the same state directory (MIGRATECTL_CONNECTOR follows its new port). The orchestrator
  // and the worker keep the old address: for tests of the connector alone.
  bool StopConnector();
  bool StartConnector();

  // Runs migratectl with `args` against the mesh (TLS and addresses through its MIGRATECTL_*
  // environment), waits at most `timeout`.
  CliResult Run(const std::vector<std::string>& args, std::chrono::seconds timeout = std::chrono::seconds(60));
  // Starts migratectl in the background; its stdout and stderr go to one file, read with Output().
  std::unique_ptr<ServerProcess> Spawn(const std::vector<std::string>& args);

  // Connects contoso (source) as `contoso` and fabrikam (target) as `fabrikam`, both with the migration
  // app's certificate.
  bool ConnectBoth();
  // The one way these tests give a migration app's credential to `migratectl connect`: the app
  // certificate and its key (--certificate, --private-key-file).
  std::vector<std::string> CertificateFlags() const;
  // `connect --role=ROLE https://TENANT-admin.sharepoint.com --id=ID --client-id=<TENANT's app>` with
  // CertificateFlags(), then `extra`.
  std::vector<std::string> ConnectArgs(const std::string& role, const std::string& tenant, const std::string& id,
                                       const std::vector<std::string>& extra = {}) const;

  // The emulator's admin API (`/_emulator/...`), through curl; the response body.
  std::string EmulatorAdmin(const std::string& path, const std::string& json_body = "");

  const std::string& dir() const { return dir_.path(); }
  std::string WriteFile(const std::string& name, const std::string& content) const {
    return dir_.WriteFile(name, content);
  }
  std::string ReadFile(const std::string& path) const;
  std::string CertDir() const;

 private:
  // The flags that give a server the dev-certs.sh mTLS and `program`'s demo roles (--config), and those
  // of a client certificate named `identity` towards the upstreams.
  std::vector<std::string> ServerFlags(const std::string& program) const;
  std::vector<std::string> ClientTlsFlags(const std::string& identity) const;

  TempDir dir_;
  crosstenant::testing::Emulator emulator_;
  crosstenant::testing::Connector connector_;
  crosstenant::testing::Orchestrator orchestrator_;
  crosstenant::testing::Worker worker_;
  int runs_ = 0;
};

}  // namespace crosstenant::migratectl::testing

#endif  // CROSSTENANT_TESTS_INTEGRATION_MIGRATECTL_MESH_H_
