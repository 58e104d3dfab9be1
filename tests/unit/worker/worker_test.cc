// TaskRunner and WorkerLoop against in-memory doubles of the connector and the orchestrator.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "prometheus/registry.h"

#include "absl/synchronization/notification.h"
#include "services/common/error_detail.h"
#include "services/common/errors.h"
#include "services/common/proto_time.h"
#include "services/common/trace_context.h"
#include "services/worker/core/task_runner.h"
#include "services/worker/core/worker_loop.h"

namespace crosstenant::worker {
namespace {

namespace v1 = ::crosstenant::v1;

class FakeTenant : public TenantOperations {
 public:
  absl::Status next_status;
  int busy_refusals = 0;  // starts refused as busy (SERVER_BUSY) before next_status applies
  std::vector<std::string> start_request_ids;
  std::vector<int> start_attempts;
  // Polls: the single reads and the batches, as asked.
  std::vector<v1::GetUserContentMoveRequest> gets;
  std::vector<v1::BatchGetUserContentMovesRequest> batches;
  // Per UPN or task id: how a batch answers it (default: found, SUCCESS).
  std::map<std::string, v1::UserContentMoveResult> batch_answers;
  absl::Status batch_status;

  absl::StatusOr<v1::UserContentMove> StartUserContentMove(const v1::StartUserContentMoveRequest& request) override {
    absl::MutexLock lock(&mutex);
    start_request_ids.push_back(request.request_id());
    start_attempts.push_back(request.attempt());
    if (busy_refusals > 0) {
      --busy_refusals;
      return WithErrorInfo(
          ResourceExhaustedWithRetry("StartUserContentMove: 12 calls are already in progress", absl::Milliseconds(20)),
          kReasonServerBusy, kCrosstenantDomain, {});
    }
    if (!next_status.ok()) return next_status;
    v1::UserContentMove move;
    move.set_state(v1::MOVE_STATE_SCHEDULED);
    move.set_source_user_principal_name(request.source_user_principal_name());
    return move;
  }
  absl::StatusOr<v1::UserContentMove> GetUserContentMove(const v1::GetUserContentMoveRequest& request) override {
    absl::MutexLock lock(&mutex);
    gets.push_back(request);
    if (!next_status.ok()) return next_status;
    v1::UserContentMove move;
    move.set_state(v1::MOVE_STATE_SUCCESS);
    return move;
  }
  // Starts sent together: the batches as asked, the whole call's status, and per UPN an item's error
  // (default: started, SCHEDULED).
  std::vector<v1::BatchStartUserContentMovesRequest> start_batches;
  absl::Status start_batch_status;
  std::map<std::string, absl::Status> start_errors;
  absl::StatusOr<v1::BatchStartUserContentMovesResponse> BatchStartUserContentMoves(
      const v1::BatchStartUserContentMovesRequest& request) override {
    absl::MutexLock lock(&mutex);
    start_batches.push_back(request);
    if (!start_batch_status.ok()) return start_batch_status;
    v1::BatchStartUserContentMovesResponse response;
    for (const v1::StartUserContentMoveRequest& start : request.requests()) {
      v1::StartUserContentMoveResult* result = response.add_results();
      if (auto error = start_errors.find(start.source_user_principal_name()); error != start_errors.end()) {
        *result->mutable_error() = ErrorDetailOf(error->second);
        continue;
      }
      result->mutable_response()->mutable_move()->set_state(v1::MOVE_STATE_SCHEDULED);
      result->mutable_response()->mutable_move()->set_source_user_principal_name(start.source_user_principal_name());
    }
    return response;
  }
  absl::StatusOr<v1::BatchGetUserContentMovesResponse> BatchGetUserContentMoves(
      const v1::BatchGetUserContentMovesRequest& request) override {
    absl::MutexLock lock(&mutex);
    batches.push_back(request);
    if (!batch_status.ok()) return batch_status;
    v1::BatchGetUserContentMovesResponse response;
    auto answer = [&](const std::string& key, bool by_id) {
      v1::UserContentMoveResult result;
      if (auto it = batch_answers.find(key); it != batch_answers.end()) {
        result = it->second;
      } else {
        result.set_found(true);
        result.mutable_move()->set_state(v1::MOVE_STATE_SUCCESS);
        if (by_id) result.mutable_move()->set_task_id(key);
        if (!by_id) result.mutable_move()->set_source_user_principal_name(key);
      }
      if (by_id) result.set_task_id(key);
      if (!by_id) result.set_source_user_principal_name(key);
      *response.add_results() = result;
    };
    for (const std::string& upn : request.source_user_principal_names()) answer(upn, false);
    for (const std::string& id : request.task_ids()) answer(id, true);
    return response;
  }
  absl::StatusOr<v1::UserContentMove> StopUserContentMove(const v1::StopUserContentMoveRequest&) override {
    return absl::FailedPreconditionError("the move is in progress and can no longer be stopped");
  }
  absl::StatusOr<v1::CheckUserResult> CheckUser(const v1::CheckUserTask&) override { return v1::CheckUserResult(); }
  absl::Status RemoveRedirectSite(const v1::RemoveRedirectSiteRequest&) override { return absl::OkStatus(); }

