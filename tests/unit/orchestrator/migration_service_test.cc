#include "services/orchestrator/core/migration_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "services/common/errors.h"
#include "services/orchestrator/store/sqlite_migration_store.h"
#include "tests/support/server_process.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::HasSubstr;

constexpr const char* kTenant = "7f1d1c1e-0000-4000-8000-000000000001";

// `users` User rows: <prefix>0@contoso.com to <prefix>0@fabrikam.com, and so on.
std::string Csv(int users, const std::string& prefix = "user") {
  std::string csv;
  for (int i = 0; i < users; ++i) {
    const std::string name = prefix + std::to_string(i);
    csv += std::string("User,") + kTenant + "," + name + "@contoso.com," + name + "@fabrikam.com," + name +
           "@fabrikam.com,RegularUser\n";
  }
  return csv;
}

v1::CreateMigrationRequest Request(const std::string& csv) {
  v1::CreateMigrationRequest request;
  request.set_migration_id("merger");
  request.mutable_plan()->set_source_connection("connections/contoso");
  request.mutable_plan()->set_target_connection("connections/fabrikam");
  request.mutable_plan()->mutable_identity_map()->set_csv(csv);
  return request;
}

// The connector as CreateMigration sees it: connections by name, each with its tenant.
class ConnectionsOnly : public TenantGateway {
 public:
  std::map<std::string, std::pair<std::string, std::string>> tenants;  // name -> (tenant name, tenant id)

  absl::StatusOr<v1::Connection> GetConnection(const std::string& name) override {
    auto it = tenants.find(name);
    if (it == tenants.end()) return absl::NotFoundError(name + " does not exist");
    v1::Connection connection;
    connection.set_name(name);
    connection.set_tenant_name(it->second.first);
    connection.set_tenant_id(it->second.second);
    return connection;
  }
  absl::StatusOr<v1::PreflightReport> Preflight(const std::string&, const std::string&) override { return Unused(); }
  absl::StatusOr<std::string> GetCrossTenantHostUrl(const std::string&) override { return Unused(); }
  absl::Status SetCrossTenantRelationship(const v1::SetCrossTenantRelationshipRequest&) override { return Unused(); }
  absl::StatusOr<v1::TrustStatus> VerifyCrossTenantRelationship(
      const v1::VerifyCrossTenantRelationshipRequest&) override {
    return Unused();
  }
  absl::Status RemoveCrossTenantRelationship(const v1::RemoveCrossTenantRelationshipRequest&) override {
    return Unused();
  }
  absl::StatusOr<std::vector<v1::UserCheck>> BatchCheckUsers(const std::string&,
                                                             const std::vector<std::string>&) override {
    return Unused();
  }
  absl::Status UploadIdentityMap(const v1::UploadIdentityMapRequest&) override { return Unused(); }
  absl::StatusOr<v1::CompatibilityStatus> GetCompatibilityStatus(const v1::GetCompatibilityStatusRequest&) override {
    return Unused();
  }
  absl::Status RemoveRedirectSite(const v1::RemoveRedirectSiteRequest&) override { return Unused(); }
  absl::Status HoldConnection(const std::string&, const std::string&) override { return Unused(); }
  absl::Status ReleaseConnection(const std::string&, const std::string&) override { return Unused(); }

 private:
  static absl::Status Unused() { return absl::UnimplementedError("not used by CreateMigration"); }
};

class MigrationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteMigrationStore::Open(dir_.path() + "/o.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    MigrationService::Options options;
    options.now = [this] { return now_; };
    service_ = std::make_unique<MigrationService>(store_.get(), options);
  }

  testing::TempDir dir_;
  absl::Time now_ = absl::FromUnixSeconds(1800000000);
  std::unique_ptr<SqliteMigrationStore> store_;
  std::unique_ptr<MigrationService> service_;
};

