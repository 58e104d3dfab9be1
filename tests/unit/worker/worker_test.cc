// TaskRunner and WorkerLoop against in-memory doubles of the connector and the orchestrator.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>

#include "prometheus/registry.h"

#include "absl/synchronization/notification.h"
#include "services/common/errors.h"
#include "services/worker/core/task_runner.h"
#include "services/worker/core/worker_loop.h"

namespace crosstenant::worker {
namespace {

namespace v1 = ::crosstenant::v1;

class FakeTenant : public TenantOperations {
 public:
  absl::Status next_status;
  std::vector<std::string> start_request_ids;

  absl::StatusOr<v1::UserContentMove> StartUserContentMove(const v1::StartUserContentMoveRequest& request) override {
    start_request_ids.push_back(request.request_id());
    if (!next_status.ok()) return next_status;
    v1::UserContentMove move;
    move.set_state(v1::MOVE_STATE_SCHEDULED);
    move.set_source_user_principal_name(request.source_user_principal_name());
    return move;
  }
  absl::StatusOr<v1::UserContentMove> GetUserContentMove(const v1::GetUserContentMoveRequest&) override {
    if (!next_status.ok()) return next_status;
    v1::UserContentMove move;
    move.set_state(v1::MOVE_STATE_SUCCESS);
    return move;
  }
  absl::StatusOr<v1::UserContentMove> StopUserContentMove(const v1::StopUserContentMoveRequest&) override {
    return absl::FailedPreconditionError("the move is in progress and can no longer be stopped");
  }
  absl::StatusOr<v1::CheckUserResult> CheckUser(const v1::CheckUserTask&) override { return v1::CheckUserResult(); }
  absl::Status RemoveRedirectSite(const v1::RemoveRedirectSiteRequest&) override { return absl::OkStatus(); }
};

v1::Task StartTask(const std::string& name) {
  v1::Task task;
  task.set_name(name);
  task.set_lease_id("lease-" + name);
  task.set_kind(v1::TASK_KIND_START_MOVE);
  task.mutable_start_move()->set_source_user_principal_name("a@contoso.com");
  return task;
}

TEST(TaskRunnerTest, SuccessCarriesTheMoveAndTheStartIsKeyedByTheTask) {
  FakeTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  v1::CompleteTaskRequest done = runner.Run(StartTask("migrations/m/tasks/t1"));
  EXPECT_EQ(done.outcome(), v1::TASK_OUTCOME_SUCCEEDED);
  EXPECT_EQ(done.move().state(), v1::MOVE_STATE_SCHEDULED);
  EXPECT_EQ(done.lease_id(), "lease-migrations/m/tasks/t1");
  EXPECT_EQ(done.worker_id(), "w1");
  EXPECT_EQ(tenant.start_request_ids, std::vector<std::string>{"migrations/m/tasks/t1"});
}

TEST(TaskRunnerTest, ThrottlingRetriesAfterExactlyTheRetryAfter) {
  FakeTenant tenant;
  tenant.next_status = ResourceExhaustedWithRetry("tenant throttled", absl::Milliseconds(2500));
  TaskRunner runner(&tenant, "w1", {});
  v1::CompleteTaskRequest done = runner.Run(StartTask("t"));
  EXPECT_EQ(done.outcome(), v1::TASK_OUTCOME_RETRY);
  EXPECT_EQ(done.retry_after().seconds(), 2);
  EXPECT_EQ(done.retry_after().nanos(), 500000000);
}

TEST(TaskRunnerTest, TransientErrorsRetryAndRefusalsFail) {
  FakeTenant tenant;
  tenant.next_status = absl::UnavailableError("connector restarting");
  TaskRunner runner(&tenant, "w1", {absl::Seconds(7)});
  v1::CompleteTaskRequest transient = runner.Run(StartTask("t"));
  EXPECT_EQ(transient.outcome(), v1::TASK_OUTCOME_RETRY);
  EXPECT_EQ(transient.retry_after().seconds(), 7);

  v1::Task stop;
  stop.set_name("t2");
  stop.mutable_stop_move()->set_source_user_principal_name("a@contoso.com");
  v1::CompleteTaskRequest refused = runner.Run(stop);
  EXPECT_EQ(refused.outcome(), v1::TASK_OUTCOME_FAILED);
  EXPECT_EQ(refused.error().code(), "FAILED_PRECONDITION");
  EXPECT_THAT(refused.error().message(), ::testing::HasSubstr("can no longer be stopped"));

  EXPECT_EQ(runner.Run(v1::Task()).outcome(), v1::TASK_OUTCOME_FAILED) << "a task without a spec";
}

// Hands out the tasks it is given, one per lease call, and records completions.
class FakeOrchestrator : public LeaseClient {
 public:
  explicit FakeOrchestrator(std::vector<v1::Task> tasks) : tasks_(tasks.begin(), tasks.end()) {}

  absl::StatusOr<v1::LeaseTasksResponse> LeaseTasks(const v1::LeaseTasksRequest& request) override {
    absl::MutexLock lock(&mutex_);
    v1::LeaseTasksResponse response;
    EXPECT_EQ(request.max_tasks(), 1);
    if (!tasks_.empty()) {
      *response.add_tasks() = tasks_.front();
      tasks_.pop_front();
    } else {
      // A long poll that finds nothing.
      mutex_.AwaitWithTimeout(absl::Condition(&never_), absl::Milliseconds(20));
    }
    return response;
  }
  absl::StatusOr<v1::RenewLeasesResponse> RenewLeases(const v1::RenewLeasesRequest&) override {
    return v1::RenewLeasesResponse();
  }
  absl::StatusOr<v1::CompleteTaskResponse> CompleteTask(const v1::CompleteTaskRequest& request) override {
    absl::MutexLock lock(&mutex_);
    completed_.push_back(request.task());
    return v1::CompleteTaskResponse();
  }
  size_t completed() {
    absl::MutexLock lock(&mutex_);
    return completed_.size();
  }

 private:
  absl::Mutex mutex_;
  bool never_ = false;
  std::deque<v1::Task> tasks_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> completed_ ABSL_GUARDED_BY(mutex_);
};

TEST(WorkerLoopTest, RunsEveryLeasedTaskAndStopsCleanly) {
  FakeTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 20; ++i) tasks.push_back(StartTask("migrations/m/tasks/t" + std::to_string(i)));
  FakeOrchestrator orchestrator(tasks);
  prometheus::Registry registry;
  WorkerLoop::Options options;
  options.worker_id = "w1";
  options.concurrency = 3;
  options.metrics = &registry;
  WorkerLoop loop(&orchestrator, &runner, options);
  loop.Start();
  for (int i = 0; i < 500 && orchestrator.completed() < 20; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(orchestrator.completed(), 20u);
  EXPECT_EQ(loop.Status().succeeded_task_count(), 20);
  EXPECT_EQ(loop.Status().state(), v1::WORKER_STATE_RUNNING);
  EXPECT_TRUE(loop.Status().orchestrator().reachable());
  double started = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "worker_tasks_total") continue;
    for (const auto& metric : family.metric) started += metric.counter.value;
  }
  EXPECT_EQ(started, 20) << "worker_tasks_total{kind=start_move,outcome=succeeded}";
  loop.Drain();
  EXPECT_EQ(loop.Status().state(), v1::WORKER_STATE_DRAINED);
  loop.Stop();
}

}  // namespace
}  // namespace crosstenant::worker