  absl::Mutex mutex;
};

v1::Task StartTask(const std::string& name) {
  v1::Task task;
  task.set_name(name);
  task.set_lease_id("lease-" + name);
  task.set_kind(v1::TASK_KIND_START_MOVE);
  task.mutable_start_move()->set_source_user_principal_name("a@contoso.com");
  return task;
}

v1::Task StartOf(const std::string& name, const std::string& geo, const std::string& upn, int attempt) {
  v1::Task task = StartTask(name);
  task.mutable_start_move()->set_geo(geo);
  task.mutable_start_move()->set_source_user_principal_name(upn);
  task.set_attempt(attempt);
  return task;
}

TEST(TaskRunnerTest, StartsOfOneGeoGoInOneBatchAndEachConcludesAsItsOwnStartWould) {
  FakeTenant tenant;
  tenant.start_errors["refused@contoso.com"] = absl::FailedPreconditionError("the target already has a OneDrive");
  tenant.start_errors["throttled@contoso.com"] =
      ResourceExhaustedWithRetry("Microsoft throttled this start", absl::Seconds(7));
  TaskRunner runner(&tenant, "w1", {});
  const std::vector<v1::CompleteTaskRequest> done =
      runner.RunTogether({StartOf("t/a", "connections/src", "a@contoso.com", 1),
                          StartOf("t/b", "connections/src", "refused@contoso.com", 1),
                          StartOf("t/c", "connections/src", "throttled@contoso.com", 2),
                          StartOf("t/d", "connections/other", "d@contoso.com", 1)});
  ASSERT_EQ(done.size(), 4u);
  // One batch for the geo with three starts, each with its task's name as request id and its attempt;
  // the lone start of the other geo goes alone.
  ASSERT_EQ(tenant.start_batches.size(), 1u);
  const v1::BatchStartUserContentMovesRequest& batch = tenant.start_batches[0];
  EXPECT_EQ(batch.geo(), "connections/src");
  ASSERT_EQ(batch.requests_size(), 3);
  EXPECT_EQ(batch.requests(0).request_id(), "t/a");
  EXPECT_EQ(batch.requests(2).attempt(), 2);
  EXPECT_EQ(tenant.start_request_ids, std::vector<std::string>{"t/d"});

  EXPECT_EQ(done[0].task(), "t/a");
  EXPECT_EQ(done[0].outcome(), v1::TASK_OUTCOME_SUCCEEDED);
  EXPECT_EQ(done[0].move().source_user_principal_name(), "a@contoso.com");
  EXPECT_EQ(done[1].outcome(), v1::TASK_OUTCOME_FAILED);
  EXPECT_EQ(done[1].error().code(), "FAILED_PRECONDITION");
  EXPECT_EQ(done[1].error().message(), "the target already has a OneDrive");
  EXPECT_EQ(done[2].outcome(), v1::TASK_OUTCOME_RETRY);
  EXPECT_EQ(DurationOf(done[2].retry_after()), absl::Seconds(7)) << "Microsoft's delay for this start";
  EXPECT_EQ(done[3].task(), "t/d");
  EXPECT_EQ(done[3].outcome(), v1::TASK_OUTCOME_SUCCEEDED);
}

TEST(TaskRunnerTest, ABatchOfStartsFailedForItsConnectionRetriesEveryStartLater) {
  FakeTenant tenant;
  tenant.start_batch_status = WithErrorInfo(absl::FailedPreconditionError("connections/src is EXPIRED"),
                                            kReasonConnectionNotUsable, kCrosstenantDomain, {});
  TaskRunner runner(&tenant, "w1", {});
  const std::vector<v1::CompleteTaskRequest> done = runner.RunTogether(
      {StartOf("t/a", "connections/src", "a@contoso.com", 1), StartOf("t/b", "connections/src", "b@contoso.com", 1)});
  ASSERT_EQ(done.size(), 2u);
  for (const v1::CompleteTaskRequest& completion : done) {
    EXPECT_EQ(completion.outcome(), v1::TASK_OUTCOME_RETRY) << completion.task();
    EXPECT_EQ(completion.error().code(), kReasonConnectionNotUsable);
  }
  EXPECT_TRUE(tenant.start_request_ids.empty()) << "the starts were not sent again one by one";
}

TEST(TaskRunnerTest, StartsGoOneByOneToAConnectorWithoutBatchedStarts) {
  FakeTenant tenant;
  tenant.start_batch_status = absl::UnimplementedError("unknown method BatchStartUserContentMoves");
  TaskRunner runner(&tenant, "w1", {});
  const std::vector<v1::CompleteTaskRequest> done = runner.RunTogether(
      {StartOf("t/a", "connections/src", "a@contoso.com", 1), StartOf("t/b", "connections/src", "b@contoso.com", 1)});
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].outcome(), v1::TASK_OUTCOME_SUCCEEDED);
  EXPECT_EQ(done[1].outcome(), v1::TASK_OUTCOME_SUCCEEDED);
  EXPECT_EQ(tenant.start_request_ids, (std::vector<std::string>{"t/a", "t/b"}));
}