TEST_F(MigrationServiceTest, CreatesAMigrationWithOnePendingUserPerUserRow) {
  auto migration = service_->CreateMigration(Request(Csv(3)));
  ASSERT_TRUE(migration.ok()) << migration.status();
  EXPECT_EQ(migration->name(), "migrations/merger");
  EXPECT_EQ(migration->counts().total(), 3);
  EXPECT_EQ(migration->plan().options().max_queued_per_source_geo(), 4000) << "0 means Microsoft's limit";
  EXPECT_FALSE(migration->plan().has_identity_map()) << "input-only";
  EXPECT_EQ(migration->identity_map_summary().user_rows(), 3);
  EXPECT_EQ(migration->identity_map_summary().sha256().size(), 64u);
  EXPECT_EQ(migration->state(), v1::MIGRATION_STATE_RUNNING);
  EXPECT_EQ(migration->phase(), v1::MIGRATION_PHASE_CONNECTIONS_CHECK);
  EXPECT_THAT(store_->GetIdentityMap("migrations/merger").value(), HasSubstr("User," + std::string(kTenant)));

  v1::ListUserMovesRequest list;
  list.set_parent("migrations/merger");
  auto moves = service_->ListUserMoves(list);
  ASSERT_EQ(moves->user_moves_size(), 3);
  EXPECT_EQ(moves->user_moves(0).state(), v1::USER_MOVE_STATE_PENDING);
  EXPECT_EQ(moves->user_moves(0).identity_map_line(), 1);
  EXPECT_EQ(service_->GetUserMove("migrations/merger/users/user2@contoso.com")->target_user_principal_name(),
            "user2@fabrikam.com");
}

TEST_F(MigrationServiceTest, ABrokenPlanIsRefusedWithEveryProblemAsAFieldViolation) {
  v1::CreateMigrationRequest request =
      Request(Csv(2) + "User,bad,o'neil@contoso.com,x@fabrikam.com,x@fabrikam.com,Boss\n");
  request.set_migration_id("Bad_Id");
  request.mutable_plan()->set_target_connection("fabrikam");
  request.mutable_plan()->mutable_options()->set_max_queued_per_source_geo(5000);
  absl::Status status = service_->CreateMigration(request).status();
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields;
  for (const auto& violation : FieldViolationsOf(status)) fields.push_back(violation.field);
  EXPECT_THAT(fields, ::testing::ElementsAre("migration_id", "plan.target_connection",
                                             "plan.options.max_queued_per_source_geo", "plan.identity_map.csv:3:2",
                                             "plan.identity_map.csv:3:3", "plan.identity_map.csv:3:6"));
  EXPECT_THAT(status.message(), HasSubstr("APOSTROPHE_IN_UPN (SourceUserUpn)"));
  EXPECT_EQ(service_->ListMigrations({})->migrations_size(), 0) << "nothing half-written";
}

