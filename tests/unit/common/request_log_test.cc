#include "services/common/request_log.h"

#include <map>
#include <thread>
#include <utility>

#include "absl/synchronization/notification.h"

#include "crosstenant/v1/tenant_connector.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/common/errors.h"

namespace crosstenant {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::HasSubstr;

v1::StartUserContentMoveRequest Start(const std::string& upn, int attempt) {
  v1::StartUserContentMoveRequest request;
  request.set_geo("connections/contoso/geos/nam");
  request.set_source_user_principal_name(upn);
  request.set_attempt(attempt);
  request.set_request_id("migrations/m/tasks/start-" + upn);
  return request;
}

// The answers in a map, with failures on demand: the store of RequestLog's tests.
class AnswersInMemory : public AnswerStore {
 public:
  absl::StatusOr<std::optional<Answer>> FindAnswer(absl::string_view request_id) override {
    if (!find_error.ok()) return find_error;
    auto answer = answers.find(std::string(request_id));
    if (answer == answers.end()) return std::nullopt;
    return answer->second;
  }
  absl::Status KeepAnswer(absl::string_view request_id, const Answer& answer, absl::Time forget_before,
                          size_t capacity) override {
    if (!keep_error.ok()) return keep_error;
    answers[std::string(request_id)] = answer;
    last_forget_before = forget_before;
    last_capacity = capacity;
    return absl::OkStatus();
  }

  std::map<std::string, Answer> answers;
  absl::Status find_error, keep_error;
  absl::Time last_forget_before;
  size_t last_capacity = 0;
};

class RequestLogTest : public ::testing::Test {
 protected:
  absl::Status Answer(const v1::StartUserContentMoveRequest& request, v1::StartUserContentMoveResponse* response) {
    return log_.Run("StartUserContentMove", request, response,
                    [&] {
                      ++runs_;
                      response->mutable_move()->set_task_id(absl::StrCat("task-", runs_));
                      return next_.ok() ? absl::OkStatus() : std::exchange(next_, absl::OkStatus());
                    },
                    {"attempt"});
  }

  absl::Time now_ = absl::FromUnixSeconds(1800000000);
  AnswersInMemory answers_;
  RequestLog log_{{absl::Hours(24), 3, [this] { return now_; }}, &answers_};
  int runs_ = 0;
  absl::Status next_;
};

TEST_F(RequestLogTest, ARetryIsAnsweredAsTheFirstCallWithoutRunningAgain) {
  v1::StartUserContentMoveResponse first, second;
  ASSERT_TRUE(Answer(Start("alice@contoso.com", 1), &first).ok());
  ASSERT_TRUE(Answer(Start("alice@contoso.com", 2), &second).ok()) << "the attempt is a retry field";
  EXPECT_EQ(runs_, 1);
  EXPECT_EQ(second.move().task_id(), "task-1");
}

TEST_F(RequestLogTest, AnotherBodyOrMethodUnderTheSameIdIsRefusedNamingTheField) {
  v1::StartUserContentMoveResponse response;
  ASSERT_TRUE(Answer(Start("alice@contoso.com", 1), &response).ok());
  v1::StartUserContentMoveRequest other = Start("bob@contoso.com", 1);
  other.set_request_id(Start("alice@contoso.com", 1).request_id());
  const absl::Status refused = Answer(other, &response);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("request_id reused for another request"));
  ASSERT_EQ(FieldViolationsOf(refused).size(), 1u);
  EXPECT_EQ(FieldViolationsOf(refused)[0].field, "request_id");

  v1::StopUserContentMoveRequest stop;
  stop.set_request_id(other.request_id());
  v1::StopUserContentMoveResponse stopped;
  const absl::Status other_method = log_.Run("StopUserContentMove", stop, &stopped, [] { return absl::OkStatus(); });
  EXPECT_THAT(other_method.ToString(), HasSubstr("a different StartUserContentMove request"));
  EXPECT_EQ(runs_, 1);
}