TEST(TaskRunnerTest, ACallTheConnectorRefusesAsBusyIsSentAgainUnderTheSameAttempt) {
  FakeTenant tenant;
  tenant.busy_refusals = 3;
  TaskRunner runner(&tenant, "w1", {});
  v1::Task start = StartTask("migrations/m/tasks/start-a");
  start.set_attempt(1);
  const v1::CompleteTaskRequest done = runner.Run(start);
  EXPECT_EQ(done.outcome(), v1::TASK_OUTCOME_SUCCEEDED) << done.error().message();
  EXPECT_THAT(tenant.start_attempts, ::testing::ElementsAre(1, 1, 1, 1))
      << "the refusals never reached Microsoft: still the first attempt, so no look-up";
}

TEST(TaskRunnerTest, AConnectorBusyForLongerThanTheBusyWaitGivesTheTaskBackAsThrottled) {
  FakeTenant tenant;
  tenant.busy_refusals = 1000;
  TaskRunner::Options options;
  options.busy_wait = absl::Milliseconds(100);
  TaskRunner runner(&tenant, "w1", options);
  const v1::CompleteTaskRequest done = runner.Run(StartTask("migrations/m/tasks/start-a"));
  EXPECT_EQ(done.outcome(), v1::TASK_OUTCOME_RETRY);
  EXPECT_EQ(done.error().code(), "RESOURCE_EXHAUSTED");
  EXPECT_GE(tenant.start_attempts.size(), 2u);
  EXPECT_LE(tenant.start_attempts.size(), 25u) << "at least 5 ms apart within 100 ms";
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

TEST(TaskRunnerTest, AStartCarriesItsAttemptSoOnlyTheFirstSkipsTheLookUp) {
  FakeTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  v1::Task first = StartTask("migrations/m/tasks/start-u1");
  first.set_attempt(1);
  v1::Task again = first;
  again.set_attempt(2);  // e.g. the lease of attempt 1 was lost while its start was in flight
  EXPECT_EQ(runner.Run(first).outcome(), v1::TASK_OUTCOME_SUCCEEDED);
  EXPECT_EQ(runner.Run(again).outcome(), v1::TASK_OUTCOME_SUCCEEDED);
  EXPECT_EQ(tenant.start_attempts, (std::vector<int>{1, 2}));
  // Both attempts carry the same idempotency key.
  EXPECT_EQ(tenant.start_request_ids,
            (std::vector<std::string>{"migrations/m/tasks/start-u1", "migrations/m/tasks/start-u1"}));
}

v1::Task PollTask(const std::string& name, const std::string& geo, const std::string& task_id,
                  const std::string& upn = "") {
  v1::Task task;
  task.set_name(name);
  task.set_lease_id("lease-" + name);
  task.set_kind(v1::TASK_KIND_POLL_MOVE);
  task.set_attempt(1);
  task.mutable_poll_move()->set_geo(geo);
  if (!task_id.empty()) task.mutable_poll_move()->set_task_id(task_id);
  if (!upn.empty()) task.mutable_poll_move()->set_source_user_principal_name(upn);
  return task;
}

TEST(TaskRunnerTest, PollsOfOneGeoAreReadInOneBatchAndEachGetsItsOwnOutcome) {
  FakeTenant tenant;
  v1::UserContentMoveResult gone;
  gone.set_found(false);
  tenant.batch_answers["id-gone"] = gone;
  v1::UserContentMoveResult throttled;
  throttled.mutable_error()->set_code("THROTTLED");
  throttled.mutable_error()->set_upstream_http_status(429);
  tenant.batch_answers["id-throttled"] = throttled;
  v1::UserContentMoveResult refused;
  refused.mutable_error()->set_code("UPSTREAM_ERROR");
  refused.mutable_error()->set_message("Forbidden");
  refused.mutable_error()->set_upstream_http_status(403);
  tenant.batch_answers["id-refused"] = refused;
  TaskRunner runner(&tenant, "w1", {absl::Seconds(3)});
  v1::Task partner = PollTask("p6", "connections/src", "", "f@contoso.com");
  partner.mutable_poll_move()->set_partner_host_url("https://fabrikam-my.sharepoint.com/");
  const std::vector<v1::Task> polls = {
      PollTask("p0", "connections/src", "id-ok"),
      PollTask("p1", "connections/src", "", "b@contoso.com"),  // no task id yet: by UPN
      PollTask("p2", "connections/src/geos/eur", "id-eur"),    // alone in its geo: read on its own
      PollTask("p3", "connections/src", "id-gone"),
      PollTask("p4", "connections/src", "id-throttled"),
      PollTask("p5", "connections/src", "id-refused"),
      partner,  // SharePoint's move states: one at a time
  };
  const std::vector<v1::CompleteTaskRequest> done = runner.RunTogether(polls);
  ASSERT_EQ(done.size(), polls.size());
  for (size_t i = 0; i < polls.size(); ++i) {
    EXPECT_EQ(done[i].task(), polls[i].name());
    EXPECT_EQ(done[i].lease_id(), polls[i].lease_id());
    EXPECT_EQ(done[i].worker_id(), "w1");
  }
  ASSERT_EQ(tenant.batches.size(), 1u) << "one connector call for the five polls of connections/src";
  EXPECT_EQ(tenant.batches[0].geo(), "connections/src");
  EXPECT_THAT(tenant.batches[0].source_user_principal_names(), ::testing::ElementsAre("b@contoso.com"));
  EXPECT_THAT(tenant.batches[0].task_ids(), ::testing::ElementsAre("id-ok", "id-gone", "id-throttled", "id-refused"));
  ASSERT_EQ(tenant.gets.size(), 2u);
  EXPECT_EQ(tenant.gets[0].task_id(), "id-eur");
  EXPECT_EQ(tenant.gets[1].partner_host_url(), "https://fabrikam-my.sharepoint.com/");

  EXPECT_EQ(done[0].outcome(), v1::TASK_OUTCOME_SUCCEEDED);
  EXPECT_EQ(done[0].move().task_id(), "id-ok");
  EXPECT_EQ(done[1].outcome(), v1::TASK_OUTCOME_SUCCEEDED);
  EXPECT_EQ(done[1].move().source_user_principal_name(), "b@contoso.com");
  EXPECT_EQ(done[2].outcome(), v1::TASK_OUTCOME_SUCCEEDED);
  EXPECT_EQ(done[3].outcome(), v1::TASK_OUTCOME_FAILED) << "no move: as a single GetUserContentMove's NOT_FOUND";
  EXPECT_EQ(done[3].error().code(), "NOT_FOUND");
  EXPECT_EQ(done[4].outcome(), v1::TASK_OUTCOME_RETRY) << "still throttled after the connector's own retries";
  EXPECT_EQ(done[4].retry_after().seconds(), 3);
  EXPECT_EQ(done[5].outcome(), v1::TASK_OUTCOME_RETRY) << "403 on a poll: the connection's access, not the move";
  EXPECT_EQ(done[5].error().code(), "CONNECTION_NOT_USABLE");
  EXPECT_EQ(done[6].outcome(), v1::TASK_OUTCOME_SUCCEEDED);
}

TEST(TaskRunnerTest, AThrottledPollInABatchWaitsForMicrosoftsOwnDelay) {
  FakeTenant tenant;
  v1::UserContentMoveResult named;
  named.mutable_error()->set_code("THROTTLED");
  named.mutable_error()->set_upstream_http_status(429);
  named.mutable_error()->mutable_retry_delay()->set_seconds(11);
  tenant.batch_answers["id-named"] = named;
  v1::UserContentMoveResult unnamed;
  unnamed.mutable_error()->set_code("THROTTLED");
  unnamed.mutable_error()->set_upstream_http_status(429);
  tenant.batch_answers["id-unnamed"] = unnamed;
  TaskRunner runner(&tenant, "w1", {absl::Seconds(3)});
  const std::vector<v1::CompleteTaskRequest> done = runner.RunTogether(
      {PollTask("p0", "connections/src", "id-named"), PollTask("p1", "connections/src", "id-unnamed")});
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].outcome(), v1::TASK_OUTCOME_RETRY);
  EXPECT_EQ(done[0].retry_after().seconds(), 11) << "Microsoft's Retry-After for that item";
  EXPECT_EQ(done[1].outcome(), v1::TASK_OUTCOME_RETRY);
  EXPECT_EQ(done[1].retry_after().seconds(), 3) << "no delay named: the worker's own back-off";
}