TEST_F(MigrationServiceTest, SourceAndTargetInOneTenantAreRefusedNamingBothAndTheTenant) {
  ConnectionsOnly connector;
  connector.tenants = {{"connections/contoso", {"contoso", kTenant}},
                       {"connections/contoso-again", {"contoso", kTenant}},
                       {"connections/fabrikam", {"fabrikam", "9a2b3c4d-0000-4000-8000-000000000002"}}};
  MigrationService::Options options;
  options.tenant = &connector;
  MigrationService service(store_.get(), options);

  v1::CreateMigrationRequest same_tenant = Request(Csv(1));
  same_tenant.mutable_plan()->set_target_connection("connections/contoso-again");
  absl::Status refused = service.CreateMigration(same_tenant).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(FieldViolationsOf(refused).size(), 1u) << refused;
  EXPECT_EQ(FieldViolationsOf(refused)[0].field, "plan.target_connection");
  EXPECT_THAT(FieldViolationsOf(refused)[0].description,
              HasSubstr(std::string("connections/contoso and connections/contoso-again are the same tenant (contoso, "
                                    "tenant id ") +
                        kTenant + ")"));

  v1::CreateMigrationRequest same_connection = Request(Csv(1));
  same_connection.mutable_plan()->set_target_connection("connections/contoso");
  absl::Status twice = service.CreateMigration(same_connection).status();
  EXPECT_EQ(twice.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(twice.message(), HasSubstr("connections/contoso twice is one tenant"));

  // Two tenants pass; so does a connection the connector does not know yet (CONNECTIONS_CHECK decides).
  EXPECT_TRUE(service.CreateMigration(Request(Csv(1))).ok());
  v1::CreateMigrationRequest unknown = Request(Csv(1, "later"));
  unknown.set_migration_id("later");
  unknown.mutable_plan()->set_target_connection("connections/northwind");
  EXPECT_TRUE(service.CreateMigration(unknown).ok());
}

TEST_F(MigrationServiceTest, ARetriedCreateWithTheSameRequestIdReturnsTheSameMigration) {
  v1::CreateMigrationRequest request = Request(Csv(1));
  request.clear_migration_id();
  request.set_request_id("7d0c4c1a-retry");
  auto first = service_->CreateMigration(request);
  auto second = service_->CreateMigration(request);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->name(), second->name());
  EXPECT_EQ(service_->ListMigrations({})->migrations_size(), 1);
  EXPECT_EQ(service_->CreateMigration(Request(Csv(1, "other"))).status().code(), absl::StatusCode::kOk);
  EXPECT_EQ(service_->CreateMigration(Request(Csv(1, "third"))).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(MigrationServiceTest, ARequestIdReusedWithAnotherBodyIsRefusedNamingTheField) {
  v1::CreateMigrationRequest request = Request(Csv(2));
  request.set_request_id("create-once");
  ASSERT_TRUE(service_->CreateMigration(request).ok());

  // Another plan under the same id: refused, nothing created, the first migration untouched.
  v1::CreateMigrationRequest other = request;
  other.set_migration_id("another");
  const absl::Status refused = service_->CreateMigration(other).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("request_id reused for another request"));
  EXPECT_THAT(refused.ToString(), HasSubstr("was already used by a different CreateMigration request on "
                                            "migrations/merger"));
  EXPECT_EQ(service_->ListMigrations({})->migrations_size(), 1);

  // The same id on another method is another request too; the operations themselves still work.
  v1::PauseMigrationRequest pause;
  pause.set_name("migrations/merger");
  pause.set_request_id("create-once");
  EXPECT_EQ(service_->PauseMigration(pause).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->GetMigration("migrations/merger")->state(), v1::MIGRATION_STATE_RUNNING);

  // A retried pause is answered as the first one; its id with another reason is refused.
  pause.set_request_id("pause-1");
  pause.set_reason("change freeze");
  ASSERT_EQ(service_->PauseMigration(pause)->state(), v1::MIGRATION_STATE_PAUSED);
  const int64_t events = service_->GetMigration("migrations/merger")->last_event_sequence();
  EXPECT_EQ(service_->PauseMigration(pause)->state(), v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(service_->GetMigration("migrations/merger")->last_event_sequence(), events) << "nothing done twice";
  pause.set_reason("another reason");
  EXPECT_THAT(service_->PauseMigration(pause).status().message(), HasSubstr("request_id reused for another request"));

  // A retried resume after the migration moved on is still answered, not re-applied; the window it set
  // is part of its body.
  v1::ResumeMigrationRequest resume;
  resume.set_name("migrations/merger");
  resume.set_request_id("resume-1");
  ASSERT_EQ(service_->ResumeMigration(resume)->state(), v1::MIGRATION_STATE_RUNNING);
  v1::PauseMigrationRequest pause_again;
  pause_again.set_name("migrations/merger");
  ASSERT_EQ(service_->PauseMigration(pause_again)->state(), v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(service_->ResumeMigration(resume)->state(), v1::MIGRATION_STATE_PAUSED)
      << "a retry of an applied resume does not resume again";
  resume.mutable_window()->mutable_preferred_end_time()->set_seconds(4102444800);  // 2100-01-01
  const absl::Status other_resume = service_->ResumeMigration(resume).status();
  EXPECT_EQ(other_resume.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other_resume.message(), HasSubstr("request_id reused for another request"));

  v1::CancelMigrationRequest cancel;
  cancel.set_name("migrations/merger");
  cancel.set_request_id(std::string(129, 'x'));
  EXPECT_EQ(service_->CancelMigration(cancel).status().code(), absl::StatusCode::kInvalidArgument)
      << "request ids are bounded";
}

// A user in two live migrations from one source would be started twice at Microsoft: an inline map is
// checked against the live migrations as a staged one is, and a migration that is not live any more
// (cancelled before its moves) no longer holds its users.
TEST_F(MigrationServiceTest, AnInlineMapWithUsersOfAnotherLiveMigrationIsRefusedNamingThem) {
  ASSERT_TRUE(service_->CreateMigration(Request(Csv(3))).ok());
  v1::CreateMigrationRequest second = Request(
      "User," + std::string(kTenant) + ",new@contoso.com,new@fabrikam.com,new@fabrikam.com,RegularUser\n" + Csv(2));
  second.set_migration_id("second");
  absl::Status refused = service_->CreateMigration(second).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("migrations/merger"));
  EXPECT_THAT(refused.message(), HasSubstr("user0@contoso.com, user1@contoso.com"));
  EXPECT_THAT(refused.message(), ::testing::Not(HasSubstr("new@contoso.com")));
  EXPECT_FALSE(service_->GetMigration("migrations/second").ok()) << "nothing was created";

  second.mutable_plan()->set_source_connection("connections/other-source");
  EXPECT_TRUE(service_->CreateMigration(second).ok()) << "another source is another tenant's users";

  v1::CancelMigrationRequest cancel;
  cancel.set_name("migrations/merger");
  ASSERT_TRUE(service_->CancelMigration(cancel).ok());
  v1::CreateMigrationRequest third = Request(Csv(3));
  third.set_migration_id("third");
  EXPECT_TRUE(service_->CreateMigration(third).ok()) << "the cancelled migration holds its users no more";
}

TEST_F(MigrationServiceTest, PauseResumeAndCancelAreDurableIdempotentTransitions) {
  ASSERT_TRUE(service_->CreateMigration(Request(Csv(2))).ok());
  v1::PauseMigrationRequest pause;
  pause.set_name("migrations/merger");
  EXPECT_EQ(service_->PauseMigration(pause)->state(), v1::MIGRATION_STATE_PAUSED);
  EXPECT_EQ(service_->PauseMigration(pause)->state(), v1::MIGRATION_STATE_PAUSED) << "pausing twice succeeds";

  v1::ResumeMigrationRequest resume;
  resume.set_name("migrations/merger");
  resume.mutable_window()->mutable_preferred_end_time()->set_seconds(absl::ToUnixSeconds(now_) - 60);
  EXPECT_EQ(service_->ResumeMigration(resume).status().code(), absl::StatusCode::kInvalidArgument) << "window over";
  resume.clear_window();
  EXPECT_EQ(service_->ResumeMigration(resume)->state(), v1::MIGRATION_STATE_RUNNING);

  v1::CancelMigrationRequest cancel;
  cancel.set_name("migrations/merger");
  cancel.set_reason("merger called off");
  auto cancelled = service_->CancelMigration(cancel);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::MIGRATION_STATE_CANCELLED);
  EXPECT_EQ(cancelled->counts().by_state(0).state(), v1::USER_MOVE_STATE_STOPPED);
  EXPECT_EQ(cancelled->counts().by_state(0).count(), 2);
  EXPECT_EQ(service_->PauseMigration(pause).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(service_->CancelMigration(cancel).ok()) << "cancelling twice succeeds";

  auto events = store_->ListEvents("migrations/merger", 0, 100);
  ASSERT_TRUE(events.ok());
  // created, paused, resumed, two users stopped, cancelled
  EXPECT_EQ(events->size(), 6u);
  EXPECT_EQ(events->back().state_change().reason(), "merger called off");
  EXPECT_EQ(service_->GetMigration("migrations/merger")->last_event_sequence(), 6);
}

TEST_F(MigrationServiceTest, ReportPagesRowsAndCarriesCounts) {
  ASSERT_TRUE(service_->CreateMigration(Request(Csv(5))).ok());
  v1::GetMigrationReportRequest request;
  request.set_name("migrations/merger");
  request.set_page_size(2);
  int rows = 0;
  do {
    auto report = service_->GetMigrationReport(request);
    ASSERT_TRUE(report.ok()) << report.status();
    rows += report->rows_size();
    EXPECT_EQ(report->counts().total(), 5);
    request.set_page_token(report->next_page_token());
  } while (!request.page_token().empty());
  EXPECT_EQ(rows, 5);
  request.set_name("migrations/none");
  EXPECT_EQ(service_->GetMigrationReport(request).status().code(), absl::StatusCode::kNotFound);
  request.set_name("merger");
  EXPECT_EQ(service_->GetMigrationReport(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MigrationServiceTest, ValidateIdentityMapListsEveryProblemUpToTheLimit) {
  v1::ValidateIdentityMapRequest request;
  std::string csv;
  for (int i = 0; i < 30; ++i) csv += "User,x,y,z,w,RegularUser\n";
  request.mutable_identity_map()->set_csv(csv);
  request.set_max_problems(10);
  auto response = service_->ValidateIdentityMap(request);
  ASSERT_TRUE(response.ok());
  EXPECT_FALSE(response->valid());
  EXPECT_EQ(response->problems_size(), 10);
  EXPECT_GT(response->problem_count(), 30);
  request.set_max_problems(-1);
  EXPECT_EQ(service_->ValidateIdentityMap(request).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace crosstenant::orchestrator
