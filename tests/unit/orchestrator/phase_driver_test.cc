// PhaseDriver over the real SQLite store, with an in-memory double of the tenant connector.

#include "services/orchestrator/core/phase_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/common/errors.h"
#include "services/common/trace_context.h"
#include "services/orchestrator/core/task_service.h"
#include "services/orchestrator/store/sqlite_migration_store.h"
#include "tests/support/server_process.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::HasSubstr;

constexpr const char* kTenant = "7f1d1c1e-0000-4000-8000-000000000001";

class FakeTenant : public TenantGateway {
 public:
  std::map<std::string, v1::ConnectionState> states = {{"connections/contoso", v1::CONNECTION_STATE_CONNECTED},
                                                       {"connections/fabrikam", v1::CONNECTION_STATE_CONNECTED}};
  int dormant_checks = 1;  // verifications answered DormantByPartner before GoodToProceed
  bool compatible = true;
  std::set<std::string> target_onedrive_exists;
  std::map<std::string, std::string> location;  // source UPN -> OneDrive location code
  std::vector<std::string> uploads;
  std::vector<std::string> upload_csvs;         // the CSV of every UploadIdentityMap call, in order
  std::vector<std::string> upload_request_ids;  // and its request_id
  std::vector<std::string> trust_requests;
  std::map<std::string, int> throttled_checks;           // UPN -> checks answered THROTTLED before a real answer
  absl::Time throttled_until = absl::InfinitePast();     // Graph's Retry-After in force, as GetConnection says
  std::vector<std::string> checked;                      // every UPN asked, in order
  std::map<std::string, std::string> check_trace_ids;    // connection -> the trace its last check ran under
  std::map<std::string, std::set<std::string>> holders;  // connection -> its holders
  int hold_calls = 0;
  int hold_failures = 0;  // HoldConnection calls still to answer UNAVAILABLE
  // Trust and compatibility calls still to answer as the connector answers throttling: RESOURCE_EXHAUSTED
  // with Microsoft's Retry-After as RetryInfo.
  int throttled_trust_sets = 0;
  std::string refused_trust_geo;              // SetCrossTenantRelationship on it: FAILED_PRECONDITION
  std::map<std::string, int> host_url_calls;  // geo -> GetCrossTenantHostUrl calls
  int throttled_trust_verifications = 0;
  int throttled_compatibility_calls = 0;
  absl::Duration throttle_delay = absl::Seconds(7);
  bool Throttle(int& remaining) {
    if (remaining <= 0) return false;
    --remaining;
    return true;
  }

  absl::Status HoldConnection(const std::string& name, const std::string& holder) override {
    ++hold_calls;
    if (hold_failures > 0) {
      --hold_failures;
      return absl::UnavailableError("connector unreachable");
    }
    if (!states.count(name)) return absl::NotFoundError(name + " does not exist");
    holders[name].insert(holder);
    return absl::OkStatus();
  }
  absl::Status ReleaseConnection(const std::string& name, const std::string& holder) override {
    holders[name].erase(holder);
    return absl::OkStatus();
  }
  std::set<std::string> HoldersOf(const std::string& name) { return holders[name]; }
  std::map<std::string, std::string> tenant_ids = {{"connections/contoso", kTenant},
                                                   {"connections/fabrikam", "9a2b3c4d-0000-4000-8000-000000000002"}};

  absl::StatusOr<v1::Connection> GetConnection(const std::string& name) override {
    if (!states.count(name)) return absl::NotFoundError(name + " does not exist");
    v1::Connection connection;
    connection.set_name(name);
    connection.set_state(states[name]);
    connection.set_tenant_id(tenant_ids[name]);
    const bool source = name == "connections/contoso";
    connection.set_role(source ? v1::CONNECTION_ROLE_SOURCE : v1::CONNECTION_ROLE_TARGET);
    connection.set_home_geo(name + (source ? "/geos/nam" : "/geos/nam"));
    if (source && throttled_until != absl::InfinitePast()) {
      v1::ThrottleState* throttling = connection.mutable_health()->add_throttling();
      throttling->set_api(v1::UPSTREAM_API_GRAPH);
      throttling->set_throttled(true);
      throttling->mutable_retry_after_time()->set_seconds(absl::ToUnixSeconds(throttled_until));
    }
    for (const char* code : source ? std::vector<const char*>{"nam", "eur"} : std::vector<const char*>{"nam"}) {
      v1::Geo* geo = connection.add_geos();
      geo->set_name(name + "/geos/" + code);
      geo->set_default_geo(std::string(code) == "nam");
    }
    return connection;
  }
  absl::StatusOr<v1::PreflightReport> Preflight(const std::string&, const std::string&) override {
    v1::PreflightReport report;
    report.set_ready(true);
    return report;
  }
  absl::StatusOr<std::string> GetCrossTenantHostUrl(const std::string& geo) override {
    absl::MutexLock lock(&mu_);
    ++host_url_calls[geo];
    return "https://" + geo.substr(geo.rfind('/') + 1) + ".host";
  }
  absl::Status SetCrossTenantRelationship(const v1::SetCrossTenantRelationshipRequest& request) override {
    absl::MutexLock lock(&mu_);
    if (request.geo() == refused_trust_geo) return absl::FailedPreconditionError("SharePoint refused the trust");
    if (Throttle(throttled_trust_sets)) return ResourceExhaustedWithRetry("SharePoint throttled", throttle_delay);
    trust_requests.push_back(request.geo() + " partner " + request.relationship().partner_host_url());
    return absl::OkStatus();
  }
  absl::StatusOr<v1::TrustStatus> VerifyCrossTenantRelationship(
      const v1::VerifyCrossTenantRelationshipRequest&) override {
    absl::MutexLock lock(&mu_);
    if (Throttle(throttled_trust_verifications)) {
      return ResourceExhaustedWithRetry("SharePoint throttled", throttle_delay);
    }
    if (dormant_checks > 0) {
      --dormant_checks;
      return v1::TRUST_STATUS_DORMANT_BY_PARTNER;
    }
    return v1::TRUST_STATUS_GOOD_TO_PROCEED;
  }
  absl::Status RemoveCrossTenantRelationship(const v1::RemoveCrossTenantRelationshipRequest&) override {
    return absl::OkStatus();
  }
  absl::Status RemoveRedirectSite(const v1::RemoveRedirectSiteRequest&) override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<v1::UserCheck>> BatchCheckUsers(const std::string& connection,
                                                             const std::vector<std::string>& upns) override {
    absl::MutexLock lock(&mu_);
    check_trace_ids[connection] = CurrentTraceId();
    std::vector<v1::UserCheck> checks;
    for (const std::string& upn : upns) {
      checked.push_back(upn);
      v1::UserCheck check;
      check.set_user_principal_name(upn);
      if (throttled_checks[upn] > 0) {
        --throttled_checks[upn];
        check.mutable_error()->set_code("THROTTLED");
        check.mutable_error()->set_upstream_http_status(429);
        checks.push_back(check);
        continue;
      }
      check.set_found(true);
      check.set_onedrive_licensed(true);
      if (connection == "connections/contoso") {
        check.mutable_onedrive()->set_exists(true);
        check.mutable_onedrive()->set_location_code(location.count(upn) ? location[upn] : "NAM");
      } else {
        check.mutable_onedrive()->set_exists(target_onedrive_exists.count(upn) > 0);
      }
      checks.push_back(check);
    }
    return checks;
  }
  absl::Status UploadIdentityMap(const v1::UploadIdentityMapRequest& request) override {
    uploads.push_back(request.geo());
    upload_csvs.push_back(request.identity_map().csv());
    upload_request_ids.push_back(request.request_id());
    return absl::OkStatus();
  }
  absl::StatusOr<v1::CompatibilityStatus> GetCompatibilityStatus(const v1::GetCompatibilityStatusRequest&) override {
    if (Throttle(throttled_compatibility_calls))
      return ResourceExhaustedWithRetry("SharePoint throttled", throttle_delay);
    return compatible ? v1::COMPATIBILITY_STATUS_COMPATIBLE : v1::COMPATIBILITY_STATUS_INCOMPATIBLE;
  }

