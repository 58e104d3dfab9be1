// Holds on connections against the real tenant-connector process: HoldConnection and ReleaseConnection
// (validation, idempotence, `holders` in name order), DeleteConnection refused while held (naming the
// holders and --force) and forced, and holds kept across a restart of a connector with a state directory.

#include <chrono>
#include <cstdlib>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "services/common/tls.h"
#include "tests/support/mesh_processes.h"

namespace crosstenant::testing {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::chrono::system_clock::time_point In(std::chrono::seconds duration) {
  return std::chrono::system_clock::now() + duration;
}

grpc::Status Hold(v1::TenantConnector::Stub& stub, const std::string& name, const std::string& holder,
                  v1::Connection* connection = nullptr) {
  grpc::ClientContext context;
  context.set_deadline(In(std::chrono::seconds(10)));
  v1::HoldConnectionRequest request;
  request.set_name(name);
  request.set_holder(holder);
  v1::HoldConnectionResponse response;
  grpc::Status status = stub.HoldConnection(&context, request, &response);
  if (connection != nullptr) *connection = response.connection();
  return status;
}

grpc::Status Release(v1::TenantConnector::Stub& stub, const std::string& name, const std::string& holder) {
  grpc::ClientContext context;
  context.set_deadline(In(std::chrono::seconds(10)));
  v1::ReleaseConnectionRequest request;
  request.set_name(name);
  request.set_holder(holder);
  v1::ReleaseConnectionResponse response;
  return stub.ReleaseConnection(&context, request, &response);
}

grpc::Status Delete(v1::TenantConnector::Stub& stub, const std::string& name, bool force = false) {
  grpc::ClientContext context;
  context.set_deadline(In(std::chrono::seconds(10)));
  v1::DeleteConnectionRequest request;
  request.set_name(name);
  request.set_force(force);
  v1::DeleteConnectionResponse response;
  return stub.DeleteConnection(&context, request, &response);
}

v1::Connection Get(v1::TenantConnector::Stub& stub, const std::string& name, grpc::Status* status = nullptr) {
  grpc::ClientContext context;
  v1::GetConnectionRequest request;
  request.set_name(name);
  v1::GetConnectionResponse response;
  grpc::Status got = stub.GetConnection(&context, request, &response);
  if (status != nullptr) *status = got;
  return response.connection();
}

std::vector<std::string> HoldersOf(const v1::Connection& connection) {
  return {connection.holders().begin(), connection.holders().end()};
}

// The fields named by the BadRequest detail of `status`.
std::vector<std::string> ViolatedFields(const grpc::Status& status) {
  google::rpc::Status details;
  std::vector<std::string> fields;
  if (!details.ParseFromString(status.error_details())) return fields;
  for (const auto& any : details.details()) {
    google::rpc::BadRequest bad_request;
    if (!any.UnpackTo(&bad_request)) continue;
    for (const auto& violation : bad_request.field_violations()) fields.push_back(violation.field());
  }
  return fields;
}

class ConnectionHoldsTest : public ConnectorSuite {
 protected:
  // A target connection of the seed, `connections/{id}`.
  static void Connect(v1::TenantConnector::Stub& stub, const std::string& id) {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(30)));
    v1::CreateConnectionResponse response;
    grpc::Status status =
        stub.CreateConnection(&context,
                              ConnectRequest(id, v1::CONNECTION_ROLE_TARGET, "https://fabrikam-admin.sharepoint.com",
                                             SecretCredential(kFabrikamApp, kFabrikamSecret)),
                              &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
};

TEST_F(ConnectionHoldsTest, HoldsAreIdempotentSortedAndValidated) {
  v1::TenantConnector::Stub& stub = connector_->stub();
  ASSERT_NO_FATAL_FAILURE(Connect(stub, "held-sorted"));
  const std::string name = "connections/held-sorted";
  v1::Connection connection;
  ASSERT_TRUE(Hold(stub, name, "migrations/zeta", &connection).ok());
  ASSERT_TRUE(Hold(stub, name, "migrations/alpha", &connection).ok());
  ASSERT_TRUE(Hold(stub, name, "migrations/zeta", &connection).ok()) << "holding twice is one hold";
  EXPECT_THAT(HoldersOf(connection), ElementsAre("migrations/alpha", "migrations/zeta"));
  EXPECT_THAT(HoldersOf(Get(stub, name)), ElementsAre("migrations/alpha", "migrations/zeta"));

  grpc::Status bad = Hold(stub, "contoso", "");
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(bad), UnorderedElementsAre("name", "holder"));
  for (const std::string& holder : {std::string(201, 'm'), std::string("migrations/") + std::string(190, 'x'),
                                    std::string("not a name"), std::string("migrations/"), std::string("/x")}) {
    grpc::Status refused = Hold(stub, name, holder);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << holder;
    EXPECT_THAT(ViolatedFields(refused), ElementsAre("holder")) << holder;
    EXPECT_LT(refused.error_message().size(), 300u) << "the input is not echoed back";
  }
  EXPECT_EQ(Release(stub, name, "").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Hold(stub, "connections/no-such", "migrations/alpha").error_code(), grpc::StatusCode::NOT_FOUND);

