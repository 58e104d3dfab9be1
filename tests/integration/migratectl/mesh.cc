#include "tests/integration/migratectl/mesh.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace crosstenant::migratectl::testing {
namespace {

// Two tenants: contoso (NAM, EUR) and fabrikam (NAM). alice and carol move cleanly, bob's OneDrive is
// in EUR, taken's target already has a OneDrive, o'brien has an apostrophe, dave has no target user.
// `app_certificate` is the emulator's (Emulator::AppCertificate).
std::string Seed(const std::string& app_certificate) {
  return absl::StrCat(R"(settings:
  dormant_period: 1h
  device_code_interval: 5s
tenants:
  - name: contoso
    id: )",
                      kContosoTenantId, R"(
    geos:
      - {location: NAM, name: contoso}
      - {location: EUR, name: contosoeur}
    apps:
      - client_id: )",
                      kContosoApp, R"(
        secret: )",
                      kContosoSecret, R"(
        certificate: )",
                      app_certificate, R"(
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
      - client_id: )",
                      kFabrikamApp, R"(
        secret: )",
                      kFabrikamSecret, R"(
        certificate: )",
                      app_certificate, R"(
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

}  // namespace

std::string Mesh::CertDir() const { return MIGRATECTL_TEST_CERT_DIR; }

std::vector<std::string> Mesh::ServerFlags(const std::string& program) const {
  const std::string certs = CertDir();
  return {"--tls-cert=" + certs + "/server.pem", "--tls-key=" + certs + "/server.key", "--tls-ca=" + certs + "/ca.pem",
          "--metrics-address=",
          // The roles the demo ships: migratectl administers, the mesh operates.
          "--config=" + std::string(CROSSTENANT_SOURCE_DIR) + "/deploy/local/config/" + program + ".yaml"};
}

std::vector<std::string> Mesh::ClientTlsFlags(const std::string& identity) const {
  const std::string certs = CertDir();
  return {"--client-tls-ca=" + certs + "/ca.pem", "--client-tls-cert=" + certs + "/client-" + identity + ".pem",
          "--client-tls-key=" + certs + "/client-" + identity + ".key", "--client-tls-server-name=localhost"};
}

bool Mesh::StartTenantSide() {
  if (!emulator_.Start({"--time-scale=3000"}, Seed(emulator_.AppCertificate()))) {
    ADD_FAILURE() << emulator_.error();
    return false;
  }
  if (!StartConnector()) return false;
  // migratectl reaches the mesh through its environment, as after the demo's `export` lines.
  const std::string certs = CertDir();
  setenv("MIGRATECTL_TLS_CA", (certs + "/ca.pem").c_str(), 1);
  setenv("MIGRATECTL_TLS_CERT", (certs + "/client-migratectl.pem").c_str(), 1);
  setenv("MIGRATECTL_TLS_KEY", (certs + "/client-migratectl.key").c_str(), 1);
  setenv("MIGRATECTL_TLS_SERVER_NAME", "localhost", 1);
  unsetenv("MIGRATECTL_FORMAT");
  return true;
}

bool Mesh::Start() {
  if (!StartTenantSide()) return false;
  std::vector<std::string> orchestrator = ServerFlags("orchestrator");
  orchestrator.push_back("--poll-interval=1s");
  for (std::string& flag : ClientTlsFlags("orchestrator")) orchestrator.push_back(std::move(flag));
  if (!orchestrator_.Start(connector_.address(), orchestrator)) {
    ADD_FAILURE() << orchestrator_.error();
    return false;
  }
  std::vector<std::string> worker = ServerFlags("worker");
  worker.push_back("--concurrency=8");
  for (std::string& flag : ClientTlsFlags("worker")) worker.push_back(std::move(flag));
  if (!worker_.Start("worker-1", orchestrator_.address(), connector_.address(), worker)) {
    ADD_FAILURE() << worker_.error();
    return false;
  }
  setenv("MIGRATECTL_ORCHESTRATOR", orchestrator_.address().c_str(), 1);
  return true;
}

bool Mesh::StartConnector() {
  if (!connector_.Start(emulator_, dir() + "/connector-state", ServerFlags("tenant-connector"))) {
    ADD_FAILURE() << connector_.error();
    return false;
  }
  setenv("MIGRATECTL_CONNECTOR", connector_.address().c_str(), 1);
  return true;
}

bool Mesh::StopConnector() {
  const int code = connector_.Stop();
  EXPECT_EQ(code, 0) << connector_.Stderr();
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
      ADD_FAILURE() << "migratectl did not finish in time: " << (args.empty() ? "" : args[0]);
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
  return {"--certificate=" + emulator_.AppCertificate(), "--private-key-file=" + emulator_.AppKey()};
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
  const nlohmann::json body = json_body.empty() ? nlohmann::json() : nlohmann::json::parse(json_body);
  const nlohmann::json answer = emulator_.Admin(json_body.empty() ? "GET" : "POST", path, body);
  return answer.is_null() ? "" : answer.dump();
}

std::string Mesh::ReadFile(const std::string& path) const {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace crosstenant::migratectl::testing
