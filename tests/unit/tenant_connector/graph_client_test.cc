// GraphClient against a scripted transport: an answer that does not parse is an error, never an empty
// result; a sub-request missing from a $batch answer is unanswered, never "not found"; throttled
// sub-requests are sent again after their Retry-After; callers on one connection share envelopes; one
// token refresh on a 401, then the connection is told.

#include "services/tenant_connector/core/graph_client.h"

#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "services/common/errors.h"
#include "tests/unit/tenant_connector/fake_clock.h"
#include "tests/unit/tenant_connector/scripted_transport.h"

namespace crosstenant::tenant_connector {
namespace {

using ::testing::HasSubstr;

class GraphClientTest : public ::testing::Test {
 protected:
  GraphClientTest() : governors_(ThrottleOptions{}, &clock_), graph_(&transport_, &governors_, &clock_, nullptr, 5) {
    target_.graph_host = "graph.microsoft.com";
    target_.governor_key = "contoso";
    target_.token = [this](bool force, absl::Time) -> absl::StatusOr<std::string> {
      return std::string(force ? "fresh" : "cached");
    };
    target_.on_token_rejected = [this](const std::string&) { ++rejected_; };
  }
  absl::Time Deadline() { return clock_.Now() + absl::Minutes(5); }
  // The first request sent is answered only once `release_` is notified; `first_in_flight_` says it was sent.
  void HoldFirstAnswer() {
    transport_.before_answer = [this](size_t index) {
      if (index != 0) return;
      first_in_flight_.Notify();
      release_.WaitForNotification();
    };
  }
  static nlohmann::json Requests(int n) {
    nlohmann::json requests = nlohmann::json::array();
    for (int i = 0; i < n; ++i) {
      requests.push_back({{"id", std::to_string(i)}, {"method", "GET"}, {"url", "/users/u" + std::to_string(i)}});
    }
    return requests;
  }

  FakeClock clock_;
  ScriptedTransport transport_;
  ThrottleGovernors governors_;
  GraphClient graph_;
  GraphTarget target_;
  int rejected_ = 0;
  absl::Notification first_in_flight_, release_;
};

TEST_F(GraphClientTest, AnswersAreReadAndPathsGoToTheGraphHost) {
  transport_.Answer(200, R"({"value":[{"id":"1"}]})");
  absl::StatusOr<GraphResult> result = graph_.Send(target_, "GET", "/v1.0/users?$top=1", nullptr, Deadline());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->body["value"][0]["id"], "1");
  EXPECT_EQ(transport_.sent[0].url, "https://graph.microsoft.com/v1.0/users?$top=1");
  EXPECT_EQ(transport_.Header(0, "Authorization"), "Bearer cached");
  transport_.Answer(204, "");  // e.g. cancel: no body is fine
  EXPECT_TRUE(graph_.Send(target_, "POST", "/beta/x/cancel", nullptr, Deadline()).ok());
}

TEST_F(GraphClientTest, ACutOffAnswerIsAnErrorNeverAnEmptyResult) {
  for (const char* body : {R"({"value":[{"id":"1"},{"id")", "<html>gateway</html>", "{\"value\": ["}) {
    transport_.Answer(200, body);
    absl::Status status = graph_.Send(target_, "GET", "/v1.0/users?$select=id", nullptr, Deadline()).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << body;
    EXPECT_THAT(status.message(), HasSubstr("not JSON"));
    EXPECT_THAT(status.message(), HasSubstr("GET /v1.0/users"));
    EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("$select")));
  }
}

