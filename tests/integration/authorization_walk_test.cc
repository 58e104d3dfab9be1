// Walks every RPC of every service with every identity, over mTLS against the real binaries started
// with the local mesh's shipped role configs (deploy/local/config/*.yaml): PERMISSION_DENIED exactly
// where the service's role table and the caller's role say so, and anything else (often
// INVALID_ARGUMENT for an empty request: past authorization) everywhere else. Methods come from the
// generated descriptor pool, so a new RPC is walked without editing this test. The refused calls that
// would have changed something are then found in the connector's and the orchestrator's audit trails.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crosstenant/v1/diagnostics.pb.h"
#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "crosstenant/v1/tenant_connector.grpc.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "services/common/authorization.h"
#include "services/common/tls.h"
#include "services/orchestrator/grpc/orchestrator_service.h"
#include "services/tenant_connector/grpc/tenant_connector_service.h"
#include "services/worker/grpc/worker_service.h"
#include "tests/support/server_process.h"

namespace crosstenant {
namespace {

namespace v1 = crosstenant::v1;
using ::testing::HasSubstr;
using testing::ServerProcess;
using testing::TempDir;

// The identities of the walk: the dev CA's client certificates (deploy/local/dev-certs.sh) and a
// certificate from the same CA that no config names.
const char* const kIdentities[] = {"reader", "orchestrator", "worker", "migratectl", "stranger"};

struct Server {
  std::string binary;
  std::string service;  // its API's full name
  const MethodRoles* roles;
  // The role each identity should have under the shipped config (0: none). Written out here, not read
  // from the config, so that a config granting more or less than intended fails the test.
  std::map<std::string, int> expected_roles;
};

constexpr int kNone = 0;
constexpr int kRead = static_cast<int>(Role::kRead);
constexpr int kOperate = static_cast<int>(Role::kOperate);
constexpr int kAdminister = static_cast<int>(Role::kAdminister);
constexpr int kNotServed = kAdminister + 1;  // a method no table has

std::vector<Server> Servers() {
  return {
      {"tenant-connector",
       "crosstenant.v1.TenantConnector",
       &tenant_connector::TenantConnectorMethodRoles(),
       {{"reader", kRead},
        {"orchestrator", kOperate},
        {"worker", kOperate},
        {"migratectl", kAdminister},
        {"stranger", kNone}}},
      {"orchestrator",
       "crosstenant.v1.Orchestrator",
       &orchestrator::OrchestratorMethodRoles(),
       {{"reader", kRead},
        {"orchestrator", kNone},
        {"worker", kOperate},
        {"migratectl", kAdminister},
        {"stranger", kNone}}},
      {"worker",
       "crosstenant.v1.Worker",
       &worker::WorkerMethodRoles(),
       {{"reader", kRead},
        {"orchestrator", kNone},
        {"worker", kNone},
        {"migratectl", kAdminister},
        {"stranger", kNone}}},
  };
}

class AuthorizationWalkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    certs_ = dir_->path() + "/certs";
    const std::string dev_certs =
        std::string("bash ") + CROSSTENANT_SOURCE_DIR + "/deploy/local/dev-certs.sh " + certs_ + " >/dev/null";
    ASSERT_EQ(std::system(dev_certs.c_str()), 0);
    // A client certificate from the same CA with a name no config lists.
    const std::string stranger =
        "cd " + certs_ +
        " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=stranger "
        "-keyout client-stranger.key -out stranger.csr 2>/dev/null && "
        "printf 'extendedKeyUsage=clientAuth\\nsubjectAltName=DNS:stranger\\n' > stranger.ext && "
        "openssl x509 -req -in stranger.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile stranger.ext "
        "-out client-stranger.pem 2>/dev/null";
    ASSERT_EQ(std::system(stranger.c_str()), 0);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::vector<std::string> Common(const std::string& binary) {
    return {"--config=" + std::string(CROSSTENANT_SOURCE_DIR) + "/deploy/local/config/" + binary + ".yaml",
            "--grpc-address=127.0.0.1:0",
            "--metrics-address=",
            "--ready-file=" + dir_->path() + "/" + binary + ".ready",
            "--tls-cert=" + certs_ + "/server.pem",
            "--tls-key=" + certs_ + "/server.key",
            "--tls-ca=" + certs_ + "/ca.pem"};
  }
  static std::vector<std::string> ClientTls(const std::string& identity) {
    return {"--client-tls-ca=" + certs_ + "/ca.pem", "--client-tls-cert=" + certs_ + "/client-" + identity + ".pem",
            "--client-tls-key=" + certs_ + "/client-" + identity + ".key", "--client-tls-server-name=localhost"};
  }

