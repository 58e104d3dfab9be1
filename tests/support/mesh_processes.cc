#include "tests/integration/tenant_connector/emulator_fixture.h"

#include <signal.h>

#include <chrono>
#include <cstdlib>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace crosstenant::testing {
namespace {

bool Shell(const std::string& command) { return std::system(command.c_str()) == 0; }

// A CA, the emulator's server certificate (Microsoft's host names) and an app certificate.
bool MakeCertificates(const std::string& dir) {
  std::string q = "'" + dir + "'";
  return Shell(absl::StrCat(
      "cd ", q, " && ",
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=connector test CA' -keyout ca.key -out ca.pem "
      "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null && ",
      "openssl req -newkey rsa:2048 -nodes -subj '/CN=tenant-emulator' -keyout emulator.key -out emulator.csr "
      "2>/dev/null && ",
      "printf 'basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\nsubjectAltName=DNS:login.microsoftonline.com,"
      "DNS:graph.microsoft.com,DNS:*.sharepoint.com,DNS:localhost,IP:127.0.0.1\\n' > emulator.ext && ",
      "openssl x509 -req -in emulator.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile emulator.ext "
      "-out emulator.pem 2>/dev/null && ",
      "openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj '/CN=migration-app' -keyout app.key -out app.pem "
      "2>/dev/null"));
}

constexpr char kSeed[] = R"(settings:
  device_code_interval: 1s
tenants:
  - name: contoso
    id: 7f1d1c1e-0000-4000-8000-000000000001
    display_name: Contoso
    geos:
      - {location: NAM, name: contoso}
      - {location: EUR, name: contosoeur}
    apps:
      - client_id: 11111111-1111-4111-8111-111111111111
        display_name: Migration service
        secret: contoso-test-secret-d1e7
        certificate: app.pem
        application_permissions: [User.Read.All, Organization.Read.All, Files.Read.All, Sites.FullControl.All,
                                  SharePointCrossTenantMigration.Manage.All]
      - client_id: 33333333-3333-4333-8333-333333333333
        display_name: Admin sign-in
        public_client: true
        delegated_permissions: [User.Read, User.Read.All, Files.Read.All, SharePointCrossTenantMigration.Manage.All]
      - client_id: 44444444-4444-4444-8444-444444444444
        display_name: Read-only reporting
        secret: weak-app-secret-0b5a
        application_permissions: [User.Read.All, Organization.Read.All]
    admins:
      - upn: admin@contoso.onmicrosoft.com
        password: Adm1n-Passw0rd-7f3e
        roles: [GlobalAdministrator]
      - upn: spadmin@contoso.onmicrosoft.com
        password: Adm1n-Passw0rd-7f3e
        roles: [SharePointAdministrator]
      - upn: reader@contoso.onmicrosoft.com
        password: Adm1n-Passw0rd-7f3e
        roles: [GlobalReader]
      - upn: mfa@contoso.onmicrosoft.com
        password: Adm1n-Passw0rd-7f3e
        roles: [GlobalAdministrator]
        mfa_required: true
    users:
      - upn: alice@contoso.onmicrosoft.com
      - upn: bob@contoso.onmicrosoft.com
        geo: EUR
      - upn: o'brien@contoso.onmicrosoft.com
      - upn: carol@contoso.onmicrosoft.com
  - name: fabrikam
    id: 9a8b7c6d-0000-4000-8000-000000000002
    display_name: Fabrikam
    geos:
      - {location: NAM, name: fabrikam}
    apps:
      - client_id: 22222222-2222-4222-8222-222222222222
        display_name: Migration service
        secret: fabrikam-test-secret-93c2
        application_permissions: [User.Read.All, Organization.Read.All, Files.Read.All, Sites.FullControl.All,
                                  SharePointCrossTenantMigration.Manage.All]
    admins:
      - upn: admin@fabrikam.onmicrosoft.com
        password: Adm1n-Passw0rd-7f3e
        roles: [GlobalAdministrator]
    users:
      - upn: alice@fabrikam.onmicrosoft.com
        onedrive: {exists: false}
      - upn: bob@fabrikam.onmicrosoft.com
        onedrive: {exists: true}
      - upn: carol@fabrikam.onmicrosoft.com
        onedrive: {exists: false}
)";

}  // namespace

