#include "tests/integration/migratectl/mesh.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace crosstenant::migratectl::testing {
namespace {

std::string Quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Two tenants: contoso (NAM, EUR) and fabrikam (NAM). alice and carol move cleanly, bob's OneDrive is
// in EUR, taken's target already has a OneDrive, o'brien has an apostrophe, dave has no target user.
std::string Seed(const std::string& cert_dir) {
  return absl::StrCat(R"(settings:
  dormant_period: 1h
  device_code_interval: 5s
tenants:
  - name: contoso
    id: 7f1d1c1e-0000-4000-8000-000000000001
    geos:
      - {location: NAM, name: contoso}
      - {location: EUR, name: contosoeur}
    apps:
      - client_id: 11111111-1111-4111-8111-111111111111
        secret: contoso-cli-secret-4f2a
        certificate: )",
                      cert_dir, R"(/migration-app.pem
        application_permissions: [Organization.Read.All, User.Read.All, Files.Read.All, Sites.FullControl.All,
                                  SharePointCrossTenantMigration.Manage.All]
      - client_id: 14d82eec-204b-4c2f-b7e8-296a70dab67e
        public_client: true
        delegated_permissions: [User.Read, User.Read.All, Files.Read.All, SharePointCrossTenantMigration.Manage.All,
                                AllSites.FullControl]
    admins:
      - {upn: admin@contoso.onmicrosoft.com, password: "Contoso-Admin-1!", roles: [GlobalAdministrator]}
    users:
      - {upn: alice@contoso.onmicrosoft.com}
      - {upn: bob@contoso.onmicrosoft.com, geo: EUR}
      - {upn: carol@contoso.onmicrosoft.com}
      - {upn: taken@contoso.onmicrosoft.com}
      - {upn: "o'brien@contoso.onmicrosoft.com"}
      - {upn: dave@contoso.onmicrosoft.com}
  - name: fabrikam
    id: 9a2b3c4d-0000-4000-8000-000000000002
    geos:
      - {location: NAM, name: fabrikam}
    apps:
      - client_id: 22222222-2222-4222-8222-222222222222
        secret: fabrikam-cli-secret-8c1d
        certificate: )",
                      cert_dir, R"(/migration-app.pem
        application_permissions: [Organization.Read.All, User.Read.All, Files.Read.All, Sites.FullControl.All,
                                  SharePointCrossTenantMigration.Manage.All]
      - client_id: 14d82eec-204b-4c2f-b7e8-296a70dab67e
        public_client: true
        delegated_permissions: [User.Read, User.Read.All, Files.Read.All, SharePointCrossTenantMigration.Manage.All,
                                AllSites.FullControl]
    admins:
      - {upn: admin@fabrikam.onmicrosoft.com, password: "Fabrikam-Admin-1!", roles: [GlobalAdministrator]}
    users:
      - {upn: alice@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: bob@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: carol@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: taken@fabrikam.onmicrosoft.com, onedrive: {exists: true}}
      - {upn: "o'brien@fabrikam.onmicrosoft.com", onedrive: {exists: false}}
)");
}

std::optional<std::string> GrpcAddress(ServerProcess& process, const std::string& ready, const char* key) {
  auto json = process.WaitForReadyFile(ready);
  if (!json) return std::nullopt;
  return (*json)[key].get<std::string>();
}

}  // namespace

std::string Mesh::CertDir() const { return MIGRATECTL_TEST_CERT_DIR; }

