// Starts each real server binary (tenant-connector, orchestrator, worker) on loopback port 0 and
// checks what the bootstrap promises: health, metrics, config errors, graceful shutdown and mTLS.

#include <signal.h>

#include <chrono>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <thread>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "crosstenant/v1/diagnostics.grpc.pb.h"
#include "crosstenant/v1/orchestrator.pb.h"
#include "crosstenant/v1/tenant_connector.pb.h"
#include "crosstenant/v1/worker.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/tls.h"
#include "tests/support/server_process.h"

namespace crosstenant {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ServerProcess;
using testing::TempDir;

struct Binary {
  std::string name;
  std::string service;
  std::string metrics_prefix;
  // The service's descriptor; reaching it through a message links the generated file in.
  const google::protobuf::ServiceDescriptor* descriptor;
};

void PrintTo(const Binary& binary, std::ostream* out) { *out << binary.name; }

std::chrono::system_clock::time_point In(std::chrono::milliseconds duration) {
  return std::chrono::system_clock::now() + duration;
}

class ServerBinaryTest : public ::testing::TestWithParam<Binary> {
 protected:
  // Starts the binary with loopback port-0 addresses plus `extra` arguments.
  std::unique_ptr<ServerProcess> Start(std::vector<std::string> extra = {}) {
    ready_file_ = dir_.path() + "/ready-" + std::to_string(++starts_) + ".json";
    std::vector<std::string> args = {"--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
                                     "--health-address=127.0.0.1:0", "--ready-file=" + ready_file_,
                                     "--log-format=json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ServerProcess>(testing::BinaryPath(GetParam().name), args, dir_.path());
  }

  nlohmann::json WaitReady(ServerProcess& process) {
    auto ready = process.WaitForReadyFile(ready_file_);
    EXPECT_TRUE(ready.has_value()) << process.Stderr();
    return ready.value_or(nlohmann::json::object());
  }

  static HealthCheckResponse::ServingStatus Check(const std::string& address, const std::string& service,
                                                  grpc::Status* status_out = nullptr) {
    auto stub = Health::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(5)));
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status status = stub->Check(&context, request, &response);
    if (status_out) *status_out = status;
    return status.ok() ? response.status() : HealthCheckResponse::UNKNOWN;
  }

  TempDir dir_;
  std::string ready_file_;
  int starts_ = 0;
};

