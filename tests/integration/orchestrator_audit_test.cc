// The orchestrator's audit trail, against the real binary over mTLS with the local mesh's role config:
// every call that creates, stages, pauses, resumes or cancels is recorded in order with its caller,
// request id, trace id and the outcome its caller got (a refusal too), the trail is read by a reader
// through ListAuditRecords, and it survives a restart and keeps chaining after it.

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "services/common/audit_chain.h"
#include "services/common/errors.h"
#include "services/common/grpc_status.h"
#include "services/common/tls.h"
#include "tests/support/server_process.h"

namespace crosstenant {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ServerProcess;

constexpr const char* kTenant = "7f1d1c1e-0000-4000-8000-000000000001";
constexpr const char* kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";

std::string IdentityMapCsv(int users) {
  std::string csv;
  for (int i = 0; i < users; ++i) {
    const std::string n = std::to_string(i);
    csv += std::string("User,") + kTenant + ",u" + n + "@contoso.com,u" + n + "@fabrikam.com,u" + n +
           "@fabrikam.com,RegularUser\n";
  }
  return csv;
}

class OrchestratorAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = dir_.path() + "/certs";
    const std::string dev_certs =
        std::string("bash ") + CROSSTENANT_SOURCE_DIR + "/deploy/local/dev-certs.sh " + certs_ + " >/dev/null";
    ASSERT_EQ(std::system(dev_certs.c_str()), 0);
  }

  void StartOrchestrator() {
    const std::string ready = dir_.path() + "/ready.json";
    std::remove(ready.c_str());
    process_ = std::make_unique<ServerProcess>(
        testing::BinaryPath("orchestrator"),
        std::vector<std::string>{
            "--config=" + std::string(CROSSTENANT_SOURCE_DIR) + "/deploy/local/config/orchestrator.yaml",
            "--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0", "--ready-file=" + ready,
            "--sqlite-path=" + dir_.path() + "/state.db",
            // No connector: the migrations stay where the operator puts them.
            "--connector-address=127.0.0.1:1", "--tls-cert=" + certs_ + "/server.pem",
            "--tls-key=" + certs_ + "/server.key", "--tls-ca=" + certs_ + "/ca.pem"},
        dir_.path());
    auto info = process_->WaitForReadyFile(ready);
    ASSERT_TRUE(info.has_value()) << process_->Stderr();
    address_ = (*info)["grpc_address"].get<std::string>();
    metrics_address_ = (*info)["metrics_address"].get<std::string>();
    operator_ = StubAs("migratectl");
    reader_ = StubAs("reader");
  }

  void StopOrchestrator() {
    process_->Signal(SIGTERM);
    ASSERT_TRUE(process_->WaitForExit(std::chrono::seconds(20)).has_value());
  }

  std::unique_ptr<v1::Orchestrator::Stub> StubAs(const std::string& identity) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    ClientTlsConfig tls{certs_ + "/ca.pem", certs_ + "/client-" + identity + ".pem",
                        certs_ + "/client-" + identity + ".key"};
    return v1::Orchestrator::NewStub(grpc::CreateCustomChannel(address_, MakeChannelCredentials(tls), args));
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  // The whole trail as the reader sees it, two records a page, checked link by link.
  std::vector<v1::AuditRecord> WholeTrail() {
    std::vector<v1::AuditRecord> records;
    AuditChainVerifier verifier;
    v1::ListAuditRecordsRequest request;
    request.set_page_size(2);
    do {
      v1::ListAuditRecordsResponse page;
      grpc::Status status = reader_->ListAuditRecords(Context().get(), request, &page);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const v1::AuditRecord& record : page.records()) {
        const absl::Status verified = verifier.Add(record);
        EXPECT_TRUE(verified.ok()) << verified;
        records.push_back(record);
      }
      request.set_after_sequence(page.next_after_sequence());
    } while (request.after_sequence() != 0);
    return records;
  }

  // What a call's caller got, as the trail should have it.
  struct Outcome {
    std::string code;
    std::string message;
  };
  static Outcome OutcomeOf(const grpc::Status& status) {
    const std::string message = status.error_message();
    return {absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
            message.substr(0, message.find('\n'))};
  }

  testing::TempDir dir_;
  std::string certs_;
  std::unique_ptr<ServerProcess> process_;
  std::string address_;
  std::string metrics_address_;
  std::unique_ptr<v1::Orchestrator::Stub> operator_;
  std::unique_ptr<v1::Orchestrator::Stub> reader_;
};