bool Mesh::StartTenantSide() {
  const std::string certs = CertDir();
  const std::string seed = dir_.WriteFile("seed.yaml", Seed(certs));
  emulator_ = std::make_unique<ServerProcess>(
      crosstenant::testing::BinaryPath("tenant-emulator"),
      std::vector<std::string>{"--seed=" + seed, "--tls-cert=" + certs + "/emulator.pem",
                               "--tls-key=" + certs + "/emulator.key",
                               "--signing-key=" + certs + "/emulator-signing.key", "--address=127.0.0.1:0",
                               "--time-scale=3000", "--ready-file=" + dir() + "/emulator.ready"},
      dir());
  auto emulator = GrpcAddress(*emulator_, dir() + "/emulator.ready", "address");
  if (!emulator) {
    ADD_FAILURE() << "tenant-emulator did not start: " << emulator_->Stderr();
    return false;
  }
  emulator_address_ = *emulator;
  if (!StartConnector()) return false;
  // migratectl reaches the mesh through its environment, as after the demo's `export` lines.
  setenv("MIGRATECTL_TLS_CA", (certs + "/ca.pem").c_str(), 1);
  setenv("MIGRATECTL_TLS_CERT", (certs + "/client-migratectl.pem").c_str(), 1);
  setenv("MIGRATECTL_TLS_KEY", (certs + "/client-migratectl.key").c_str(), 1);
  setenv("MIGRATECTL_TLS_SERVER_NAME", "localhost", 1);
  unsetenv("MIGRATECTL_FORMAT");
  return true;
}

bool Mesh::Start() {
  if (!StartTenantSide()) return false;
  const std::string certs = CertDir();
  const std::vector<std::string> server_tls = ServerTlsFlags();
  auto client_tls = [&](const std::string& identity) {
    return std::vector<std::string>{
        "--client-tls-ca=" + certs + "/ca.pem", "--client-tls-cert=" + certs + "/client-" + identity + ".pem",
        "--client-tls-key=" + certs + "/client-" + identity + ".key", "--client-tls-server-name=localhost"};
  };
  // The roles the demo ships (deploy/local/config): migratectl administers, the mesh operates.
  auto roles = [](const std::string& program) {
    return "--config=" + std::string(CROSSTENANT_SOURCE_DIR) + "/deploy/local/config/" + program + ".yaml";
  };
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  orchestrator_ = std::make_unique<ServerProcess>(
      crosstenant::testing::BinaryPath("orchestrator"),
      with(with(server_tls, {roles("orchestrator"), "--ready-file=" + dir() + "/orchestrator.ready",
                             "--sqlite-path=" + dir() + "/o.db", "--connector-address=" + connector_address_,
                             "--poll-interval=1s"}),
           client_tls("orchestrator")),
      dir());
  auto orchestrator = GrpcAddress(*orchestrator_, dir() + "/orchestrator.ready", "grpc_address");
  if (!orchestrator) {
    ADD_FAILURE() << "orchestrator did not start: " << orchestrator_->Stderr();
    return false;
  }
  orchestrator_address_ = *orchestrator;
  worker_ = std::make_unique<ServerProcess>(
      crosstenant::testing::BinaryPath("worker"),
      with(with(server_tls, {roles("worker"), "--ready-file=" + dir() + "/worker.ready", "--worker-id=worker-1",
                             "--orchestrator-address=" + orchestrator_address_,
                             "--connector-address=" + connector_address_, "--concurrency=8"}),
           client_tls("worker")),
      dir());
  if (!worker_->WaitForReadyFile(dir() + "/worker.ready")) {
    ADD_FAILURE() << "worker did not start: " << worker_->Stderr();
    return false;
  }
  setenv("MIGRATECTL_ORCHESTRATOR", orchestrator_address_.c_str(), 1);
  return true;
}

std::vector<std::string> Mesh::ServerTlsFlags() const {
  const std::string certs = CertDir();
  return {"--tls-cert=" + certs + "/server.pem",
          "--tls-key=" + certs + "/server.key",
          "--tls-ca=" + certs + "/ca.pem",
          "--grpc-address=127.0.0.1:0",
          "--metrics-address=",
          "--log-format=json"};
}

