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
      std::string("User,") + kTenant + ",a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\n" + "User," +
      kTenant + ",b@contoso.com,a@fabrikam.com,b@fabrikam.com,RegularUser\n");
  v1::CreateMigrationResponse response;
  grpc::Status status = stub_->CreateMigration(Context().get(), request, &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto violations = FieldViolationsOf(FromGrpcStatus(status));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "plan.identity_map.csv:2:4");
  EXPECT_THAT(violations[0].description, HasSubstr("DUPLICATE_TARGET"));
  EXPECT_THAT(violations[0].description, HasSubstr("already mapped on line 1"));
}

TEST_F(OrchestratorApiTest, AMigrationIsCreatedFromAnIdentityMapStreamedInPieces) {
  StartOrchestrator();
  std::string csv;
  for (int i = 0; i < 12000; ++i) {
    csv += std::string("User,") + kTenant + ",u" + std::to_string(i) + "@contoso.com,u" + std::to_string(i) +
           "@fabrikam.com,u" + std::to_string(i) + "@fabrikam.com,RegularUser\n";
  }
  // Too large to send inline.
  v1::CreateMigrationRequest request;
  request.set_migration_id("merger");
  request.set_request_id("create-merger");
  request.mutable_plan()->set_source_connection("connections/contoso");
  request.mutable_plan()->set_target_connection("connections/fabrikam");
  request.mutable_plan()->mutable_identity_map()->set_csv(csv);
  v1::CreateMigrationResponse created;
  grpc::Status refused = stub_->CreateMigration(Context().get(), request, &created);
  ASSERT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(FieldViolationsOf(FromGrpcStatus(refused)).at(0).description, HasSubstr("UploadIdentityMap"));

  // Streamed in 10 KiB pieces that cut rows anywhere.
  auto context = Context();
  v1::OrchestratorUploadIdentityMapResponse staged;
  auto writer = stub_->UploadIdentityMap(context.get(), &staged);
  for (size_t at = 0; at < csv.size(); at += 10 * 1024) {
    v1::OrchestratorUploadIdentityMapRequest piece;
    piece.set_csv_chunk(csv.substr(at, 10 * 1024));
    ASSERT_TRUE(writer->Write(piece));
  }
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(staged.valid());
  EXPECT_EQ(staged.summary().user_rows(), 12000);
  EXPECT_THAT(staged.name(), HasSubstr("identityMapUploads/"));

  request.mutable_plan()->mutable_identity_map()->set_upload(staged.name());
  status = stub_->CreateMigration(Context().get(), request, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(created.migration().counts().total(), 12000);
  EXPECT_EQ(created.migration().identity_map_summary().sha256(), staged.summary().sha256());
  v1::CreateMigrationResponse retried;
  ASSERT_TRUE(stub_->CreateMigration(Context().get(), request, &retried).ok()) << "the same request again";
  EXPECT_EQ(retried.migration().name(), "migrations/merger");
  request.set_migration_id("second");
  request.set_request_id("create-second");
  EXPECT_EQ(stub_->CreateMigration(Context().get(), request, &retried).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION)
      << "an upload makes one migration";

  v1::GetUserMoveRequest get;
  get.set_name("migrations/merger/users/u11999@contoso.com");
  v1::GetUserMoveResponse user;
  ASSERT_TRUE(stub_->GetUserMove(Context().get(), get, &user).ok());
  EXPECT_EQ(user.user_move().identity_map_line(), 12000);

  // A map with problems is named nowhere, and its problems carry their lines.
  auto bad_context = Context();
  v1::OrchestratorUploadIdentityMapResponse bad;
  auto bad_writer = stub_->UploadIdentityMap(bad_context.get(), &bad);
  v1::OrchestratorUploadIdentityMapRequest piece;
  const std::string first_row = csv.substr(0, csv.find('\n') + 1);
  piece.set_csv_chunk(first_row + "\n" + first_row);  // line 3 repeats line 1
  ASSERT_TRUE(bad_writer->Write(piece));
  ASSERT_TRUE(bad_writer->WritesDone());
  ASSERT_TRUE(bad_writer->Finish().ok());
  EXPECT_FALSE(bad.valid());
  EXPECT_TRUE(bad.name().empty());
  ASSERT_GE(bad.problems_size(), 1);
  EXPECT_EQ(bad.problems(0).code(), "DUPLICATE_SOURCE");
  EXPECT_EQ(bad.problems(0).line(), 3);
  EXPECT_THAT(bad.problems(0).message(), HasSubstr("already mapped on line 1"));
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
    kinds.push_back(event.event().has_user_transition() ? "user"
                    : event.event().has_state_change()  ? "state"
                                                        : "other");
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
  request.mutable_plan()->mutable_identity_map()->set_csv(std::string("User,") + kTenant +
                                                          ",a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\n");
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