TEST_P(ServerBinaryTest, ServesHealthOnBothAddressesOnceReady) {
  auto process = Start();
  nlohmann::json ready = WaitReady(*process);
  const std::string grpc_address = ready.value("grpc_address", "");
  const std::string health_address = ready.value("health_address", "");
  ASSERT_THAT(grpc_address, HasSubstr("127.0.0.1:"));
  ASSERT_NE(grpc_address, "127.0.0.1:0");
  EXPECT_EQ(ready.value("service", ""), GetParam().name);

  for (const std::string& address : {grpc_address, health_address}) {
    EXPECT_EQ(Check(address, ""), HealthCheckResponse::SERVING) << address;
    EXPECT_EQ(Check(address, GetParam().service), HealthCheckResponse::SERVING) << address;
    EXPECT_EQ(Check(address, "crosstenant.v1.Diagnostics"), HealthCheckResponse::SERVING) << address;
    grpc::Status status;
    Check(address, "no.such.Service", &status);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << address;
  }

  // The health-only address serves nothing but health.
  auto diagnostics =
      crosstenant::v1::Diagnostics::NewStub(grpc::CreateChannel(health_address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(In(std::chrono::seconds(5)));
  crosstenant::v1::GetServerInfoResponse info;
  EXPECT_EQ(diagnostics->GetServerInfo(&context, {}, &info).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

// The environment of process `pid`, as "NAME=value" entries.
std::vector<std::string> EnvironmentOf(pid_t pid) {
  std::ifstream file(absl::StrCat("/proc/", pid, "/environ"), std::ios::binary);
  std::vector<std::string> entries;
  for (std::string entry; std::getline(file, entry, '\0');) entries.push_back(entry);
  return entries;
}

// The server starts itself again in place with glibc's per-thread caches off (what idle threads
// cached stayed resident), and leaves an operator's own setting of them alone.
TEST_P(ServerBinaryTest, RunsWithGlibcThreadCachesOffUnlessTheOperatorSetsThem) {
  const char* inherited = std::getenv("GLIBC_TUNABLES");
  const std::optional<std::string> saved = inherited == nullptr ? std::nullopt : std::optional<std::string>(inherited);
  unsetenv("GLIBC_TUNABLES");
  auto plain = Start();
  const nlohmann::json ready = WaitReady(*plain);
  setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=3", 1);
  auto tuned = Start();
  if (saved.has_value()) {
    setenv("GLIBC_TUNABLES", saved->c_str(), 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }

  EXPECT_EQ(ready.value("pid", 0), plain->pid()) << "started again in place, not as a child";
  EXPECT_THAT(EnvironmentOf(plain->pid()), ::testing::Contains("GLIBC_TUNABLES=glibc.malloc.tcache_count=0"));
  WaitReady(*tuned);
  EXPECT_THAT(EnvironmentOf(tuned->pid()), ::testing::Contains("GLIBC_TUNABLES=glibc.malloc.tcache_count=3"));
}

TEST_P(ServerBinaryTest, AnswersDiagnosticsAndEmptyRequestsToEveryMethodWithoutAnInternalError) {
  auto process = Start();
  nlohmann::json ready = WaitReady(*process);
  auto channel = grpc::CreateChannel(ready.value("grpc_address", ""), grpc::InsecureChannelCredentials());

  auto diagnostics = crosstenant::v1::Diagnostics::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(In(std::chrono::seconds(5)));
  crosstenant::v1::GetServerInfoResponse info;
  ASSERT_TRUE(diagnostics->GetServerInfo(&context, {}, &info).ok());
  EXPECT_EQ(info.service(), GetParam().name);
  EXPECT_EQ(info.grpc_address(), ready.value("grpc_address", ""));
  EXPECT_EQ(info.metrics_address(), ready.value("metrics_address", ""));
  EXPECT_FALSE(info.mtls());
  EXPECT_FALSE(info.version().empty());

  // Every unary method of the service's API, called with an empty message: an answer that names the
  // problem (or UNIMPLEMENTED for what is not built yet), never a crash, UNKNOWN or INTERNAL.
  const auto* descriptor = GetParam().descriptor;
  ASSERT_EQ(descriptor->full_name(), GetParam().service);
  grpc::GenericStub generic(channel);
  for (int i = 0; i < descriptor->method_count(); ++i) {
    const auto* method = descriptor->method(i);
    if (method->client_streaming() || method->server_streaming()) continue;
    const std::string path = "/" + GetParam().service + "/" + method->name();
    grpc::ClientContext call_context;
    call_context.set_deadline(In(std::chrono::seconds(5)));
    grpc::Slice empty_message("");
    grpc::ByteBuffer request(&empty_message, 1), response;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&call_context, path, grpc::StubOptions(), &request, &response,
                      [&done](grpc::Status s) { done.set_value(s); });
    const grpc::Status status = done.get_future().get();
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNKNOWN) << path << ": " << status.error_message();
    EXPECT_NE(status.error_code(), grpc::StatusCode::INTERNAL) << path << ": " << status.error_message();
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNAVAILABLE) << path << ": " << status.error_message();
    EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << path;
  }
  EXPECT_EQ(Check(ready.value("grpc_address", ""), ""), HealthCheckResponse::SERVING) << "still alive";
}

TEST_P(ServerBinaryTest, ExportsGrpcProcessAndBuildMetrics) {
  auto process = Start();
  nlohmann::json ready = WaitReady(*process);
  Check(ready.value("grpc_address", ""), "");

  auto metrics = testing::HttpGet("http://" + ready.value("metrics_address", "") + "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(*metrics, HasSubstr("grpc_server_started_total{grpc_method=\"Check\",grpc_service=\"grpc.health.v1."
                                  "Health\",grpc_type=\"unary\"} 1"));
  EXPECT_THAT(*metrics, HasSubstr("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Check\","
                                  "grpc_service=\"grpc.health.v1.Health\",grpc_type=\"unary\"} 1"));
  EXPECT_THAT(*metrics, HasSubstr("grpc_server_handling_seconds_bucket{grpc_code=\"OK\",grpc_method=\"Check\""));
  // Every method of the service's API is pre-registered at zero, with Go code spellings.
  EXPECT_THAT(*metrics, HasSubstr("grpc_code=\"InvalidArgument\""));
  EXPECT_THAT(*metrics, HasSubstr("grpc_service=\"" + GetParam().service + "\""));
  EXPECT_THAT(*metrics, HasSubstr("process_cpu_seconds_total "));
  EXPECT_THAT(*metrics, HasSubstr("process_resident_memory_bytes "));
  EXPECT_THAT(*metrics, HasSubstr("process_open_fds "));
  EXPECT_THAT(*metrics, HasSubstr("process_start_time_seconds "));
  EXPECT_THAT(*metrics, HasSubstr(GetParam().metrics_prefix + "_build_info{"));
  EXPECT_THAT(*metrics, Not(HasSubstr("grpc_code=\"UNIMPLEMENTED\"")));
}

TEST_P(ServerBinaryTest, RejectsBadConfigNamingTheKeyAndTheFile) {
  const std::string config = dir_.WriteFile("bad.yaml",
                                            "grpc_address: 127.0.0.1:0\n"
                                            "log_format: xml\n"
                                            "tls:\n"
                                            "  reload_interval: soon\n"
                                            "grpc_adress: 127.0.0.1:0\n");
  auto process = Start({"--config=" + config});
  EXPECT_EQ(process->WaitForExit(std::chrono::seconds(10)), 2);
  const std::string err = process->Stderr();
  EXPECT_THAT(err, HasSubstr("bad.yaml:2:13: log_format: expected json or text, got 'xml'"));
  EXPECT_THAT(err, HasSubstr("bad.yaml:4:20: tls.reload_interval: expected a duration"));
  EXPECT_THAT(err, HasSubstr("bad.yaml:5:1: grpc_adress: unknown key"));
}

TEST_P(ServerBinaryTest, RejectsBadFlagsAndMissingConfigFile) {
  auto unknown = Start({"--grpc-adress=127.0.0.1:0"});
  EXPECT_EQ(unknown->WaitForExit(std::chrono::seconds(10)), 2);
  EXPECT_THAT(unknown->Stderr(), HasSubstr("unknown flag --grpc-adress"));

  auto bad_address = Start({"--grpc-address=localhost"});
  EXPECT_EQ(bad_address->WaitForExit(std::chrono::seconds(10)), 2);
  EXPECT_THAT(bad_address->Stderr(), HasSubstr("grpc_address: 'localhost' is not HOST:PORT"));

  auto missing = Start({"--config=" + dir_.path() + "/absent.yaml"});
  EXPECT_EQ(missing->WaitForExit(std::chrono::seconds(10)), 2);
  EXPECT_THAT(missing->Stderr(), HasSubstr("cannot read config file"));
}

TEST_P(ServerBinaryTest, FlagsOverrideTheConfigFile) {
  const std::string config = dir_.WriteFile("good.yaml",
                                            "grpc_address: 127.0.0.1:1\n"  // overridden by the flag below
                                            "shutdown_grace: 3s\n"
                                            "log_format: text\n");
  auto process = Start({"--config=" + config});
  nlohmann::json ready = WaitReady(*process);
  EXPECT_NE(ready.value("grpc_address", ""), "127.0.0.1:1");
  EXPECT_EQ(Check(ready.value("grpc_address", ""), ""), HealthCheckResponse::SERVING);
}

TEST_P(ServerBinaryTest, SigtermLetsAnInFlightCallFinishThenExitsZero) {
  auto process = Start({"--shutdown-grace=10s"});
  nlohmann::json ready = WaitReady(*process);
  const std::string address = ready.value("grpc_address", "");
  auto stub = crosstenant::v1::Diagnostics::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));

  grpc::ClientContext context;
  context.set_deadline(In(std::chrono::seconds(20)));
  crosstenant::v1::EchoRequest request;
  request.set_payload("still here");
  request.mutable_delay()->set_seconds(2);
  crosstenant::v1::EchoResponse response;
  std::mutex mutex;
  std::condition_variable done;
  std::optional<grpc::Status> status;
  stub->async()->Echo(&context, &request, &response, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mutex);
    status = s;
    done.notify_one();
  });

  // The call is in flight once the server has counted it as started.
  const std::string started = "grpc_server_started_total{grpc_method=\"Echo\"";
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < give_up) {
    auto metrics = testing::HttpGet("http://" + ready.value("metrics_address", "") + "/metrics");
    if (metrics && metrics->find(started) != std::string::npos &&
        metrics->find(started + ",grpc_service=\"crosstenant.v1.Diagnostics\",grpc_type=\"unary\"} 1") !=
            std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto signalled = std::chrono::steady_clock::now();
  process->Signal(SIGTERM);

  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(done.wait_for(lock, std::chrono::seconds(15), [&] { return status.has_value(); }));
  }
  EXPECT_TRUE(status->ok()) << status->error_message();
  EXPECT_EQ(response.payload(), "still here");
  EXPECT_EQ(process->WaitForExit(std::chrono::seconds(15)), 0) << process->Stderr();
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, std::chrono::seconds(10) + std::chrono::seconds(3));
  EXPECT_THAT(process->Stderr(), HasSubstr("\"message\":\"stopping\""));
  std::ifstream ready_file(ready_file_);
  EXPECT_FALSE(ready_file.good()) << "the ready file is removed on a clean stop";
}