bool Mesh::StartConnector() {
  const std::string certs = CertDir();
  std::vector<std::string> args = ServerTlsFlags();
  for (const std::string& arg :
       {"--config=" + std::string(CROSSTENANT_SOURCE_DIR) + "/deploy/local/config/tenant-connector.yaml",
        "--ready-file=" + dir() + "/connector.ready", "--upstream-connect-to=*:443:" + emulator_address_,
        "--upstream-ca-file=" + certs + "/ca.pem", "--state-dir=" + dir() + "/connector-state",
        "--credential-file-dirs=" + certs + "," + std::filesystem::temp_directory_path().string()}) {
    args.push_back(arg);
  }
  std::filesystem::remove(dir() + "/connector.ready");
  connector_ = std::make_unique<ServerProcess>(crosstenant::testing::BinaryPath("tenant-connector"), args, dir());
  auto connector = GrpcAddress(*connector_, dir() + "/connector.ready", "grpc_address");
  if (!connector) {
    ADD_FAILURE() << "tenant-connector did not start: " << connector_->Stderr();
    return false;
  }
  connector_address_ = *connector;
  setenv("MIGRATECTL_CONNECTOR", connector_address_.c_str(), 1);
  return true;
}

bool Mesh::StopConnector() {
  connector_->Signal(SIGTERM);
  const std::optional<int> code = connector_->WaitForExit(std::chrono::seconds(30));
  EXPECT_EQ(code, 0) << connector_->Stderr();
  return code == 0;
}

CliResult Mesh::Run(const std::vector<std::string>& args, std::chrono::seconds timeout) {
  const int run = ++runs_;
  const std::string out_path = absl::StrCat(dir(), "/run", run, ".out");
  const std::string err_path = absl::StrCat(dir(), "/run", run, ".err");
  const std::string binary = crosstenant::testing::BinaryPath("migratectl");
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = open("/dev/null", O_RDONLY);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (chdir(dir().c_str()) != 0) _exit(126);
    std::vector<std::string> storage = args;
    std::vector<char*> argv = {const_cast<char*>(binary.c_str())};
    for (std::string& arg : storage) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  CliResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "migratectl did not finish in time: " << Quote(args.empty() ? "" : args[0]);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

std::unique_ptr<ServerProcess> Mesh::Spawn(const std::vector<std::string>& args) {
  return std::make_unique<ServerProcess>(crosstenant::testing::BinaryPath("migratectl"), args, dir());
}

std::vector<std::string> Mesh::CertificateFlags() const {
  return {"--certificate=" + CertDir() + "/migration-app.pem",
          "--private-key-file=" + CertDir() + "/migration-app.key"};
}

std::vector<std::string> Mesh::ConnectArgs(const std::string& role, const std::string& tenant, const std::string& id,
                                           const std::vector<std::string>& extra) const {
  std::vector<std::string> args = {"connect", "--role=" + role, "https://" + tenant + "-admin.sharepoint.com",
                                   "--id=" + id,
                                   std::string("--client-id=") + (tenant == "fabrikam" ? kFabrikamApp : kContosoApp)};
  const std::vector<std::string> certificate = CertificateFlags();
  args.insert(args.end(), certificate.begin(), certificate.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

bool Mesh::ConnectBoth() {
  CliResult source = Run(ConnectArgs("source", "contoso", "contoso"));
  // The target with the admin URL as a flag, the other spelling.
  std::vector<std::string> target_args = {"connect", "--role=target",
                                          "--admin-url=https://fabrikam-admin.sharepoint.com", "--id=fabrikam",
                                          std::string("--client-id=") + kFabrikamApp};
  for (const std::string& flag : CertificateFlags()) target_args.push_back(flag);
  CliResult target = Run(target_args);
  EXPECT_EQ(source.exit_code, 0) << source.out << source.err;
  EXPECT_EQ(target.exit_code, 0) << target.out << target.err;
  return source.exit_code == 0 && target.exit_code == 0;
}

std::string Mesh::EmulatorAdmin(const std::string& path, const std::string& json_body) {
  const std::string out = absl::StrCat(dir(), "/admin", ++runs_, ".json");
  std::string command = absl::StrCat("curl -fsS --connect-to ::", emulator_address_, " --cacert ", Quote(CertDir()),
                                     "/ca.pem -o ", Quote(out));
  if (!json_body.empty()) absl::StrAppend(&command, " -H 'Content-Type: application/json' -d ", Quote(json_body));
  absl::StrAppend(&command, " ", Quote("https://login.microsoftonline.com" + path));
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return ReadFile(out);
}

std::string Mesh::ReadFile(const std::string& path) const {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace crosstenant::migratectl::testing