  // Starts `binary` with `extra` flags; its gRPC address, or "" (with a test failure) if it does not start.
  std::string Start(const std::string& binary, const std::vector<std::string>& extra) {
    std::vector<std::string> args = Common(binary);
    args.insert(args.end(), extra.begin(), extra.end());
    processes_.push_back(std::make_unique<ServerProcess>(testing::BinaryPath(binary), args, dir_->path()));
    auto ready = processes_.back()->WaitForReadyFile(dir_->path() + "/" + binary + ".ready");
    EXPECT_TRUE(ready.has_value()) << binary << ": " << processes_.back()->Stderr();
    return ready ? ready->value("grpc_address", "") : "";
  }

  std::shared_ptr<grpc::Channel> ChannelAs(const std::string& address, const std::string& identity) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    ClientTlsConfig tls{certs_ + "/ca.pem", certs_ + "/client-" + identity + ".pem",
                        certs_ + "/client-" + identity + ".key"};
    return grpc::CreateCustomChannel(address, MakeChannelCredentials(tls), args);
  }

  // The PERMISSION_DENIED records of `server`'s audit trail, read as migratectl.
  std::vector<v1::AuditRecord> RefusalsInTrail(const std::string& server, const std::string& address) {
    v1::ListAuditRecordsRequest request;
    request.set_failures_only(true);
    v1::ListAuditRecordsResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status status = server == "orchestrator" ? v1::Orchestrator::NewStub(ChannelAs(address, "migratectl"))
                                                         ->ListAuditRecords(&context, request, &response)
                                                   : v1::TenantConnector::NewStub(ChannelAs(address, "migratectl"))
                                                         ->ListAuditRecords(&context, request, &response);
    EXPECT_TRUE(status.ok()) << server << ": " << status.error_message();
    std::vector<v1::AuditRecord> refusals;
    for (const v1::AuditRecord& record : response.records()) {
      if (record.outcome() == "PERMISSION_DENIED") refusals.push_back(record);
    }
    return refusals;
  }

  inline static TempDir* dir_ = nullptr;
  inline static std::string certs_;
  std::vector<std::unique_ptr<ServerProcess>> processes_;
};

struct Call {
  std::string server;
  std::string identity;
  std::string method;
  int needed = 0;
  int has = 0;
  std::unique_ptr<grpc::ClientContext> context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
};