TEST(TaskRunnerTest, AFailedBatchCallGivesEveryPollTheSameOutcome) {
  FakeTenant tenant;
  tenant.batch_status = absl::UnavailableError("connector restarting");
  TaskRunner runner(&tenant, "w1", {absl::Seconds(4)});
  const std::vector<v1::CompleteTaskRequest> done =
      runner.RunTogether({PollTask("p0", "g", "a"), PollTask("p1", "g", "b"), PollTask("p2", "g", "c")});
  ASSERT_EQ(done.size(), 3u);
  for (const v1::CompleteTaskRequest& completion : done) {
    EXPECT_EQ(completion.outcome(), v1::TASK_OUTCOME_RETRY);
    EXPECT_EQ(completion.retry_after().seconds(), 4);
    EXPECT_EQ(completion.error().code(), "UNAVAILABLE");
  }
  EXPECT_EQ(tenant.batches.size(), 1u);
  EXPECT_TRUE(tenant.gets.empty());
}

// The connector's refusals because of the connection itself, typed as it sends them.
absl::Status ConnectionMissing() {
  return WithErrorInfo(absl::NotFoundError("connections/contoso does not exist"), kReasonConnectionNotFound,
                       "crosstenant", {{"connection", "connections/contoso"}});
}
absl::Status ConnectionExpired() {
  return WithErrorInfo(absl::FailedPreconditionError("connections/contoso is EXPIRED (secret expired); it must be "
                                                     "CONNECTED or DEGRADED"),
                       kReasonConnectionNotUsable, "crosstenant", {{"connection", "connections/contoso"}});
}