bool Emulator::Start(const std::vector<std::string>& extra) {
  if (!MakeCertificates(dir_.path())) {
    ADD_FAILURE() << "openssl could not make the test certificates";
    return false;
  }
  std::string seed = dir_.WriteFile("seed.yaml", kSeed);
  std::string ready = dir_.path() + "/emulator.ready";
  std::vector<std::string> args = {"--seed=" + seed,
                                   "--tls-cert=" + dir_.path() + "/emulator.pem",
                                   "--tls-key=" + dir_.path() + "/emulator.key",
                                   "--address=127.0.0.1:0",
                                   "--ready-file=" + ready};
  args.insert(args.end(), extra.begin(), extra.end());
  process_ = std::make_unique<ServerProcess>(BinaryPath("tenant-emulator"), args, dir_.path());
  auto ready_json = process_->WaitForReadyFile(ready);
  if (!ready_json) {
    ADD_FAILURE() << "tenant-emulator did not start: " << process_->Stderr();
    return false;
  }
  std::string address = (*ready_json)["address"].get<std::string>();
  port_ = address.substr(address.rfind(':') + 1);
  transport_ = std::make_unique<tenant_connector::CurlTransport>(
      tenant_connector::CurlOptions{{ConnectTo()}, CaFile()});
  return true;
}

nlohmann::json Emulator::Admin(const std::string& method, const std::string& path, const nlohmann::json& body) {
  tenant_connector::HttpRequest request;
  request.method = method;
  request.url = "https://login.microsoftonline.com" + path;
  if (!body.is_null()) {
    request.body = body.dump();
    request.headers.push_back({"Content-Type", "application/json"});
  }
  absl::StatusOr<tenant_connector::HttpResponse> response = transport_->Send(request);
  if (!response.ok()) {
    ADD_FAILURE() << "emulator admin " << path << ": " << response.status();
    return nullptr;
  }
  nlohmann::json json = nlohmann::json::parse(response->body, nullptr, false);
  if (response->status >= 300) ADD_FAILURE() << "emulator admin " << path << ": " << response->status << " " << response->body;
  return json;
}

bool Connector::Start(const Emulator& emulator, const std::string& state_dir, const std::vector<std::string>& extra) {
  std::string ready = dir_.path() + "/connector.ready";
  std::vector<std::string> args = {"--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
                                   "--ready-file=" + ready, "--log-format=json",
                                   "--upstream-connect-to=" + emulator.ConnectTo(),
                                   "--upstream-ca-file=" + emulator.CaFile()};
  if (!state_dir.empty()) args.push_back("--state-dir=" + state_dir);
  args.insert(args.end(), extra.begin(), extra.end());
  process_ = std::make_unique<ServerProcess>(BinaryPath("tenant-connector"), args, dir_.path());
  auto ready_json = process_->WaitForReadyFile(ready);
  if (!ready_json) return false;
  address_ = (*ready_json)["grpc_address"].get<std::string>();
  metrics_address_ = (*ready_json)["metrics_address"].get<std::string>();
  stub_ = crosstenant::v1::TenantConnector::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  return true;
}

int Connector::Stop() {
  if (!process_) return -1;
  process_->Signal(SIGTERM);
  return process_->WaitForExit(std::chrono::seconds(20)).value_or(-1);
}

crosstenant::v1::Credential SecretCredential(const std::string& client_id, const std::string& secret,
                                             const std::string& tenant) {
  crosstenant::v1::Credential credential;
  credential.set_tenant(tenant);
  credential.mutable_client_secret()->set_client_id(client_id);
  credential.mutable_client_secret()->mutable_secret()->set_value(secret);
  return credential;
}

crosstenant::v1::CreateConnectionRequest ConnectRequest(const std::string& id, crosstenant::v1::ConnectionRole role,
                                                        const std::string& admin_url,
                                                        const crosstenant::v1::Credential& credential) {
  crosstenant::v1::CreateConnectionRequest request;
  request.set_connection_id(id);
  request.set_role(role);
  request.set_admin_url(admin_url);
  *request.mutable_credential() = credential;
  return request;
}

}  // namespace crosstenant::testing
