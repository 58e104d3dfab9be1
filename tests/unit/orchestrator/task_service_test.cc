#include "services/orchestrator/core/task_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "services/common/errors.h"
#include "services/orchestrator/core/migration_service.h"
#include "services/orchestrator/store/sqlite_migration_store.h"
#include "tests/support/server_process.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::HasSubstr;

constexpr const char* kTenant = "7f1d1c1e-0000-4000-8000-000000000001";
constexpr const char* kUser = "migrations/m/users/a@contoso.com";

class TaskServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(SqliteMigrationStore::Open(dir_.path() + "/o.db").value());
    MigrationService::Options options;
    options.now = [this] { return now_; };
    migrations_ = std::make_unique<MigrationService>(store_.get(), options);
    TaskService::Options task_options;
    task_options.now = [this] { return now_; };
    task_options.poll_interval = absl::Seconds(30);
    tasks_ =
        std::make_unique<TaskService>(store_.get(), &migrations_->events(), &migrations_->write_mutex(), task_options);
    v1::CreateMigrationRequest create;
    create.set_migration_id("m");
    create.mutable_plan()->set_source_connection("connections/contoso");
    create.mutable_plan()->set_target_connection("connections/fabrikam");
    create.mutable_plan()->mutable_identity_map()->set_csv(
        std::string("User,") + kTenant + ",a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\n");
    ASSERT_TRUE(migrations_->CreateMigration(create).ok());
  }

  // Hands a start-move task for the one user to workers, named `{verb}-a@contoso.com`.
  void EnqueueStart(const std::string& verb = "start") {
    MigrationChange change;
    change.migration = store_->GetMigration("migrations/m").value();
    v1::Task task;
    task.set_name("migrations/m/tasks/" + verb + "-a@contoso.com");
    task.set_kind(v1::TASK_KIND_START_MOVE);
    task.set_user_move(kUser);
    task.mutable_start_move()->set_geo("connections/contoso/geos/nam");
    task.mutable_start_move()->set_source_user_principal_name("a@contoso.com");
    change.new_tasks.push_back({task, now_});
    ASSERT_TRUE(store_->Apply(change).ok());
  }

  v1::LeaseTasksResponse Lease(const std::string& worker) {
    v1::LeaseTasksRequest request;
    request.set_worker_id(worker);
    return tasks_->LeaseTasks(request).value();
  }

  v1::CompleteTaskRequest Completion(const v1::Task& task, const std::string& worker, v1::MoveState state) {
    v1::CompleteTaskRequest request;
    request.set_worker_id(worker);
    request.set_task(task.name());
    request.set_lease_id(task.lease_id());
    request.set_outcome(v1::TASK_OUTCOME_SUCCEEDED);
    request.mutable_move()->set_state(state);
    request.mutable_move()->set_task_id("ms-task-1");
    return request;
  }

  testing::TempDir dir_;
  absl::Time now_ = absl::FromUnixSeconds(1800000000);
  std::unique_ptr<SqliteMigrationStore> store_;
  std::unique_ptr<MigrationService> migrations_;
  std::unique_ptr<TaskService> tasks_;
};