TEST(TaskRunnerTest, ARefusalBecauseOfTheConnectionRetriesEveryMoveTaskAndNeverFailsTheUser) {
  TaskRunner::Options options;
  options.transient_backoff = absl::Seconds(3);
  options.connection_backoff = absl::Seconds(42);
  v1::Task first_start = StartTask("migrations/m/tasks/start-u1");
  first_start.set_attempt(1);
  v1::Task retried_start = first_start;
  retried_start.set_attempt(2);
  const v1::Task poll = PollTask("migrations/m/tasks/poll-u1", "connections/contoso", "task-1");
  for (const absl::Status& refusal : {ConnectionMissing(), ConnectionExpired()}) {
    for (const v1::Task& task : {first_start, retried_start, poll}) {
      FakeTenant tenant;
      tenant.next_status = refusal;
      TaskRunner runner(&tenant, "w1", options);
      const v1::CompleteTaskRequest done = runner.Run(task);
      EXPECT_EQ(done.outcome(), v1::TASK_OUTCOME_RETRY) << task.name() << " " << refusal;
      EXPECT_EQ(done.retry_after().seconds(), 42) << "the connection's own back-off, not the transient one";
      EXPECT_EQ(done.error().code(), ErrorInfoReasonOf(refusal));
      EXPECT_TRUE(IsConnectionReason(done.error().code()));
      EXPECT_THAT(done.error().message(), ::testing::HasSubstr("connections/contoso"));
    }
  }
}

TEST(TaskRunnerTest, TheSameCodesFromMicrosoftWithoutTheConnectionReasonStillFail) {
  FakeTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  // Microsoft has no such move: its own answer, not the connection's.
  tenant.next_status = absl::NotFoundError("Microsoft graph: the task does not exist (HTTP 404)");
  v1::CompleteTaskRequest done = runner.Run(PollTask("p", "connections/contoso", "task-1"));
  EXPECT_EQ(done.outcome(), v1::TASK_OUTCOME_FAILED);
  EXPECT_EQ(done.error().code(), "NOT_FOUND");
  EXPECT_FALSE(IsConnectionReason(done.error().code()));
  // Microsoft refuses a first start: the user's failure, Microsoft's word.
  tenant.next_status = absl::FailedPreconditionError("the target user already has a OneDrive (HTTP 409)");
  v1::Task start = StartTask("s");
  start.set_attempt(1);
  EXPECT_EQ(runner.Run(start).outcome(), v1::TASK_OUTCOME_FAILED);
  start.set_attempt(3);
  EXPECT_EQ(runner.Run(start).outcome(), v1::TASK_OUTCOME_FAILED);
}

TEST(TaskRunnerTest, AccessRefusedWhileAMoveMayRunWaitsOnTheConnection) {
  FakeTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  tenant.next_status = absl::PermissionDeniedError("Microsoft graph: Access denied (HTTP 403)");
  // A poll: the move may be running; the refusal is about the connection's access, not the move.
  v1::CompleteTaskRequest poll = runner.Run(PollTask("p", "connections/contoso", "task-1"));
  EXPECT_EQ(poll.outcome(), v1::TASK_OUTCOME_RETRY);
  EXPECT_EQ(poll.error().code(), "CONNECTION_NOT_USABLE");
  // A retried start may have reached Microsoft on its first attempt: the same.
  v1::Task start = StartTask("s");
  start.set_attempt(2);
  EXPECT_EQ(runner.Run(start).outcome(), v1::TASK_OUTCOME_RETRY);
  // A first start cannot have: Microsoft refused it.
  start.set_attempt(1);
  v1::CompleteTaskRequest refused = runner.Run(start);
  EXPECT_EQ(refused.outcome(), v1::TASK_OUTCOME_FAILED);
  EXPECT_EQ(refused.error().code(), "PERMISSION_DENIED");
}

