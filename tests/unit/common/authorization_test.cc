// The role model and its check (services/common/authorization.h), the config that grants roles, and
// the role table of every service: each method of each service descriptor must be in its table.

#include "services/common/authorization.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crosstenant/v1/diagnostics.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "services/common/config_reader.h"
#include "services/common/errors.h"
#include "services/common/server_config.h"
#include "services/orchestrator/grpc/orchestrator_service.h"
#include "services/tenant_connector/grpc/tenant_connector_service.h"
#include "services/worker/grpc/worker_service.h"

namespace crosstenant {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

absl::Status ReadConfig(const std::string& yaml, AuthorizationConfig* config) {
  absl::StatusOr<ConfigReader> reader = ConfigReader::FromString(yaml, "server.yaml");
  if (!reader.ok()) return reader.status();
  ReadAuthorizationConfig(*reader, config);
  return reader->Finish();
}

TEST(AuthorizationConfigTest, ReadsEveryRole) {
  AuthorizationConfig config;
  ASSERT_TRUE(ReadConfig("authorization:\n"
                         "  read: [dashboard]\n"
                         "  operate: [worker, orchestrator]\n"
                         "  administer: [migratectl]\n"
                         "  allow_plaintext: true\n",
                         &config)
                  .ok());
  EXPECT_EQ(config.read, std::vector<std::string>{"dashboard"});
  EXPECT_EQ(config.operate, (std::vector<std::string>{"worker", "orchestrator"}));
  EXPECT_EQ(config.administer, std::vector<std::string>{"migratectl"});
  EXPECT_TRUE(config.allow_plaintext);
  EXPECT_TRUE(config.configured());
}

TEST(AuthorizationConfigTest, UnknownRoleIsAnErrorNamingTheKey) {
  AuthorizationConfig config;
  absl::Status status = ReadConfig("authorization:\n  admin: [migratectl]\n", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("authorization.admin"));
}

TEST(AuthorizationConfigTest, EmptyNameIsAnError) {
  AuthorizationConfig config;
  absl::Status status = ReadConfig("authorization:\n  read: [\"\"]\n", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("authorization.read"), HasSubstr("empty")));
}

