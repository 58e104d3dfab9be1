// Orchestrator.LeaseTasks with a wait_time, over an in-process gRPC server on a real SQLite store: a
// waiting call is woken by the EventHub's announcement of a task, not by the passing of time (the
// periodic look is set to an hour here, so a call that returns with the task was woken by the event),
// and looks at the store once per wake-up, never in between; one task wakes one waiter; a task
// announced for later wakes the waiter when it becomes ready; the hub's close ends the waits.

#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "services/orchestrator/core/migration_service.h"
#include "services/orchestrator/core/task_service.h"
#include "services/orchestrator/grpc/orchestrator_service.h"
#include "services/orchestrator/store/sqlite_migration_store.h"
#include "tests/support/server_process.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;

constexpr char kMigration[] = "migrations/m";

class LeaseTasksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteMigrationStore::Open(dir_.path() + "/o.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    migrations_ = std::make_unique<MigrationService>(store_.get(), MigrationService::Options());
    tasks_ = std::make_unique<TaskService>(store_.get(), &migrations_->events(), &migrations_->write_mutex(),
                                           TaskService::Options());
    v1::CreateMigrationRequest create;
    create.set_migration_id("m");
    create.mutable_plan()->set_source_connection("connections/contoso");
    create.mutable_plan()->set_target_connection("connections/fabrikam");
    create.mutable_plan()->mutable_identity_map()->set_csv(
        "User,7f1d1c1e-0000-4000-8000-000000000001,a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\n"
        "User,7f1d1c1e-0000-4000-8000-000000000001,b@contoso.com,b@fabrikam.com,b@fabrikam.com,RegularUser\n");
    ASSERT_TRUE(migrations_->CreateMigration(create).ok());

    service_ = std::make_unique<OrchestratorService>(migrations_.get(), tasks_.get(), WatchOptions(), Options());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ != nullptr);
    stub_ = v1::Orchestrator::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  virtual ServiceOptions Options() {
    ServiceOptions options;
    // Only an announcement can end a wait early: a call that returns with a task was woken by it.
    options.lease_probe = absl::Hours(1);
    options.lease_recheck = absl::Hours(1);
    return options;
  }

  void TearDown() override {
    migrations_->events().Close();  // waiting leases end before the server waits for them
    if (server_) server_->Shutdown();
  }

  // Commits a start task for `user` ready at `ready`, and announces it as the orchestrator's writers do
  // (unless `announce` is false: a task another replica added).
  void AddTask(const std::string& user, absl::Time ready, bool announce = true) {
    MigrationChange change;
    change.migration = store_->GetMigration(kMigration).value();
    v1::Task task;
    task.set_name(absl::StrCat(kMigration, "/tasks/start-", user));
    task.set_kind(v1::TASK_KIND_START_MOVE);
    task.set_user_move(absl::StrCat(kMigration, "/users/", user));
    task.mutable_start_move()->set_geo("connections/contoso/geos/nam");
    task.mutable_start_move()->set_source_user_principal_name(user);
    change.new_tasks.push_back({task, ready});
    ASSERT_TRUE(store_->Apply(change).ok());
    if (announce) migrations_->events().NotifyTasks(change.new_tasks);
  }

  // A LeaseTasks call on its own thread, waiting up to 30 s for one task.
  struct Call {
    grpc::ClientContext context;
    v1::LeaseTasksResponse response;
    grpc::Status status;
    absl::Notification done;
    absl::Time returned;
    std::thread thread;
    ~Call() {
      context.TryCancel();
      if (thread.joinable()) thread.join();
    }
  };
  std::unique_ptr<Call> StartLease(const std::string& worker) {
    auto call = std::make_unique<Call>();
    // Well before the 30 s wait: a call that is never woken fails with DEADLINE_EXCEEDED.
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    Call* raw = call.get();
    call->thread = std::thread([this, raw, worker] {
      v1::LeaseTasksRequest request;
      request.set_worker_id(worker);
      request.set_max_tasks(1);
      request.mutable_wait_time()->set_seconds(30);
      raw->status = stub_->LeaseTasks(&raw->context, request, &raw->response);
      raw->returned = absl::Now();
      raw->done.Notify();
    });
    return call;
  }

  // Waits (up to 10 s) until LeaseTasks calls have looked at the store `count` times.
  bool WaitForLooks(int64_t count) {
    for (absl::Time give_up = absl::Now() + absl::Seconds(10); absl::Now() < give_up;) {
      if (service_->lease_looks() >= count) return service_->lease_looks() == count;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return false;
  }

  testing::TempDir dir_;
  std::unique_ptr<SqliteMigrationStore> store_;
  std::unique_ptr<MigrationService> migrations_;
  std::unique_ptr<TaskService> tasks_;
  std::unique_ptr<OrchestratorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Orchestrator::Stub> stub_;
};