  ASSERT_TRUE(Release(stub, name, "migrations/zeta").ok());
  ASSERT_TRUE(Release(stub, name, "migrations/zeta").ok()) << "releasing what is not held succeeds";
  EXPECT_THAT(HoldersOf(Get(stub, name)), ElementsAre("migrations/alpha"));
  ASSERT_TRUE(Release(stub, name, "migrations/alpha").ok());
  EXPECT_THAT(HoldersOf(Get(stub, name)), IsEmpty());
  ASSERT_TRUE(Delete(stub, name).ok());
}

TEST_F(ConnectionHoldsTest, DeleteIsRefusedNamingTheHoldersUntilReleasedOrForced) {
  v1::TenantConnector::Stub& stub = connector_->stub();
  ASSERT_NO_FATAL_FAILURE(Connect(stub, "held-delete"));
  const std::string name = "connections/held-delete";
  ASSERT_TRUE(Hold(stub, name, "migrations/merger").ok());

  grpc::Status refused = Delete(stub, name);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("migrations/merger"));
  EXPECT_THAT(refused.error_message(), HasSubstr("--force"));
  grpc::Status still;
  Get(stub, name, &still);
  EXPECT_TRUE(still.ok()) << "a refused delete leaves the connection";

  ASSERT_TRUE(Release(stub, name, "migrations/merger").ok());
  ASSERT_TRUE(Delete(stub, name).ok()) << "nothing holds it any more";
  EXPECT_TRUE(Release(stub, name, "migrations/merger").ok()) << "a deleted connection releases";

  ASSERT_NO_FATAL_FAILURE(Connect(stub, "held-forced"));
  const std::string forced = "connections/held-forced";
  ASSERT_TRUE(Hold(stub, forced, "migrations/pilot").ok());
  ASSERT_TRUE(Hold(stub, forced, "migrations/merger").ok());
  EXPECT_EQ(Delete(stub, forced).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(Delete(stub, forced, /*force=*/true).ok());
  grpc::Status gone;
  Get(stub, forced, &gone);
  EXPECT_EQ(gone.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(connector_->Stderr(), HasSubstr("connection deleted while held"));
  EXPECT_TRUE(Release(stub, forced, "migrations/pilot").ok());
}

TEST_F(ConnectionHoldsTest, HoldsSurviveARestart) {
  TempDir state;
  const std::string state_dir = state.path() + "/state";
  const std::string name = "connections/held-durable";
  {
    Connector first;
    ASSERT_TRUE(first.Start(*emulator_, state_dir)) << first.Stderr();
    ASSERT_NO_FATAL_FAILURE(Connect(first.stub(), "held-durable"));
    ASSERT_TRUE(Hold(first.stub(), name, "migrations/merger").ok());
    ASSERT_TRUE(Hold(first.stub(), name, "migrations/pilot").ok());
    ASSERT_TRUE(Release(first.stub(), name, "migrations/pilot").ok());
    EXPECT_EQ(first.Stop(), 0);
  }
  Connector second;
  ASSERT_TRUE(second.Start(*emulator_, state_dir)) << second.Stderr();
  EXPECT_THAT(HoldersOf(Get(second.stub(), name)), ElementsAre("migrations/merger"));
  grpc::Status refused = Delete(second.stub(), name);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("migrations/merger"));
  ASSERT_TRUE(Release(second.stub(), name, "migrations/merger").ok());
  ASSERT_TRUE(Delete(second.stub(), name).ok());
  EXPECT_EQ(second.Stop(), 0);
}

// Hold and Release change what a delete does: they need the operate role; read is not enough.
TEST_F(ConnectionHoldsTest, HoldAndReleaseNeedTheOperateRole) {
  TempDir dir;
  const std::string certs = dir.path() + "/certs";
  ASSERT_EQ(std::system(
                (std::string("bash ") + CROSSTENANT_SOURCE_DIR + "/deploy/local/dev-certs.sh " + certs + " >/dev/null")
                    .c_str()),
            0);
  Connector secured;
  ASSERT_TRUE(secured.Start(
      *emulator_, "",
      {"--tls-cert=" + certs + "/server.pem", "--tls-key=" + certs + "/server.key", "--tls-ca=" + certs + "/ca.pem",
       "--config=" + dir.WriteFile("roles.yaml",
                                   "authorization: {read: [worker], "
                                   "administer: [orchestrator]}\n")}))
      << secured.Stderr();
  auto stub_as = [&](const std::string& client) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    ClientTlsConfig tls{certs + "/ca.pem", certs + "/client-" + client + ".pem", certs + "/client-" + client + ".key"};
    return v1::TenantConnector::NewStub(
        grpc::CreateCustomChannel(secured.address(), MakeChannelCredentials(tls), args));
  };
  auto worker = stub_as("worker");
  auto orchestrator = stub_as("orchestrator");
  ASSERT_NO_FATAL_FAILURE(Connect(*orchestrator, "held-tls"));
  const std::string name = "connections/held-tls";
  grpc::Status denied = Hold(*worker, name, "migrations/merger");
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED) << denied.error_message();
  EXPECT_THAT(denied.error_message(), HasSubstr("HoldConnection"));
  ASSERT_TRUE(Hold(*orchestrator, name, "migrations/merger").ok());
  EXPECT_EQ(Release(*worker, name, "migrations/merger").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(HoldersOf(Get(*worker, name)), ElementsAre("migrations/merger")) << "reads stay open to every peer";
  ASSERT_TRUE(Release(*orchestrator, name, "migrations/merger").ok());
  EXPECT_EQ(secured.Stop(), 0);
}

}  // namespace
}  // namespace crosstenant::testing