TEST_F(GraphClientTest, ASubRequestMissingFromTheAnswerIsUnansweredNeverNotFound) {
  transport_.Answer(200, R"({"responses":[{"id":"0","status":200,"body":{}},{"id":"2","status":404,"body":{}}]})");
  std::vector<nlohmann::json> requests = Requests(3);
  absl::StatusOr<std::map<std::string, nlohmann::json>> answers = graph_.Batch(target_, "v1.0", requests, Deadline());
  ASSERT_TRUE(answers.ok()) << answers.status();
  EXPECT_EQ((*answers)["0"]["status"], 200);
  EXPECT_EQ((*answers)["2"]["status"], 404);
  EXPECT_EQ((*answers)["1"]["status"], 503) << "unanswered, for the caller to retry";
  EXPECT_THAT((*answers)["1"]["body"]["error"]["message"].get<std::string>(), HasSubstr("lacks 1 of 3 sub-requests"));
  // An answer that does not parse answers nothing: the call's error.
  transport_.Answer(200, R"({"responses":[{"id":"0","status":200,"body":{}},{"id":"1","status":200,"body":{}})");
  EXPECT_EQ(graph_.Batch(target_, "v1.0", requests, Deadline()).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(GraphClientTest, ThrottledSubRequestsAloneAreSentAgainAfterTheirRetryAfter) {
  transport_.Answer(200, R"({"responses":[{"id":"0","status":200,"body":{"n":0}},)"
                         R"({"id":"1","status":429,"headers":{"Retry-After":"4"},"body":{}},)"
                         R"({"id":"2","status":200,"body":{"n":2}}]})");
  transport_.Answer(200, R"({"responses":[{"id":"0","status":200,"body":{"n":1}}]})");
  const absl::Time start = clock_.Now();
  absl::StatusOr<std::map<std::string, nlohmann::json>> answers =
      graph_.Batch(target_, "v1.0", Requests(3), Deadline());
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), 3u);
  EXPECT_EQ((*answers)["1"]["body"]["n"], 1);
  ASSERT_EQ(transport_.sent.size(), 2u);
  const nlohmann::json again = nlohmann::json::parse(transport_.sent[1].body);
  ASSERT_EQ(again["requests"].size(), 1u);  // only the throttled one
  EXPECT_EQ(again["requests"][0]["url"], "/users/u1");
  EXPECT_GE(clock_.Now() - start, absl::Seconds(4));
}

// The second batch of 20 is refused whole (throttled beyond the deadline): the first batch's answers
// are kept, and each sub-request of the second comes back as its own 429 with Retry-After, for the
// caller to retry those alone.
TEST_F(GraphClientTest, ABatchRefusedAfterOthersWereAnsweredKeepsTheAnswers) {
  std::string first = R"({"responses":[)";
  for (int i = 0; i < 20; ++i) {
    first += (i ? "," : "") + std::string(R"({"id":")") + std::to_string(i) + R"(","status":200,"body":{}})";
  }
  transport_.Answer(200, first + "]}");
  transport_.Answer(429, R"({"error":{"code":"TooManyRequests","message":"slow down"}})", {{"retry-after", "600"}});
  absl::StatusOr<std::map<std::string, nlohmann::json>> answers =
      graph_.Batch(target_, "v1.0", Requests(25), Deadline());
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), 25u);
  EXPECT_EQ((*answers)["19"]["status"], 200);
  for (const char* id : {"20", "24"}) {
    EXPECT_EQ((*answers)[id]["status"], 429) << id;
    std::optional<absl::Duration> retry_after = SubResponseRetryAfter((*answers)[id]);
    ASSERT_TRUE(retry_after.has_value()) << (*answers)[id].dump();
    EXPECT_EQ(*retry_after, absl::Seconds(600));
  }
  EXPECT_EQ(transport_.sent.size(), 2u);
  // Refused before anything was answered, the batch is the error.
  EXPECT_EQ(graph_.Batch(target_, "v1.0", Requests(2), Deadline()).status().code(),
            absl::StatusCode::kResourceExhausted);
}

// A caller whose deadline comes before the tenant's Retry-After has passed is left out of the next
// envelope and told at once: its deadline would otherwise make the whole envelope give up, and every
// caller in it retry.
TEST_F(GraphClientTest, ACallerThatCannotBeSentInTimeIsLeftOutAndTheOthersEnvelopeGoes) {
  HoldFirstAnswer();
  transport_.Answer(200, R"({"responses":[{"id":"0","status":200,"body":{}},)"
                         R"({"id":"1","status":429,"headers":{"Retry-After":"60"},"body":{}}]})");
  transport_.Answer(200, R"({"responses":[{"id":"0","status":200,"body":{}},{"id":"1","status":200,"body":{}},)"
                         R"({"id":"2","status":200,"body":{}}]})");
  absl::StatusOr<std::map<std::string, nlohmann::json>> first, hurried, patient;
  std::thread a([&] { first = graph_.Batch(target_, "v1.0", Requests(2), Deadline()); });
  first_in_flight_.WaitForNotification();
  std::thread b([&] { hurried = graph_.Batch(target_, "v1.0", Requests(1), clock_.Now() + absl::Seconds(30)); });
  std::thread c([&] { patient = graph_.Batch(target_, "v1.0", Requests(2), Deadline()); });
  while (graph_.SubRequestsWaiting() < 3) absl::SleepFor(absl::Milliseconds(1));
  release_.Notify();
  a.join();
  b.join();
  c.join();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(patient.ok()) << patient.status();
  EXPECT_EQ((*first)["1"]["status"], 200);
  EXPECT_EQ((*patient)["1"]["status"], 200);
  EXPECT_EQ(hurried.status().code(), absl::StatusCode::kResourceExhausted) << hurried.status();
  EXPECT_THAT(hurried.status().message(), HasSubstr("past the call's deadline"));
  ASSERT_EQ(transport_.sent.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(transport_.sent[1].body)["requests"].size(), 3u)
      << "the throttled one and the patient caller's two, not the hurried caller's";
}