 private:
  // The driver asks the source and the target at once (checks, trust).
  absl::Mutex mu_;
};

class PhaseDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(SqliteMigrationStore::Open(dir_.path() + "/o.db").value());
    MigrationService::Options options;
    options.now = [this] { return now_; };
    migrations_ = std::make_unique<MigrationService>(store_.get(), options);
    PhaseDriver::Options driver_options;
    driver_options.now = [this] { return now_; };
    driver_ = std::make_unique<PhaseDriver>(migrations_.get(), &tenant_, driver_options);
    TaskService::Options task_options;
    task_options.now = [this] { return now_; };
    tasks_ =
        std::make_unique<TaskService>(store_.get(), &migrations_->events(), &migrations_->write_mutex(), task_options);
  }

  void Create(int users, int max_queued = 0) {
    v1::CreateMigrationRequest create;
    create.set_migration_id("m");
    create.mutable_plan()->set_source_connection("connections/contoso");
    create.mutable_plan()->set_target_connection("connections/fabrikam");
    create.mutable_plan()->mutable_options()->set_max_queued_per_source_geo(max_queued);
    std::string csv;
    for (int i = 0; i < users; ++i) {
      const std::string n = std::to_string(i);
      csv += std::string("User,") + kTenant + ",u" + n + "@contoso.com,u" + n + "@fabrikam.com,u" + n +
             "@fabrikam.com,RegularUser\n";
    }
    create.mutable_plan()->mutable_identity_map()->set_csv(csv);
    ASSERT_TRUE(migrations_->CreateMigration(create).ok());
  }

  v1::Migration Get() { return migrations_->GetMigration("migrations/m").value(); }

  // Workers: lease every task and answer it as Microsoft would, with `state`.
  int RunWorkers(v1::MoveState state) {
    v1::LeaseTasksRequest lease;
    lease.set_worker_id("w");
    lease.set_max_tasks(100);
    v1::LeaseTasksResponse leased = tasks_->LeaseTasks(lease).value();
    for (const v1::Task& task : leased.tasks()) {
      v1::CompleteTaskRequest done;
      done.set_worker_id("w");
      done.set_task(task.name());
      done.set_lease_id(task.lease_id());
      done.set_outcome(v1::TASK_OUTCOME_SUCCEEDED);
      done.mutable_move()->set_state(state);
      EXPECT_TRUE(tasks_->CompleteTask(done).ok());
    }
    return leased.tasks_size();
  }

  testing::TempDir dir_;
  absl::Time now_ = absl::FromUnixSeconds(1800000000);
  FakeTenant tenant_;
  std::unique_ptr<SqliteMigrationStore> store_;
  std::unique_ptr<MigrationService> migrations_;
  std::unique_ptr<PhaseDriver> driver_;
  std::unique_ptr<TaskService> tasks_;
};

TEST_F(PhaseDriverTest, RunsAMultiGeoMigrationToTheEndWithABlockedUser) {
  tenant_.location["u1@contoso.com"] = "EUR";
  tenant_.target_onedrive_exists.insert("u2@fabrikam.com");
  Create(3);

  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  v1::Migration migration = Get();
  EXPECT_EQ(migration.phase(), v1::MIGRATION_PHASE_TRUST_VERIFICATION);
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_WAITING);
  EXPECT_THAT(migration.state_reason(), HasSubstr("DORMANT_BY_PARTNER"));
  ASSERT_EQ(migration.geo_pairs_size(), 2);
  EXPECT_EQ(tenant_.trust_requests.size(), 4u) << "both sides of both pairs";

  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(Get().phase(), v1::MIGRATION_PHASE_TRUST_VERIFICATION) << "not due yet";
  now_ += absl::Seconds(5);
  ASSERT_TRUE(driver_->Tick().ok());
  migration = Get();
  EXPECT_EQ(migration.phase(), v1::MIGRATION_PHASE_MOVES);
  EXPECT_FALSE(migration.has_error()) << "no error, not an empty one: " << migration.error().DebugString();
  EXPECT_EQ(tenant_.uploads, std::vector<std::string>{"connections/fabrikam/geos/nam"});
  auto blocked = migrations_->GetUserMove("migrations/m/users/u2@contoso.com").value();
  EXPECT_EQ(blocked.state(), v1::USER_MOVE_STATE_BLOCKED);
  EXPECT_EQ(blocked.error().code(), "TARGET_ONEDRIVE_EXISTS");
  EXPECT_EQ(migrations_->GetUserMove("migrations/m/users/u1@contoso.com")->source_geo(),
            "connections/contoso/geos/eur");

  EXPECT_EQ(RunWorkers(v1::MOVE_STATE_IN_PROGRESS), 2) << "two start tasks, one per queued user";
  now_ += absl::Seconds(30);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(RunWorkers(v1::MOVE_STATE_SUCCESS), 2) << "two polls";
  now_ += absl::Seconds(1);
  ASSERT_TRUE(driver_->Tick().ok());
  migration = Get();
  EXPECT_EQ(migration.phase(), v1::MIGRATION_PHASE_DONE);
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS);
  EXPECT_EQ(migration.state_reason(), "2 of 3 user(s) moved");
  EXPECT_FALSE(migration.has_error()) << "the blocked user's error is the user's, not the migration's";
  EXPECT_FALSE(migration.has_next_check_time()) << "an ended migration is never checked again";
}