// gRPC core's own lines (here its API trace) come out as JSON log lines like the service's, not as
// gRPC's plain text among them.
TEST_P(ServerBinaryTest, GrpcCoreLinesAreJsonLogLines) {
  setenv("GRPC_TRACE", "api", 1);
  setenv("GRPC_VERBOSITY", "INFO", 1);
  auto process = Start();
  unsetenv("GRPC_TRACE");
  unsetenv("GRPC_VERBOSITY");
  nlohmann::json ready = WaitReady(*process);
  EXPECT_EQ(Check(ready.value("grpc_address", ""), ""), HealthCheckResponse::SERVING);
  process->Signal(SIGTERM);
  EXPECT_EQ(process->WaitForExit(std::chrono::seconds(15)), 0) << process->Stderr();
  int grpc_lines = 0;
  std::istringstream lines(process->Stderr());
  for (std::string line; std::getline(lines, line);) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(parsed.is_object()) << "not a JSON log line: " << line;
    if (parsed.value("source", "") == "grpc") ++grpc_lines;
  }
  EXPECT_GT(grpc_lines, 0) << "no gRPC trace line reached the log";
}

TEST_P(ServerBinaryTest, SigtermCutsCallsThatOutliveTheGrace) {
  auto process = Start({"--shutdown-grace=500ms"});
  nlohmann::json ready = WaitReady(*process);
  auto stub = crosstenant::v1::Diagnostics::NewStub(
      grpc::CreateChannel(ready.value("grpc_address", ""), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(In(std::chrono::seconds(30)));
  crosstenant::v1::EchoRequest request;
  request.mutable_delay()->set_seconds(30);
  crosstenant::v1::EchoResponse response;
  std::promise<grpc::Status> result;
  stub->async()->Echo(&context, &request, &response, [&](grpc::Status s) { result.set_value(s); });
  // Signal only once the server counts the call as started, so that the failure below is the cut,
  // not a call that never arrived.
  const std::string started =
      "grpc_server_started_total{grpc_method=\"Echo\",grpc_service=\"crosstenant.v1."
      "Diagnostics\",grpc_type=\"unary\"} 1";
  bool arrived = false;
  for (int i = 0; i < 250 && !arrived; ++i) {
    auto metrics = testing::HttpGet("http://" + ready.value("metrics_address", "") + "/metrics");
    arrived = metrics.has_value() && metrics->find(started) != std::string::npos;
    if (!arrived) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(arrived) << "the Echo call never reached the server";
  process->Signal(SIGTERM);
  EXPECT_EQ(process->WaitForExit(std::chrono::seconds(8)), 0) << process->Stderr();
  auto future = result.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const grpc::Status cut = future.get();
  EXPECT_FALSE(cut.ok());
  EXPECT_NE(cut.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << "the server, not the deadline, ends the call";
}

class MutualTlsTest : public ServerBinaryTest {
 protected:
  void SetUp() override {
    certs_ = dir_.path() + "/certs";
    const std::string command =
        std::string("bash ") + CROSSTENANT_SOURCE_DIR + "/deploy/local/dev-certs.sh " + certs_ + " >/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0);
  }

  std::vector<std::string> TlsArgs() const {
    return {"--tls-cert=" + certs_ + "/server.pem", "--tls-key=" + certs_ + "/server.key",
            "--tls-ca=" + certs_ + "/ca.pem"};
  }

  grpc::Status CallInfo(const std::string& address, const ClientTlsConfig& tls,
                        crosstenant::v1::GetServerInfoResponse* info) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto stub =
        crosstenant::v1::Diagnostics::NewStub(grpc::CreateCustomChannel(address, MakeChannelCredentials(tls), args));
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(5)));
    return stub->GetServerInfo(&context, {}, info);
  }

  // Writes a server config whose `tls` section has the server's certificate, key and CA from certs_,
  // followed by `more` (YAML lines: more keys of `tls`, then other sections); its path.
  std::string WriteTlsConfig(const std::string& more) {
    return dir_.WriteFile("tls.yaml", absl::StrCat("tls:\n  cert: ", certs_, "/server.pem\n  key: ", certs_,
                                                   "/server.key\n  ca: ", certs_, "/ca.pem\n", more));
  }

  // Issues a client certificate from the test CA with common name `cn` and SANs `san` (openssl syntax,
  // "DNS:a,URI:b"); its credentials.
  ClientTlsConfig Issue(const std::string& name, const std::string& cn, const std::string& san) {
    const std::string base = certs_ + "/" + name;
    std::string subject;  // openssl reads '/' as the start of the next field unless escaped
    for (char c : cn) subject += c == '/' ? std::string("\\/") : std::string(1, c);
    const std::string command =
        "cd " + certs_ + " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=" + subject +
        "' -keyout " + base + ".key -out " + base +
        ".csr 2>/dev/null && printf 'basicConstraints=CA:FALSE\n"
        "extendedKeyUsage=clientAuth\nsubjectAltName=" +
        san + "\n' > " + base + ".ext && openssl x509 -req -in " + base +
        ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile " + base + ".ext -out " + base +
        ".pem 2>/dev/null";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    return {certs_ + "/ca.pem", base + ".pem", base + ".key"};
  }

  std::string certs_;
};

TEST_P(MutualTlsTest, RefusesClientsWithoutCertificateAndAcceptsTheMesh) {
  auto process = Start(TlsArgs());
  nlohmann::json ready = WaitReady(*process);
  const std::string address = ready.value("grpc_address", "");
  EXPECT_TRUE(ready.value("mtls", false));

  crosstenant::v1::GetServerInfoResponse info;
  EXPECT_FALSE(CallInfo(address, {certs_ + "/ca.pem", "", ""}, &info).ok()) << "no client certificate";
  EXPECT_FALSE(CallInfo(address, {}, &info).ok()) << "plaintext";

  ASSERT_TRUE(
      CallInfo(address, {certs_ + "/ca.pem", certs_ + "/client-worker.pem", certs_ + "/client-worker.key"}, &info)
          .ok());
  EXPECT_TRUE(info.mtls());
  EXPECT_THAT(info.caller_identities(), ::testing::Contains("worker"));

  // Kubernetes probes still reach the plaintext health-only address.
  EXPECT_EQ(Check(ready.value("health_address", ""), ""), HealthCheckResponse::SERVING);
}

TEST_P(MutualTlsTest, AllowedPeersRefusesOtherIdentities) {
  const std::string config = WriteTlsConfig("  allowed_peers: [orchestrator]\n");
  auto process = Start({"--config=" + config});
  nlohmann::json ready = WaitReady(*process);
  const std::string address = ready.value("grpc_address", "");
  crosstenant::v1::GetServerInfoResponse info;
  grpc::Status refused =
      CallInfo(address, {certs_ + "/ca.pem", certs_ + "/client-worker.pem", certs_ + "/client-worker.key"}, &info);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();
  // The refusal names the caller, the method and the setting that refused it, and is counted.
  EXPECT_THAT(refused.error_message(), HasSubstr("client certificate (worker"));
  EXPECT_THAT(refused.error_message(), HasSubstr("may not call /crosstenant.v1.Diagnostics/GetServerInfo"));
  EXPECT_THAT(refused.error_message(), HasSubstr("tls.allowed_peers"));
  auto metrics = testing::HttpGet("http://" + ready.value("metrics_address", "") + "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(*metrics,
              HasSubstr("grpc_server_handled_total{grpc_code=\"PermissionDenied\",grpc_method=\"GetServerInfo\","
                        "grpc_service=\"crosstenant.v1.Diagnostics\",grpc_type=\"unary\"} 1"));
  EXPECT_TRUE(CallInfo(address,
                       {certs_ + "/ca.pem", certs_ + "/client-orchestrator.pem", certs_ + "/client-orchestrator.key"},
                       &info)
                  .ok());
}

// Identities written as SPIFFE IDs bind a caller to its namespace and service account: a certificate
// from the same CA with the right bare name, a SPIFFE ID of another namespace, or a common name that
// spells the SPIFFE ID is refused; only the URI SAN itself is admitted.
TEST_P(MutualTlsTest, SpiffeIdentitiesAdmitOnlyTheirOwnNamespacesUriSan) {
  const std::string operator_id = "spiffe://cluster.local/ns/crosstenant/sa/migratectl";
  const std::string config = WriteTlsConfig(absl::StrCat("  allowed_peers: [", operator_id,
                                                         ", reader]\n"
                                                         "authorization:\n"
                                                         "  read: [reader]\n"
                                                         "  administer: [",
                                                         operator_id, "]\n"));
  auto process = Start({"--config=" + config});
  nlohmann::json ready = WaitReady(*process);
  const std::string address = ready.value("grpc_address", "");
  crosstenant::v1::GetServerInfoResponse info;

  const ClientTlsConfig right = Issue("right", "migratectl", "DNS:migratectl,URI:" + operator_id);
  ASSERT_TRUE(CallInfo(address, right, &info).ok());
  EXPECT_THAT(info.caller_identities(), ::testing::Contains(operator_id));

  const ClientTlsConfig other_namespace =
      Issue("other-ns", "migratectl", "DNS:migratectl,URI:spiffe://cluster.local/ns/team-b/sa/migratectl");
  const ClientTlsConfig bare_name = Issue("bare", "migratectl", "DNS:migratectl");
  const ClientTlsConfig forged_cn = Issue("forged-cn", operator_id, "DNS:someone");
  for (const auto& [what, tls] : {std::pair<std::string, ClientTlsConfig>{"another namespace", other_namespace},
                                  {"the bare name", bare_name},
                                  {"the SPIFFE ID as common name", forged_cn}}) {
    const grpc::Status refused = CallInfo(address, tls, &info);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what << ": " << refused.error_message();
  }

  // A bare identity still matches a DNS SAN whatever the common name says.
  const ClientTlsConfig reader = Issue("reader-dns", "not-the-reader", "DNS:reader");
  EXPECT_TRUE(CallInfo(address, reader, &info).ok()) << "DNS SAN reader";
}

TEST_P(MutualTlsTest, IncompleteTlsSettingsStopStartUp) {
  auto process = Start({"--tls-cert=" + certs_ + "/server.pem"});
  EXPECT_EQ(process->WaitForExit(std::chrono::seconds(10)), 2);
  EXPECT_THAT(process->Stderr(), HasSubstr("tls.key: mTLS needs all three"));
}

const Binary kBinaries[] = {
    {"tenant-connector", "crosstenant.v1.TenantConnector", "tenant_connector",
     crosstenant::v1::CreateConnectionRequest::descriptor()->file()->service(0)},
    {"orchestrator", "crosstenant.v1.Orchestrator", "orchestrator",
     crosstenant::v1::CreateMigrationRequest::descriptor()->file()->service(0)},
    {"worker", "crosstenant.v1.Worker", "worker",
     crosstenant::v1::GetWorkerStatusRequest::descriptor()->file()->service(0)},
};

std::string Name(const ::testing::TestParamInfo<Binary>& info) {
  std::string name = info.param.name;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Servers, ServerBinaryTest, ::testing::ValuesIn(kBinaries), Name);
INSTANTIATE_TEST_SUITE_P(Servers, MutualTlsTest, ::testing::ValuesIn(kBinaries), Name);

}  // namespace
}  // namespace crosstenant
