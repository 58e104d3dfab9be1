#include "tests/support/mesh_processes.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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
      "2>/dev/null && ",
      "openssl req -x509 -newkey rsa:2048 -nodes -days 10 -subj '/CN=migration-app-expiring' -keyout app-expiring.key "
      "-out app-expiring.pem 2>/dev/null && ",
      // The Kubernetes service-account issuer's signing key, for workload identity federation.
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=kubernetes' -keyout k8s-sa.key -out k8s-sa.pem "
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
        certificates: [app.pem, app-expiring.pem]
        federated_credentials:
          - issuer: https://kubernetes.default.svc.cluster.local
            subject: system:serviceaccount:crosstenant:tenant-connector
            key: k8s-sa.pem
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
      - upn: locked@contoso.onmicrosoft.com
        geo: EUR
        onedrive: {read_only: true}
  - name: fabrikam
    id: 9a8b7c6d-0000-4000-8000-000000000002
    display_name: Fabrikam
    geos:
      - {location: NAM, name: fabrikam}
    apps:
      - client_id: 22222222-2222-4222-8222-222222222222
        display_name: Migration service
        secret: fabrikam-test-secret-93c2
        certificates: [app.pem]
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

constexpr char kContosoId[] = "7f1d1c1e-0000-4000-8000-000000000001";

// Each blocker user: its source and target OneDrive facts and licence, as seed YAML flow maps.
struct BlockerSeed {
  ExpectedBlocker expected;
  const char* source;
  const char* target;
};
const std::vector<BlockerSeed>& BlockerSeeds() {
  static const std::vector<BlockerSeed> seeds = {
      {{"taken", "BLOCKED"}, "{}", "{onedrive: {exists: true}}"},
      {{"nodrive", "BLOCKED"}, "{onedrive: {exists: false}}", "{onedrive: {exists: false}}"},
      {{"huge", "BLOCKED"}, "{onedrive: {size_bytes: 6597069766656}}", "{onedrive: {exists: false}}"},
      {{"readonly", "BLOCKED"}, "{onedrive: {read_only: true}}", "{onedrive: {exists: false}}"},
      {{"legalhold", "FAILED"}, "{onedrive: {legal_hold: true}}", "{onedrive: {exists: false}}"},
      {{"unlicensed", "FAILED"}, "{licensed: false}", "{licensed: false, onedrive: {exists: false}}"},
      {{"manyitems", "FAILED"}, "{onedrive: {items: 1500000}}", "{onedrive: {exists: false}}"},
  };
  return seeds;
}

// "{a: 1}" and a UPN -> "{upn: ..., a: 1}", one list item of a seed's users.
std::string UserEntry(const std::string& upn, const std::string& facts) {
  const std::string rest = facts.substr(1, facts.size() - 2);
  return absl::StrCat("      - {upn: \"", upn, "\"", rest.empty() ? "" : ", ", rest, "}\n");
}

}  // namespace

const std::vector<ExpectedBlocker>& MeshBlockers() {
  static const std::vector<ExpectedBlocker> blockers = [] {
    std::vector<ExpectedBlocker> out;
    for (const BlockerSeed& seed : BlockerSeeds()) out.push_back(seed.expected);
    return out;
  }();
  return blockers;
}

std::string MeshSeed::Yaml() const {
  const std::string& step = move_step;
  std::string yaml =
      absl::StrCat("settings:\n  device_code_interval: 1s\n  dormant_period: ", dormant_period,
                   "\n  max_queued_per_geo: ", max_queued_per_geo, "\n  move_durations: {scheduled: ", step,
                   ", ready_to_trigger: ", step, ", validation: ", step, ", backup: ", step, ", restore: ", step,
                   ", cleanup: ", step, "}\ntenants:\n");
  auto tenant = [&](const std::string& name, const std::string& id, const std::string& geos, const std::string& app,
                    const std::string& secret, const std::string& features) {
    absl::StrAppend(
        &yaml, "  - name: ", name, "\n    id: ", id, "\n    features: ", features, "\n    geos: ", geos,
        "\n    apps:\n      - {client_id: ", app, ", secret: ", secret,
        ", certificates: [app.pem], application_permissions: [User.Read.All, Organization.Read.All, Files.Read.All, "
        "Sites.FullControl.All, SharePointCrossTenantMigration.Manage.All]}\n"
        "    admins:\n      - {upn: admin@",
        name, ".onmicrosoft.com, password: ", kAdminPassword, ", roles: [GlobalAdministrator]}\n");
  };
  // Generated users; on the target they have no OneDrive yet and no geo of their own.
  auto users = [&](const std::string& name, bool target) {
    const std::string drive = target ? ", onedrive: {exists: false}" : "";
    absl::StrAppend(&yaml, "    generate_users:\n");
    absl::StrAppend(&yaml, "      - {count: ", std::max(nam_users, 1), ", upn_pattern: \"user{n}@", name,
                    ".onmicrosoft.com\", width: 3", target ? "" : ", geo: NAM", drive, "}\n");
    absl::StrAppend(&yaml, "      - {count: ", std::max(eur_users, 1), ", upn_pattern: \"euser{n}@", name,
                    ".onmicrosoft.com\", width: 2", target ? "" : ", geo: EUR", drive, "}\n");
    if (!blocked_users) return;
    absl::StrAppend(&yaml, "    users:\n");
    for (const BlockerSeed& seed : BlockerSeeds()) {
      absl::StrAppend(&yaml, UserEntry(absl::StrCat(seed.expected.local_part, "@", name, ".onmicrosoft.com"),
                                       target ? seed.target : seed.source));
    }
  };
  tenant(
      "contoso", kContosoId, "[{location: NAM, name: contoso}, {location: EUR, name: contosoeur}]", kContosoApp,
      kContosoSecret,
      absl::StrCat("{compatibility: ", contoso_compatibility, ", compatible_after: ", contoso_compatible_after, "}"));
  users("contoso", false);
  tenant("fabrikam", "9a8b7c6d-0000-4000-8000-000000000002", "[{location: NAM, name: fabrikam}]", kFabrikamApp,
         kFabrikamSecret, "{compatibility: Compatible}");
  users("fabrikam", true);
  return yaml;
}