TEST_F(PhaseDriverTest, TheIdentityMapGoesToTheConnectorInPagesThatAddUpToTheWholeMap) {
  tenant_.dormant_checks = 0;
  PhaseDriver::Options options;
  options.now = [this] { return now_; };
  options.identity_map_page = 7;
  driver_ = std::make_unique<PhaseDriver>(migrations_.get(), &tenant_, options);
  Create(20);

  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  EXPECT_EQ(Get().phase(), v1::MIGRATION_PHASE_MOVES);
  ASSERT_EQ(tenant_.upload_csvs.size(), 3u) << "20 rows in pages of 7";
  std::vector<size_t> rows;
  std::string whole;
  for (const std::string& csv : tenant_.upload_csvs) {
    rows.push_back(static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n')));
    whole += csv;
  }
  EXPECT_EQ(rows, (std::vector<size_t>{7, 7, 6}));
  EXPECT_EQ(whole, store_->GetIdentityMap("migrations/m").value()) << "every row once, in order";
}

TEST_F(PhaseDriverTest, AStagedIdentityMapGoesToTheConnectorInPagesReadFromTheStore) {
  tenant_.dormant_checks = 0;
  PhaseDriver::Options options;
  options.now = [this] { return now_; };
  options.identity_map_page = 7;
  driver_ = std::make_unique<PhaseDriver>(migrations_.get(), &tenant_, options);
  std::string csv;
  for (int i = 0; i < 20; ++i) {
    const std::string n = std::to_string(i);
    csv += std::string("User,") + kTenant + ",u" + n + "@contoso.com,u" + n + "@fabrikam.com,u" + n +
           "@fabrikam.com,RegularUser\n";
    if (i == 3) csv += "\n";  // a blank line: rows keep their own line numbers
  }
  std::unique_ptr<IdentityMapUploadStream> upload = migrations_->NewIdentityMapUpload();
  v1::OrchestratorUploadIdentityMapRequest piece;
  piece.set_csv_chunk(csv);
  ASSERT_TRUE(upload->Add(piece).ok());
  auto staged = upload->Finish();
  ASSERT_TRUE(staged.ok() && staged->valid()) << staged.status();
  v1::CreateMigrationRequest create;
  create.set_migration_id("m");
  create.mutable_plan()->set_source_connection("connections/contoso");
  create.mutable_plan()->set_target_connection("connections/fabrikam");
  create.mutable_plan()->mutable_identity_map()->set_upload(staged->name());
  ASSERT_TRUE(migrations_->CreateMigration(create).ok());

  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  EXPECT_EQ(Get().phase(), v1::MIGRATION_PHASE_MOVES);
  ASSERT_EQ(tenant_.upload_csvs.size(), 3u) << "20 rows in pages of 7";
  std::string whole;
  for (const std::string& page : tenant_.upload_csvs) whole += page;
  csv.erase(csv.find("\n\n"), 1);
  EXPECT_EQ(whole, csv) << "every row once, in order";
  EXPECT_EQ(tenant_.upload_request_ids.back(), "migrations/m/identity-map/" + tenant_.uploads.back() + "/line-16")
      << "named by the page's first row: the 15th row, on line 16 of the file";
}

TEST_F(PhaseDriverTest, TickDeletesUploadsLeftUnusedForADay) {
  std::unique_ptr<IdentityMapUploadStream> upload = migrations_->NewIdentityMapUpload();
  v1::OrchestratorUploadIdentityMapRequest piece;
  piece.set_csv_chunk(std::string("User,") + kTenant + ",a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\n");
  ASSERT_TRUE(upload->Add(piece).ok());
  auto staged = upload->Finish();
  ASSERT_TRUE(staged.ok() && staged->valid()) << staged.status();
  now_ += absl::Hours(23);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_TRUE(store_->GetIdentityMapUpload(staged->name()).ok());
  now_ += absl::Hours(2);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(store_->GetIdentityMapUpload(staged->name()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PhaseDriverTest, IdentityMapPagesNeverCutAQuotedLineEnd) {
  tenant_.dormant_checks = 0;
  PhaseDriver::Options options;
  options.now = [this] { return now_; };
  options.identity_map_page = 2;
  driver_ = std::make_unique<PhaseDriver>(migrations_.get(), &tenant_, options);
  v1::CreateMigrationRequest create;
  create.set_migration_id("m");
  create.mutable_plan()->set_source_connection("connections/contoso");
  create.mutable_plan()->set_target_connection("connections/fabrikam");
  const std::string group = absl::StrCat("Group,", kTenant,
                                         ",1b2c3d4e-0000-4000-8000-000000000001,2b2c3d4e-0000-4000-8000-000000000002,"
                                         "\"Sales\nEurope\",RegularGroup\n");
  std::string csv =
      absl::StrCat("User,", kTenant, ",a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\n", "\n,,,,,\n", group,
                   "User,", kTenant, ",b@contoso.com,b@fabrikam.com,b@fabrikam.com,RegularUser\n", "User,", kTenant,
                   ",c@contoso.com,c@fabrikam.com,c@fabrikam.com,RegularUser\n\n");
  create.mutable_plan()->mutable_identity_map()->set_csv(csv);
  absl::StatusOr<v1::Migration> created = migrations_->CreateMigration(create);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string stored = store_->GetIdentityMap("migrations/m").value();

  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  ASSERT_EQ(tenant_.upload_csvs.size(), 2u) << stored;
  // The stored map is canonical: users first, then groups, no blank lines.
  EXPECT_THAT(tenant_.upload_csvs[0], HasSubstr("b@contoso.com"));
  EXPECT_THAT(tenant_.upload_csvs[1], HasSubstr("c@contoso.com"));
  EXPECT_THAT(tenant_.upload_csvs[1], HasSubstr("\"Sales\nEurope\",RegularGroup\n"))
      << "a quoted line end is not a row end";
  EXPECT_EQ(tenant_.upload_csvs[0] + tenant_.upload_csvs[1], stored);
}

TEST_F(PhaseDriverTest, NeverQueuesMoreThanTheLimitPerSourceGeo) {
  tenant_.dormant_checks = 0;
  Create(5, /*max_queued=*/2);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  EXPECT_EQ(Get().phase(), v1::MIGRATION_PHASE_MOVES);
  EXPECT_EQ(store_->GetSourceGeoQueue("migrations/m", "connections/contoso/geos/nam")->active(), 2);
  EXPECT_EQ(RunWorkers(v1::MOVE_STATE_SCHEDULED), 2);
  now_ += absl::Seconds(1);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(RunWorkers(v1::MOVE_STATE_SCHEDULED), 0) << "two still active at Microsoft: no room";
  now_ += absl::Seconds(30);
  EXPECT_EQ(RunWorkers(v1::MOVE_STATE_SUCCESS), 2) << "their polls";
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(RunWorkers(v1::MOVE_STATE_SUCCESS), 2) << "the next two released";
}

TEST_F(PhaseDriverTest, AMissingConnectionFailsTheMigration) {
  tenant_.states.erase("connections/fabrikam");
  Create(1);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  EXPECT_EQ(Get().state(), v1::MIGRATION_STATE_FAILED);
  EXPECT_THAT(Get().state_reason(), HasSubstr("connections/fabrikam does not exist"));
}

TEST_F(PhaseDriverTest, SourceAndTargetInOneTenantFailInConnectionsCheck) {
  tenant_.tenant_ids["connections/fabrikam"] = kTenant;  // the same tenant connected twice
  Create(1);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  const v1::Migration migration = Get();
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_FAILED);
  EXPECT_EQ(migration.phase(), v1::MIGRATION_PHASE_CONNECTIONS_CHECK);
  EXPECT_EQ(migration.error().code(), "SAME_TENANT");
  EXPECT_THAT(
      migration.state_reason(),
      HasSubstr(std::string("connections/contoso and connections/fabrikam are the same tenant (tenant id ") + kTenant));
  EXPECT_TRUE(tenant_.trust_requests.empty());
}

TEST_F(PhaseDriverTest, AnExpiredConnectionWaitsUntilItIsSignedInAgain) {
  tenant_.states["connections/contoso"] = v1::CONNECTION_STATE_EXPIRED;
  Create(1);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  EXPECT_EQ(Get().state(), v1::MIGRATION_STATE_WAITING);
  EXPECT_THAT(Get().state_reason(), HasSubstr("CONNECTION_STATE_EXPIRED"));
  tenant_.states["connections/contoso"] = v1::CONNECTION_STATE_CONNECTED;
  now_ += absl::Seconds(5);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_NE(Get().phase(), v1::MIGRATION_PHASE_CONNECTIONS_CHECK);
}

// What a worker reports for one leased task, by user: `answer` fills in the outcome and result.
using Answer = std::function<void(const v1::Task& task, v1::CompleteTaskRequest& done)>;

// Answers as Microsoft would: the move in `state`, with its task id and raw state.
Answer Microsoft(v1::MoveState state, const std::string& raw) {
  return [state, raw](const v1::Task& task, v1::CompleteTaskRequest& done) {
    done.set_outcome(v1::TASK_OUTCOME_SUCCEEDED);
    done.mutable_move()->set_state(state);
    done.mutable_move()->set_raw_state(raw);
    done.mutable_move()->set_task_id("ms-" + task.user_move().substr(task.user_move().rfind('/') + 1));
  };
}

// The connector refused because of the connection: a RETRY whose error code is the typed reason.
void ConnectionGone(const v1::Task&, v1::CompleteTaskRequest& done) {
  done.set_outcome(v1::TASK_OUTCOME_RETRY);
  done.mutable_retry_after()->set_seconds(15);
  done.mutable_error()->set_code("CONNECTION_NOT_FOUND");
  done.mutable_error()->set_message("connections/contoso does not exist");
}

// No answer came (Microsoft out of reach): a RETRY after the worker's short back-off.
void Unanswered(const v1::Task&, v1::CompleteTaskRequest& done) {
  done.set_outcome(v1::TASK_OUTCOME_RETRY);
  done.mutable_retry_after()->set_seconds(5);
  done.mutable_error()->set_code("UNAVAILABLE");
  done.mutable_error()->set_message("graph.microsoft.com did not answer");
}

// What an older worker reported for the same refusal: the user's final failure.
void ConnectionGoneAsFailure(const v1::Task&, v1::CompleteTaskRequest& done) {
  done.set_outcome(v1::TASK_OUTCOME_FAILED);
  done.mutable_error()->set_code("NOT_FOUND");
  done.mutable_error()->set_message("connections/contoso does not exist");
}

class UsersInDoubtTest : public PhaseDriverTest {
 protected:
  // Leases every ready task and answers each with answers[user] (or `otherwise`); the kinds leased.
  std::vector<v1::TaskKind> Work(const std::map<std::string, Answer>& answers, const Answer& otherwise) {
    v1::LeaseTasksRequest lease;
    lease.set_worker_id("w");
    lease.set_max_tasks(100);
    std::vector<v1::TaskKind> kinds;
    const v1::LeaseTasksResponse leased = tasks_->LeaseTasks(lease).value();
    for (const v1::Task& task : leased.tasks()) {
      v1::CompleteTaskRequest done;
      done.set_worker_id("w");
      done.set_task(task.name());
      done.set_lease_id(task.lease_id());
      const std::string upn = task.user_move().substr(task.user_move().rfind('/') + 1);
      auto it = answers.find(upn);
      (it == answers.end() ? otherwise : it->second)(task, done);
      EXPECT_TRUE(tasks_->CompleteTask(done).ok());
      kinds.push_back(task.kind());
    }
    return kinds;
  }
  v1::UserMove User(const std::string& upn) { return migrations_->GetUserMove("migrations/m/users/" + upn).value(); }
};

TEST_F(UsersInDoubtTest, AConnectionRefusalKeepsUsersInFlightAndTheMigrationWaitsNamingItWithoutStartingMore) {
  tenant_.dormant_checks = 0;
  Create(3, /*max_queued=*/2);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  ASSERT_EQ(Work({}, Microsoft(v1::MOVE_STATE_IN_PROGRESS, "InProgress")).size(), 2u) << "u0 and u1 started";
  now_ += absl::Seconds(30);
  // u0's move ends; u1's poll is refused: its connection was deleted.
  Work({{"u0@contoso.com", Microsoft(v1::MOVE_STATE_SUCCESS, "Success")}, {"u1@contoso.com", ConnectionGone}}, nullptr);
  ASSERT_TRUE(driver_->Tick().ok());
  v1::Migration migration = Get();
  EXPECT_EQ(migration.phase(), v1::MIGRATION_PHASE_MOVES);
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_WAITING);
  EXPECT_THAT(migration.state_reason(), HasSubstr("waiting for connections/contoso (connections/contoso does not "
                                                  "exist): 1 user(s) in flight are reconciled with Microsoft"));
  const v1::UserMove waiting = User("u1@contoso.com");
  EXPECT_EQ(waiting.state(), v1::USER_MOVE_STATE_IN_PROGRESS) << "the state Microsoft last reported";
  EXPECT_EQ(waiting.error().code(), "CONNECTION_NOT_FOUND");
  EXPECT_FALSE(waiting.has_end_time());
  EXPECT_TRUE(absl::IsNotFound(store_->GetTask("migrations/m/tasks/start-u2@contoso.com").status()))
      << "a slot is free, but nothing new starts while a connection is missing";

  // Many ticks later, still waiting: MOVES does not end while a user is in doubt.
  for (int i = 0; i < 5; ++i) {
    now_ += absl::Seconds(5);
    ASSERT_TRUE(driver_->Tick().ok());
  }
  EXPECT_EQ(Get().phase(), v1::MIGRATION_PHASE_MOVES);

  // The connection is back: the retried poll is answered by Microsoft, and the migration goes on.
  Work({}, Microsoft(v1::MOVE_STATE_SUCCESS, "Success"));
  EXPECT_EQ(User("u1@contoso.com").state(), v1::USER_MOVE_STATE_SUCCESS);
  EXPECT_FALSE(User("u1@contoso.com").has_error()) << "the wait is over";
  now_ += absl::Seconds(5);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(Get().state(), v1::MIGRATION_STATE_RUNNING);
  EXPECT_EQ(Work({}, Microsoft(v1::MOVE_STATE_SUCCESS, "Success")), std::vector<v1::TaskKind>{v1::TASK_KIND_START_MOVE})
      << "u2 is started now";
  now_ += absl::Seconds(1);
  ASSERT_TRUE(driver_->Tick().ok());
  migration = Get();
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED);
  EXPECT_EQ(migration.state_reason(), "3 of 3 user(s) moved");
}