TEST_F(TaskServiceTest, ATaskIsLeasedToOneWorkerAtATimeUntilItsLeaseExpires) {
  EnqueueStart();
  v1::LeaseTasksResponse first = Lease("worker-1");
  ASSERT_EQ(first.tasks_size(), 1);
  EXPECT_EQ(first.tasks(0).attempt(), 1);
  EXPECT_FALSE(first.tasks(0).lease_id().empty());
  EXPECT_EQ(Lease("worker-2").tasks_size(), 0) << "leased already";

  now_ += absl::Seconds(61);  // the default lease is 60 s
  v1::LeaseTasksResponse second = Lease("worker-2");
  ASSERT_EQ(second.tasks_size(), 1);
  EXPECT_EQ(second.tasks(0).attempt(), 2);
  EXPECT_NE(second.tasks(0).lease_id(), first.tasks(0).lease_id());

  // The first worker comes back late: its result is refused and changes nothing.
  absl::Status stale = tasks_->CompleteTask(Completion(first.tasks(0), "worker-1", v1::MOVE_STATE_SCHEDULED)).status();
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  EXPECT_EQ(store_->GetUserMove(kUser)->state(), v1::USER_MOVE_STATE_PENDING);

  auto done = tasks_->CompleteTask(Completion(second.tasks(0), "worker-2", v1::MOVE_STATE_SCHEDULED));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->user_move_state(), v1::USER_MOVE_STATE_SCHEDULED);
  EXPECT_EQ(store_->GetUserMove(kUser)->task_id(), "ms-task-1");
  EXPECT_EQ(store_->GetUserMove(kUser)->attempts(), 2);
}

TEST_F(TaskServiceTest, ALeaseCarriesItsMigrationsTraceReadAtMostASecondBefore) {
  const std::string first_trace = "0af7651916cd43dd8448eb211c80319c", second_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  auto set_trace = [&](const std::string& trace_id) {
    MigrationChange change;
    change.migration = store_->GetMigration("migrations/m").value();
    change.migration.set_trace_id(trace_id);
    ASSERT_TRUE(store_->Apply(change).ok());
  };
  auto lease_one = [&](const std::string& verb) {
    EnqueueStart(verb);
    v1::LeaseTasksResponse leased = Lease("worker-1");
    EXPECT_EQ(leased.tasks_size(), 1);
    return leased.tasks_size() == 1 ? leased.tasks(0).traceparent() : "";
  };
  set_trace(first_trace);
  EXPECT_THAT(lease_one("start"), HasSubstr(first_trace));
  set_trace(second_trace);  // as a resume under another trace would
  now_ += absl::Milliseconds(500);
  EXPECT_THAT(lease_one("retry"), HasSubstr(first_trace)) << "read half a second before";
  now_ += absl::Seconds(1);
  EXPECT_THAT(lease_one("again"), HasSubstr(second_trace));
}

TEST_F(TaskServiceTest, ANonTerminalMoveIsPolledAgainAfterTheIntervalUntilItEnds) {
  EnqueueStart();
  v1::Task start = Lease("w").tasks(0);
  ASSERT_TRUE(tasks_->CompleteTask(Completion(start, "w", v1::MOVE_STATE_IN_PROGRESS)).ok());
  EXPECT_EQ(Lease("w").tasks_size(), 0) << "the poll is not due yet";
  now_ += absl::Seconds(30);
  v1::LeaseTasksResponse polls = Lease("w");
  ASSERT_EQ(polls.tasks_size(), 1);
  EXPECT_EQ(polls.tasks(0).kind(), v1::TASK_KIND_POLL_MOVE);
  EXPECT_EQ(polls.tasks(0).poll_move().task_id(), "ms-task-1");
  EXPECT_EQ(polls.tasks(0).poll_move().geo(), "connections/contoso/geos/nam");
  ASSERT_TRUE(tasks_->CompleteTask(Completion(polls.tasks(0), "w", v1::MOVE_STATE_SUCCESS)).ok());
  EXPECT_EQ(store_->GetUserMove(kUser)->state(), v1::USER_MOVE_STATE_SUCCESS);
  EXPECT_TRUE(store_->GetUserMove(kUser)->has_end_time());
  EXPECT_EQ(store_->CountTasks("migrations/m").value(), 0) << "nothing left to do for this user";

  // Every transition is in the event log for watchers: after the creation, IN_PROGRESS and SUCCESS.
  auto events = store_->ListEvents("migrations/m", 1, 10).value();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].user_transition().to_state(), v1::USER_MOVE_STATE_SUCCESS);
}