// While one envelope is in flight, the sub-requests of other callers on the connection wait and leave
// together in the next one; each caller gets its own answers under its own ids.
TEST_F(GraphClientTest, CallersOnOneConnectionShareTheNextEnvelope) {
  HoldFirstAnswer();
  const auto answer = [](int n) {
    nlohmann::json responses = nlohmann::json::array();
    for (int i = 0; i < n; ++i) responses.push_back({{"id", std::to_string(i)}, {"status", 200}, {"body", {{"k", i}}}});
    return nlohmann::json{{"responses", responses}}.dump();
  };
  transport_.Answer(200, answer(2));
  transport_.Answer(200, answer(3));
  absl::StatusOr<std::map<std::string, nlohmann::json>> first, second, third;
  std::thread a([&] { first = graph_.Batch(target_, "v1.0", Requests(2), Deadline()); });
  first_in_flight_.WaitForNotification();
  std::thread b([&] { second = graph_.Batch(target_, "v1.0", Requests(2), Deadline()); });
  std::thread c([&] { third = graph_.Batch(target_, "v1.0", {Requests(1)[0]}, Deadline()); });
  while (graph_.SubRequestsWaiting() < 3) absl::SleepFor(absl::Milliseconds(1));
  release_.Notify();
  a.join();
  b.join();
  c.join();
  ASSERT_EQ(transport_.sent.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(transport_.sent[1].body)["requests"].size(), 3u);
  ASSERT_TRUE(first.ok() && second.ok() && third.ok());
  EXPECT_EQ(first->size(), 2u);
  EXPECT_EQ(second->size(), 2u);
  ASSERT_EQ(third->size(), 1u);
  // The second envelope's three answers went back to their callers, under the callers' ids.
  std::set<int> keys = {(*second)["0"]["body"]["k"].get<int>(), (*second)["1"]["body"]["k"].get<int>(),
                        (*third)["0"]["body"]["k"].get<int>()};
  EXPECT_EQ(keys, (std::set<int>{0, 1, 2}));
  EXPECT_EQ(graph_.SubRequestsWaiting(), 0u);
}

// A call whose deadline comes while its sub-requests still wait behind another envelope takes them out
// of the queue and fails as throttled, to be retried later; the envelope in flight is not disturbed.
TEST_F(GraphClientTest, SubRequestsStillQueuedAtTheirCallsDeadlineComeBackThrottled) {
  HoldFirstAnswer();
  transport_.Answer(200, R"({"responses":[{"id":"0","status":200,"body":{}}]})");
  absl::StatusOr<std::map<std::string, nlohmann::json>> first;
  std::thread a([&] { first = graph_.Batch(target_, "v1.0", Requests(1), Deadline()); });
  first_in_flight_.WaitForNotification();
  absl::Status late = graph_.Batch(target_, "v1.0", Requests(2), clock_.Now() + absl::Milliseconds(50)).status();
  EXPECT_EQ(late.code(), absl::StatusCode::kResourceExhausted) << late;
  EXPECT_THAT(late.message(), HasSubstr("past the call's deadline"));
  EXPECT_EQ(graph_.SubRequestsWaiting(), 0u);
  release_.Notify();
  a.join();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(transport_.sent.size(), 1u) << "the late call's sub-requests were never sent";
}

TEST_F(GraphClientTest, OneRefreshOnA401ThenTheConnectionIsTold) {
  transport_.Answer(401, R"({"error":{"code":"InvalidAuthenticationToken","message":"expired"}})");
  transport_.Answer(200, "{}");
  ASSERT_TRUE(graph_.Send(target_, "GET", "/v1.0/organization", nullptr, Deadline()).ok());
  EXPECT_EQ(transport_.Header(1, "Authorization"), "Bearer fresh");
  transport_.Answer(401, "{}");
  transport_.Answer(401, "{}");
  absl::Status status = graph_.Send(target_, "GET", "/v1.0/organization", nullptr, Deadline()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("ReauthenticateConnection"));
  EXPECT_EQ(ErrorInfoReasonOf(status), kReasonConnectionNotUsable) << "the connection's refusal, not the call's";
  EXPECT_EQ(rejected_, 1);
}

}  // namespace
}  // namespace crosstenant::tenant_connector
