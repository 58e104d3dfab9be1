// WorkerLoop when the orchestrator cannot record a completion (its state database full): the
// worker keeps the result and sends it again while it holds the lease, renewing the lease meanwhile;
// it stops only when the lease is lost or runs out, or the refusal is final.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <deque>

#include "absl/synchronization/mutex.h"
#include "prometheus/registry.h"
#include "services/common/errors.h"
#include "services/common/error_detail.h"
#include "services/worker/core/task_runner.h"
#include "services/worker/core/worker_loop.h"

namespace crosstenant::worker {
namespace {

namespace v1 = ::crosstenant::v1;

class CountingTenant : public TenantOperations {
 public:
  std::atomic<int> starts{0};
  absl::StatusOr<v1::UserContentMove> StartUserContentMove(const v1::StartUserContentMoveRequest&) override {
    ++starts;
    v1::UserContentMove move;
    move.set_state(v1::MOVE_STATE_SCHEDULED);
    return move;
  }
  absl::StatusOr<v1::UserContentMove> GetUserContentMove(const v1::GetUserContentMoveRequest&) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<v1::BatchStartUserContentMovesResponse> BatchStartUserContentMoves(
      const v1::BatchStartUserContentMovesRequest&) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<v1::BatchGetUserContentMovesResponse> BatchGetUserContentMoves(
      const v1::BatchGetUserContentMovesRequest&) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<v1::UserContentMove> StopUserContentMove(const v1::StopUserContentMoveRequest&) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<v1::CheckUserResult> CheckUser(const v1::CheckUserTask&) override { return v1::CheckUserResult(); }
  absl::Status RemoveRedirectSite(const v1::RemoveRedirectSiteRequest&) override { return absl::OkStatus(); }
};

// Hands out one task; refuses its completion with `refusal` until `refusals` have been made; renews
// leases while `renew` says so.
class FullOrchestrator : public LeaseClient {
 public:
  enum class Renew { kYes, kLost, kFails };

  FullOrchestrator(absl::Status refusal, int refusals, Renew renew)
      : refusal_(std::move(refusal)), refusals_left_(refusals), renew_(renew) {
    task_.set_name("migrations/m/tasks/start-a");
    task_.set_lease_id("lease-1");
    task_.set_kind(v1::TASK_KIND_START_MOVE);
    task_.mutable_start_move()->set_source_user_principal_name("a@contoso.com");
  }

  absl::StatusOr<v1::LeaseTasksResponse> LeaseTasks(const v1::LeaseTasksRequest&) override {
    absl::MutexLock lock(&mutex_);
    v1::LeaseTasksResponse response;
    if (!leased_) {
      leased_ = true;
      *response.add_tasks() = task_;
    } else {
      mutex_.AwaitWithTimeout(absl::Condition(&never_), absl::Milliseconds(20));
    }
    return response;
  }
  absl::StatusOr<v1::RenewLeasesResponse> RenewLeases(const v1::RenewLeasesRequest& request) override {
    absl::MutexLock lock(&mutex_);
    ++renewals_;
    if (renew_ == Renew::kFails) return ResourceExhaustedWithRetry("the state database is full", absl::Milliseconds(5));
    v1::RenewLeasesResponse response;
    for (const v1::TaskLease& lease : request.leases()) {
      v1::LeaseRenewal* renewal = response.add_renewals();
      renewal->set_task(lease.task());
      renewal->set_lease_id(lease.lease_id());
      renewal->set_renewed(renew_ == Renew::kYes);
    }
    return response;
  }
  absl::StatusOr<v1::CompleteTasksResponse> CompleteTasks(const v1::CompleteTasksRequest& request) override {
    absl::MutexLock lock(&mutex_);
    v1::CompleteTasksResponse response;
    for (const v1::CompleteTaskRequest& completion : request.completions()) {
      completions_.push_back(completion);
      v1::TaskCompletionResult* result = response.add_results();
      result->set_task(completion.task());
      if (refusals_left_ == 0) {
        recorded_ = true;
        continue;
      }
      --refusals_left_;
      if (!refuse_in_results_) return refusal_;
      *result->mutable_error() = ErrorDetailOf(refusal_);
    }
    return response;
  }
  // Refusals come as the completion's result in an answered call, not as the call's status.
  void RefuseInResults() { refuse_in_results_ = true; }

  int renewals() {
    absl::MutexLock lock(&mutex_);
    return renewals_;
  }
  std::vector<v1::CompleteTaskRequest> completions() {
    absl::MutexLock lock(&mutex_);
    return completions_;
  }
  bool recorded() {
    absl::MutexLock lock(&mutex_);
    return recorded_;
  }