// A user's times are the mesh's clock, whatever Microsoft's says (here hours ahead, its end before its
// start): started when the start was accepted, ended when the mesh saw the final state. Microsoft's
// times are kept apart, for an audit.
TEST_F(TaskServiceTest, AUsersTimesAreTheMeshsClockAndMicrosoftsAreKeptApart) {
  EnqueueStart();
  const absl::Time accepted = now_;
  v1::CompleteTaskRequest start = Completion(Lease("w").tasks(0), "w", v1::MOVE_STATE_IN_PROGRESS);
  start.mutable_move()->mutable_start_time()->set_seconds(absl::ToUnixSeconds(now_ + absl::Hours(3)));
  ASSERT_TRUE(tasks_->CompleteTask(start).ok());
  v1::UserMove user = *store_->GetUserMove(kUser);
  EXPECT_EQ(user.start_time().seconds(), absl::ToUnixSeconds(accepted));
  EXPECT_EQ(user.microsoft_start_time().seconds(), absl::ToUnixSeconds(accepted + absl::Hours(3)));
  EXPECT_FALSE(user.has_end_time());

  now_ += absl::Seconds(30);
  v1::CompleteTaskRequest poll = Completion(Lease("w").tasks(0), "w", v1::MOVE_STATE_SUCCESS);
  poll.mutable_move()->mutable_start_time()->set_seconds(absl::ToUnixSeconds(accepted + absl::Hours(3)));
  poll.mutable_move()->mutable_end_time()->set_seconds(absl::ToUnixSeconds(accepted + absl::Minutes(1)));
  ASSERT_TRUE(tasks_->CompleteTask(poll).ok());
  user = *store_->GetUserMove(kUser);
  EXPECT_EQ(user.start_time().seconds(), absl::ToUnixSeconds(accepted)) << "a poll does not move the start";
  EXPECT_EQ(user.end_time().seconds(), absl::ToUnixSeconds(now_));
  EXPECT_EQ(user.microsoft_end_time().seconds(), absl::ToUnixSeconds(accepted + absl::Minutes(1)));

  v1::GetMigrationReportRequest request;
  request.set_name("migrations/m");
  const v1::GetMigrationReportResponse report = migrations_->GetMigrationReport(request).value();
  ASSERT_EQ(report.rows_size(), 1);
  EXPECT_EQ(report.rows(0).start_time().seconds(), absl::ToUnixSeconds(accepted));
  EXPECT_EQ(report.rows(0).end_time().seconds(), absl::ToUnixSeconds(now_));
  EXPECT_EQ(report.rows(0).microsoft_start_time().seconds(), absl::ToUnixSeconds(accepted + absl::Hours(3)));
  EXPECT_EQ(report.rows(0).microsoft_end_time().seconds(), absl::ToUnixSeconds(accepted + absl::Minutes(1)));
  EXPECT_LE(report.rows(0).end_time().seconds(), report.report_time().seconds());
}

TEST_F(TaskServiceTest, RetryWaitsForRetryAfterAndFailureEndsTheUser) {
  EnqueueStart();
  v1::Task start = Lease("w").tasks(0);
  v1::CompleteTaskRequest retry;
  retry.set_worker_id("w");
  retry.set_task(start.name());
  retry.set_lease_id(start.lease_id());
  retry.set_outcome(v1::TASK_OUTCOME_RETRY);
  retry.mutable_retry_after()->set_seconds(5);
  ASSERT_TRUE(tasks_->CompleteTask(retry).ok());
  now_ += absl::Seconds(4);
  EXPECT_EQ(Lease("w").tasks_size(), 0) << "Retry-After not over";
  now_ += absl::Seconds(1);
  v1::Task again = Lease("w").tasks(0);
  v1::CompleteTaskRequest failed;
  failed.set_worker_id("w");
  failed.set_task(again.name());
  failed.set_lease_id(again.lease_id());
  failed.set_outcome(v1::TASK_OUTCOME_FAILED);
  failed.mutable_error()->set_code("ONEDRIVE_READ_ONLY");
  failed.mutable_error()->set_message("the source OneDrive is read-only");
  ASSERT_TRUE(tasks_->CompleteTask(failed).ok());
  EXPECT_EQ(store_->GetUserMove(kUser)->state(), v1::USER_MOVE_STATE_FAILED);
  EXPECT_EQ(store_->GetUserMove(kUser)->error().code(), "ONEDRIVE_READ_ONLY");
}

