// The real tenant-connector against the real tenant-emulator: every sign-in kind and its failures,
// roles, Multi-Geo, watchers, throttling storms, short token lifetimes, restart, and secrets kept out
// of logs and responses. One emulator and one connector serve the suite; tests use their own
// connection ids.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "google/rpc/status.pb.h"
#include "services/common/errors.h"
#include "services/common/grpc_status.h"
#include "services/common/tls.h"
#include "services/tenant_connector/core/connector.h"
#include "services/tenant_emulator/jwt.h"
#include "tests/support/mesh_processes.h"

namespace crosstenant::testing {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::HasSubstr;
using ::testing::Not;

std::chrono::system_clock::time_point In(std::chrono::milliseconds duration) {
  return std::chrono::system_clock::now() + duration;
}

class ConnectorEmulatorTest : public ConnectorSuite {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ConnectorSuite::SetUp());
    emulator_->Admin("DELETE", "/_emulator/faults");
  }

  static grpc::Status Create(const v1::CreateConnectionRequest& request, v1::CreateConnectionResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(30)));
    return connector_->stub().CreateConnection(&context, request, response);
  }
  static grpc::Status Delete(const std::string& name) {
    grpc::ClientContext context;
    v1::DeleteConnectionRequest request;
    request.set_name(name);
    v1::DeleteConnectionResponse response;
    return connector_->stub().DeleteConnection(&context, request, &response);
  }
  static v1::Connection Get(const std::string& name, grpc::Status* status = nullptr) {
    grpc::ClientContext context;
    v1::GetConnectionRequest request;
    request.set_name(name);
    v1::GetConnectionResponse response;
    grpc::Status got = connector_->stub().GetConnection(&context, request, &response);
    if (status) *status = got;
    return response.connection();
  }
};