TEST(TaskRunnerTest, ABatchOfPollsRefusedBecauseOfTheConnectionWaitsAndOnlyMicrosoftsAnswersFail) {
  FakeTenant tenant;
  tenant.batch_status = ConnectionExpired();
  TaskRunner runner(&tenant, "w1", {});
  std::vector<v1::CompleteTaskRequest> done = runner.RunTogether({PollTask("p0", "g", "a"), PollTask("p1", "g", "b")});
  ASSERT_EQ(done.size(), 2u);
  for (const v1::CompleteTaskRequest& completion : done) {
    EXPECT_EQ(completion.outcome(), v1::TASK_OUTCOME_RETRY);
    EXPECT_EQ(completion.error().code(), "CONNECTION_NOT_USABLE");
  }

  tenant.batch_status = absl::OkStatus();
  v1::UserContentMoveResult forbidden;
  forbidden.set_task_id("a");
  forbidden.mutable_error()->set_code("UPSTREAM_ERROR");
  forbidden.mutable_error()->set_upstream_http_status(403);
  tenant.batch_answers["a"] = forbidden;
  v1::UserContentMoveResult missing;
  missing.set_task_id("b");
  missing.set_found(false);
  tenant.batch_answers["b"] = missing;
  v1::UserContentMoveResult failed;
  failed.set_task_id("c");
  failed.set_found(true);
  failed.mutable_move()->set_state(v1::MOVE_STATE_FAILED);
  tenant.batch_answers["c"] = failed;
  done = runner.RunTogether({PollTask("p0", "g", "a"), PollTask("p1", "g", "b"), PollTask("p2", "g", "c")});
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0].outcome(), v1::TASK_OUTCOME_RETRY) << "403 on a poll: the connection's access";
  EXPECT_EQ(done[0].error().code(), "CONNECTION_NOT_USABLE");
  EXPECT_EQ(done[1].outcome(), v1::TASK_OUTCOME_FAILED) << "Microsoft has no such move";
  EXPECT_EQ(done[2].outcome(), v1::TASK_OUTCOME_SUCCEEDED) << "Failed is reported as Microsoft's state";
  EXPECT_EQ(done[2].move().state(), v1::MOVE_STATE_FAILED);
}

// Hands out the tasks it is given, up to max_tasks of the kinds asked per lease call, and records
// completions.
class FakeOrchestrator : public LeaseClient {
 public:
  explicit FakeOrchestrator(std::vector<v1::Task> tasks) : tasks_(tasks.begin(), tasks.end()) {}

  absl::StatusOr<v1::LeaseTasksResponse> LeaseTasks(const v1::LeaseTasksRequest& request) override {
    absl::MutexLock lock(&mutex_);
    v1::LeaseTasksResponse response;
    requests_.push_back(request);
    for (auto it = tasks_.begin(); it != tasks_.end() && response.tasks_size() < request.max_tasks();) {
      const bool wanted = request.kinds().empty() || std::find(request.kinds().begin(), request.kinds().end(),
                                                               it->kind()) != request.kinds().end();
      if (!wanted) {
        ++it;
        continue;
      }
      *response.add_tasks() = *it;
      it = tasks_.erase(it);
    }
    if (response.tasks_size() == 0 && request.has_wait_time()) {
      // A long poll that finds nothing.
      mutex_.AwaitWithTimeout(absl::Condition(&never_), absl::Milliseconds(20));
    }
    return response;
  }
  absl::StatusOr<v1::RenewLeasesResponse> RenewLeases(const v1::RenewLeasesRequest&) override {
    return v1::RenewLeasesResponse();
  }
  absl::StatusOr<v1::CompleteTasksResponse> CompleteTasks(const v1::CompleteTasksRequest& request) override {
    absl::MutexLock lock(&mutex_);
    v1::CompleteTasksResponse response;
    for (const v1::CompleteTaskRequest& completion : request.completions()) {
      completed_.push_back(completion.task());
      response.add_results()->set_task(completion.task());
    }
    call_sizes_.push_back(request.completions_size());
    call_traces_.push_back(CurrentTraceId());
    return response;
  }
  // The number of completions in each CompleteTasks call, in order, and the trace each was made under.
  std::vector<int> call_sizes() {
    absl::MutexLock lock(&mutex_);
    return call_sizes_;
  }
  std::vector<std::string> call_traces() {
    absl::MutexLock lock(&mutex_);
    return call_traces_;
  }
  size_t completed() {
    absl::MutexLock lock(&mutex_);
    return completed_.size();
  }
  std::vector<v1::LeaseTasksRequest> requests() {
    absl::MutexLock lock(&mutex_);
    return requests_;
  }