std::string MeshSeed::IdentityMapCsv() const {
  std::string csv;
  auto row = [&](const std::string& local_part) {
    absl::StrAppend(&csv, "User,", kContosoId, ",", local_part, "@contoso.onmicrosoft.com,", local_part,
                    "@fabrikam.onmicrosoft.com,", local_part, "@fabrikam.onmicrosoft.com,RegularUser\n");
  };
  for (int n = 1; n <= nam_users; ++n) row(absl::StrFormat("user%03d", n));
  for (int n = 1; n <= eur_users; ++n) row(absl::StrFormat("euser%02d", n));
  if (blocked_users) {
    for (const BlockerSeed& seed : BlockerSeeds()) row(seed.expected.local_part);
  }
  return csv;
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

bool Emulator::Start(const std::vector<std::string>& extra, const std::string& seed_yaml) {
  if (!MakeCertificates(dir_.path())) {
    error_ = "openssl could not make the test certificates";
    return false;
  }
  std::string seed = dir_.WriteFile("seed.yaml", seed_yaml.empty() ? std::string(kSeed) : seed_yaml);
  std::string ready = dir_.path() + "/emulator.ready";
  std::vector<std::string> args = {"--seed=" + seed, "--tls-cert=" + dir_.path() + "/emulator.pem",
                                   "--tls-key=" + dir_.path() + "/emulator.key", "--address=127.0.0.1:0",
                                   "--ready-file=" + ready};
  args.insert(args.end(), extra.begin(), extra.end());
  process_ = std::make_unique<ServerProcess>(BinaryPath("tenant-emulator"), args, dir_.path());
  auto ready_json = process_->WaitForReadyFile(ready);
  if (!ready_json) {
    error_ = "tenant-emulator did not start: " + process_->Stderr();
    return false;
  }
  std::string address = (*ready_json)["address"].get<std::string>();
  port_ = address.substr(address.rfind(':') + 1);
  tenant_connector::CurlOptions options;
  options.connect_to = {ConnectTo()};
  options.ca_file = CaFile();
  transport_ = std::make_unique<tenant_connector::CurlTransport>(std::move(options));
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
  if (response->status >= 300)
    ADD_FAILURE() << "emulator admin " << path << ": " << response->status << " " << response->body;
  return json;
}

bool Connector::Start(const Emulator& emulator, const std::string& state_dir, const std::vector<std::string>& extra) {
  std::string ready = dir_.path() + "/connector.ready";
  std::vector<std::string> args = {
      "--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0", "--ready-file=" + ready, "--log-format=json",
      "--upstream-connect-to=" + emulator.ConnectTo(), "--upstream-ca-file=" + emulator.CaFile(),
      // Every test writes its credential files under the temporary directory.
      "--credential-file-dirs=" + std::filesystem::temp_directory_path().string()};
  if (!state_dir.empty()) args.push_back("--state-dir=" + state_dir);
  args.insert(args.end(), extra.begin(), extra.end());
  process_ = std::make_unique<ServerProcess>(BinaryPath("tenant-connector"), args, dir_.path());
  auto ready_json = process_->WaitForReadyFile(ready);
  if (!ready_json) {
    error_ = "tenant-connector did not start: " + process_->Stderr();
    return false;
  }
  address_ = (*ready_json)["grpc_address"].get<std::string>();
  metrics_address_ = (*ready_json)["metrics_address"].get<std::string>();
  app_certificate_ = emulator.AppCertificate();
  app_key_ = emulator.AppKey();
  stub_ = crosstenant::v1::TenantConnector::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  return true;
}

bool Connector::ConnectSourceAndTarget(const std::string& source_id, const std::string& target_id) {
  for (const auto& request :
       {ConnectRequest(source_id, crosstenant::v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                       MigrationAppCredential(app_certificate_, app_key_, kContosoApp)),
        ConnectRequest(target_id, crosstenant::v1::CONNECTION_ROLE_TARGET, "https://fabrikam-admin.sharepoint.com",
                       MigrationAppCredential(app_certificate_, app_key_, kFabrikamApp))}) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    crosstenant::v1::CreateConnectionResponse response;
    const grpc::Status status = stub_->CreateConnection(&context, request, &response);
    if (!status.ok()) {
      error_ = absl::StrCat("CreateConnection ", request.connection_id(), ": ", status.error_message());
      return false;
    }
  }
  return true;
}