// Microsoft out of reach: one unanswered try is a blip and changes nothing; the same task unanswered
// two tries in a row makes the migration WAIT, naming the connection, with no new start until an
// answer comes.
TEST_F(UsersInDoubtTest, TriesLeftUnansweredTwiceInARowMakeTheMigrationWaitUntilAnAnswerComes) {
  tenant_.dormant_checks = 0;
  Create(3, /*max_queued=*/2);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  ASSERT_EQ(Work({}, Microsoft(v1::MOVE_STATE_IN_PROGRESS, "InProgress")).size(), 2u) << "u0 and u1 started";
  // u0's move ends at its first poll, u2 then takes its slot and runs; u1's poll goes unanswered.
  const std::map<std::string, Answer> answers = {
      {"u0@contoso.com", Microsoft(v1::MOVE_STATE_SUCCESS, "Success")},
      {"u1@contoso.com", Unanswered},
      {"u2@contoso.com", Microsoft(v1::MOVE_STATE_IN_PROGRESS, "InProgress")}};
  for (int attempt = 1; attempt <= 2; ++attempt) {
    now_ += absl::Seconds(30);
    Work(answers, nullptr);
    ASSERT_TRUE(driver_->Tick().ok());
    if (attempt == 1) {
      ASSERT_TRUE(store_->GetTask("migrations/m/tasks/start-u2@contoso.com").ok()) << "u0's slot went to u2";
      ASSERT_EQ(Work(answers, nullptr), std::vector<v1::TaskKind>{v1::TASK_KIND_START_MOVE});
    }
    if (attempt < 2) {
      EXPECT_EQ(Get().state(), v1::MIGRATION_STATE_RUNNING) << "after " << attempt << " unanswered tries";
      EXPECT_FALSE(User("u1@contoso.com").has_error());
    }
  }
  const v1::Migration migration = Get();
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_WAITING);
  EXPECT_THAT(migration.state_reason(),
              HasSubstr("waiting for connections/contoso (graph.microsoft.com did not answer): "));
  EXPECT_EQ(User("u1@contoso.com").state(), v1::USER_MOVE_STATE_IN_PROGRESS) << "the state Microsoft last reported";
  EXPECT_EQ(User("u1@contoso.com").error().code(), "UNAVAILABLE");

  // Microsoft answers again: the wait is over.
  now_ += absl::Seconds(5);
  Work({}, Microsoft(v1::MOVE_STATE_SUCCESS, "Success"));
  EXPECT_FALSE(User("u1@contoso.com").has_error());
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_NE(Get().state(), v1::MIGRATION_STATE_WAITING);
}