TEST_F(ConnectorEmulatorTest, CertificateConnectsAndDiscoversGeosFromSharePoint) {
  v1::CreateConnectionResponse response;
  grpc::Status status = Create(ConnectRequest("", v1::CONNECTION_ROLE_SOURCE, "https://Contoso-Admin.SharePoint.com/",
                                              MigrationAppCredential(*emulator_, kContosoApp)),
                               &response);
  ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << connector_->Stderr();
  const v1::Connection& c = response.connection();
  EXPECT_EQ(c.name(), "connections/contoso-source");
  EXPECT_EQ(c.state(), v1::CONNECTION_STATE_CONNECTED);
  EXPECT_EQ(c.admin_url(), "https://contoso-admin.sharepoint.com");
  EXPECT_EQ(c.cloud(), v1::CLOUD_COMMERCIAL);
  EXPECT_EQ(c.tenant_id(), "7f1d1c1e-0000-4000-8000-000000000001");
  EXPECT_EQ(c.tenant_name(), "contoso");
  EXPECT_EQ(c.initial_domain(), "contoso.onmicrosoft.com");
  EXPECT_EQ(c.principal().kind(), v1::PRINCIPAL_KIND_APPLICATION);
  EXPECT_THAT(c.principal().application_permissions(), ::testing::Contains("Sites.FullControl.All"));
  EXPECT_EQ(c.credential().kind(), v1::CREDENTIAL_KIND_CERTIFICATE);
  // The tenant came from SharePoint's realm challenge, not from a guess at the host name.
  EXPECT_EQ(c.credential().tenant(), "7f1d1c1e-0000-4000-8000-000000000001");
  EXPECT_EQ(c.health().warnings_size(), 0) << c.health().DebugString();
  ASSERT_EQ(c.geos_size(), 2);
  EXPECT_EQ(c.home_geo(), "connections/contoso-source/geos/nam");
  EXPECT_EQ(c.geos(0).location_code(), "NAM");
  EXPECT_TRUE(c.geos(0).default_geo());
  EXPECT_EQ(c.geos(0).my_site_host_url(), "https://contoso-my.sharepoint.com/");
  EXPECT_EQ(c.geos(1).name(), "connections/contoso-source/geos/eur");
  EXPECT_EQ(c.geos(1).admin_url(), "https://contosoeur-admin.sharepoint.com");
  EXPECT_TRUE(c.health().has_token_expire_time());

  // Cached reads.
  grpc::Status got;
  EXPECT_EQ(Get("connections/contoso-source", &got).tenant_id(), c.tenant_id());
  EXPECT_TRUE(got.ok());
  // The same id again: ALREADY_EXISTS.
  v1::CreateConnectionResponse again;
  EXPECT_EQ(Create(ConnectRequest("", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                                  MigrationAppCredential(*emulator_, kContosoApp)),
                   &again)
                .error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  // A tenant operation on the real protocol.
  grpc::ClientContext context;
  v1::GetCrossTenantHostUrlRequest host_request;
  host_request.set_geo("connections/contoso-source/geos/eur");
  v1::GetCrossTenantHostUrlResponse host;
  ASSERT_TRUE(connector_->stub().GetCrossTenantHostUrl(&context, host_request, &host).ok());
  EXPECT_EQ(host.host_url(), "https://contosoeur-my.sharepoint.com/");

  ASSERT_TRUE(Delete("connections/contoso-source").ok());
  Get("connections/contoso-source", &got);
  EXPECT_EQ(got.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Delete("connections/contoso-source").error_code(), grpc::StatusCode::NOT_FOUND);
}

// SharePoint refuses app-only tokens from a client secret: the connection is made (Graph accepts the
// secret) with a warning naming the fix, and SharePoint admin operations are refused up front, before
// any SharePoint request, with the same fix; preflight reports it as an error.
TEST_F(ConnectorEmulatorTest, ClientSecretConnectsWithAWarningAndSharePointStepsNameTheFix) {
  emulator_->Admin("DELETE", "/_emulator/accounting");
  v1::CreateConnectionResponse response;
  grpc::Status status =
      Create(ConnectRequest("secret-src", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                            SecretCredential(kContosoApp, kContosoSecret)),
             &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const v1::Connection& c = response.connection();
  EXPECT_EQ(c.state(), v1::CONNECTION_STATE_CONNECTED);
  EXPECT_EQ(c.credential().kind(), v1::CREDENTIAL_KIND_CLIENT_SECRET);
  ASSERT_EQ(c.geos_size(), 1);  // Multi-Geo discovery needs SharePoint
  EXPECT_EQ(c.geos(0).admin_url(), "https://contoso-admin.sharepoint.com");
  ASSERT_EQ(c.health().warnings_size(), 1) << c.health().DebugString();
  EXPECT_EQ(c.health().warnings(0).code(), "SHAREPOINT_NEEDS_CERTIFICATE");
  EXPECT_EQ(c.health().warnings(0).severity(), v1::SEVERITY_WARNING);
  EXPECT_THAT(c.health().warnings(0).remedy(), HasSubstr("certificate"));
  EXPECT_THAT(c.health().warnings(0).remedy(), HasSubstr(kContosoApp));

  grpc::ClientContext context;
  v1::SetCrossTenantRelationshipRequest trust;
  trust.set_geo("connections/secret-src");
  trust.mutable_relationship()->set_partner_host_url("https://fabrikam-my.sharepoint.com/");
  v1::SetCrossTenantRelationshipResponse trusted;
  grpc::Status refused = connector_->stub().SetCrossTenantRelationship(&context, trust, &trusted);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("refuses app-only tokens obtained with a client secret"));
  EXPECT_THAT(refused.error_message(), HasSubstr("--certificate"));
  EXPECT_THAT(refused.error_message(), HasSubstr("--device-code"));
  auto accounting = emulator_->Admin("GET", "/_emulator/accounting");
  EXPECT_THAT(accounting.dump(), Not(HasSubstr("sharepoint.csom"))) << "no SharePoint request may have left";
  EXPECT_THAT(accounting.dump(), Not(HasSubstr("sharepoint.processquery")));

  v1::PreflightRequest preflight;
  preflight.set_source_connection("connections/secret-src");
  preflight.set_target_connection("connections/secret-src");
  v1::PreflightResponse preflight_response;
  grpc::ClientContext preflight_context;
  ASSERT_TRUE(connector_->stub().Preflight(&preflight_context, preflight, &preflight_response).ok());
  const v1::PreflightReport& report = preflight_response.report();
  bool reported = false;
  for (const v1::PreflightCheckResult& result : report.results()) {
    if (result.check() != v1::PREFLIGHT_CHECK_SHAREPOINT_ACCESS) continue;
    reported = reported || (result.outcome() == v1::CHECK_OUTCOME_FAILED &&
                            result.finding().code() == "SHAREPOINT_NEEDS_CERTIFICATE" &&
                            result.finding().severity() == v1::SEVERITY_ERROR);
  }
  EXPECT_TRUE(reported) << report.DebugString();
  EXPECT_FALSE(report.ready());
  ASSERT_TRUE(Delete("connections/secret-src").ok());
}

// The skew is measured from the Date header of Microsoft's answers, and preflight says what it measured.
TEST_F(ConnectorEmulatorTest, ClockSkewIsMeasuredFromTheDateOfMicrosoftsAnswers) {
  v1::CreateConnectionResponse response;
  grpc::Status status = Create(ConnectRequest("", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                                              MigrationAppCredential(*emulator_, kContosoApp)),
                               &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const v1::ConnectionHealth& health = response.connection().health();
  ASSERT_TRUE(health.has_clock_skew()) << health.DebugString();
  EXPECT_LE(std::abs(health.clock_skew().seconds()), 2) << "the emulator runs on this host's clock";

  v1::PreflightRequest preflight;
  preflight.set_source_connection("connections/contoso-source");
  preflight.set_target_connection("connections/contoso-source");
  v1::PreflightResponse preflight_response;
  grpc::ClientContext context;
  ASSERT_TRUE(connector_->stub().Preflight(&context, preflight, &preflight_response).ok());
  int clock_checks = 0;
  for (const v1::PreflightCheckResult& result : preflight_response.report().results()) {
    if (result.check() != v1::PREFLIGHT_CHECK_CLOCK_SKEW) continue;
    ++clock_checks;
    EXPECT_EQ(result.outcome(), v1::CHECK_OUTCOME_PASSED) << result.DebugString();
    EXPECT_EQ(result.finding().code(), "CLOCK_SKEW_OK");
    EXPECT_THAT(result.finding().message(), HasSubstr("(measured "));
  }
  EXPECT_GE(clock_checks, 1) << preflight_response.report().DebugString();
  ASSERT_TRUE(Delete("connections/contoso-source").ok());
}

TEST_F(ConnectorEmulatorTest, CertificateAssertionsPs256AndRs256) {
  for (v1::AssertionAlgorithm algorithm : {v1::ASSERTION_ALGORITHM_PS256, v1::ASSERTION_ALGORITHM_RS256}) {
    v1::Credential credential;
    v1::CertificateCredential* cert = credential.mutable_certificate();
    cert->set_client_id(kContosoApp);
    cert->set_certificate_file(emulator_->AppCertificate());
    cert->mutable_private_key()->set_file_path(emulator_->AppKey());
    cert->set_assertion_algorithm(algorithm);
    std::string id = algorithm == v1::ASSERTION_ALGORITHM_PS256 ? "cert-ps256" : "cert-rs256";
    v1::CreateConnectionResponse response;
    grpc::Status status = Create(
        ConnectRequest(id, v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com", credential), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.connection().state(), v1::CONNECTION_STATE_CONNECTED);
    EXPECT_EQ(response.connection().credential().kind(), v1::CREDENTIAL_KIND_CERTIFICATE);
    EXPECT_EQ(response.connection().credential().certificate_subject(), "CN=migration-app");
    EXPECT_EQ(response.connection().credential().fingerprint().size(), 64u);
    EXPECT_EQ(response.connection().credential().assertion_algorithm(), algorithm);
    EXPECT_TRUE(response.connection().credential().has_expire_time());
    EXPECT_THAT(response.connection().credential().file_paths(), ::testing::Contains(emulator_->AppKey()));
    ASSERT_TRUE(Delete("connections/" + id).ok());
  }
}

// What the connector puts in its client assertions, as the emulator recorded them (header and claims,
// never the signature): Entra's documented certificate-credential format.
TEST_F(ConnectorEmulatorTest, TheEmulatorRecordsTheAssertionsTheConnectorSigns) {
  std::set<std::string> jtis;
  for (v1::AssertionAlgorithm algorithm : {v1::ASSERTION_ALGORITHM_PS256, v1::ASSERTION_ALGORITHM_RS256}) {
    emulator_->Admin("DELETE", "/_emulator/accounting");
    v1::Credential credential;
    v1::CertificateCredential* cert = credential.mutable_certificate();
    cert->set_client_id(kContosoApp);
    cert->set_certificate_file(emulator_->AppCertificate());
    cert->mutable_private_key()->set_file_path(emulator_->AppKey());
    cert->set_assertion_algorithm(algorithm);
    const bool ps256 = algorithm == v1::ASSERTION_ALGORITHM_PS256;
    const std::string id = ps256 ? "recorded-ps256" : "recorded-rs256";
    v1::CreateConnectionResponse response;
    const int64_t before = absl::ToUnixSeconds(absl::Now());
    grpc::Status status = Create(
        ConnectRequest(id, v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com", credential), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    const int64_t after = absl::ToUnixSeconds(absl::Now());
    const nlohmann::json accounting = emulator_->Admin("GET", "/_emulator/accounting");
    const nlohmann::json& records = accounting["client_assertions"];
    ASSERT_FALSE(records.empty()) << accounting.dump();
    for (const nlohmann::json& record : records) {
      SCOPED_TRACE(record.dump());
      const nlohmann::json& header = record["header"];
      const nlohmann::json& claims = record["claims"];
      EXPECT_EQ(record["client_id"], kContosoApp);
      EXPECT_EQ(record["tenant"], "contoso");
      EXPECT_EQ(header.value("alg", ""), ps256 ? "PS256" : "RS256");
      EXPECT_EQ(header.value("typ", ""), "JWT");
      // PS256 names the certificate by its SHA-256 thumbprint, RS256 by the SHA-1 one (x5t).
      EXPECT_TRUE(header.contains(ps256 ? "x5t#S256" : "x5t"));
      EXPECT_THAT(claims.value("aud", ""),
                  ::testing::MatchesRegex("https://login\\.microsoftonline\\.com/[^/]+/oauth2/v2\\.0/token"));
      EXPECT_EQ(claims.value("iss", ""), kContosoApp);
      EXPECT_EQ(claims.value("sub", ""), kContosoApp);
      ASSERT_TRUE(claims.contains("exp") && claims.contains("nbf") && claims.contains("jti"));
      EXPECT_LE(claims["nbf"].get<int64_t>(), after);
      EXPECT_GT(claims["exp"].get<int64_t>(), before);
      EXPECT_LE(claims["exp"].get<int64_t>() - claims["nbf"].get<int64_t>(), 600) << "valid for at most 10 minutes";
      jtis.insert(claims["jti"].get<std::string>());
    }
    EXPECT_THAT(accounting.dump(), Not(HasSubstr("\"signature\"")));
    ASSERT_TRUE(Delete("connections/" + id).ok());
  }
  EXPECT_GE(jtis.size(), 2u) << "each connection signs its own assertion (a fresh jti)";
}

TEST_F(ConnectorEmulatorTest, WrongSecretIsRefusedAndNoConnectionIsCreated) {
  v1::CreateConnectionResponse response;
  grpc::Status status =
      Create(ConnectRequest("wrong-secret", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                            SecretCredential(kContosoApp, "not-the-secret-5c1d")),
             &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("AADSTS7000215"));
  EXPECT_THAT(status.error_message(), Not(HasSubstr("not-the-secret-5c1d")));
  grpc::Status got;
  Get("connections/wrong-secret", &got);
  EXPECT_EQ(got.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ConnectorEmulatorTest, AppWithoutSharePointPermissionIsDenied) {
  v1::CreateConnectionResponse response;
  grpc::Status status =
      Create(ConnectRequest("weak-app", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                            SecretCredential(kContosoWeakApp, kContosoWeakSecret)),
             &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("Sites.FullControl.All"));
}

TEST_F(ConnectorEmulatorTest, BadRequestsCarryFieldViolations) {
  v1::CreateConnectionRequest request =
      ConnectRequest("Bad_Id", v1::CONNECTION_ROLE_UNSPECIFIED, "https://contoso-my.sharepoint.com", v1::Credential());
  v1::CreateConnectionResponse response;
  grpc::Status status = Create(request, &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("https://contoso-admin.sharepoint.com"));
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  google::rpc::BadRequest bad_request;
  ASSERT_EQ(details.details_size(), 1);
  ASSERT_TRUE(details.details(0).UnpackTo(&bad_request));
  std::vector<std::string> fields;
  for (const auto& violation : bad_request.field_violations()) fields.push_back(violation.field());
  EXPECT_THAT(fields, ::testing::IsSupersetOf({"role", "admin_url", "connection_id", "credential"}));
}

TEST_F(ConnectorEmulatorTest, PasswordSignInRolesAndMfa) {
  auto password = [](const std::string& user) {
    v1::Credential credential;
    credential.set_tenant("contoso.onmicrosoft.com");
    v1::UsernamePasswordCredential* p = credential.mutable_username_password();
    p->set_client_id(kContosoPublicApp);
    p->set_username(user);
    p->mutable_password()->set_value(kAdminPassword);
    return credential;
  };
  // SharePoint Administrator: connected, roles listed.
  v1::CreateConnectionResponse response;
  grpc::Status status =
      Create(ConnectRequest("password-spadmin", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                            password("spadmin@contoso.onmicrosoft.com")),
             &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.connection().principal().kind(), v1::PRINCIPAL_KIND_USER);
  EXPECT_EQ(response.connection().principal().user_principal_name(), "spadmin@contoso.onmicrosoft.com");
  ASSERT_GE(response.connection().principal().directory_roles_size(), 1);
  EXPECT_EQ(response.connection().principal().directory_roles(0).display_name(), "SharePoint Administrator");
  EXPECT_EQ(response.connection().credential().username(), "spadmin@contoso.onmicrosoft.com");
  ASSERT_TRUE(Delete("connections/password-spadmin").ok());

  // Global Reader only: refused, naming the roles.
  status = Create(ConnectRequest("password-reader", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                                 password("reader@contoso.onmicrosoft.com")),
                  &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("SharePoint Administrator"));
  EXPECT_THAT(status.error_message(), HasSubstr("reader@contoso.onmicrosoft.com"));

  // MFA required: a clear error that points at device code.
  status = Create(ConnectRequest("password-mfa", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                                 password("mfa@contoso.onmicrosoft.com")),
                  &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("AADSTS50076"));
  EXPECT_THAT(status.error_message(), HasSubstr("DEVICE_CODE"));
  EXPECT_THAT(status.error_message(), Not(HasSubstr(kAdminPassword)));
}

TEST_F(ConnectorEmulatorTest, DeviceCodeCompletesInTheBackgroundAndWatchersSeeIt) {
  // Watch everything first.
  grpc::ClientContext watch_context;
  watch_context.set_deadline(In(std::chrono::seconds(60)));
  v1::WatchConnectionsRequest watch_request;
  auto reader = connector_->stub().WatchConnections(&watch_context, watch_request);

  v1::Credential credential;
  credential.mutable_device_code()->set_client_id(kContosoPublicApp);
  v1::CreateConnectionResponse response;
  auto started = std::chrono::steady_clock::now();
  grpc::Status status =
      Create(ConnectRequest("device", v1::CONNECTION_ROLE_TARGET, "https://contoso-admin.sharepoint.com", credential),
             &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));  // returns at once
  EXPECT_EQ(response.connection().state(), v1::CONNECTION_STATE_PENDING_SIGN_IN);
  const v1::DeviceCodePrompt& prompt = response.connection().sign_in_prompt();
  EXPECT_FALSE(prompt.user_code().empty());
  EXPECT_EQ(prompt.verification_uri(), "https://microsoft.com/devicelogin");
  EXPECT_THAT(prompt.message(), HasSubstr(prompt.user_code()));

  // The admin signs in.
  emulator_->Admin("POST", "/_emulator/devicecode/approve",
                   {{"user_code", prompt.user_code()}, {"upn", "admin@contoso.onmicrosoft.com"}});

  v1::WatchConnectionsResponse event;
  bool connected = false;
  while (reader->Read(&event)) {
    if (event.connection().name() == "connections/device" &&
        event.connection().state() == v1::CONNECTION_STATE_CONNECTED) {
      connected = true;
      break;
    }
    ASSERT_NE(event.connection().state(), v1::CONNECTION_STATE_FAILED) << event.connection().state_reason();
  }
  ASSERT_TRUE(connected);
  EXPECT_EQ(event.type(), v1::CONNECTION_EVENT_TYPE_UPDATED);
  EXPECT_EQ(event.connection().principal().user_principal_name(), "admin@contoso.onmicrosoft.com");
  EXPECT_FALSE(event.connection().has_sign_in_prompt());
  watch_context.TryCancel();
  reader->Finish();
  ASSERT_TRUE(Delete("connections/device").ok());
}

TEST_F(ConnectorEmulatorTest, DeviceCodeDeclinedFails) {
  v1::Credential credential;
  credential.mutable_device_code()->set_client_id(kContosoPublicApp);
  v1::CreateConnectionResponse response;
  ASSERT_TRUE(Create(ConnectRequest("device-declined", v1::CONNECTION_ROLE_SOURCE,
                                    "https://contoso-admin.sharepoint.com", credential),
                     &response)
                  .ok());
  grpc::ClientContext watch_context;
  watch_context.set_deadline(In(std::chrono::seconds(60)));
  v1::WatchConnectionsRequest watch_request;
  watch_request.add_names("connections/device-declined");
  auto reader = connector_->stub().WatchConnections(&watch_context, watch_request);
  emulator_->Admin("POST", "/_emulator/devicecode/decline",
                   {{"user_code", response.connection().sign_in_prompt().user_code()}});
  v1::WatchConnectionsResponse event;
  bool failed = false;
  while (reader->Read(&event)) {
    EXPECT_EQ(event.connection().name(), "connections/device-declined");
    if (event.connection().state() == v1::CONNECTION_STATE_FAILED) {
      failed = true;
      break;
    }
  }
  ASSERT_TRUE(failed);
  EXPECT_THAT(event.connection().state_reason(), HasSubstr("authorization_declined"));
  watch_context.TryCancel();
  reader->Finish();
  ASSERT_TRUE(Delete("connections/device-declined").ok());
}

// A Kubernetes projected service-account token, signed by the cluster's issuer key the seed trusts for
// `subject` (the app's federated identity credential).
std::string ProjectedToken(const std::string& issuer_key_file, const std::string& subject) {
  std::ifstream in(issuer_key_file);
  std::stringstream pem;
  pem << in.rdbuf();
  absl::StatusOr<emulator::SigningKey> key = emulator::SigningKey::FromPrivateKeyPem(pem.str(), "kubernetes");
  if (!key.ok()) {
    ADD_FAILURE() << key.status();
    return "";
  }
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  return key->Sign({{"iss", "https://kubernetes.default.svc.cluster.local"},
                    {"sub", subject},
                    {"aud", {"api://AzureADTokenExchange"}},
                    {"iat", now},
                    {"nbf", now},
                    {"exp", now + 3600}},
                   "RS256", {{"x5t", nullptr}});
}

TEST_F(ConnectorEmulatorTest, WorkloadIdentitySignsInWithTheProjectedTokenFile) {
  TempDir dir;
  const std::string issuer_key = emulator_->dir() + "/k8s-sa.key";
  const std::string token = ProjectedToken(issuer_key, "system:serviceaccount:crosstenant:tenant-connector");
  std::string token_file = dir.WriteFile("token", token);
  v1::Credential credential;
  credential.set_tenant("contoso.onmicrosoft.com");
  credential.mutable_workload_identity()->set_client_id(kContosoApp);
  credential.mutable_workload_identity()->set_token_file(token_file);
  v1::CreateConnectionResponse response;
  grpc::Status status = Create(
      ConnectRequest("workload-ok", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com", credential),
      &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.connection().state(), v1::CONNECTION_STATE_CONNECTED);
  EXPECT_EQ(response.connection().tenant_id(), "7f1d1c1e-0000-4000-8000-000000000001");
  EXPECT_THAT(response.connection().DebugString(), Not(HasSubstr(token.substr(token.rfind('.')))));  // signature
  ASSERT_TRUE(Delete("connections/workload-ok").ok());
}

TEST_F(ConnectorEmulatorTest, WorkloadIdentityReadsTheProjectedTokenFile) {
  // A token of another service account matches no federated identity credential: Entra's refusal shows
  // the token file was read and sent as the client assertion.
  TempDir dir;
  std::string token_file = dir.WriteFile(
      "token", ProjectedToken(emulator_->dir() + "/k8s-sa.key", "system:serviceaccount:other:intruder") + "\n");
  v1::Credential credential;
  credential.set_tenant("contoso.onmicrosoft.com");
  credential.mutable_workload_identity()->set_client_id(kContosoApp);
  credential.mutable_workload_identity()->set_token_file(token_file);
  v1::CreateConnectionResponse response;
  grpc::Status status =
      Create(ConnectRequest("workload", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com", credential),
             &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("AADSTS"));
  credential.mutable_workload_identity()->set_token_file(dir.path() + "/missing");
  status =
      Create(ConnectRequest("workload", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com", credential),
             &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("workload identity token file"));
}

TEST_F(ConnectorEmulatorTest, SecretExpiryRaisesAWarningWellBefore) {
  v1::Credential credential = SecretCredential(kFabrikamApp, kFabrikamSecret);
  credential.mutable_client_secret()->mutable_expire_time()->set_seconds(
      std::chrono::duration_cast<std::chrono::seconds>(
          (std::chrono::system_clock::now() + std::chrono::hours(24 * 20)).time_since_epoch())
          .count());
  v1::CreateConnectionResponse response;
  ASSERT_TRUE(Create(ConnectRequest("expiring", v1::CONNECTION_ROLE_TARGET, "https://fabrikam-admin.sharepoint.com",
                                    credential),
                     &response)
                  .ok());
  ASSERT_EQ(response.connection().health().warnings_size(), 2);  // and SHAREPOINT_NEEDS_CERTIFICATE
  const v1::Finding& warning = response.connection().health().warnings(0);
  EXPECT_EQ(warning.code(), "SECRET_EXPIRES_SOON");
  EXPECT_EQ(warning.severity(), v1::SEVERITY_WARNING);
  EXPECT_THAT(warning.remedy(), HasSubstr("ReauthenticateConnection"));
  EXPECT_TRUE(response.connection().health().has_credential_expire_time());
  auto metrics = HttpGet("http://" + connector_->metrics_address() + "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(*metrics, HasSubstr("tenant_connector_credential_expiry_seconds{connection=\"connections/expiring\"}"));
  ASSERT_TRUE(Delete("connections/expiring").ok());
}

TEST_F(ConnectorEmulatorTest, CertificateExpiryRaisesAWarningWellBefore) {
  v1::Credential credential;
  v1::CertificateCredential* cert = credential.mutable_certificate();
  cert->set_client_id(kContosoApp);
  cert->set_certificate_file(emulator_->dir() + "/app-expiring.pem");  // valid for 10 more days
  cert->mutable_private_key()->set_file_path(emulator_->dir() + "/app-expiring.key");
  v1::CreateConnectionResponse response;
  grpc::Status status = Create(
      ConnectRequest("cert-expiring", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com", credential),
      &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.connection().health().warnings_size(), 1) << response.connection().health().DebugString();
  const v1::Finding& warning = response.connection().health().warnings(0);
  EXPECT_EQ(warning.code(), "CERTIFICATE_EXPIRES_SOON");
  EXPECT_EQ(warning.severity(), v1::SEVERITY_WARNING);
  EXPECT_THAT(warning.message(), HasSubstr("certificate expires at"));
  EXPECT_THAT(warning.remedy(), HasSubstr(kContosoApp));
  auto metrics = HttpGet("http://" + connector_->metrics_address() + "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(*metrics,
              HasSubstr("tenant_connector_credential_expiry_seconds{connection=\"connections/cert-expiring\"} 8"));
  ASSERT_TRUE(Delete("connections/cert-expiring").ok());
}

// Microsoft tells Multi-Geo customers to treat each geography as a tenant of its own and to give its
// admin URL: contosoeur-admin is contoso's EUR geo. No tenant is given: SharePoint names it.
TEST_F(ConnectorEmulatorTest, AnyGeosAdminUrlConnectsItsTenant) {
  for (const v1::Credential& credential :
       {MigrationAppCredential(*emulator_, kContosoApp),
        MigrationAppCredential(*emulator_, kContosoApp, "contoso.onmicrosoft.com")}) {
    v1::CreateConnectionResponse response;
    grpc::Status status = Create(ConnectRequest("contoso-eur", v1::CONNECTION_ROLE_SOURCE,
                                                "https://contosoeur-admin.sharepoint.com", credential),
                                 &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    const v1::Connection& c = response.connection();
    EXPECT_EQ(c.tenant_id(), "7f1d1c1e-0000-4000-8000-000000000001");
    EXPECT_EQ(c.home_geo(), "connections/contoso-eur/geos/eur");
    ASSERT_EQ(c.geos_size(), 2);
    EXPECT_EQ(c.geos(1).my_site_host_url(), "https://contosoeur-my.sharepoint.com/");
    // Later steps use the geo's own hosts.
    grpc::ClientContext context;
    v1::GetCrossTenantHostUrlRequest request;
    request.set_geo("connections/contoso-eur");
    v1::GetCrossTenantHostUrlResponse host;
    ASSERT_TRUE(connector_->stub().GetCrossTenantHostUrl(&context, request, &host).ok());
    EXPECT_EQ(host.host_url(), "https://contosoeur-my.sharepoint.com/");
    ASSERT_TRUE(Delete("connections/contoso-eur").ok());
  }
}

TEST_F(ConnectorEmulatorTest, AdminUrlOfAnotherTenantIsRefused) {
  v1::CreateConnectionResponse response;
  grpc::Status status =
      Create(ConnectRequest("mismatch", v1::CONNECTION_ROLE_SOURCE, "https://fabrikam-admin.sharepoint.com",
                            MigrationAppCredential(*emulator_, kContosoApp, "contoso.onmicrosoft.com")),
             &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // Both tenants named: SharePoint's (fabrikam) and the credential's (contoso).
  EXPECT_THAT(status.error_message(), HasSubstr("belongs to tenant 9a8b7c6d-0000-4000-8000-000000000002"));
  EXPECT_THAT(status.error_message(), HasSubstr("signs in to tenant 7f1d1c1e-0000-4000-8000-000000000001"));
  // What code reads is the reason, passed on by the gRPC edge.
  EXPECT_EQ(ErrorInfoReasonOf(FromGrpcStatus(status)), tenant_connector::kReasonTenantMismatch);
}

TEST_F(ConnectorEmulatorTest, ListPagesAndFilters) {
  v1::CreateConnectionResponse response;
  ASSERT_TRUE(Create(ConnectRequest("list-a", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                                    SecretCredential(kContosoApp, kContosoSecret)),
                     &response)
                  .ok());
  ASSERT_TRUE(Create(ConnectRequest("list-b", v1::CONNECTION_ROLE_TARGET, "https://fabrikam-admin.sharepoint.com",
                                    SecretCredential(kFabrikamApp, kFabrikamSecret)),
                     &response)
                  .ok());
  std::vector<std::string> names;
  std::string token;
  do {
    grpc::ClientContext context;
    v1::ListConnectionsRequest request;
    request.set_page_size(1);
    request.set_page_token(token);
    v1::ListConnectionsResponse page;
    ASSERT_TRUE(connector_->stub().ListConnections(&context, request, &page).ok());
    ASSERT_LE(page.connections_size(), 1);
    for (const auto& c : page.connections()) names.push_back(c.name());
    token = page.next_page_token();
  } while (!token.empty());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"connections/list-a", "connections/list-b"}));
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  grpc::ClientContext context;
  v1::ListConnectionsRequest request;
  request.set_role(v1::CONNECTION_ROLE_TARGET);
  v1::ListConnectionsResponse targets;
  ASSERT_TRUE(connector_->stub().ListConnections(&context, request, &targets).ok());
  for (const auto& c : targets.connections()) EXPECT_EQ(c.role(), v1::CONNECTION_ROLE_TARGET);
  ASSERT_TRUE(Delete("connections/list-a").ok());
  ASSERT_TRUE(Delete("connections/list-b").ok());
}

TEST_F(ConnectorEmulatorTest, ThrottleStormHonoursRetryAfterExactly) {
  v1::CreateConnectionResponse response;
  ASSERT_TRUE(Create(ConnectRequest("storm", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                                    SecretCredential(kContosoApp, kContosoSecret)),
                     &response)
                  .ok());
  emulator_->Admin("DELETE", "/_emulator/accounting");
  emulator_->Admin("PUT", "/_emulator/faults",
                   {{"throttle_ratio", 0.3}, {"unavailable_ratio", 0.1}, {"retry_after_seconds", 1}});
  // Six callers at once, each several upstream calls (organization, geos); again, up to ten rounds,
  // until the random draw has given at least one fault (one round can draw none).
  nlohmann::json accounting;
  for (int round = 0; round < 10; ++round) {
    std::vector<std::thread> callers;
    std::atomic<int> ok{0}, exhausted{0}, other{0};
    for (int i = 0; i < 6; ++i) {
      callers.emplace_back([&] {
        grpc::ClientContext context;
        context.set_deadline(In(std::chrono::seconds(60)));
        v1::CheckConnectionRequest request;
        request.set_name("connections/storm");
        v1::CheckConnectionResponse check;
        grpc::Status status = connector_->stub().CheckConnection(&context, request, &check);
        if (status.ok()) {
          ++ok;
        } else if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++exhausted;
        } else {
          ++other;
        }
      });
    }
    for (auto& caller : callers) caller.join();
    EXPECT_EQ(other.load(), 0) << "round " << round;
    EXPECT_EQ(ok.load() + exhausted.load(), 6) << "round " << round;
    accounting = emulator_->Admin("GET", "/_emulator/accounting");
    if (accounting["faults"]["throttled"].get<int>() + accounting["faults"]["unavailable"].get<int>() > 0) break;
  }
  emulator_->Admin("DELETE", "/_emulator/faults");
  accounting = emulator_->Admin("GET", "/_emulator/accounting");
  EXPECT_GT(accounting["faults"]["throttled"].get<int>() + accounting["faults"]["unavailable"].get<int>(), 0)
      << accounting.dump();
  EXPECT_EQ(accounting["retry_after"]["early_retries"].get<int>(), 0) << accounting.dump();
  ASSERT_TRUE(Delete("connections/storm").ok());
}

TEST_F(ConnectorEmulatorTest, ShortTokenLifetimeIsRefreshedTransparently) {
  emulator_->Admin("PUT", "/_emulator/faults", {{"token_lifetime_seconds", 2}});
  v1::CreateConnectionResponse response;
  ASSERT_TRUE(Create(ConnectRequest("short-token", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                                    MigrationAppCredential(*emulator_, kContosoApp)),
                     &response)
                  .ok());
  EXPECT_LE(response.connection().health().token_lifetime().seconds(), 2);
  // Tokens expire while the connection is in use; every call still succeeds.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // real token expiry needs real time
    grpc::ClientContext context;
    v1::GetCrossTenantHostUrlRequest request;
    request.set_geo("connections/short-token");
    v1::GetCrossTenantHostUrlResponse host;
    grpc::Status status = connector_->stub().GetCrossTenantHostUrl(&context, request, &host);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(Get("connections/short-token").state(), v1::CONNECTION_STATE_CONNECTED);
  ASSERT_TRUE(Delete("connections/short-token").ok());
}

TEST_F(ConnectorEmulatorTest, SecretsNeverInLogsOrResponses) {
  v1::CreateConnectionResponse response;
  ASSERT_TRUE(Create(ConnectRequest("secret-check", v1::CONNECTION_ROLE_TARGET, "https://fabrikam-admin.sharepoint.com",
                                    SecretCredential(kFabrikamApp, kFabrikamSecret)),
                     &response)
                  .ok());
  std::string serialized = response.connection().DebugString();
  EXPECT_THAT(serialized, Not(HasSubstr(kFabrikamSecret)));
  EXPECT_THAT(Get("connections/secret-check").DebugString(), Not(HasSubstr(kFabrikamSecret)));
  auto metrics = HttpGet("http://" + connector_->metrics_address() + "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(*metrics, HasSubstr("tenant_connector_connections"));
  EXPECT_THAT(*metrics, HasSubstr("tenant_connector_upstream_requests_total"));
  EXPECT_THAT(*metrics, HasSubstr("tenant_connector_sign_ins_total"));
  for (const char* secret : {kFabrikamSecret, kContosoSecret, kAdminPassword, "not-the-secret-5c1d"}) {
    EXPECT_THAT(*metrics, Not(HasSubstr(secret)));
    EXPECT_THAT(connector_->Stderr(), Not(HasSubstr(secret)));
  }
  ASSERT_TRUE(Delete("connections/secret-check").ok());
}

// Scheduled probes (no CheckConnection): the tenant becomes unreachable, the connection turns
// DEGRADED by itself, and recovers when the tenant is back; watchers see both.
TEST_F(ConnectorEmulatorTest, ScheduledProbesDegradeAndRecover) {
  Connector probing;
  ASSERT_TRUE(probing.Start(*emulator_, "",
                            {"--probe-interval=1s", "--upstream-backoff-base=100ms", "--upstream-max-attempts=2"}))
      << probing.Stderr();
  {
    grpc::ClientContext context;
    v1::CreateConnectionResponse response;
    ASSERT_TRUE(probing.stub()
                    .CreateConnection(
                        &context,
                        ConnectRequest("probed", v1::CONNECTION_ROLE_TARGET, "https://fabrikam-admin.sharepoint.com",
                                       SecretCredential(kFabrikamApp, kFabrikamSecret)),
                        &response)
                    .ok());
  }
  grpc::ClientContext watch_context;
  watch_context.set_deadline(In(std::chrono::seconds(60)));
  v1::WatchConnectionsRequest watch_request;
  watch_request.add_names("connections/probed");
  auto reader = probing.stub().WatchConnections(&watch_context, watch_request);
  v1::WatchConnectionsResponse event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.type(), v1::CONNECTION_EVENT_TYPE_SNAPSHOT);
  emulator_->Admin("PUT", "/_emulator/faults", {{"unreachable_tenants", {"fabrikam"}}});
  bool degraded = false;
  while (!degraded && reader->Read(&event)) degraded = event.connection().state() == v1::CONNECTION_STATE_DEGRADED;
  ASSERT_TRUE(degraded);
  EXPECT_THAT(event.connection().state_reason(), HasSubstr("probe failed"));
  emulator_->Admin("DELETE", "/_emulator/faults");
  bool recovered = false;
  while (!recovered && reader->Read(&event)) recovered = event.connection().state() == v1::CONNECTION_STATE_CONNECTED;
  ASSERT_TRUE(recovered);
  EXPECT_TRUE(event.connection().health().has_last_success_time());
  watch_context.TryCancel();
  reader->Finish();
  EXPECT_EQ(probing.Stop(), 0);
}

// With mTLS, managing connections needs the administer role; operate (a worker) may read them.
TEST_F(ConnectorEmulatorTest, MutualTlsConnectionRoles) {
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
       "--config=" + dir.WriteFile("roles.yaml", "authorization: {operate: [worker], administer: [orchestrator]}\n")}))
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
  v1::CreateConnectionRequest request =
      ConnectRequest("tls-target", v1::CONNECTION_ROLE_TARGET, "https://fabrikam-admin.sharepoint.com",
                     SecretCredential(kFabrikamApp, kFabrikamSecret));
  v1::CreateConnectionResponse response;
  {
    grpc::ClientContext context;
    grpc::Status status = worker->CreateConnection(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("CreateConnection"));
    EXPECT_THAT(status.error_message(), HasSubstr("needs role administer"));
  }
  {
    grpc::ClientContext context;
    grpc::Status status = orchestrator->CreateConnection(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  {
    grpc::ClientContext context;
    v1::GetConnectionRequest get;
    get.set_name("connections/tls-target");
    v1::GetConnectionResponse got;
    EXPECT_TRUE(worker->GetConnection(&context, get, &got).ok());
  }
  {
    grpc::ClientContext context;
    v1::DeleteConnectionRequest del;
    del.set_name("connections/tls-target");
    v1::DeleteConnectionResponse deleted;
    EXPECT_EQ(worker->DeleteConnection(&context, del, &deleted).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_EQ(secured.Stop(), 0);
}

// A separate connector with a state directory: restart keeps connections; a missing key refuses.
// --sharepoint-wire-log: every SharePoint admin exchange as a JSON line, with no token in it.
TEST_F(ConnectorEmulatorTest, WireLogRecordsSharePointExchangesWithoutSecrets) {
  TempDir dir;
  const std::string log_path = dir.path() + "/sharepoint-wire.jsonl";
  Connector logged;
  ASSERT_TRUE(logged.Start(*emulator_, "", {"--sharepoint-wire-log=" + log_path})) << logged.Stderr();
  {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(30)));
    v1::CreateConnectionResponse response;
    grpc::Status status = logged.stub().CreateConnection(
        &context,
        ConnectRequest("logged", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                       MigrationAppCredential(*emulator_, kContosoApp)),
        &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  {
    grpc::ClientContext context;
    v1::VerifyCrossTenantRelationshipRequest request;
    request.set_geo("connections/logged");
    request.mutable_relationship()->set_partner_host_url("https://fabrikam-my.sharepoint.com/");
    v1::VerifyCrossTenantRelationshipResponse response;
    ASSERT_TRUE(logged.stub().VerifyCrossTenantRelationship(&context, request, &response).ok());
  }
  EXPECT_EQ(logged.Stop(), 0);
  std::ifstream in(log_path);
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line)) {
    EXPECT_THAT(line, Not(HasSubstr("eyJ"))) << "a JWT reached the wire log";
    EXPECT_THAT(line, Not(HasSubstr("Bearer ")));
    lines.push_back(nlohmann::json::parse(line));
  }
  // The realm challenge, GetTenantInstances at connect, then the verification.
  ASSERT_GE(lines.size(), 3u);
  EXPECT_THAT(lines.front()["url"].get<std::string>(), HasSubstr("/_vti_bin/client.svc"));
  EXPECT_EQ(lines.front()["status"], 401);
  const nlohmann::json& verify = lines.back();
  EXPECT_EQ(verify["url"], "https://contoso-admin.sharepoint.com/_vti_bin/client.svc/ProcessQuery");
  EXPECT_EQ(verify["connection"], "connections/logged");
  EXPECT_EQ(verify["status"], 200);
  EXPECT_THAT(verify["request"].get<std::string>(), HasSubstr("Name=\"VerifySPOTenantOrgRelation\""));
  EXPECT_THAT(verify["response"].get<std::string>(), HasSubstr("\"ErrorInfo\":null"));
}

TEST_F(ConnectorEmulatorTest, RestartKeepsConnectionsAndRefusesWithoutKey) {
  TempDir state;
  const std::string state_dir = state.path() + "/state";
  {
    Connector first;
    ASSERT_TRUE(first.Start(*emulator_, state_dir)) << first.Stderr();
    grpc::ClientContext context;
    v1::CreateConnectionResponse response;
    ASSERT_TRUE(first.stub()
                    .CreateConnection(
                        &context,
                        ConnectRequest("durable", v1::CONNECTION_ROLE_TARGET, "https://fabrikam-admin.sharepoint.com",
                                       SecretCredential(kFabrikamApp, kFabrikamSecret)),
                        &response)
                    .ok());
    EXPECT_EQ(first.Stop(), 0);
  }
  {
    // The database holds no secret in clear.
    std::ifstream db(state_dir + "/tenant-connector.db", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(db)), std::istreambuf_iterator<char>());
    EXPECT_THAT(bytes, Not(HasSubstr(kFabrikamSecret)));
  }
  {
    Connector second;
    ASSERT_TRUE(second.Start(*emulator_, state_dir)) << second.Stderr();
    grpc::ClientContext context;
    v1::GetConnectionRequest request;
    request.set_name("connections/durable");
    v1::GetConnectionResponse got;
    ASSERT_TRUE(second.stub().GetConnection(&context, request, &got).ok());
    EXPECT_EQ(got.connection().tenant_id(), "9a8b7c6d-0000-4000-8000-000000000002");
    // The stored credential still signs in.
    grpc::ClientContext check_context;
    v1::CheckConnectionRequest check_request;
    check_request.set_name("connections/durable");
    v1::CheckConnectionResponse checked;
    ASSERT_TRUE(second.stub().CheckConnection(&check_context, check_request, &checked).ok());
    EXPECT_EQ(checked.connection().state(), v1::CONNECTION_STATE_CONNECTED) << checked.connection().state_reason();
    EXPECT_EQ(second.Stop(), 0);
  }
  ASSERT_EQ(std::remove((state_dir + "/seal.key").c_str()), 0);
  {
    Connector third;
    EXPECT_FALSE(third.Start(*emulator_, state_dir));
    EXPECT_EQ(third.process()->WaitForExit(std::chrono::seconds(10)).value_or(-1), 1);
    EXPECT_THAT(third.Stderr(), HasSubstr("seal.key"));
    EXPECT_THAT(third.Stderr(), HasSubstr("sealed credentials"));
  }
}

}  // namespace
}  // namespace crosstenant::testing
