// StartUserContentMove's `attempt` and `request_id` against the real emulator: the duplicate-start
// look-up (a Graph GET before the POST) is skipped on attempt 1 only; a retry (attempt 2, e.g. after a
// worker lost its lease while the first start was in flight) is answered from the connector's memory of
// the request id, or, when the connector no longer remembers it, looks first and returns the move the
// first attempt started, so no second start reaches Microsoft; the answers outlive a restart. Also BatchGetUserContentMoves by task id, which the
// workers' batched polls use.

#include <chrono>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/mesh_processes.h"

namespace crosstenant::testing {
namespace {

namespace v1 = ::crosstenant::v1;

constexpr char kTargetHost[] = "https://fabrikam-my.sharepoint.com/";
constexpr char kSourceHost[] = "https://contoso-my.sharepoint.com/";

// Its own emulator and connector (connections/src and connections/tgt), trust established and verified.
class StartMoveAttemptTest : public ConnectorSuite {
 protected:
  static void SetUpTestSuite() {
    ConnectorSuite::SetUpTestSuite();
    if (!setup_error_.empty()) return;
    if (!connector_->ConnectSourceAndTarget("src", "tgt")) {
      setup_error_ = connector_->error();
      return;
    }
    for (auto [geo, partner] :
         {std::make_pair("connections/src", kTargetHost), std::make_pair("connections/tgt", kSourceHost)}) {
      v1::SetCrossTenantRelationshipRequest request;
      request.set_geo(geo);
      request.mutable_relationship()->set_partner_host_url(partner);
      v1::SetCrossTenantRelationshipResponse response;
      grpc::Status status = Call(&v1::TenantConnector::Stub::SetCrossTenantRelationship, request, &response);
      if (!status.ok()) {
        setup_error_ = "SetCrossTenantRelationship: " + status.error_message();
        return;
      }
    }
    emulator_->Admin("POST", "/_emulator/time", {{"advance_seconds", 8 * 86400}});  // past the dormancy
  }

  // `method` on `stub`, by default the suite's connector's.
  template <typename Request, typename Response, typename Method>
  static grpc::Status Call(Method method, const Request& request, Response* response,
                           v1::TenantConnector::Stub* stub = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ((stub != nullptr ? *stub : connector_->stub()).*method)(&context, request, response);
  }

  static grpc::Status Start(const std::string& user, int attempt, v1::StartUserContentMoveResponse* response,
                            const std::string& request_id = "", v1::TenantConnector::Stub* stub = nullptr) {
    v1::StartUserContentMoveRequest request;
    request.set_geo("connections/src");
    request.set_source_user_principal_name(user + "@contoso.onmicrosoft.com");
    request.set_target_user_principal_name(user + "@fabrikam.onmicrosoft.com");
    request.set_target_host_url(kTargetHost);
    request.set_request_id(request_id.empty() ? "migrations/m/tasks/start-" + user : request_id);
    request.set_attempt(attempt);
    return Call(&v1::TenantConnector::Stub::StartUserContentMove, request, response, stub);
  }

