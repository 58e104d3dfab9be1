// The orchestrator binary as an operator meets it today: plans validated with every problem named,
// migrations recorded durably across a kill -9, paused, resumed and cancelled.

#include <signal.h>

#include <cstdio>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "services/common/errors.h"
#include "services/common/grpc_status.h"
#include "tests/support/server_process.h"

namespace crosstenant {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::HasSubstr;
using testing::ServerProcess;

constexpr const char* kTenant = "7f1d1c1e-0000-4000-8000-000000000001";

class OrchestratorApiTest : public ::testing::Test {
 protected:
  void StartOrchestrator(bool with_metrics = false) {
    const std::string ready = dir_.path() + "/ready.json";
    std::remove(ready.c_str());  // a process killed with -9 leaves its ready file behind
    process_ = std::make_unique<ServerProcess>(
        testing::BinaryPath("orchestrator"),
        std::vector<std::string>{"--grpc-address=127.0.0.1:0",
                                 with_metrics ? "--metrics-address=127.0.0.1:0" : "--metrics-address=",
                                 "--ready-file=" + ready, "--sqlite-path=" + dir_.path() + "/state.db"},
        dir_.path());
    auto info = process_->WaitForReadyFile(ready);
    ASSERT_TRUE(info.has_value()) << process_->Stderr();
    metrics_address_ = (*info)["metrics_address"].get<std::string>();
    stub_ = v1::Orchestrator::NewStub(
        grpc::CreateChannel((*info)["grpc_address"].get<std::string>(), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  testing::TempDir dir_;
  std::unique_ptr<ServerProcess> process_;
  std::unique_ptr<v1::Orchestrator::Stub> stub_;
  std::string metrics_address_;
};

TEST_F(OrchestratorApiTest, RefusesABrokenPlanWithFieldViolationsInTheStatusDetails) {
  StartOrchestrator();
  v1::CreateMigrationRequest request;
  request.mutable_plan()->set_source_connection("connections/contoso");
  request.mutable_plan()->set_target_connection("connections/fabrikam");
  request.mutable_plan()->mutable_identity_map()->set_csv(
      std::string("User,") + kTenant + ",a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\n" +
      "User," + kTenant + ",b@contoso.com,a@fabrikam.com,b@fabrikam.com,RegularUser\n");
  v1::CreateMigrationResponse response;
  grpc::Status status = stub_->CreateMigration(Context().get(), request, &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto violations = FieldViolationsOf(FromGrpcStatus(status));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "plan.identity_map.csv:2:4");
  EXPECT_THAT(violations[0].description, HasSubstr("DUPLICATE_TARGET"));
  EXPECT_THAT(violations[0].description, HasSubstr("already mapped on line 1"));
}

TEST_F(OrchestratorApiTest, AMigrationSurvivesKillNineAndCanBeCancelled) {
  StartOrchestrator();
  v1::CreateMigrationRequest request;
  request.set_migration_id("merger");
  request.mutable_plan()->set_source_connection("connections/contoso");
  request.mutable_plan()->set_target_connection("connections/fabrikam");
  std::string csv;
  for (int i = 0; i < 50; ++i) {
    csv += std::string("User,") + kTenant + ",u" + std::to_string(i) + "@contoso.com,u" + std::to_string(i) +
           "@fabrikam.com,u" + std::to_string(i) + "@fabrikam.com,RegularUser\n";
  }
  request.mutable_plan()->mutable_identity_map()->set_csv(csv);
  v1::CreateMigrationResponse created;
  ASSERT_TRUE(stub_->CreateMigration(Context().get(), request, &created).ok());
  EXPECT_EQ(created.migration().counts().total(), 50);

  process_->Signal(SIGKILL);
  process_->WaitForExit(std::chrono::seconds(5));
  StartOrchestrator();

  v1::GetMigrationRequest get;
  get.set_name("migrations/merger");
  v1::GetMigrationResponse got;
  ASSERT_TRUE(stub_->GetMigration(Context().get(), get, &got).ok());
  EXPECT_EQ(got.migration().counts().total(), 50);

  v1::CancelMigrationRequest cancel;
  cancel.set_name("migrations/merger");
  v1::CancelMigrationResponse cancelled;
  ASSERT_TRUE(stub_->CancelMigration(Context().get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.migration().state(), v1::MIGRATION_STATE_CANCELLED);

  v1::GetMigrationReportRequest report_request;
  report_request.set_name("migrations/merger");
  report_request.set_page_size(1000);
  v1::GetMigrationReportResponse report;
  ASSERT_TRUE(stub_->GetMigrationReport(Context().get(), report_request, &report).ok());
  ASSERT_EQ(report.rows_size(), 50);
  for (const auto& row : report.rows()) EXPECT_EQ(row.state(), v1::USER_MOVE_STATE_STOPPED) << row.user_move();
}

}  // namespace
}  // namespace crosstenant

namespace crosstenant {
namespace {

TEST_F(OrchestratorApiTest, WatchStreamsSnapshotReplayAndLiveEventsAndEndsOnATerminalState) {
  StartOrchestrator();
  v1::CreateMigrationRequest request;
  request.set_migration_id("watched");
  request.mutable_plan()->set_source_connection("connections/contoso");
  request.mutable_plan()->set_target_connection("connections/fabrikam");
  request.mutable_plan()->mutable_identity_map()->set_csv(
      std::string("User,") + kTenant + ",a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\n" + "User," +
      kTenant + ",b@contoso.com,b@fabrikam.com,b@fabrikam.com,RegularUser\n");
  v1::CreateMigrationResponse created;
  ASSERT_TRUE(stub_->CreateMigration(Context().get(), request, &created).ok());

  // Out of range first.
  {
    v1::WatchMigrationRequest watch;
    watch.set_name("migrations/watched");
    watch.set_after_sequence(99);
    auto context = Context();
    auto reader = stub_->WatchMigration(context.get(), watch);
    v1::WatchMigrationResponse event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::OUT_OF_RANGE);
  }

  v1::WatchMigrationRequest watch;
  watch.set_name("migrations/watched");
  auto context = Context();
  auto reader = stub_->WatchMigration(context.get(), watch);
  v1::WatchMigrationResponse event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_TRUE(event.event().has_snapshot());
  EXPECT_EQ(event.event().snapshot().counts().total(), 2);

  // Live: a pause, then a cancel (two users stopped, then the terminal state change ends the stream).
  // The phase driver may add its own state changes (it cannot reach a connector here): they are skipped.
  auto is_driver_event = [](const v1::WatchMigrationResponse& e) {
    return e.event().has_state_change() && e.event().state_change().to_state() == v1::MIGRATION_STATE_WAITING;
  };
  v1::PauseMigrationRequest pause;
  pause.set_name("migrations/watched");
  v1::PauseMigrationResponse paused;
  ASSERT_TRUE(stub_->PauseMigration(Context().get(), pause, &paused).ok());
  do {
    ASSERT_TRUE(reader->Read(&event));
  } while (is_driver_event(event));
  EXPECT_EQ(event.event().state_change().to_state(), v1::MIGRATION_STATE_PAUSED);
  v1::CancelMigrationRequest cancel;
  cancel.set_name("migrations/watched");
  v1::CancelMigrationResponse cancelled;
  ASSERT_TRUE(stub_->CancelMigration(Context().get(), cancel, &cancelled).ok());
  std::vector<std::string> kinds;
  while (reader->Read(&event)) {
    if (is_driver_event(event)) continue;
    kinds.push_back(event.event().has_user_transition() ? "user" : event.event().has_state_change() ? "state" : "other");
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"user", "user", "state"}));
  EXPECT_TRUE(reader->Finish().ok());

  // Replay after the creation event, without per-user transitions: the snapshot, then the state
  // changes in order, ending with the cancellation.
  watch.set_omit_user_transitions(true);
  watch.set_after_sequence(1);
  auto replay_context = Context();
  auto replay = stub_->WatchMigration(replay_context.get(), watch);
  std::vector<v1::MigrationEvent> replayed;
  while (replay->Read(&event)) replayed.push_back(event.event());
  EXPECT_TRUE(replay->Finish().ok());
  ASSERT_GE(replayed.size(), 3u);
  EXPECT_TRUE(replayed.front().has_snapshot());
  for (size_t i = 1; i < replayed.size(); ++i) {
    EXPECT_FALSE(replayed[i].has_user_transition());
    if (i > 1) {
      EXPECT_GT(replayed[i].sequence(), replayed[i - 1].sequence());
    }
  }
  EXPECT_EQ(replayed.back().state_change().to_state(), v1::MIGRATION_STATE_CANCELLED);
}

}  // namespace
}  // namespace crosstenant