 private:
  absl::Mutex mutex_;
  std::vector<v1::LeaseTasksRequest> requests_ ABSL_GUARDED_BY(mutex_);
  bool never_ = false;
  std::deque<v1::Task> tasks_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> completed_ ABSL_GUARDED_BY(mutex_);
  std::vector<int> call_sizes_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> call_traces_ ABSL_GUARDED_BY(mutex_);
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
  // The orchestrator records a completion before the slot counts it: wait for both.
  for (int i = 0; i < 500 && (orchestrator.completed() < 20 || loop.Status().succeeded_task_count() < 20); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
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
  // Drain returns at once; with nothing in hand the loop is DRAINED as soon as its slots see it.
  for (int i = 0; i < 500 && loop.Status().state() != v1::WORKER_STATE_DRAINED; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(loop.Status().state(), v1::WORKER_STATE_DRAINED);
  loop.Stop();
}

TEST(WorkerLoopTest, TheSlotsResultsAreReportedTogetherInCallsOfAtMostTheBatch) {
  FakeTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 60; ++i) tasks.push_back(StartTask("migrations/m/tasks/t" + std::to_string(i)));
  FakeOrchestrator orchestrator(tasks);
  WorkerLoop::Options options;
  options.worker_id = "w1";
  options.concurrency = 4;
  options.report_batch = 25;
  options.report_linger = absl::Milliseconds(300);
  WorkerLoop loop(&orchestrator, &runner, options);
  loop.Start();
  for (int i = 0; i < 500 && loop.Status().succeeded_task_count() < 60; ++i) absl::SleepFor(absl::Milliseconds(10));
  loop.Stop();
  EXPECT_EQ(loop.Status().succeeded_task_count(), 60);
  EXPECT_EQ(orchestrator.completed(), 60u);
  const std::vector<int> sizes = orchestrator.call_sizes();
  for (int size : sizes) EXPECT_LE(size, 25);
  // The fake tenant answers at once, so the four slots finish all sixty well within one linger: a
  // handful of calls, not one per task.
  EXPECT_LE(sizes.size(), 6u) << "calls of " << ::testing::PrintToString(sizes);
}

TEST(WorkerLoopTest, EachReportCallCarriesTheTraceOfOneMigration) {
  FakeTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  const TraceContext first = NewTrace();
  const TraceContext second = NewTrace();
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 20; ++i) {
    v1::Task task = StartTask("migrations/m" + std::to_string(i % 2) + "/tasks/t" + std::to_string(i));
    task.set_traceparent(FormatTraceparent(ChildSpan(i % 2 == 0 ? first : second)));
    tasks.push_back(task);
  }
  FakeOrchestrator orchestrator(tasks);
  WorkerLoop::Options options;
  options.worker_id = "w1";
  options.concurrency = 4;
  options.report_linger = absl::Milliseconds(300);
  WorkerLoop loop(&orchestrator, &runner, options);
  loop.Start();
  for (int i = 0; i < 500 && loop.Status().succeeded_task_count() < 20; ++i) absl::SleepFor(absl::Milliseconds(10));
  loop.Stop();
  ASSERT_EQ(orchestrator.completed(), 20u);
  const std::vector<std::string> traces = orchestrator.call_traces();
  EXPECT_GE(traces.size(), 2u) << "two migrations' traces: at least one call each";
  for (const std::string& trace : traces) {
    EXPECT_TRUE(trace == first.trace_id || trace == second.trace_id) << "call under trace '" << trace << "'";
  }
}

TEST(WorkerLoopTest, ASlotThatLeasesAPollTakesTheReadyPollsAlongAndReadsThemTogether) {
  FakeTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 25; ++i) {
    tasks.push_back(
        PollTask("migrations/m/tasks/poll-u" + std::to_string(i), "connections/src", "id" + std::to_string(i)));
  }
  tasks.insert(tasks.begin() + 3, StartTask("migrations/m/tasks/start-u99"));
  FakeOrchestrator orchestrator(tasks);
  WorkerLoop::Options options;
  options.worker_id = "w1";
  options.concurrency = 1;
  options.poll_batch = 10;
  options.start_batch = 1;  // the start alone: this test is about polls
  options.lease_batch = 1;
  WorkerLoop loop(&orchestrator, &runner, options);
  loop.Start();
  for (int i = 0; i < 500 && orchestrator.completed() < 26; ++i) absl::SleepFor(absl::Milliseconds(10));
  loop.Stop();
  EXPECT_EQ(orchestrator.completed(), 26u);
  EXPECT_EQ(loop.Status().succeeded_task_count(), 26);
  // 25 polls in batches of at most 10 (1 leased, then up to 9 more of the ready polls).
  size_t polled = 0;
  for (const auto& batch : tenant.batches) {
    EXPECT_LE(batch.task_ids_size(), 10);
    polled += static_cast<size_t>(batch.task_ids_size());
  }
  EXPECT_EQ(polled + tenant.gets.size(), 25u);
  EXPECT_EQ(tenant.batches.size(), 3u);
  EXPECT_EQ(tenant.start_attempts.size(), 1u);
  for (const v1::LeaseTasksRequest& request : orchestrator.requests()) {
    if (request.max_tasks() == 1) continue;
    EXPECT_EQ(request.max_tasks(), 9);
    EXPECT_THAT(request.kinds(), ::testing::ElementsAre(v1::TASK_KIND_POLL_MOVE)) << "only polls are batched";
    EXPECT_FALSE(request.has_wait_time()) << "the extra polls are those ready now";
  }
}