  // What reached the emulator since the last Reset().
  struct Upstream {
    int look_ups = 0;    // GET .../getBySourceUserPrincipalName(...)
    int creates = 0;     // POST .../crossOrganizationMigrationTasks
    int batches = 0;     // POST /$batch
    int starts = 0;      // moves started
    int duplicates = 0;  // starts Microsoft refused because the user already had a task
  };
  static Upstream Counted() {
    nlohmann::json accounting = emulator_->Admin("GET", "/_emulator/accounting");
    const nlohmann::json& routes = accounting["requests"]["by_route"];
    auto route = [&](const char* name) { return routes.contains(name) ? routes[name].get<int>() : 0; };
    Upstream counted;
    counted.look_ups = route("graph.migration_tasks.get_by_upn");
    counted.creates = route("graph.migration_tasks.create");
    counted.batches = route("graph.batch");
    counted.starts = accounting["moves"]["starts"].get<int>();
    counted.duplicates = accounting["moves"]["duplicates"].get<int>();
    return counted;
  }
  static void Reset() { emulator_->Admin("DELETE", "/_emulator/accounting"); }
};

TEST_F(StartMoveAttemptTest, FirstAttemptStartsWithoutTheLookUpAndARetryLooksFirst) {
  Reset();
  v1::StartUserContentMoveResponse first;
  grpc::Status status = Start("alice", 1, &first);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(first.already_started());
  EXPECT_FALSE(first.move().task_id().empty());
  Upstream counted = Counted();
  EXPECT_EQ(counted.look_ups, 0) << "attempt 1: nothing can have been sent before, no look-up";
  EXPECT_EQ(counted.creates, 1);
  EXPECT_EQ(counted.starts, 1);

  // The worker that sent attempt 1 lost its lease before it could report; the task is leased again
  // (attempt 2) and sent again with the same request id. The connector remembers its answer: the same
  // move, and nothing reaches Microsoft.
  Reset();
  v1::StartUserContentMoveResponse replayed;
  status = Start("alice", 2, &replayed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(replayed.move().task_id(), first.move().task_id());
  counted = Counted();
  EXPECT_EQ(counted.look_ups + counted.creates + counted.starts, 0) << "answered from the connector's memory";

  // A connector that no longer remembers (restarted; here: another request id) looks first and
  // returns the move attempt 1 started: no second POST.
  Reset();
  v1::StartUserContentMoveResponse retried;
  status = Start("alice", 2, &retried, "migrations/m/tasks/start-alice-after-restart");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(retried.already_started());
  EXPECT_EQ(retried.move().task_id(), first.move().task_id());
  counted = Counted();
  EXPECT_EQ(counted.look_ups, 1);
  EXPECT_EQ(counted.creates, 0) << "a retry must not POST when the move exists";
  EXPECT_EQ(counted.starts, 0);
  EXPECT_EQ(counted.duplicates, 0);

  // The same request id for another user is another request: refused before anything reaches Microsoft.
  Reset();
  v1::StartUserContentMoveResponse refused;
  status = Start("bob", 1, &refused, "migrations/m/tasks/start-alice");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("request_id reused for another request"));
  EXPECT_EQ(Counted().creates, 0);
}

// The connector keeps its answers in its state database: a worker's retry that reaches a connector
// restarted since the first call (a node lost, a rollout) gets the first answer, and nothing reaches
// Microsoft; another request under the id is still refused.
TEST_F(StartMoveAttemptTest, AnAnswerOutlivesARestartOfTheConnector) {
  TempDir state;
  Connector durable;
  ASSERT_TRUE(durable.Start(*emulator_, state.path() + "/state", {"--probe-interval=1h"})) << durable.error();
  ASSERT_TRUE(durable.ConnectSourceAndTarget("src", "tgt")) << durable.error();
  const std::string carols = "migrations/m/tasks/start-carol";
  v1::StartUserContentMoveResponse first;
  grpc::Status status = Start("carol", 1, &first, carols, &durable.stub());
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(first.already_started());
  ASSERT_EQ(durable.Stop(), 0);

  ASSERT_TRUE(durable.Start(*emulator_, state.path() + "/state", {"--probe-interval=1h"})) << durable.error();
  Reset();
  v1::StartUserContentMoveResponse replayed;
  status = Start("carol", 2, &replayed, carols, &durable.stub());
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(replayed.SerializeAsString(), first.SerializeAsString()) << "the first answer, already_started unset";
  Upstream counted = Counted();
  EXPECT_EQ(counted.look_ups + counted.creates + counted.starts, 0) << "answered from the state database";

  v1::StartUserContentMoveResponse refused;
  status = Start("dave", 1, &refused, carols, &durable.stub());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("request_id reused for another request"));
  EXPECT_EQ(Counted().creates, 0);
  EXPECT_EQ(durable.Stop(), 0);
}

TEST_F(StartMoveAttemptTest, UnsetAttemptLooksFirstAsBefore) {
  Reset();
  v1::StartUserContentMoveResponse started;
  grpc::Status status = Start("carol", 0, &started);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(started.already_started());
  Upstream counted = Counted();
  EXPECT_EQ(counted.look_ups, 1) << "attempt 0 (a caller that does not say): look up, then start";
  EXPECT_EQ(counted.creates, 1);
  EXPECT_EQ(counted.starts, 1);
  EXPECT_EQ(counted.duplicates, 0);
}

TEST_F(StartMoveAttemptTest, AWrongFirstAttemptStillNeverStartsTwice) {
  // A caller that claims attempt 1 for a start that did reach Microsoft (a bug on its side): Microsoft
  // refuses the second task, the connector looks the move up and returns it. The refused POST is what
  // the look-up exists to avoid: the emulator counts it as a duplicate start.
  v1::StartUserContentMoveResponse first;
  grpc::Status status = Start("alice", 1, &first);  // alice was started by the first test, or now
  ASSERT_TRUE(status.ok()) << status.error_message();
  Reset();
  v1::StartUserContentMoveResponse again;
  status = Start("alice", 1, &again, "migrations/m/tasks/start-alice-sent-again-as-new");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(again.already_started());
  EXPECT_EQ(again.move().task_id(), first.move().task_id());
  Upstream counted = Counted();
  EXPECT_EQ(counted.creates, 1);
  EXPECT_EQ(counted.look_ups, 1);
  EXPECT_EQ(counted.starts, 1);
  EXPECT_EQ(counted.duplicates, 1) << "the refused POST";
}

TEST_F(StartMoveAttemptTest, BatchStartTreatsEachStartAsItsOwnStartWouldAndOneRefusalHoldsNoneBack) {
  // alice and carol have moves (started here, or by the tests above).
  v1::StartUserContentMoveResponse alice;
  v1::StartUserContentMoveResponse carol;
  ASSERT_TRUE(Start("alice", 1, &alice).ok());
  ASSERT_TRUE(Start("carol", 2, &carol).ok());
  Reset();
  v1::BatchStartUserContentMovesRequest request;
  request.set_geo("connections/src");
  const auto add = [&request](const std::string& user, int attempt, const std::string& request_id) {
    v1::StartUserContentMoveRequest* start = request.add_requests();
    start->set_source_user_principal_name(user + "@contoso.onmicrosoft.com");
    start->set_target_user_principal_name(user + "@fabrikam.onmicrosoft.com");
    start->set_target_host_url(kTargetHost);
    start->set_request_id(request_id);
    start->set_attempt(attempt);
    return start;
  };
  add("alice", 1, "migrations/m/tasks/start-alice");  // 0: the start above, answered from memory
  add("carol", 1, "batch/carol");                     // 1: a first attempt Microsoft refuses: the move exists
  add("o'brien", 1, "batch/obrien");                  // 2: Microsoft refuses the UPN
  add("carol", 1, "batch/no-target")->clear_target_user_principal_name();  // 3: does not validate
  add("carol", 1, "batch/other-geo")->set_geo("connections/tgt");          // 4: not the batch's geo
  add("carol", 2, "batch/carol-retried");  // 5: a retry, looked up first and not sent again
  v1::BatchStartUserContentMovesResponse response;
  grpc::Status status = Call(&v1::TenantConnector::Stub::BatchStartUserContentMoves, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 6);

  ASSERT_TRUE(response.results(0).has_response()) << response.results(0).error().message();
  EXPECT_EQ(response.results(0).response().move().task_id(), alice.move().task_id());
  ASSERT_TRUE(response.results(1).has_response()) << response.results(1).error().message();
  EXPECT_TRUE(response.results(1).response().already_started());
  EXPECT_EQ(response.results(1).response().move().task_id(), carol.move().task_id());
  const v1::ErrorDetail& refused = response.results(2).error();
  EXPECT_EQ(refused.code(), "INVALID_ARGUMENT");
  EXPECT_EQ(refused.upstream_http_status(), 400);
  EXPECT_EQ(refused.upstream_code(), "invalidRequest");
  EXPECT_THAT(refused.message(), ::testing::HasSubstr("contains an invalid character"));
  EXPECT_EQ(response.results(3).error().code(), "INVALID_ARGUMENT");
  EXPECT_THAT(response.results(3).error().message(), ::testing::HasSubstr("requests[3].target_user_principal_name"));
  EXPECT_THAT(response.results(4).error().message(), ::testing::HasSubstr("requests[4].geo"));
  ASSERT_TRUE(response.results(5).has_response()) << response.results(5).error().message();
  EXPECT_TRUE(response.results(5).response().already_started());
  EXPECT_EQ(response.results(5).response().move().task_id(), carol.move().task_id());

  const Upstream counted = Counted();
  EXPECT_EQ(counted.batches, 2) << "the retry's look-up in one $batch, the two first attempts in another";
  EXPECT_EQ(counted.look_ups, 1) << "carol's refused start, looked up alone after Microsoft's refusal";
  EXPECT_EQ(counted.starts, 1) << "carol's first attempt, which Microsoft refused:";
  EXPECT_EQ(counted.duplicates, 1) << "a duplicate start";

  // Each start is recorded as a StartUserContentMove, with its own outcome.
  v1::ListAuditRecordsRequest audit;
  audit.set_action("StartUserContentMove");
  audit.set_target("connections/src/users/o'brien@contoso.onmicrosoft.com");
  v1::ListAuditRecordsResponse records;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::ListAuditRecords, audit, &records).ok());
  ASSERT_EQ(records.records_size(), 1);
  EXPECT_EQ(records.records(0).outcome(), "INVALID_ARGUMENT");
  EXPECT_EQ(records.records(0).request_id(), "batch/obrien");

  // More than Graph's 20 in one $batch is refused whole, naming the field.
  v1::BatchStartUserContentMovesRequest too_many;
  too_many.set_geo("connections/src");
  for (int i = 0; i < 21; ++i) *too_many.add_requests() = request.requests(1);
  status = Call(&v1::TenantConnector::Stub::BatchStartUserContentMoves, too_many, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("between 1 and 20"));
}