TEST_F(LeaseTasksTest, AWaitingCallIsWokenByTheAnnouncementOfANewTask) {
  std::unique_ptr<Call> call = StartLease("worker-1");
  ASSERT_TRUE(WaitForLooks(1));  // nothing to lease yet: it waits
  EXPECT_EQ(service_->waiting_leases(), 1);
  EXPECT_FALSE(call->done.HasBeenNotified());
  const absl::Time added = absl::Now();
  AddTask("a@contoso.com", added);
  ASSERT_TRUE(call->done.WaitForNotificationWithTimeout(absl::Seconds(25)));
  ASSERT_TRUE(call->status.ok()) << call->status.error_message();
  ASSERT_EQ(call->response.tasks_size(), 1);
  EXPECT_EQ(call->response.tasks(0).name(), "migrations/m/tasks/start-a@contoso.com");
  EXPECT_EQ(service_->lease_looks(), 2);  // the first look and the one the announcement caused
  EXPECT_EQ(service_->waiting_leases(), 0);
  // A figure for the record, not a threshold: the time from the commit to the answer.
  RecordProperty("wake_microseconds", static_cast<int>(absl::ToInt64Microseconds(call->returned - added)));
}

TEST_F(LeaseTasksTest, OneTaskWakesOneWaiterTheLongestWaiting) {
  std::unique_ptr<Call> first = StartLease("worker-1");
  ASSERT_TRUE(WaitForLooks(1));
  std::unique_ptr<Call> second = StartLease("worker-2");
  ASSERT_TRUE(WaitForLooks(2));
  EXPECT_EQ(service_->waiting_leases(), 2);
  AddTask("a@contoso.com", absl::Now());
  ASSERT_TRUE(first->done.WaitForNotificationWithTimeout(absl::Seconds(25)));
  ASSERT_TRUE(first->status.ok()) << first->status.error_message();
  EXPECT_EQ(first->response.tasks_size(), 1);
  EXPECT_EQ(service_->lease_looks(), 3);  // only the woken call looked
  EXPECT_EQ(service_->waiting_leases(), 1);
  EXPECT_FALSE(second->done.HasBeenNotified());

  AddTask("b@contoso.com", absl::Now());
  ASSERT_TRUE(second->done.WaitForNotificationWithTimeout(absl::Seconds(25)));
  ASSERT_TRUE(second->status.ok()) << second->status.error_message();
  ASSERT_EQ(second->response.tasks_size(), 1);
  EXPECT_EQ(second->response.tasks(0).name(), "migrations/m/tasks/start-b@contoso.com");
  EXPECT_EQ(service_->lease_looks(), 4);
}

TEST_F(LeaseTasksTest, ATaskAnnouncedForLaterWakesTheWaiterWhenItBecomesReady) {
  std::unique_ptr<Call> call = StartLease("worker-1");
  ASSERT_TRUE(WaitForLooks(1));
  const absl::Time ready = absl::Now() + absl::Milliseconds(300);
  AddTask("a@contoso.com", ready);
  ASSERT_TRUE(call->done.WaitForNotificationWithTimeout(absl::Seconds(25)));
  ASSERT_TRUE(call->status.ok()) << call->status.error_message();
  ASSERT_EQ(call->response.tasks_size(), 1);
  EXPECT_GE(call->returned, ready);
  EXPECT_EQ(service_->lease_looks(), 2);  // not before the task was ready
}

TEST_F(LeaseTasksTest, ClosingTheHubEndsTheWaitsWithNoTasks) {
  std::unique_ptr<Call> call = StartLease("worker-1");
  ASSERT_TRUE(WaitForLooks(1));
  migrations_->events().Close();
  ASSERT_TRUE(call->done.WaitForNotificationWithTimeout(absl::Seconds(25)));
  EXPECT_TRUE(call->status.ok()) << call->status.error_message();
  EXPECT_EQ(call->response.tasks_size(), 0);
  EXPECT_EQ(service_->waiting_leases(), 0);
}

// The periodic probe: the only way to wake here, with the per-call look still an hour away.
class LeaseTasksProbeTest : public LeaseTasksTest {
 protected:
  ServiceOptions Options() override {
    ServiceOptions options = LeaseTasksTest::Options();
    options.lease_probe = absl::Milliseconds(50);
    return options;
  }
};

TEST_F(LeaseTasksProbeTest, ATaskTheHubDoesNotSeeIsFoundByTheProbe) {
  std::unique_ptr<Call> call = StartLease("worker-1");
  // Its first look found nothing (the probes may have made it look again since).
  for (absl::Time give_up = absl::Now() + absl::Seconds(10); service_->lease_looks() < 1 && absl::Now() < give_up;) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  ASSERT_GE(service_->lease_looks(), 1);
  AddTask("a@contoso.com", absl::Now(), /*announce=*/false);
  ASSERT_TRUE(call->done.WaitForNotificationWithTimeout(absl::Seconds(25)));
  ASSERT_TRUE(call->status.ok()) << call->status.error_message();
  ASSERT_EQ(call->response.tasks_size(), 1);
  EXPECT_EQ(call->response.tasks(0).name(), "migrations/m/tasks/start-a@contoso.com");
}

}  // namespace
}  // namespace crosstenant::orchestrator