TEST(WorkerLoopTest, PollBatchOfOneReadsEveryPollAlone) {
  FakeTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(PollTask("poll-" + std::to_string(i), "g", "id" + std::to_string(i)));
  FakeOrchestrator orchestrator(tasks);
  WorkerLoop::Options options;
  options.worker_id = "w1";
  options.concurrency = 1;
  options.poll_batch = 1;
  options.lease_batch = 4;
  WorkerLoop loop(&orchestrator, &runner, options);
  loop.Start();
  for (int i = 0; i < 500 && orchestrator.completed() < 5; ++i) absl::SleepFor(absl::Milliseconds(10));
  loop.Stop();
  EXPECT_EQ(orchestrator.completed(), 5u);
  EXPECT_TRUE(tenant.batches.empty());
  EXPECT_EQ(tenant.gets.size(), 5u);
  for (const v1::LeaseTasksRequest& request : orchestrator.requests()) {
    EXPECT_EQ(request.max_tasks(), 4);
    EXPECT_TRUE(request.kinds().empty()) << "no extra lease of polls to read together";
  }
}

TEST(WorkerLoopTest, ASlotLeasesUpToTheLeaseBatchAndRunsThemInTurn) {
  FakeTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 10; ++i) tasks.push_back(StartTask("migrations/m/tasks/start-u" + std::to_string(i)));
  FakeOrchestrator orchestrator(tasks);
  WorkerLoop::Options options;
  options.worker_id = "w1";
  options.concurrency = 1;
  options.lease_batch = 4;
  options.start_batch = 1;  // no extra lease of starts to send together
  WorkerLoop loop(&orchestrator, &runner, options);
  loop.Start();
  for (int i = 0; i < 500 && orchestrator.completed() < 10; ++i) absl::SleepFor(absl::Milliseconds(10));
  loop.Stop();
  EXPECT_EQ(orchestrator.completed(), 10u);
  EXPECT_EQ(tenant.start_attempts.size(), 10u);
  const std::vector<v1::LeaseTasksRequest> requests = orchestrator.requests();
  ASSERT_GE(requests.size(), 3u) << "10 tasks in leases of 4, 4 and 2";
  for (const v1::LeaseTasksRequest& request : requests) {
    EXPECT_EQ(request.max_tasks(), 4);
    EXPECT_TRUE(request.has_wait_time()) << "every lease is the long poll";
  }
}

TEST(WorkerLoopTest, PollsLeasedWithOtherTasksAreReadTogetherAndOnlyPollsTakeMore) {
  FakeTenant tenant;
  TaskRunner runner(&tenant, "w1", {});
  std::vector<v1::Task> tasks = {StartTask("migrations/m/tasks/start-u99")};
  for (int i = 0; i < 23; ++i) {
    tasks.push_back(
        PollTask("migrations/m/tasks/poll-u" + std::to_string(i), "connections/src", "id" + std::to_string(i)));
  }
  FakeOrchestrator orchestrator(tasks);
  WorkerLoop::Options options;
  options.worker_id = "w1";
  options.concurrency = 1;
  options.poll_batch = 10;
  options.lease_batch = 4;
  WorkerLoop loop(&orchestrator, &runner, options);
  loop.Start();
  for (int i = 0; i < 500 && orchestrator.completed() < 24; ++i) absl::SleepFor(absl::Milliseconds(10));
  loop.Stop();
  EXPECT_EQ(orchestrator.completed(), 24u);
  EXPECT_EQ(tenant.start_attempts.size(), 1u);
  EXPECT_TRUE(tenant.gets.empty());
  // The start and 3 polls; then 4 polls and 6 more twice.
  std::vector<int> batch_sizes;
  for (const auto& batch : tenant.batches) batch_sizes.push_back(batch.task_ids_size());
  EXPECT_THAT(batch_sizes, ::testing::ElementsAre(3, 10, 10));
  int extra_leases = 0;
  for (const v1::LeaseTasksRequest& request : orchestrator.requests()) {
    if (request.kinds().empty()) continue;
    ++extra_leases;
    EXPECT_EQ(request.max_tasks(), 6);
    EXPECT_THAT(request.kinds(), ::testing::ElementsAre(v1::TASK_KIND_POLL_MOVE));
  }
  EXPECT_EQ(extra_leases, 2) << "none after the lease that brought the start";
}

}  // namespace
}  // namespace crosstenant::worker