// The connection is gone before any move started: nothing is in doubt, but the migration still waits,
// naming the connection, instead of reporting progress while every start is refused.
TEST_F(UsersInDoubtTest, RefusedFirstStartsMakeTheMigrationWaitForTheConnectionAndStartAgainOnceItIsBack) {
  tenant_.dormant_checks = 0;
  Create(3, /*max_queued=*/2);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  ASSERT_EQ(Work({}, ConnectionGone), (std::vector<v1::TaskKind>{v1::TASK_KIND_START_MOVE, v1::TASK_KIND_START_MOVE}));
  now_ += absl::Seconds(5);
  ASSERT_TRUE(driver_->Tick().ok());
  v1::Migration migration = Get();
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_WAITING);
  EXPECT_THAT(migration.state_reason(), HasSubstr("waiting for connections/contoso (connections/contoso does not "
                                                  "exist): 2 start(s) it refused are sent again once it is back"));
  EXPECT_THAT(migration.state_reason(), ::testing::Not(HasSubstr("in flight")));
  EXPECT_EQ(User("u0@contoso.com").state(), v1::USER_MOVE_STATE_QUEUED) << "never started: nothing in doubt";

  // The retried starts are refused again until the connection is back; the migration keeps saying why.
  now_ += absl::Seconds(15);
  ASSERT_EQ(Work({}, ConnectionGone).size(), 2u);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(Get().state(), v1::MIGRATION_STATE_WAITING);

  now_ += absl::Seconds(15);
  ASSERT_EQ(Work({}, Microsoft(v1::MOVE_STATE_IN_PROGRESS, "InProgress")).size(), 2u);
  EXPECT_FALSE(User("u0@contoso.com").has_error()) << "Microsoft answered: the wait is over";
  ASSERT_TRUE(driver_->Tick().ok());
  migration = Get();
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_RUNNING);
  EXPECT_THAT(migration.state_reason(), HasSubstr("moving"));
}

