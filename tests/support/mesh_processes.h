#ifndef CROSSTENANT_TESTS_INTEGRATION_TENANT_CONNECTOR_EMULATOR_FIXTURE_H_
#define CROSSTENANT_TESTS_INTEGRATION_TENANT_CONNECTOR_EMULATOR_FIXTURE_H_

// Starts the real tenant-emulator (with a test CA, certificates and seed made in a temp directory)
// and real tenant-connector processes pointed at it with only a connect-to rule and a CA file, and
// gives tests a TenantConnector stub and the emulator's admin API.

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "crosstenant/v1/tenant_connector.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "services/tenant_connector/core/http.h"
#include "tests/support/server_process.h"

namespace crosstenant::testing {

// Ids and secrets of the test seed.
inline constexpr char kContosoApp[] = "11111111-1111-4111-8111-111111111111";
inline constexpr char kContosoSecret[] = "contoso-test-secret-d1e7";
inline constexpr char kContosoPublicApp[] = "33333333-3333-4333-8333-333333333333";
inline constexpr char kContosoWeakApp[] = "44444444-4444-4444-8444-444444444444";
inline constexpr char kContosoWeakSecret[] = "weak-app-secret-0b5a";
inline constexpr char kFabrikamApp[] = "22222222-2222-4222-8222-222222222222";
inline constexpr char kFabrikamSecret[] = "fabrikam-test-secret-93c2";
inline constexpr char kAdminPassword[] = "Adm1n-Passw0rd-7f3e";

class Emulator {
 public:
  // Starts the emulator with `extra` flags; fails the test (and returns false) if it does not start.
  bool Start(const std::vector<std::string>& extra = {});
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
  std::string port_;
  std::unique_ptr<ServerProcess> process_;
  std::unique_ptr<tenant_connector::CurlTransport> transport_;
};

class Connector {
 public:
  // Starts a tenant-connector against `emulator` with `state_dir` (empty: memory only) and `extra` flags.
  bool Start(const Emulator& emulator, const std::string& state_dir, const std::vector<std::string>& extra = {});
  std::unique_ptr<ServerProcess>& process() { return process_; }
  crosstenant::v1::TenantConnector::Stub& stub() { return *stub_; }
  const std::string& address() const { return address_; }
  const std::string& metrics_address() const { return metrics_address_; }
  std::string Stderr() const { return process_ ? process_->Stderr() : ""; }
  // SIGTERM and wait.
  int Stop();

 private:
  TempDir dir_;
  std::unique_ptr<ServerProcess> process_;
  std::unique_ptr<crosstenant::v1::TenantConnector::Stub> stub_;
  std::string address_;
  std::string metrics_address_;
};

// Credentials of the seed.
crosstenant::v1::Credential SecretCredential(const std::string& client_id, const std::string& secret,
                                             const std::string& tenant = "");
crosstenant::v1::CreateConnectionRequest ConnectRequest(const std::string& id, crosstenant::v1::ConnectionRole role,
                                                        const std::string& admin_url,
                                                        const crosstenant::v1::Credential& credential);

}  // namespace crosstenant::testing

#endif  // CROSSTENANT_TESTS_INTEGRATION_TENANT_CONNECTOR_EMULATOR_FIXTURE_H_