namespace crosstenant {
namespace {

TEST_F(OrchestratorApiTest, ShutdownEndsWatchStreamsWithUnavailableAndTheResumeSequence) {
  StartOrchestrator();
  v1::CreateMigrationRequest request;
  request.set_migration_id("long");
  request.mutable_plan()->set_source_connection("connections/contoso");
  request.mutable_plan()->set_target_connection("connections/fabrikam");
  request.mutable_plan()->mutable_identity_map()->set_csv(
      std::string("User,") + kTenant + ",a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\n");
  v1::CreateMigrationResponse created;
  ASSERT_TRUE(stub_->CreateMigration(Context().get(), request, &created).ok());
  v1::WatchMigrationRequest watch;
  watch.set_name("migrations/long");
  auto context = Context();
  auto reader = stub_->WatchMigration(context.get(), watch);
  v1::WatchMigrationResponse event;
  ASSERT_TRUE(reader->Read(&event));
  process_->Signal(SIGTERM);
  EXPECT_FALSE(reader->Read(&event));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("after_sequence=1"));
  EXPECT_EQ(process_->WaitForExit(std::chrono::seconds(15)), 0);
}

}  // namespace
}  // namespace crosstenant

namespace crosstenant {
namespace {

TEST_F(OrchestratorApiTest, MetricsCountMigrationsAndUsersFromTheStore) {
  StartOrchestrator(/*with_metrics=*/true);
  v1::CreateMigrationRequest request;
  request.set_migration_id("counted");
  request.mutable_plan()->set_source_connection("connections/contoso");
  request.mutable_plan()->set_target_connection("connections/fabrikam");
  std::string csv;
  for (int i = 0; i < 3; ++i) {
    csv += std::string("User,") + kTenant + ",m" + std::to_string(i) + "@contoso.com,m" + std::to_string(i) +
           "@fabrikam.com,m" + std::to_string(i) + "@fabrikam.com,RegularUser\n";
  }
  request.mutable_plan()->mutable_identity_map()->set_csv(csv);
  v1::CreateMigrationResponse created;
  ASSERT_TRUE(stub_->CreateMigration(Context().get(), request, &created).ok());
  auto metrics = testing::HttpGet("http://" + metrics_address_ + "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(*metrics, HasSubstr("orchestrator_migrations{phase=\"connections_check\""));
  EXPECT_THAT(*metrics, HasSubstr("orchestrator_user_moves{state=\"pending\"} 3"));
  EXPECT_THAT(*metrics, HasSubstr("orchestrator_stale_completions_total 0"));
}

}  // namespace
}  // namespace crosstenant