TEST_F(UsersInDoubtTest, ReconcileAsksMicrosoftAgainAboutUsersAnOlderBuildFailedAndEndsWithItsAnswers) {
  tenant_.dormant_checks = 0;
  Create(3);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  ASSERT_EQ(Work({}, Microsoft(v1::MOVE_STATE_IN_PROGRESS, "InProgress")).size(), 3u);
  now_ += absl::Seconds(30);
  // An older build: u0 and u1 FAILED on the connection's error; u2 Microsoft itself reports Failed.
  Work({{"u2@contoso.com", Microsoft(v1::MOVE_STATE_FAILED, "Failed")}}, ConnectionGoneAsFailure);
  now_ += absl::Seconds(1);
  ASSERT_TRUE(driver_->Tick().ok());
  v1::Migration ended = Get();
  ASSERT_EQ(ended.state(), v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS);
  EXPECT_EQ(ended.state_reason(), "0 of 3 user(s) moved");
  EXPECT_EQ(User("u0@contoso.com").state(), v1::USER_MOVE_STATE_FAILED);

  v1::ReconcileMigrationRequest reconcile;
  reconcile.set_name("migrations/m");
  absl::StatusOr<v1::ReconcileMigrationResponse> reconciled = migrations_->ReconcileMigration(reconcile);
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(reconciled->users_to_reconcile(), 2) << "u2's failure is Microsoft's word";
  EXPECT_EQ(reconciled->migration().phase(), v1::MIGRATION_PHASE_MOVES);
  EXPECT_EQ(reconciled->migration().state(), v1::MIGRATION_STATE_RUNNING);
  EXPECT_FALSE(reconciled->migration().has_end_time());
  EXPECT_EQ(User("u0@contoso.com").state(), v1::USER_MOVE_STATE_IN_PROGRESS) << "as Microsoft last reported";
  EXPECT_FALSE(User("u0@contoso.com").has_end_time());
  EXPECT_EQ(User("u2@contoso.com").state(), v1::USER_MOVE_STATE_FAILED);

  // Microsoft completed both moves meanwhile.
  EXPECT_EQ(Work({}, Microsoft(v1::MOVE_STATE_SUCCESS, "Success")),
            (std::vector<v1::TaskKind>{v1::TASK_KIND_POLL_MOVE, v1::TASK_KIND_POLL_MOVE}));
  ASSERT_TRUE(driver_->Tick().ok());
  v1::Migration again = Get();
  EXPECT_EQ(again.state(), v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS);
  EXPECT_EQ(again.state_reason(), "2 of 3 user(s) moved");
  EXPECT_TRUE(again.has_end_time());
  EXPECT_EQ(again.findings_size(), 0) << "the reconciling mark is gone";

  // Nothing left in doubt: a second reconcile changes nothing.
  reconciled = migrations_->ReconcileMigration(reconcile);
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(reconciled->users_to_reconcile(), 0);
  EXPECT_EQ(reconciled->migration().state(), v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS);
  EXPECT_EQ(reconciled->migration().last_event_sequence(), again.last_event_sequence());
}

TEST_F(UsersInDoubtTest, ACancelledMigrationReconciledEndsCancelledAgainAndStartsNothing) {
  tenant_.dormant_checks = 0;
  Create(3, /*max_queued=*/1);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  ASSERT_EQ(Work({}, Microsoft(v1::MOVE_STATE_IN_PROGRESS, "InProgress")).size(), 1u);
  v1::CancelMigrationRequest cancel;
  cancel.set_name("migrations/m");
  ASSERT_TRUE(migrations_->CancelMigration(cancel).ok());
  v1::ReconcileMigrationRequest reconcile;
  reconcile.set_name("migrations/m");
  EXPECT_EQ(migrations_->ReconcileMigration(reconcile).status().code(), absl::StatusCode::kFailedPrecondition)
      << "while CANCELLING";
  now_ += absl::Seconds(30);
  Work({}, ConnectionGoneAsFailure);  // an older build fails the in-progress user
  ASSERT_TRUE(driver_->Tick().ok());
  ASSERT_EQ(Get().state(), v1::MIGRATION_STATE_CANCELLED);

  absl::StatusOr<v1::ReconcileMigrationResponse> reconciled = migrations_->ReconcileMigration(reconcile);
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(reconciled->users_to_reconcile(), 1);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(Work({}, Microsoft(v1::MOVE_STATE_SUCCESS, "Success")), std::vector<v1::TaskKind>{v1::TASK_KIND_POLL_MOVE})
      << "only the poll: the stopped users are not started";
  now_ += absl::Seconds(1);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(Get().state(), v1::MIGRATION_STATE_CANCELLED);
  EXPECT_EQ(User("u0@contoso.com").state(), v1::USER_MOVE_STATE_SUCCESS);
  EXPECT_EQ(User("u1@contoso.com").state(), v1::USER_MOVE_STATE_STOPPED);
}