TEST(AuthorizationConfigTest, IdentityListedTwiceIsAnErrorNamingBothKeys) {
  AuthorizationConfig config;
  absl::Status across = ReadConfig("authorization:\n  operate: [worker]\n  administer: [worker]\n", &config);
  EXPECT_EQ(across.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(across.message(),
              AllOf(HasSubstr("authorization.administer"), HasSubstr("'worker'"), HasSubstr("authorization.operate")));

  AuthorizationConfig again;
  absl::Status within = ReadConfig("authorization:\n  read: [a, b, a]\n", &again);
  EXPECT_EQ(within.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(within.message(), AllOf(HasSubstr("authorization.read"), HasSubstr("'a' is listed twice")));
}

Authorizer TestAuthorizer(const AuthorizationConfig& config) {
  Authorizer authorizer(config, "orchestrator");
  authorizer.AddService("crosstenant.v1.Orchestrator", orchestrator::OrchestratorMethodRoles());
  return authorizer;
}

TEST(AuthorizerTest, RolesNest) {
  AuthorizationConfig config;
  config.read = {"reader"};
  config.operate = {"worker"};
  config.administer = {"migratectl"};
  Authorizer authorizer = TestAuthorizer(config);
  const std::string get = "/crosstenant.v1.Orchestrator/GetMigration";
  const std::string lease = "/crosstenant.v1.Orchestrator/LeaseTasks";
  const std::string cancel = "/crosstenant.v1.Orchestrator/CancelMigration";

  EXPECT_TRUE(authorizer.Check({"reader"}, get).ok());
  EXPECT_EQ(authorizer.Check({"reader"}, lease).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(authorizer.Check({"worker"}, get).ok());
  EXPECT_TRUE(authorizer.Check({"worker"}, lease).ok());
  EXPECT_EQ(authorizer.Check({"worker"}, cancel).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(authorizer.Check({"migratectl"}, cancel).ok());
  EXPECT_TRUE(authorizer.Check({"migratectl"}, lease).ok());
  // A certificate with several names has the strongest role of any of them.
  EXPECT_TRUE(authorizer.Check({"spiffe://x/y", "migratectl"}, cancel).ok());
  // Health, reflection and Diagnostics are read.
  EXPECT_TRUE(authorizer.Check({"reader"}, "/grpc.health.v1.Health/Check").ok());
  EXPECT_TRUE(authorizer.Check({"reader"}, "/crosstenant.v1.Diagnostics/GetServerInfo").ok());
  EXPECT_TRUE(authorizer.Check({"reader"}, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo").ok());
}

TEST(AuthorizerTest, UnlistedIdentityMayCallNothingOnceRolesAreConfigured) {
  AuthorizationConfig config;
  config.administer = {"migratectl"};
  Authorizer authorizer = TestAuthorizer(config);
  absl::Status denied = authorizer.Check({"stranger"}, "/crosstenant.v1.Orchestrator/GetMigration");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.message(), AllOf(HasSubstr("stranger"), HasSubstr("/crosstenant.v1.Orchestrator/GetMigration"),
                                      HasSubstr("needs role read"), HasSubstr("authorization.read")));
}

TEST(AuthorizerTest, WithoutRolesEveryCertificateMayReadAndNothingElse) {
  Authorizer authorizer = TestAuthorizer({});
  EXPECT_TRUE(authorizer.Check({"anyone"}, "/crosstenant.v1.Orchestrator/ListMigrations").ok());
  absl::Status denied = authorizer.Check({"anyone"}, "/crosstenant.v1.Orchestrator/CreateMigration");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.message(), AllOf(HasSubstr("needs role administer"), HasSubstr("authorization.administer")));
}

TEST(AuthorizerTest, MethodInNoTableIsUnimplementedAsGrpcAnswersAnUnknownMethod) {
  AuthorizationConfig config;
  config.administer = {"migratectl"};
  Authorizer authorizer = TestAuthorizer(config);
  EXPECT_EQ(authorizer.Check({"migratectl"}, "/crosstenant.v1.Orchestrator/DropEverything").code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(authorizer.Check({"reader"}, "/crosstenant.v1.Orchestrator/DropEverything").code(),
            absl::StatusCode::kUnimplemented)
      << "whoever asks: a refusal would read as missing rights";
  EXPECT_EQ(authorizer.Check({"migratectl"}, "").code(), absl::StatusCode::kUnimplemented);
  absl::Status long_path = authorizer.Check({"migratectl"}, "/" + std::string(10000, 'x'));
  EXPECT_LT(long_path.message().size(), 500u) << "the caller's path is echoed bounded";
}

// Every method of every service has a role, and no table names a method that does not exist: a new
// RPC cannot be served before someone decides who may call it.
TEST(RoleTablesTest, EveryMethodOfEveryServiceHasARole) {
  (void)crosstenant::v1::GetServerInfoRequest::descriptor();
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  EXPECT_THAT(RoleTableMismatches("crosstenant.v1.Orchestrator", orchestrator::OrchestratorMethodRoles()), IsEmpty());
  EXPECT_THAT(RoleTableMismatches("crosstenant.v1.TenantConnector", tenant_connector::TenantConnectorMethodRoles()),
              IsEmpty());
  EXPECT_THAT(RoleTableMismatches("crosstenant.v1.Worker", worker::WorkerMethodRoles()), IsEmpty());
  for (const char* common : {"crosstenant.v1.Diagnostics", "grpc.health.v1.Health"}) {
    EXPECT_THAT(RoleTableMismatches(common, CommonServiceRoles().at(common)), IsEmpty()) << common;
  }
}

TEST(RoleTablesTest, MismatchesAreNamed) {
  MethodRoles partial = {{"GetWorkerStatus", Role::kRead}, {"Reboot", Role::kAdminister}};
  EXPECT_THAT(RoleTableMismatches("crosstenant.v1.Worker", partial),
              ::testing::ElementsAre("crosstenant.v1.Worker/Drain has no role",
                                     "crosstenant.v1.Worker/Reboot is not a method of the service"));
}

TEST(PlaintextTest, OnlyLoopbackUnlessAllowedExplicitly) {
  ServerConfig config;
  config.grpc_address = "127.0.0.1:0";
  EXPECT_TRUE(ValidateServerConfig(config).ok());
  config.grpc_address = "[::1]:0";
  EXPECT_TRUE(ValidateServerConfig(config).ok());
  config.grpc_address = "0.0.0.0:50052";
  absl::Status refused = ValidateServerConfig(config);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("authorization.allow_plaintext"));
  config.authorization.allow_plaintext = true;
  EXPECT_TRUE(ValidateServerConfig(config).ok());
}

}  // namespace
}  // namespace crosstenant