TEST_F(OrchestratorAuditTest, EveryActionIsRecordedInOrderWithItsOutcomeAndTheTrailOutlivesARestart) {
  StartOrchestrator();
  std::vector<Outcome> outcomes;

  // A plan refused before any migration existed: its requested name, and the summary of the refusal
  // without the field violations, which describe the body.
  v1::CreateMigrationRequest broken;
  broken.set_migration_id("broken");
  broken.set_request_id("create-broken");
  v1::CreateMigrationResponse created;
  grpc::Status status = operator_->CreateMigration(Context().get(), broken, &created);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_THAT(status.error_message(), HasSubstr("\n"));
  outcomes.push_back(OutcomeOf(status));

  // A map staged by UploadIdentityMap.
  v1::OrchestratorUploadIdentityMapResponse staged;
  {
    auto context = Context();
    auto writer = operator_->UploadIdentityMap(context.get(), &staged);
    v1::OrchestratorUploadIdentityMapRequest piece;
    piece.set_csv_chunk(IdentityMapCsv(3));
    ASSERT_TRUE(writer->Write(piece));
    ASSERT_TRUE(writer->WritesDone());
    status = writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_THAT(staged.name(), HasSubstr("identityMapUploads/"));
    outcomes.push_back(OutcomeOf(status));
  }

  // Created under the caller's trace, paused, resumed, cancelled, resumed again (refused).
  v1::CreateMigrationRequest create;
  create.set_migration_id("merger");
  create.set_request_id("create-merger");
  create.mutable_plan()->set_source_connection("connections/contoso");
  create.mutable_plan()->set_target_connection("connections/fabrikam");
  create.mutable_plan()->mutable_identity_map()->set_csv(IdentityMapCsv(5));
  {
    auto context = Context();
    context->AddMetadata("traceparent", std::string("00-") + kTraceId + "-00f067aa0ba902b7-01");
    status = operator_->CreateMigration(context.get(), create, &created);
    ASSERT_TRUE(status.ok()) << status.error_message();
    outcomes.push_back(OutcomeOf(status));
  }
  v1::PauseMigrationRequest pause;
  pause.set_name("migrations/merger");
  pause.set_request_id("pause-1");
  v1::PauseMigrationResponse paused;
  status = operator_->PauseMigration(Context().get(), pause, &paused);
  ASSERT_TRUE(status.ok()) << status.error_message();
  outcomes.push_back(OutcomeOf(status));
  v1::ResumeMigrationRequest resume;
  resume.set_name("migrations/merger");
  resume.set_request_id("resume-1");
  v1::ResumeMigrationResponse resumed;
  status = operator_->ResumeMigration(Context().get(), resume, &resumed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  outcomes.push_back(OutcomeOf(status));
  v1::CancelMigrationRequest cancel;
  cancel.set_name("migrations/merger");
  cancel.set_request_id("cancel-1");
  v1::CancelMigrationResponse cancelled;
  status = operator_->CancelMigration(Context().get(), cancel, &cancelled);
  ASSERT_TRUE(status.ok()) << status.error_message();
  outcomes.push_back(OutcomeOf(status));
  resume.set_request_id("resume-2");
  status = operator_->ResumeMigration(Context().get(), resume, &resumed);
  ASSERT_FALSE(status.ok()) << "a cancelled migration is not resumed";
  outcomes.push_back(OutcomeOf(status));

  // Reads are not recorded; the reader may read the trail, and nobody may forge one into it.
  v1::GetMigrationRequest get;
  get.set_name("migrations/merger");
  v1::GetMigrationResponse got;
  ASSERT_TRUE(reader_->GetMigration(Context().get(), get, &got).ok());

  std::vector<v1::AuditRecord> trail = WholeTrail();
  ASSERT_EQ(trail.size(), outcomes.size());
  std::vector<std::string> actions, targets, request_ids;
  for (size_t i = 0; i < trail.size(); ++i) {
    const v1::AuditRecord& record = trail[i];
    actions.push_back(record.action());
    targets.push_back(record.target());
    request_ids.push_back(record.request_id());
    EXPECT_EQ(record.service(), "orchestrator");
    EXPECT_THAT(record.caller(), HasSubstr("migratectl")) << "the client certificate's names";
    EXPECT_THAT(record.caller(), Not(HasSubstr("reader")));
    EXPECT_EQ(record.outcome(), outcomes[i].code) << record.action();
    EXPECT_EQ(record.outcome_message(), record.outcome() == "OK" ? "" : outcomes[i].message) << record.action();
    EXPECT_EQ(record.trace_id().size(), 32u) << "every call has a trace";
  }
  EXPECT_THAT(actions, ElementsAre("CreateMigration", "UploadIdentityMap", "CreateMigration", "PauseMigration",
                                   "ResumeMigration", "CancelMigration", "ResumeMigration"));
  EXPECT_THAT(targets, ElementsAre("migrations/broken", staged.name(), "migrations/merger", "migrations/merger",
                                   "migrations/merger", "migrations/merger", "migrations/merger"));
  EXPECT_THAT(request_ids,
              ElementsAre("create-broken", "", "create-merger", "pause-1", "resume-1", "cancel-1", "resume-2"));
  EXPECT_EQ(trail[0].outcome(), "INVALID_ARGUMENT");
  EXPECT_THAT(trail[0].outcome_message(), Not(HasSubstr("\n")));
  EXPECT_EQ(trail[2].trace_id(), kTraceId) << "the caller's traceparent";
  EXPECT_EQ(trail[6].outcome(), "FAILED_PRECONDITION");
  EXPECT_FALSE(trail[6].outcome_message().empty());

  // Filters reach the store.
  v1::ListAuditRecordsRequest failures;
  failures.set_failures_only(true);
  v1::ListAuditRecordsResponse failed;
  ASSERT_TRUE(reader_->ListAuditRecords(Context().get(), failures, &failed).ok());
  ASSERT_EQ(failed.records_size(), 2);
  EXPECT_EQ(failed.records(1).request_id(), "resume-2");
  EXPECT_EQ(failed.last_sequence(), 7);

  // Invalid listings are refused field by field.
  v1::ListAuditRecordsRequest invalid;
  invalid.set_after_sequence(-1);
  invalid.set_page_size(-5);
  invalid.mutable_since()->set_seconds(2000000000);
  invalid.mutable_until()->set_seconds(1000000000);
  status = reader_->ListAuditRecords(Context().get(), invalid, &failed);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<std::string> fields;
  for (const FieldViolation& violation : FieldViolationsOf(FromGrpcStatus(status))) fields.push_back(violation.field);
  EXPECT_THAT(fields, ElementsAre("after_sequence", "page_size", "until"));

  auto metrics = testing::HttpGet("http://" + metrics_address_ + "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(*metrics, HasSubstr("crosstenant_audit_write_failures_total 0"));

  // Restarted, the trail is all there and the next record chains after the last one.
  StopOrchestrator();
  StartOrchestrator();
  EXPECT_EQ(WholeTrail().size(), trail.size());
  v1::PauseMigrationRequest late_pause;
  late_pause.set_name("migrations/merger");
  late_pause.set_request_id("pause-after-restart");
  status = operator_->PauseMigration(Context().get(), late_pause, &paused);
  ASSERT_FALSE(status.ok()) << "a cancelled migration is not paused";
  const std::vector<v1::AuditRecord> after = WholeTrail();
  ASSERT_EQ(after.size(), trail.size() + 1);
  EXPECT_EQ(after.back().sequence(), 8);
  EXPECT_EQ(after.back().previous_hash(), trail.back().hash());
  EXPECT_EQ(after.back().request_id(), "pause-after-restart");
  EXPECT_EQ(after.back().outcome(), OutcomeOf(status).code);
}

}  // namespace
}  // namespace crosstenant