TEST_F(PhaseDriverTest, IncompatibleTenantsWaitWithBackoffThenProceed) {
  tenant_.dormant_checks = 0;
  tenant_.compatible = false;
  Create(1);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  v1::Migration waiting = Get();
  EXPECT_EQ(waiting.phase(), v1::MIGRATION_PHASE_COMPATIBILITY);
  EXPECT_EQ(waiting.next_check_time().seconds(), absl::ToUnixSeconds(now_) + 5);
  now_ += absl::Seconds(5);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(Get().next_check_time().seconds(), absl::ToUnixSeconds(now_) + 10) << "doubled";
  tenant_.compatible = true;
  now_ += absl::Seconds(10);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(Get().phase(), v1::MIGRATION_PHASE_MOVES);
}

// Throttling in the migration-wide steps is waited out at the Retry-After Microsoft named, however often it
// comes, and not with the back-off that grows towards an hour; an outage still backs off.
TEST_F(PhaseDriverTest, ThrottledTrustAndCompatibilityWaitForMicrosoftsRetryAfterEveryTime) {
  tenant_.dormant_checks = 0;
  tenant_.throttled_trust_sets = 2;
  tenant_.throttled_trust_verifications = 2;
  tenant_.throttled_compatibility_calls = 3;
  Create(1);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  std::set<v1::MigrationPhase> throttled_in;
  absl::Duration delay = tenant_.throttle_delay;
  for (int step = 0; step < 20 && Get().phase() != v1::MIGRATION_PHASE_MOVES; ++step) {
    const v1::Migration waiting = Get();
    ASSERT_EQ(waiting.state(), v1::MIGRATION_STATE_WAITING) << "step " << step;
    ASSERT_THAT(waiting.state_reason(), HasSubstr("RESOURCE_EXHAUSTED")) << "step " << step;
    throttled_in.insert(waiting.phase());
    EXPECT_EQ(waiting.next_check_time().seconds(), absl::ToUnixSeconds(now_ + delay))
        << "step " << step << ": Microsoft's delay every time, not a back-off";
    now_ += delay;
    // Another delay each time: the migration follows Microsoft's, it does not double its own.
    delay = absl::Seconds(2 + step % 4);
    tenant_.throttle_delay = delay;
    ASSERT_TRUE(driver_->Tick().ok());
  }
  EXPECT_EQ(Get().phase(), v1::MIGRATION_PHASE_MOVES);
  EXPECT_EQ(tenant_.throttled_trust_sets, 0);
  EXPECT_EQ(tenant_.throttled_trust_verifications, 0);
  EXPECT_EQ(tenant_.throttled_compatibility_calls, 0);
  EXPECT_EQ(throttled_in,
            (std::set<v1::MigrationPhase>{v1::MIGRATION_PHASE_TRUST, v1::MIGRATION_PHASE_TRUST_VERIFICATION,
                                          v1::MIGRATION_PHASE_COMPATIBILITY}));
}

// The source's and the target's trust calls run at once: the target's host is asked once for every
// pair, and a refusal on one side fails the migration even while the other side is throttled.
TEST_F(PhaseDriverTest, TrustOnBothTenantsAtOnceAsksTheTargetsHostOnceAndARefusalOutweighsAWait) {
  tenant_.throttled_trust_sets = 100;  // every source call throttled: the target's is the one refused
  tenant_.refused_trust_geo = "connections/fabrikam/geos/nam";
  Create(1);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  const v1::Migration migration = Get();
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_FAILED) << migration.state_reason();
  EXPECT_EQ(migration.error().code(), "TRUST_REFUSED");
  EXPECT_THAT(migration.error().message(), HasSubstr("connections/fabrikam/geos/nam"));
  EXPECT_EQ(tenant_.host_url_calls["connections/fabrikam/geos/nam"], 1) << "two pairs, one target geo";
  EXPECT_EQ(tenant_.host_url_calls["connections/contoso/geos/eur"], 1);
}

TEST_F(PhaseDriverTest, APausedMigrationIsNotDriven) {
  Create(1);
  v1::PauseMigrationRequest pause;
  pause.set_name("migrations/m");
  ASSERT_TRUE(migrations_->PauseMigration(pause).ok());
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(Get().phase(), v1::MIGRATION_PHASE_CONNECTIONS_CHECK);
  EXPECT_EQ(Get().state(), v1::MIGRATION_STATE_PAUSED);
}

TEST_F(PhaseDriverTest, ADrivenMigrationHoldsBothConnectionsOnceAndReleasesThemWhenItCompletes) {
  tenant_.dormant_checks = 0;
  Create(1);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  const std::set<std::string> held = {"migrations/m"};
  EXPECT_EQ(tenant_.HoldersOf("connections/contoso"), held);
  EXPECT_EQ(tenant_.HoldersOf("connections/fabrikam"), held);
  ASSERT_EQ(Get().phase(), v1::MIGRATION_PHASE_MOVES);
  EXPECT_EQ(RunWorkers(v1::MOVE_STATE_IN_PROGRESS), 1);
  now_ += absl::Seconds(30);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(tenant_.HoldersOf("connections/contoso"), held) << "still held while the move runs";
  EXPECT_EQ(RunWorkers(v1::MOVE_STATE_SUCCESS), 1);
  now_ += absl::Seconds(1);
  ASSERT_TRUE(driver_->Tick().ok());
  ASSERT_EQ(Get().state(), v1::MIGRATION_STATE_COMPLETED);
  EXPECT_EQ(tenant_.hold_calls, 2) << "one hold per connection for the whole run";
  EXPECT_TRUE(tenant_.HoldersOf("connections/contoso").empty());
  EXPECT_TRUE(tenant_.HoldersOf("connections/fabrikam").empty());
}