int Connector::Stop() {
  if (!process_) return -1;
  process_->Signal(SIGTERM);
  return process_->WaitForExit(std::chrono::seconds(20)).value_or(-1);
}

Orchestrator::Orchestrator() : address_(absl::StrCat("127.0.0.1:", FreeLoopbackPort())) {}

bool Orchestrator::Start(const std::string& connector_address, const std::vector<std::string>& extra) {
  const std::string ready = dir_.path() + "/orchestrator.ready";
  std::remove(ready.c_str());
  std::vector<std::string> args = {"--grpc-address=" + address_, "--metrics-address=127.0.0.1:0",
                                   "--ready-file=" + ready,      "--log-format=json",
                                   "--sqlite-path=" + db_path(), "--connector-address=" + connector_address};
  args.insert(args.end(), extra.begin(), extra.end());
  process_ = std::make_unique<ServerProcess>(BinaryPath("orchestrator"), args, dir_.path());
  auto ready_json = process_->WaitForReadyFile(ready);
  if (!ready_json) {
    error_ = "orchestrator did not start: " + process_->Stderr();
    return false;
  }
  metrics_address_ = ready_json->value("metrics_address", "");
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(64 << 20);
  stub_ = crosstenant::v1::Orchestrator::NewStub(
      grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), channel_args));
  return true;
}

void Orchestrator::Kill() {
  if (!process_) return;
  process_->Signal(SIGKILL);
  process_->WaitForExit(std::chrono::seconds(10));
}

bool Worker::Start(const std::string& id, const std::string& orchestrator_address, const std::string& connector_address,
                   const std::vector<std::string>& extra) {
  const std::string ready = dir_.path() + "/" + id + ".ready";
  std::remove(ready.c_str());
  std::vector<std::string> args = {"--grpc-address=127.0.0.1:0",
                                   "--metrics-address=127.0.0.1:0",
                                   "--ready-file=" + ready,
                                   "--log-format=json",
                                   "--worker-id=" + id,
                                   "--orchestrator-address=" + orchestrator_address,
                                   "--connector-address=" + connector_address,
                                   "--lease-duration=5s"};
  args.insert(args.end(), extra.begin(), extra.end());
  process_ = std::make_unique<ServerProcess>(BinaryPath("worker"), args, dir_.path());
  if (!process_->WaitForReadyFile(ready)) {
    error_ = absl::StrCat("worker ", id, " did not start: ", process_->Stderr());
    return false;
  }
  return true;
}

void Worker::Kill() {
  if (!process_) return;
  process_->Signal(SIGKILL);
  process_->WaitForExit(std::chrono::seconds(10));
}

void ConnectorSuite::SetUpTestSuite() {
  setup_error_.clear();
  emulator_ = new Emulator();
  if (!emulator_->Start()) {
    setup_error_ = emulator_->error();
    return;
  }
  connector_ = new Connector();
  if (!connector_->Start(*emulator_, "", {"--upstream-backoff-base=200ms", "--probe-interval=1h"})) {
    setup_error_ = connector_->error();
  }
}

void ConnectorSuite::TearDownTestSuite() {
  if (connector_ && ::testing::UnitTest::GetInstance()->failed_test_count() > 0) {
    std::fprintf(stderr, "--- tenant-connector log ---\n%s\n", connector_->Stderr().c_str());
  }
  if (connector_ && connector_->process()) connector_->Stop();
  delete connector_;
  delete emulator_;
  connector_ = nullptr;
  emulator_ = nullptr;
}

void ConnectorSuite::SetUp() { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

crosstenant::v1::Credential MigrationAppCredential(const std::string& certificate_file, const std::string& key_file,
                                                   const std::string& client_id, const std::string& tenant) {
  crosstenant::v1::Credential credential;
  credential.set_tenant(tenant);
  crosstenant::v1::CertificateCredential* certificate = credential.mutable_certificate();
  certificate->set_client_id(client_id);
  certificate->set_certificate_file(certificate_file);
  certificate->mutable_private_key()->set_file_path(key_file);
  return credential;
}

crosstenant::v1::Credential MigrationAppCredential(const Emulator& emulator, const std::string& client_id,
                                                   const std::string& tenant) {
  return MigrationAppCredential(emulator.AppCertificate(), emulator.AppKey(), client_id, tenant);
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
