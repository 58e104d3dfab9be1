// The real tenant-connector against the real tenant-emulator while Graph throttles each request of a
// `$batch` on its own (429 or 503, each with its own Retry-After, as Graph does) and sometimes the
// batch itself: the RPCs that batch (BatchCheckUsers, on both tenants, and BatchGetUserContentMoves)
// give the same answers as without faults, lose none, and the connector never comes back before a
// Retry-After has elapsed.

#include <chrono>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/support/mesh_processes.h"

namespace crosstenant::testing {
namespace {

namespace v1 = ::crosstenant::v1;

constexpr char kSourceHost[] = "https://contoso-my.sharepoint.com/";
constexpr char kTargetHost[] = "https://fabrikam-my.sharepoint.com/";
// 23 sub-requests per BatchCheckUsers (two look-ups of up to 15 users, a drive each): two envelopes.
constexpr int kUsers = 20;
constexpr int kMoving = 5;  // user001..user005 have a move

std::string Upn(int n, const std::string& tenant) { return absl::StrFormat("user%03d@%s.onmicrosoft.com", n, tenant); }

class ConnectorEmulatorBatchThrottlingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MeshSeed seed;
    seed.nam_users = kUsers;
    emulator_ = new Emulator();
    if (!emulator_->Start({}, seed.Yaml())) {
      setup_error_ = emulator_->error();
      return;
    }
    connector_ = new Connector();
    // Enough sends per call that a throttled request is never given up at these ratios (0.3^12).
    if (!connector_->Start(*emulator_, "",
                           {"--upstream-backoff-base=200ms", "--probe-interval=1h", "--upstream-max-attempts=12"}) ||
        !connector_->ConnectSourceAndTarget("src", "tgt")) {
      setup_error_ = connector_->error();
    }
  }
  static void TearDownTestSuite() {
    if (connector_ && ::testing::UnitTest::GetInstance()->failed_test_count() > 0) {
      std::fprintf(stderr, "--- tenant-connector log ---\n%s\n", connector_->Stderr().c_str());
    }
    if (connector_ && connector_->process()) connector_->Stop();
    delete connector_;
    delete emulator_;
  }
  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  template <typename Request, typename Response, typename Method>
  static grpc::Status Call(Method method, const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    return (connector_->stub().*method)(&context, request, response);
  }