TEST_F(TaskServiceTest, PausedMigrationsHandOutNoTasksAndBadRequestsNameTheField) {
  EnqueueStart();
  v1::PauseMigrationRequest pause;
  pause.set_name("migrations/m");
  ASSERT_TRUE(migrations_->PauseMigration(pause).ok());
  EXPECT_EQ(Lease("w").tasks_size(), 0);

  v1::LeaseTasksRequest bad;
  bad.set_max_tasks(1000);
  bad.mutable_lease_duration()->set_seconds(3600);
  absl::Status status = tasks_->LeaseTasks(bad).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("worker_id"));
  EXPECT_THAT(status.message(), HasSubstr("max_tasks"));
  EXPECT_THAT(status.message(), HasSubstr("lease_duration"));

  v1::CompleteTaskRequest unknown;
  unknown.set_worker_id("w");
  unknown.set_task("migrations/m/tasks/none");
  unknown.set_lease_id("x");
  unknown.set_outcome(v1::TASK_OUTCOME_SUCCEEDED);
  EXPECT_EQ(tasks_->CompleteTask(unknown).status().code(), absl::StatusCode::kAborted);
}

// Start tasks for users u0..u{count-1} of a new migration `id`, ready now.
void CreateWithStarts(MigrationService& migrations, MigrationStore& store, const std::string& id, int count,
                      absl::Time now) {
  v1::CreateMigrationRequest create;
  create.set_migration_id(id);
  create.mutable_plan()->set_source_connection("connections/contoso");
  create.mutable_plan()->set_target_connection("connections/fabrikam");
  std::string csv;
  for (int i = 0; i < count; ++i) {
    const std::string u = "u" + std::to_string(i);
    csv += std::string("User,") + kTenant + "," + u + "@contoso.com," + u + "@fabrikam.com," + u +
           "@fabrikam.com,RegularUser\n";
  }
  create.mutable_plan()->mutable_identity_map()->set_csv(csv);
  ASSERT_TRUE(migrations.CreateMigration(create).ok());
  MigrationChange change;
  change.migration = store.GetMigration("migrations/" + id).value();
  for (int i = 0; i < count; ++i) {
    const std::string upn = "u" + std::to_string(i) + "@contoso.com";
    v1::Task task;
    task.set_name(UserTaskName(change.migration.name(), "start", upn));
    task.set_kind(v1::TASK_KIND_START_MOVE);
    task.set_user_move(change.migration.name() + "/users/" + upn);
    task.mutable_start_move()->set_source_user_principal_name(upn);
    change.new_tasks.push_back({task, now});
  }
  ASSERT_TRUE(store.Apply(change).ok());
}