 private:
  absl::Mutex mutex_;
  bool never_ = false;
  v1::Task task_;
  absl::Status refusal_;
  int refusals_left_ ABSL_GUARDED_BY(mutex_);
  Renew renew_;
  bool refuse_in_results_ = false;
  bool leased_ ABSL_GUARDED_BY(mutex_) = false;
  bool recorded_ ABSL_GUARDED_BY(mutex_) = false;
  int renewals_ ABSL_GUARDED_BY(mutex_) = 0;
  std::vector<v1::CompleteTaskRequest> completions_ ABSL_GUARDED_BY(mutex_);
};

WorkerLoop::Options FastOptions(prometheus::Registry* registry = nullptr) {
  WorkerLoop::Options options;
  options.worker_id = "w1";
  options.concurrency = 1;
  // Renewed every 500 ms: a busy machine may hold the renew thread back a few hundred milliseconds.
  options.lease_duration = absl::Milliseconds(1500);
  options.report_backoff = absl::Milliseconds(10);
  options.report_backoff_max = absl::Milliseconds(80);
  options.metrics = registry;
  return options;
}

// Runs the loop until `done` or `timeout`; returns whether `done` came.
bool RunUntil(WorkerLoop& loop, const std::function<bool()>& done, absl::Duration timeout) {
  loop.Start();
  const absl::Time deadline = absl::Now() + timeout;
  while (!done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  const bool happened = done();
  loop.Stop();
  return happened;
}

double CounterValue(prometheus::Registry& registry, const std::string& name) {
  double value = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) value += metric.counter.value;
  }
  return value;
}

class CompletionRetryTest : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(RefusedCallOrRefusedResult, CompletionRetryTest, ::testing::Bool(),
                         [](const auto& param_info) { return param_info.param ? "InTheResult" : "AsTheCallsStatus"; });

TEST_P(CompletionRetryTest, AResultTheOrchestratorCannotStoreYetIsKeptAndSentAgainUnderARenewedLease) {
  CountingTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  // Refused for about 2 s: longer than the lease, so only renewals keep it.
  // (30 refusals, each followed by a wait of at least the 50 ms RetryInfo, most by the 80 ms maximum.)
  FullOrchestrator orchestrator(
      ResourceExhaustedWithRetry("the state database /x/orchestrator.db is full and refuses writes",
                                 absl::Milliseconds(50)),
      30, FullOrchestrator::Renew::kYes);
  if (GetParam()) orchestrator.RefuseInResults();
  prometheus::Registry registry;
  WorkerLoop loop(&orchestrator, &runner, FastOptions(&registry));
  ASSERT_TRUE(RunUntil(
      loop, [&] { return orchestrator.recorded(); }, absl::Seconds(20)));
  const std::vector<v1::CompleteTaskRequest> sent = orchestrator.completions();
  ASSERT_EQ(sent.size(), 31u);
  for (const v1::CompleteTaskRequest& completion : sent) {
    EXPECT_EQ(completion.SerializeAsString(), sent.front().SerializeAsString()) << "the same result every time";
  }
  EXPECT_EQ(sent.front().lease_id(), "lease-1");
  EXPECT_EQ(sent.front().outcome(), v1::TASK_OUTCOME_SUCCEEDED);
  EXPECT_EQ(tenant.starts, 1) << "the task was done once; only its report was repeated";
  EXPECT_GE(orchestrator.renewals(), 2) << "the lease was kept while the result waited";
  EXPECT_EQ(loop.Status().succeeded_task_count(), 1);
  EXPECT_EQ(loop.Status().abandoned_task_count(), 0);
  EXPECT_EQ(CounterValue(registry, "worker_completion_retries_total"), 30);
}

TEST_P(CompletionRetryTest, ALeaseTheOrchestratorSaysIsLostEndsTheAttempts) {
  CountingTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  FullOrchestrator orchestrator(absl::ResourceExhaustedError("full"), 1000, FullOrchestrator::Renew::kLost);
  if (GetParam()) orchestrator.RefuseInResults();
  WorkerLoop loop(&orchestrator, &runner, FastOptions());
  ASSERT_TRUE(RunUntil(
      loop, [&] { return loop.Status().abandoned_task_count() == 1; }, absl::Seconds(10)));
  EXPECT_FALSE(orchestrator.recorded());
  EXPECT_LT(orchestrator.completions().size(), 100u);
}

TEST_P(CompletionRetryTest, ALeaseThatCannotBeRenewedEndsTheAttemptsWhenItRunsOut) {
  CountingTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  FullOrchestrator orchestrator(absl::ResourceExhaustedError("full"), 1000, FullOrchestrator::Renew::kFails);
  if (GetParam()) orchestrator.RefuseInResults();
  WorkerLoop loop(&orchestrator, &runner, FastOptions());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(RunUntil(
      loop, [&] { return loop.Status().abandoned_task_count() == 1; }, absl::Seconds(10)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(8)) << "given up once the 1.5 s lease ran out";
  EXPECT_GT(orchestrator.completions().size(), 1u) << "sent again while the lease lasted";
}

TEST_P(CompletionRetryTest, ARefusalThatWillNotGoAwayIsNotRepeated) {
  for (const absl::Status& refusal : {absl::AbortedError("the lease is no longer held: drop the result"),
                                      absl::InvalidArgumentError("invalid CompleteTaskRequest")}) {
    CountingTenant tenant;
    TaskRunner runner(&tenant, "w1", {});
    FullOrchestrator orchestrator(refusal, 1000, FullOrchestrator::Renew::kYes);
    if (GetParam()) orchestrator.RefuseInResults();
    WorkerLoop loop(&orchestrator, &runner, FastOptions());
    ASSERT_TRUE(RunUntil(
        loop, [&] { return loop.Status().abandoned_task_count() == 1; }, absl::Seconds(10)));
    EXPECT_EQ(orchestrator.completions().size(), 1u) << refusal;
  }
}

TEST_P(CompletionRetryTest, DrainingDoesNotWaitForTheDatabaseBeyondTheLease) {
  CountingTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  FullOrchestrator orchestrator(absl::ResourceExhaustedError("full"), 1000000, FullOrchestrator::Renew::kYes);
  if (GetParam()) orchestrator.RefuseInResults();
  WorkerLoop loop(&orchestrator, &runner, FastOptions());
  loop.Start();
  for (int i = 0; i < 400 && orchestrator.completions().size() < 3; ++i) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_GE(orchestrator.completions().size(), 3u);
  const absl::Time start = absl::Now();
  loop.Stop();  // drains: the reporting task's lease is no longer renewed
  EXPECT_LT(absl::Now() - start, absl::Seconds(6)) << "at most about one lease (1.5 s)";
  EXPECT_EQ(loop.Status().abandoned_task_count(), 1);
}

}  // namespace
}  // namespace crosstenant::worker