TEST_F(AuthorizationWalkTest, EveryRpcOfEveryServiceWithEveryIdentity) {
  const std::string connector = Start("tenant-connector", {});
  const std::string orchestrator = Start("orchestrator", [&] {
    std::vector<std::string> extra = {"--sqlite-path=" + dir_->path() + "/orchestrator.db",
                                      "--connector-address=" + connector};
    auto tls = ClientTls("orchestrator");
    extra.insert(extra.end(), tls.begin(), tls.end());
    return extra;
  }());
  const std::string worker = Start("worker", [&] {
    std::vector<std::string> extra = {"--worker-id=walk", "--orchestrator-address=" + orchestrator,
                                      "--connector-address=" + connector};
    auto tls = ClientTls("worker");
    extra.insert(extra.end(), tls.begin(), tls.end());
    return extra;
  }());
  ASSERT_FALSE(connector.empty() || orchestrator.empty() || worker.empty());
  const std::map<std::string, std::string> addresses = {
      {"tenant-connector", connector}, {"orchestrator", orchestrator}, {"worker", worker}};

  // Every service every server hosts: its API, Diagnostics, health and reflection.
  (void)crosstenant::v1::GetServerInfoRequest::descriptor();
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();

  std::vector<std::unique_ptr<Call>> calls;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  int walked_methods = 0;
  for (const Server& server : Servers()) {
    std::vector<std::pair<std::string, int>> methods;  // full method -> role needed
    for (const std::string& service :
         {server.service, std::string("crosstenant.v1.Diagnostics"), std::string("grpc.health.v1.Health")}) {
      const auto* descriptor = pool->FindServiceByName(service);
      ASSERT_NE(descriptor, nullptr) << service;
      const MethodRoles& roles = service == server.service ? *server.roles : CommonServiceRoles().at(service);
      for (int i = 0; i < descriptor->method_count(); ++i) {
        auto role = roles.find(descriptor->method(i)->name());
        ASSERT_NE(role, roles.end()) << service << "/" << descriptor->method(i)->name() << " has no role";
        methods.emplace_back("/" + service + "/" + descriptor->method(i)->name(), static_cast<int>(role->second));
      }
    }
    // Reflection's descriptor is not linked into the tests; its one method is read, in v1 (which buf and
    // grpcurl try first) and v1alpha.
    methods.emplace_back("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", kRead);
    methods.emplace_back("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", kRead);
    // And a method no table has: UNIMPLEMENTED to everyone, as gRPC answers an unknown method.
    methods.emplace_back("/" + server.service + "/NoSuchMethod", kNotServed);
    walked_methods += static_cast<int>(methods.size());

    for (const char* identity : kIdentities) {
      stubs.push_back(std::make_unique<grpc::GenericStub>(ChannelAs(addresses.at(server.binary), identity)));
      for (const auto& [method, needed] : methods) {
        auto call = std::make_unique<Call>();
        call->server = server.binary;
        call->identity = identity;
        call->method = method;
        call->needed = needed;
        call->has = server.expected_roles.at(identity);
        call->context = std::make_unique<grpc::ClientContext>();
        // Streaming methods that are let through keep streaming: a short deadline ends them.
        call->context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
        grpc::Slice empty("");
        call->request = grpc::ByteBuffer(&empty, 1);
        Call* raw = call.get();
        stubs.back()->UnaryCall(raw->context.get(), method, grpc::StubOptions(), &raw->request, &raw->response,
                                [raw](grpc::Status status) { raw->done.set_value(std::move(status)); });
        calls.push_back(std::move(call));
      }
    }
  }

  int denied = 0;
  for (const auto& call : calls) {
    const grpc::Status status = call->done.get_future().get();
    const std::string what = call->server + " " + call->method + " as " + call->identity + ": " +
                             std::to_string(status.error_code()) + " " + status.error_message();
    if (call->needed == kNotServed) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << what;
      EXPECT_THAT(status.error_message(), HasSubstr("NoSuchMethod")) << what;
    } else if (call->has < call->needed) {
      ++denied;
      EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what;
      EXPECT_THAT(status.error_message(), HasSubstr(call->identity)) << what;
      EXPECT_THAT(status.error_message(), HasSubstr(call->method.substr(0, 200))) << what;
      if (call->needed <= kAdminister) {
        EXPECT_THAT(status.error_message(),
                    HasSubstr("needs role " + std::string(RoleName(static_cast<Role>(call->needed)))))
            << what;
      }
    } else {
      EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what;
      EXPECT_NE(status.error_code(), grpc::StatusCode::UNAVAILABLE) << what << " (the handshake failed?)";
    }
  }
  // Each refusal of a method that changes something is in the server's audit trail (up to the budget of
  // 60 a minute), with the caller and the refusal; reads and unknown methods are not.
  for (const std::string server : {"tenant-connector", "orchestrator"}) {
    std::multiset<std::string> expected;  // "identity method"
    for (const auto& call : calls) {
      if (call->server == server && call->has < call->needed && call->needed >= kOperate &&
          call->needed <= kAdminister) {
        expected.insert(call->identity + " " + call->method.substr(call->method.rfind('/') + 1));
      }
    }
    ASSERT_FALSE(expected.empty()) << server;
    const size_t want = std::min<size_t>(expected.size(), 60);
    std::vector<v1::AuditRecord> records;
    for (int attempt = 0; attempt < 100 && records.size() < want; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      records = RefusalsInTrail(server, addresses.at(server));
    }
    ASSERT_EQ(records.size(), want) << server << " audited " << records.size() << " of " << expected.size()
                                    << " refused mutating calls";
    for (const v1::AuditRecord& record : records) {
      const std::string identity = record.caller().substr(0, record.caller().find(','));
      auto found = expected.find(identity + " " + record.action());
      EXPECT_NE(found, expected.end()) << server << ": unexpected record " << record.ShortDebugString();
      if (found != expected.end()) expected.erase(found);
      EXPECT_EQ(record.target(), "") << "the request of a refused call is never read";
      EXPECT_THAT(record.outcome_message(), HasSubstr("may not call")) << record.ShortDebugString();
    }
  }
  // 3 servers x 5 identities; both outcomes happen, so neither half of the check is vacuous.
  EXPECT_EQ(calls.size(), static_cast<size_t>(walked_methods) * std::size(kIdentities));
  EXPECT_GT(denied, 0);
  EXPECT_LT(denied, static_cast<int>(calls.size()));
  for (const auto& process : processes_) {
    EXPECT_THAT(process->Stderr(), ::testing::Not(HasSubstr("Fatal"))) << "still healthy";
  }
}