TEST_F(StartMoveAttemptTest, BatchGetReadsMovesByTaskIdAndByUpnInOneUpstreamRequest) {
  v1::StartUserContentMoveResponse alice;
  ASSERT_TRUE(Start("alice", 2, &alice).ok());
  Reset();
  v1::BatchGetUserContentMovesRequest request;
  request.set_geo("connections/src");
  request.add_source_user_principal_names("alice@contoso.onmicrosoft.com");
  request.add_task_ids(alice.move().task_id());
  request.add_task_ids("0b7d2e4c-0000-4000-8000-00000000dead");
  v1::BatchGetUserContentMovesResponse response;
  grpc::Status status = Call(&v1::TenantConnector::Stub::BatchGetUserContentMoves, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 3) << "the UPNs first, then the task ids";
  EXPECT_EQ(response.results(0).source_user_principal_name(), "alice@contoso.onmicrosoft.com");
  EXPECT_TRUE(response.results(0).found());
  EXPECT_EQ(response.results(1).task_id(), alice.move().task_id());
  EXPECT_TRUE(response.results(1).found());
  EXPECT_EQ(response.results(1).move().task_id(), alice.move().task_id());
  EXPECT_EQ(response.results(1).move().source_user_principal_name(), "alice@contoso.onmicrosoft.com");
  EXPECT_EQ(response.results(2).task_id(), "0b7d2e4c-0000-4000-8000-00000000dead");
  EXPECT_FALSE(response.results(2).found());
  EXPECT_FALSE(response.results(2).has_error());
  EXPECT_EQ(Counted().batches, 1) << "three look-ups, one $batch request";

  // Neither UPNs nor task ids: INVALID_ARGUMENT; an empty task id too.
  v1::BatchGetUserContentMovesRequest empty;
  empty.set_geo("connections/src");
  EXPECT_EQ(Call(&v1::TenantConnector::Stub::BatchGetUserContentMoves, empty, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  empty.add_task_ids("");
  EXPECT_EQ(Call(&v1::TenantConnector::Stub::BatchGetUserContentMoves, empty, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace crosstenant::testing