TEST_F(TaskServiceTest, ABatchOfResultsIsWrittenTogetherAndEachIsAnsweredOnItsOwn) {
  EnqueueStart();
  CreateWithStarts(*migrations_, *store_, "b", 4, now_);
  const int64_t events_before = store_->GetMigration("migrations/b")->last_event_sequence();
  v1::LeaseTasksRequest lease;
  lease.set_worker_id("w");
  lease.set_max_tasks(10);
  const v1::LeaseTasksResponse leased = tasks_->LeaseTasks(lease).value();
  ASSERT_EQ(leased.tasks_size(), 5);
  std::map<std::string, v1::Task> by_name;
  for (const v1::Task& task : leased.tasks()) by_name[task.name()] = task;
  auto task = [&](const std::string& user) { return by_name.at(UserTaskName("migrations/b", "start", user)); };

  v1::CompleteTasksRequest request;
  *request.add_completions() = Completion(task("u0@contoso.com"), "w", v1::MOVE_STATE_SCHEDULED);
  *request.add_completions() = Completion(task("u1@contoso.com"), "w", v1::MOVE_STATE_IN_PROGRESS);
  v1::CompleteTaskRequest stale = Completion(task("u2@contoso.com"), "w", v1::MOVE_STATE_SCHEDULED);
  stale.set_lease_id("an-older-lease");
  *request.add_completions() = stale;
  v1::CompleteTaskRequest no_move = Completion(task("u3@contoso.com"), "w", v1::MOVE_STATE_SCHEDULED);
  no_move.clear_move();
  *request.add_completions() = no_move;
  *request.add_completions() =
      Completion(by_name.at("migrations/m/tasks/start-a@contoso.com"), "w", v1::MOVE_STATE_SCHEDULED);
  const v1::CompleteTasksResponse response = tasks_->CompleteTasks(request).value();

  ASSERT_EQ(response.results_size(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(response.results(i).task(), request.completions(i).task());
  EXPECT_FALSE(response.results(0).has_error());
  EXPECT_EQ(response.results(0).user_move_state(), v1::USER_MOVE_STATE_SCHEDULED);
  EXPECT_EQ(response.results(1).user_move_state(), v1::USER_MOVE_STATE_IN_PROGRESS);
  EXPECT_EQ(response.results(2).error().code(), "ABORTED") << "its lease is not the one held";
  EXPECT_THAT(response.results(2).error().message(), HasSubstr("drop the result"));
  EXPECT_EQ(response.results(3).error().code(), "INVALID_ARGUMENT");
  EXPECT_THAT(response.results(3).error().message(), HasSubstr("move"));
  EXPECT_FALSE(response.results(4).has_error()) << "another migration's result in the same call";

  EXPECT_EQ(store_->GetUserMove("migrations/b/users/u0@contoso.com")->state(), v1::USER_MOVE_STATE_SCHEDULED);
  EXPECT_EQ(store_->GetUserMove("migrations/b/users/u1@contoso.com")->state(), v1::USER_MOVE_STATE_IN_PROGRESS);
  EXPECT_EQ(store_->GetUserMove("migrations/b/users/u2@contoso.com")->state(), v1::USER_MOVE_STATE_PENDING);
  EXPECT_EQ(store_->GetUserMove("migrations/b/users/u3@contoso.com")->state(), v1::USER_MOVE_STATE_PENDING);
  EXPECT_EQ(store_->GetUserMove(kUser)->state(), v1::USER_MOVE_STATE_SCHEDULED);
  // The refused two keep their leased tasks; the two recorded left polls behind.
  EXPECT_TRUE(store_->GetTask(task("u2@contoso.com").name()).ok());
  EXPECT_TRUE(store_->GetTask(task("u3@contoso.com").name()).ok());
  EXPECT_EQ(store_->CountTasks("migrations/b").value(), 4);
  // One event per user that changed, numbered on from the migration's last.
  auto events = store_->ListEvents("migrations/b", events_before, 10).value();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].sequence(), events_before + 1);
  EXPECT_EQ(events[1].sequence(), events_before + 2);
  EXPECT_EQ(store_->GetMigration("migrations/b")->last_event_sequence(), events_before + 2);
}