TEST_F(RequestLogTest, AFailureIsNotRememberedAndMayBeTriedAgain) {
  v1::StartUserContentMoveResponse response;
  next_ = absl::UnavailableError("Microsoft is unreachable");
  EXPECT_EQ(Answer(Start("alice@contoso.com", 1), &response).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Answer(Start("alice@contoso.com", 2), &response).ok());
  EXPECT_EQ(runs_, 2);
  EXPECT_EQ(answers_.answers.size(), 1u);
}

TEST_F(RequestLogTest, TheSameIdWhileTheFirstStillRunsIsAborted) {
  v1::StartUserContentMoveRequest request = Start("alice@contoso.com", 1);
  absl::Notification started, release;
  std::thread first([&] {
    v1::StartUserContentMoveResponse response;
    EXPECT_TRUE(log_.Run("StartUserContentMove", request, &response,
                         [&] {
                           started.Notify();
                           release.WaitForNotification();
                           return absl::OkStatus();
                         })
                    .ok());
  });
  started.WaitForNotification();
  v1::StartUserContentMoveResponse response;
  const absl::Status busy = log_.Run("StartUserContentMove", request, &response, [] { return absl::OkStatus(); });
  EXPECT_EQ(busy.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(busy.message(), HasSubstr("still running"));
  release.Notify();
  first.join();
}

TEST_F(RequestLogTest, AnAnswerOlderThanTheRetentionIsNotReplayedAndTheStoreIsToldWhatToForget) {
  v1::StartUserContentMoveResponse response;
  ASSERT_TRUE(Answer(Start("a@contoso.com", 1), &response).ok());
  EXPECT_EQ(answers_.last_capacity, 3u);
  EXPECT_EQ(answers_.last_forget_before, now_ - absl::Hours(24));
  now_ += absl::Hours(25);
  ASSERT_TRUE(Answer(Start("a@contoso.com", 1), &response).ok());
  EXPECT_EQ(runs_, 2) << "older than the retention: run again";
  EXPECT_EQ(response.move().task_id(), "task-2");
  ASSERT_TRUE(Answer(Start("a@contoso.com", 2), &response).ok());
  EXPECT_EQ(runs_, 2) << "the new answer replaced the old one";
}

TEST_F(RequestLogTest, AStoreThatCannotBeReadRunsNothingAndOneThatCannotKeepForgetsTheAnswer) {
  v1::StartUserContentMoveResponse response;
  answers_.find_error = absl::UnavailableError("database is locked");
  EXPECT_EQ(Answer(Start("a@contoso.com", 1), &response).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(runs_, 0);
  answers_.find_error = absl::OkStatus();

  answers_.keep_error = absl::ResourceExhaustedError("disk full");
  EXPECT_TRUE(Answer(Start("a@contoso.com", 1), &response).ok()) << "the call itself succeeded";
  answers_.keep_error = absl::OkStatus();
  EXPECT_TRUE(Answer(Start("a@contoso.com", 2), &response).ok());
  EXPECT_EQ(runs_, 2) << "nothing was remembered: the retry ran";
  EXPECT_TRUE(Answer(Start("a@contoso.com", 3), &response).ok());
  EXPECT_EQ(runs_, 2) << "but its own answer was";
}

TEST_F(RequestLogTest, WithoutAnIdEveryCallRunsAndABadIdIsRefused) {
  v1::StartUserContentMoveRequest request = Start("alice@contoso.com", 1);
  request.clear_request_id();
  v1::StartUserContentMoveResponse response;
  ASSERT_TRUE(Answer(request, &response).ok());
  ASSERT_TRUE(Answer(request, &response).ok());
  EXPECT_EQ(runs_, 2);
  request.set_request_id("has a space");
  EXPECT_EQ(Answer(request, &response).code(), absl::StatusCode::kInvalidArgument);
  request.set_request_id(std::string(129, 'x'));
  EXPECT_EQ(Answer(request, &response).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(runs_, 2);
}

}  // namespace
}  // namespace crosstenant