TEST_F(PhaseDriverTest, AFailedHoldIsTriedAgainAndDoesNotStopTheMigration) {
  tenant_.compatible = false;  // waits in COMPATIBILITY, so that later ticks advance it again
  tenant_.dormant_checks = 0;
  tenant_.hold_failures = 1;
  Create(1);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  EXPECT_EQ(Get().phase(), v1::MIGRATION_PHASE_COMPATIBILITY) << "went on without the hold";
  EXPECT_TRUE(tenant_.HoldersOf("connections/contoso").empty());
  now_ += absl::Seconds(5);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(tenant_.HoldersOf("connections/contoso"), std::set<std::string>{"migrations/m"});
  EXPECT_EQ(tenant_.HoldersOf("connections/fabrikam"), std::set<std::string>{"migrations/m"});
}

TEST_F(PhaseDriverTest, AFailedMigrationReleasesItsConnections) {
  tenant_.states["connections/fabrikam"] = v1::CONNECTION_STATE_EXPIRED;
  Create(1);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  ASSERT_EQ(Get().state(), v1::MIGRATION_STATE_WAITING);
  EXPECT_EQ(tenant_.HoldersOf("connections/contoso"), std::set<std::string>{"migrations/m"});
  tenant_.states.erase("connections/fabrikam");  // deleted while the migration waited for it
  now_ += absl::Seconds(5);
  ASSERT_TRUE(driver_->Tick().ok());
  ASSERT_EQ(Get().state(), v1::MIGRATION_STATE_FAILED);
  EXPECT_TRUE(tenant_.HoldersOf("connections/contoso").empty());
}

TEST_F(PhaseDriverTest, APausedMigrationKeepsItsHoldsAndACancelledOneReleasesThem) {
  tenant_.dormant_checks = 5;  // stays in TRUST_VERIFICATION: cancelling ends it at once
  Create(1);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  v1::PauseMigrationRequest pause;
  pause.set_name("migrations/m");
  ASSERT_TRUE(migrations_->PauseMigration(pause).ok());
  now_ += absl::Seconds(5);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(tenant_.HoldersOf("connections/contoso"), std::set<std::string>{"migrations/m"});
  v1::CancelMigrationRequest cancel;
  cancel.set_name("migrations/m");
  ASSERT_TRUE(migrations_->CancelMigration(cancel).ok());
  ASSERT_EQ(Get().state(), v1::MIGRATION_STATE_CANCELLED);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_TRUE(tenant_.HoldersOf("connections/contoso").empty());
  EXPECT_TRUE(tenant_.HoldersOf("connections/fabrikam").empty());
}

// The source's and the target's users are checked at the same time, both under the migration's trace.
TEST_F(PhaseDriverTest, BothTenantsChecksCarryTheMigrationsTrace) {
  tenant_.dormant_checks = 0;
  {
    ScopedTrace operator_call(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    Create(3);
  }
  const std::string trace_id = Get().trace_id();
  ASSERT_EQ(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  EXPECT_EQ(tenant_.check_trace_ids["connections/contoso"], trace_id);
  EXPECT_EQ(tenant_.check_trace_ids["connections/fabrikam"], trace_id);
  EXPECT_EQ(migrations_->GetUserMove("migrations/m/users/u2@contoso.com")->state(), v1::USER_MOVE_STATE_QUEUED);
}

// Microsoft throttles some of a page's checks: the users whose checks both answered are decided at
// once, only the others are checked again, and at the Retry-After Microsoft named (the connector's
// governor, as GetConnection reports it), however often it happens (no back-off towards an hour).
TEST_F(PhaseDriverTest, ThrottledUserChecksAloneAreRetriedAtMicrosoftsRetryAfter) {
  tenant_.dormant_checks = 0;
  tenant_.throttled_checks["u1@contoso.com"] = 3;   // the source side, three times
  tenant_.throttled_checks["u3@fabrikam.com"] = 1;  // the target side, once
  Create(5);
  tenant_.throttled_until = now_ + absl::Seconds(3);
  ASSERT_TRUE(driver_->Advance("migrations/m").ok());
  v1::Migration migration = Get();
  EXPECT_EQ(migration.phase(), v1::MIGRATION_PHASE_TARGET_USERS);
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_WAITING);
  EXPECT_THAT(migration.state_reason(), HasSubstr("2 user(s)"));
  EXPECT_EQ(migration.next_check_time().seconds(), absl::ToUnixSeconds(now_) + 3);
  for (const char* user : {"u0", "u2", "u4"}) {
    EXPECT_EQ(migrations_->GetUserMove(std::string("migrations/m/users/") + user + "@contoso.com")->state(),
              v1::USER_MOVE_STATE_QUEUED)
        << user;
  }
  EXPECT_EQ(migrations_->GetUserMove("migrations/m/users/u1@contoso.com")->state(), v1::USER_MOVE_STATE_PENDING);
  EXPECT_EQ(migrations_->GetUserMove("migrations/m/users/u3@contoso.com")->state(), v1::USER_MOVE_STATE_PENDING);

  for (int round = 0; round < 2; ++round) {
    tenant_.checked.clear();
    now_ += absl::Seconds(3);
    tenant_.throttled_until = now_ + absl::Seconds(3);
    ASSERT_TRUE(driver_->Tick().ok());
    EXPECT_EQ(Get().next_check_time().seconds(), absl::ToUnixSeconds(now_) + 3) << "round " << round;
    EXPECT_THAT(tenant_.checked, ::testing::Not(::testing::Contains("u0@contoso.com"))) << "decided users kept";
  }
  EXPECT_EQ(migrations_->GetUserMove("migrations/m/users/u3@contoso.com")->state(), v1::USER_MOVE_STATE_QUEUED);
  now_ += absl::Seconds(3);
  ASSERT_TRUE(driver_->Tick().ok());
  EXPECT_EQ(Get().phase(), v1::MIGRATION_PHASE_MOVES);
  EXPECT_EQ(migrations_->GetUserMove("migrations/m/users/u1@contoso.com")->state(), v1::USER_MOVE_STATE_QUEUED);
}

}  // namespace
}  // namespace crosstenant::orchestrator