TEST_F(TaskServiceTest, TwoResultsForOneUserInABatchAreAppliedOneAfterTheOther) {
  EnqueueStart();
  v1::Task start = Lease("w").tasks(0);
  ASSERT_TRUE(tasks_->CompleteTask(Completion(start, "w", v1::MOVE_STATE_IN_PROGRESS)).ok());
  MigrationChange change;
  change.migration = store_->GetMigration("migrations/m").value();
  v1::Task stop;
  stop.set_name(UserTaskName("migrations/m", "stop", kUser));
  stop.set_kind(v1::TASK_KIND_STOP_MOVE);
  stop.set_user_move(kUser);
  change.new_tasks.push_back({stop, now_});
  ASSERT_TRUE(store_->Apply(change).ok());
  now_ += absl::Seconds(30);
  v1::LeaseTasksRequest lease;
  lease.set_worker_id("w");
  lease.set_max_tasks(10);
  const v1::LeaseTasksResponse leased = tasks_->LeaseTasks(lease).value();
  ASSERT_EQ(leased.tasks_size(), 2) << "the poll and the stop of the one user";

  v1::CompleteTasksRequest request;
  for (const v1::Task& task : leased.tasks()) {
    *request.add_completions() = Completion(
        task, "w", task.kind() == v1::TASK_KIND_STOP_MOVE ? v1::MOVE_STATE_STOPPED : v1::MOVE_STATE_IN_PROGRESS);
  }
  const v1::CompleteTasksResponse response = tasks_->CompleteTasks(request).value();
  ASSERT_EQ(response.results_size(), 2);
  EXPECT_FALSE(response.results(0).has_error()) << response.results(0).error().message();
  EXPECT_FALSE(response.results(1).has_error()) << response.results(1).error().message();
  // In request order: the second saw the first's change, not the user as it was before both.
  const v1::UserMoveState last = request.completions(1).move().state() == v1::MOVE_STATE_STOPPED
                                     ? v1::USER_MOVE_STATE_STOPPED
                                     : v1::USER_MOVE_STATE_IN_PROGRESS;
  EXPECT_EQ(store_->GetUserMove(kUser)->state(), last);
  EXPECT_EQ(response.results(1).user_move_state(), last);
}

TEST_F(TaskServiceTest, AMalformedBatchIsRefusedNamingEachCompletionsField) {
  EXPECT_EQ(tasks_->CompleteTasks(v1::CompleteTasksRequest()).status().code(), absl::StatusCode::kInvalidArgument);
  v1::CompleteTasksRequest request;
  v1::CompleteTaskRequest* first = request.add_completions();
  first->set_task("migrations/m/tasks/start-a@contoso.com");
  first->set_lease_id("l");
  first->set_outcome(v1::TASK_OUTCOME_SUCCEEDED);
  *request.add_completions() = *first;
  request.mutable_completions(1)->set_worker_id("w");
  const absl::Status status = tasks_->CompleteTasks(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields;
  for (const FieldViolation& violation : FieldViolationsOf(status)) fields.push_back(violation.field);
  EXPECT_THAT(fields, ::testing::ElementsAre("completions[0].worker_id", "completions[1].task"));
  for (int i = 0; i < 101; ++i) *request.add_completions() = *first;
  EXPECT_EQ(FieldViolationsOf(tasks_->CompleteTasks(request).status()).front().field, "completions");
}

TEST_F(TaskServiceTest, RenewingKeepsALeaseOnlyForItsHolder) {
  EnqueueStart();
  v1::Task task = Lease("w").tasks(0);
  v1::RenewLeasesRequest renew;
  renew.set_worker_id("w");
  auto* lease = renew.add_leases();
  lease->set_task(task.name());
  lease->set_lease_id(task.lease_id());
  now_ += absl::Seconds(50);
  EXPECT_TRUE(tasks_->RenewLeases(renew)->renewals(0).renewed());
  now_ += absl::Seconds(50);  // past the first expiry, within the renewed one
  EXPECT_EQ(Lease("other").tasks_size(), 0);
  renew.set_worker_id("other");
  auto refused = tasks_->RenewLeases(renew);
  EXPECT_FALSE(refused->renewals(0).renewed());
  EXPECT_FALSE(refused->renewals(0).reason().empty());
}

}  // namespace
}  // namespace crosstenant::orchestrator