// An orchestrator with mTLS and no role configured, on the SQLite file `name`.db; its gRPC address.
std::string StartBareOrchestrator(std::vector<std::unique_ptr<ServerProcess>>& processes, const std::string& dir,
                                  const std::string& certs, const std::string& name) {
  std::vector<std::string> args = {"--grpc-address=127.0.0.1:0",
                                   "--metrics-address=",
                                   "--ready-file=" + dir + "/" + name + ".ready",
                                   "--tls-cert=" + certs + "/server.pem",
                                   "--tls-key=" + certs + "/server.key",
                                   "--tls-ca=" + certs + "/ca.pem",
                                   "--sqlite-path=" + dir + "/" + name + ".db"};
  processes.push_back(std::make_unique<ServerProcess>(testing::BinaryPath("orchestrator"), args, dir));
  auto ready = processes.back()->WaitForReadyFile(dir + "/" + name + ".ready");
  EXPECT_TRUE(ready.has_value()) << processes.back()->Stderr();
  return ready ? ready->value("grpc_address", "") : "";
}

// One call of `method` with an empty request.
grpc::Status CallWithEmptyRequest(grpc::GenericStub& stub, const std::string& method) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get();
}

// mTLS with no role configured: any certificate from the CA may read, nothing else (a `reader` once
// created and cancelled a migration), and the denial names the config key that grants the role.
TEST_F(AuthorizationWalkTest, WithoutAnyRoleConfiguredCertificatesMayOnlyRead) {
  const std::string address = StartBareOrchestrator(processes_, dir_->path(), certs_, "bare");
  ASSERT_FALSE(address.empty());
  grpc::GenericStub stub(ChannelAs(address, "reader"));
  EXPECT_NE(CallWithEmptyRequest(stub, "/crosstenant.v1.Orchestrator/ListMigrations").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  const grpc::Status cancel = CallWithEmptyRequest(stub, "/crosstenant.v1.Orchestrator/CancelMigration");
  EXPECT_EQ(cancel.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(cancel.error_message(), HasSubstr("authorization.administer")) << "names the key to set";
}

// Refusals beyond the 60 a minute recorded one by one are not lost: the server records one summary per
// caller and method when the minute is over, or when it stops (here), and the trail keeps it across the
// restart.
TEST_F(AuthorizationWalkTest, RefusalsBeyondTheBudgetAreSummarisedInTheTrail) {
  std::string address = StartBareOrchestrator(processes_, dir_->path(), certs_, "budget");
  ASSERT_FALSE(address.empty());
  {
    grpc::GenericStub stub(ChannelAs(address, "reader"));
    for (int i = 0; i < 70; ++i) {
      ASSERT_EQ(CallWithEmptyRequest(stub, "/crosstenant.v1.Orchestrator/CancelMigration").error_code(),
                grpc::StatusCode::PERMISSION_DENIED);
    }
  }
  processes_.back()->Signal(SIGTERM);
  ASSERT_EQ(processes_.back()->WaitForExit(std::chrono::seconds(30)), 0) << processes_.back()->Stderr();
  address = StartBareOrchestrator(processes_, dir_->path(), certs_, "budget");
  ASSERT_FALSE(address.empty());

  const std::vector<v1::AuditRecord> refusals = RefusalsInTrail("orchestrator", address);
  ASSERT_EQ(refusals.size(), 61u) << "60 one by one and one summary";
  for (size_t i = 0; i < 60; ++i) EXPECT_THAT(refusals[i].outcome_message(), HasSubstr("may not call"));
  EXPECT_EQ(refusals.back().action(), "CancelMigration");
  EXPECT_THAT(refusals.back().caller(), HasSubstr("reader"));
  EXPECT_THAT(refusals.back().outcome_message(), HasSubstr("10 more refusals of this call between"));
  EXPECT_THAT(refusals.back().outcome_message(), HasSubstr("may not call")) << "the last refusal's words";
}

}  // namespace
}  // namespace crosstenant