  static v1::BatchCheckUsersResponse CheckUsers(const std::string& connection, const std::string& tenant) {
    v1::BatchCheckUsersRequest request;
    request.set_connection(connection);
    for (int n = 1; n <= kUsers; ++n) request.add_user_principal_names(Upn(n, tenant));
    request.add_user_principal_names(absl::StrCat("nobody@", tenant, ".onmicrosoft.com"));
    v1::BatchCheckUsersResponse response;
    grpc::Status status = Call(&v1::TenantConnector::Stub::BatchCheckUsers, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  static v1::BatchGetUserContentMovesResponse GetMoves() {
    v1::BatchGetUserContentMovesRequest request;
    request.set_geo("connections/src");
    request.set_partner_host_url(kTargetHost);
    for (int n = 1; n <= 2 * kMoving; ++n) request.add_source_user_principal_names(Upn(n, "contoso"));
    v1::BatchGetUserContentMovesResponse response;
    grpc::Status status = Call(&v1::TenantConnector::Stub::BatchGetUserContentMoves, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  inline static Emulator* emulator_ = nullptr;
  inline static Connector* connector_ = nullptr;
  inline static std::string setup_error_;
};

// What a check says, without the parts that may differ between two calls.
std::string Summary(const v1::UserCheck& check) {
  std::string out = absl::StrCat(check.user_principal_name(), " found=", check.found(), " id=", check.user().id(),
                                 " onedrive=", check.onedrive().exists(), " findings=");
  for (const auto& finding : check.findings()) absl::StrAppend(&out, finding.code(), ",");
  return out;
}

TEST_F(ConnectorEmulatorBatchThrottlingTest, BatchingRpcsLoseNoAnswerAndNeverRetryEarly) {
  // Trust and five moves, without faults.
  for (auto [geo, partner] :
       {std::make_pair("connections/src", kTargetHost), std::make_pair("connections/tgt", kSourceHost)}) {
    v1::SetCrossTenantRelationshipRequest request;
    request.set_geo(geo);
    request.mutable_relationship()->set_partner_host_url(partner);
    v1::SetCrossTenantRelationshipResponse response;
    grpc::Status status = Call(&v1::TenantConnector::Stub::SetCrossTenantRelationship, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  std::vector<std::string> task_ids;
  for (int n = 1; n <= kMoving; ++n) {
    v1::StartUserContentMoveRequest request;
    request.set_geo("connections/src");
    request.set_source_user_principal_name(Upn(n, "contoso"));
    request.set_target_user_principal_name(Upn(n, "fabrikam"));
    request.set_target_host_url(kTargetHost);
    v1::StartUserContentMoveResponse response;
    grpc::Status status = Call(&v1::TenantConnector::Stub::StartUserContentMove, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    task_ids.push_back(response.move().task_id());
  }

  // The answers without faults.
  std::vector<std::string> expected_source, expected_target;
  const v1::BatchCheckUsersResponse source_baseline = CheckUsers("connections/src", "contoso");
  for (const auto& check : source_baseline.checks()) {
    ASSERT_FALSE(check.has_error()) << check.DebugString();
    expected_source.push_back(Summary(check));
  }
  const v1::BatchCheckUsersResponse target_baseline = CheckUsers("connections/tgt", "fabrikam");
  for (const auto& check : target_baseline.checks()) {
    ASSERT_FALSE(check.has_error()) << check.DebugString();
    expected_target.push_back(Summary(check));
  }
  ASSERT_EQ(expected_source.size(), kUsers + 1u);
  EXPECT_THAT(expected_target.back(), ::testing::HasSubstr("found=0"));

  emulator_->Admin("DELETE", "/_emulator/accounting");
  emulator_->Admin("PUT", "/_emulator/faults",
                   {{"throttle_ratio", 0.15},
                    {"unavailable_ratio", 0.15},
                    {"retry_after_seconds", 1},
                    {"retry_after_max_seconds", 2}});
  v1::BatchCheckUsersResponse source = CheckUsers("connections/src", "contoso");
  ASSERT_EQ(source.checks_size(), static_cast<int>(expected_source.size()));
  for (int i = 0; i < source.checks_size(); ++i) {
    EXPECT_FALSE(source.checks(i).has_error()) << source.checks(i).DebugString();
    EXPECT_EQ(Summary(source.checks(i)), expected_source[static_cast<size_t>(i)]);
  }
  v1::BatchCheckUsersResponse target = CheckUsers("connections/tgt", "fabrikam");
  ASSERT_EQ(target.checks_size(), static_cast<int>(expected_target.size()));
  for (int i = 0; i < target.checks_size(); ++i) {
    EXPECT_FALSE(target.checks(i).has_error()) << target.checks(i).DebugString();
    EXPECT_EQ(Summary(target.checks(i)), expected_target[static_cast<size_t>(i)]);
  }
  v1::BatchGetUserContentMovesResponse moves = GetMoves();
  ASSERT_EQ(moves.results_size(), 2 * kMoving);
  for (int i = 0; i < moves.results_size(); ++i) {
    const v1::UserContentMoveResult& result = moves.results(i);
    EXPECT_FALSE(result.has_error()) << result.DebugString();
    EXPECT_EQ(result.found(), i < kMoving) << result.DebugString();
    if (i < kMoving) {
      EXPECT_EQ(result.move().task_id(), task_ids[static_cast<size_t>(i)]);
    }
  }
  emulator_->Admin("DELETE", "/_emulator/faults");

  nlohmann::json accounting = emulator_->Admin("GET", "/_emulator/accounting");
  EXPECT_EQ(accounting["retry_after"]["early_retries"], 0) << accounting["retry_after"].dump();
  // Requests inside batches were throttled, not only whole answers: more faults than faulted answers.
  const nlohmann::json& by_status = accounting["requests"]["by_status"];
  const int faulted_answers = by_status.value("429", 0) + by_status.value("503", 0);
  const int faults = accounting["faults"]["throttled"].get<int>() + accounting["faults"]["unavailable"].get<int>();
  EXPECT_GT(accounting["faults"]["unavailable"].get<int>(), 0) << accounting["faults"].dump();
  EXPECT_GT(faults, faulted_answers) << accounting.dump();
  std::printf("batch throttling: %d faults, %d of them whole answers, %d requests, early retries %d\n", faults,
              faulted_answers, accounting["requests"]["total"].get<int>(),
              accounting["retry_after"]["early_retries"].get<int>());
}

}  // namespace
}  // namespace crosstenant::testing
