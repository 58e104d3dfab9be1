// The throttle governor with a fake clock: Retry-After is honoured exactly, back-off without it,
// bounded attempts, RESOURCE_EXHAUSTED with RetryInfo, shared across callers; an outage (no answer, 503
// without Retry-After) is UNAVAILABLE, held briefly, probed, and over at the first answer.

#include "services/tenant_connector/core/throttle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <thread>

#include "absl/synchronization/notification.h"

#include "services/common/errors.h"
#include "tests/unit/tenant_connector/fake_clock.h"

namespace crosstenant::tenant_connector {
namespace {

HttpResponse Response(int status, std::string retry_after = "") {
  HttpResponse response;
  response.status = status;
  if (!retry_after.empty()) response.headers["retry-after"] = retry_after;
  return response;
}

struct Script {
  std::deque<HttpResponse> responses;
  std::vector<absl::Time> sent_at;
  FakeClock* clock;
  absl::StatusOr<HttpResponse> operator()() {
    sent_at.push_back(clock->Now());
    HttpResponse next = responses.front();
    responses.pop_front();
    return next;
  }
};

TEST(ThrottleTest, HonoursRetryAfterExactly) {
  FakeClock clock;
  ThrottleGovernor governor(UpstreamApi::kGraph, ThrottleOptions{}, &clock);
  Script script{{Response(429, "7"), Response(503, "3"), Response(200)}, {}, &clock};
  absl::Time start = clock.Now();
  absl::StatusOr<HttpResponse> result = governor.Run(std::ref(script), start + absl::Minutes(5));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  ASSERT_EQ(script.sent_at.size(), 3u);
  EXPECT_EQ(script.sent_at[1] - script.sent_at[0], absl::Seconds(7));
  EXPECT_EQ(script.sent_at[2] - script.sent_at[1], absl::Seconds(3));
  ThrottleSnapshot snapshot = governor.Snapshot();
  EXPECT_EQ(snapshot.throttled_response_count, 2);
  EXPECT_EQ(snapshot.last_retry_after, absl::Seconds(3));
  EXPECT_FALSE(snapshot.throttled);
}

TEST(ThrottleTest, HttpDateRetryAfter) {
  FakeClock clock;
  ThrottleGovernor governor(UpstreamApi::kGraph, ThrottleOptions{}, &clock);
  std::string date =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", clock.Now() + absl::Seconds(12), absl::UTCTimeZone());
  Script script{{Response(429, date), Response(200)}, {}, &clock};
  ASSERT_TRUE(governor.Run(std::ref(script), clock.Now() + absl::Minutes(5)).ok());
  EXPECT_EQ(script.sent_at[1] - script.sent_at[0], absl::Seconds(12));
}

TEST(ThrottleTest, ExponentialBackoffWithJitterWithoutRetryAfter) {
  FakeClock clock;
  ThrottleOptions options;
  options.backoff_base = absl::Seconds(5);
  options.max_attempts = 4;
  ThrottleGovernor governor(UpstreamApi::kSharePoint, options, &clock);
  Script script{{Response(500), Response(502), Response(504), Response(200)}, {}, &clock};
  ASSERT_TRUE(governor.Run(std::ref(script), clock.Now() + absl::Hours(1)).ok());
  ASSERT_EQ(script.sent_at.size(), 4u);
  absl::Duration first = script.sent_at[1] - script.sent_at[0];
  absl::Duration second = script.sent_at[2] - script.sent_at[1];
  absl::Duration third = script.sent_at[3] - script.sent_at[2];
  EXPECT_GE(first, absl::Milliseconds(2500));
  EXPECT_LE(first, absl::Seconds(5));
  EXPECT_GE(second, absl::Seconds(5));
  EXPECT_LE(second, absl::Seconds(10));
  EXPECT_GE(third, absl::Seconds(10));
  EXPECT_LE(third, absl::Seconds(20));
}

TEST(ThrottleTest, BoundedAttemptsThenResourceExhaustedWithRetryInfo) {
  FakeClock clock;
  ThrottleOptions options;
  options.max_attempts = 3;
  ThrottleGovernor governor(UpstreamApi::kGraph, options, &clock);
  Script script{{Response(429, "2"), Response(429, "2"), Response(429, "9")}, {}, &clock};
  absl::StatusOr<HttpResponse> result = governor.Run(std::ref(script), clock.Now() + absl::Hours(1));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryDelayOf(result.status()), absl::Seconds(9));
  EXPECT_EQ(script.sent_at.size(), 3u);
}

TEST(ThrottleTest, DeadlineShorterThanRetryAfterFailsAtOnceWithoutSending) {
  FakeClock clock;
  ThrottleGovernor governor(UpstreamApi::kGraph, ThrottleOptions{}, &clock);
  Script first{{Response(429, "30"), Response(200)}, {}, &clock};
  // The first caller is told to wait 30 s but may only wait 10 s.
  absl::StatusOr<HttpResponse> result = governor.Run(std::ref(first), clock.Now() + absl::Seconds(10));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryDelayOf(result.status()), absl::Seconds(30));
  EXPECT_EQ(first.sent_at.size(), 1u);
  // A second caller of the same tenant and API sends nothing before the 30 s have passed.
  clock.now_ += absl::Seconds(20);
  Script second{{Response(200)}, {}, &clock};
  absl::StatusOr<HttpResponse> waited = governor.Run(std::ref(second), clock.Now() + absl::Minutes(1));
  ASSERT_TRUE(waited.ok());
  ASSERT_EQ(second.sent_at.size(), 1u);
  EXPECT_EQ(second.sent_at[0], first.sent_at[0] + absl::Seconds(30));
  EXPECT_TRUE(governor.Snapshot().throttled == false);
}

TEST(ThrottleTest, NonRetryableStatusesReturnAtOnce) {
  FakeClock clock;
  ThrottleGovernor governor(UpstreamApi::kGraph, ThrottleOptions{}, &clock);
  for (int status : {200, 400, 401, 403, 404, 409, 422}) {
    Script script{{Response(status)}, {}, &clock};
    absl::StatusOr<HttpResponse> result = governor.Run(std::ref(script), clock.Now() + absl::Minutes(1));
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result->status, status);
    EXPECT_EQ(script.sent_at.size(), 1u);
  }
}

TEST(ThrottleTest, GovernorsArePerTenantAndApi) {
  FakeClock clock;
  ThrottleGovernors governors(ThrottleOptions{}, &clock);
  EXPECT_EQ(&governors.For("contoso", UpstreamApi::kGraph), &governors.For("contoso", UpstreamApi::kGraph));
  EXPECT_NE(&governors.For("contoso", UpstreamApi::kGraph), &governors.For("fabrikam", UpstreamApi::kGraph));
  EXPECT_NE(&governors.For("contoso", UpstreamApi::kGraph), &governors.For("contoso", UpstreamApi::kSharePoint));
  EXPECT_EQ(governors.SnapshotsOf("contoso").size(), 2u);
}

// A Graph `$batch` answers 200 with a throttled sub-response inside. The connector notes it from inside
// the batch's send (Connector::GraphBatch's inspector), while the batch still holds the tenant's permit;
// a request of another caller waiting for that permit then leaves only after the sub-response's
// Retry-After. (Noted after the permit was released, that request could leave in between, which the
// emulator counts as an early retry.)
TEST(ThrottleTest, AThrottledSubResponseNotedInsideTheSendHoldsBackTheNextCaller) {
  class LockedClock : public Clock {
   public:
    absl::Time Now() override {
      absl::MutexLock lock(&mu_);
      return now_;
    }
    void SleepFor(absl::Duration duration) override {
      absl::MutexLock lock(&mu_);
      now_ += duration;
    }

   private:
    absl::Mutex mu_;
    absl::Time now_ = absl::FromUnixSeconds(1700000000);
  } clock;
  ThrottleGovernor governor(UpstreamApi::kGraph, ThrottleOptions{}, &clock);
  const absl::Time deadline = clock.Now() + absl::Minutes(5);
  absl::Notification other_started;
  absl::Time noted_at;
  absl::Time other_sent_at;
  std::thread other([&] {
    other_started.WaitForNotification();
    absl::StatusOr<HttpResponse> sent = governor.Run(
        [&]() -> absl::StatusOr<HttpResponse> {
          other_sent_at = clock.Now();
          return Response(200);
        },
        deadline);
    EXPECT_TRUE(sent.ok()) << sent.status();
  });
  absl::StatusOr<HttpResponse> batch = governor.Run(
      [&]() -> absl::StatusOr<HttpResponse> {
        other_started.Notify();
        absl::SleepFor(absl::Milliseconds(20));  // let the other caller queue for the permit
        noted_at = clock.Now();
        governor.NoteThrottled(Response(429, "4"));
        return Response(200);
      },
      deadline);
  other.join();
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_GE(other_sent_at - noted_at, absl::Seconds(4));
  EXPECT_EQ(governor.Snapshot().throttled_response_count, 1);
}

// A 503 without Retry-After is an outage: a short hold (never the minute-long back-off of throttling),
// and once the attempts are spent the 503 itself comes back for the caller to map to UNAVAILABLE.
TEST(ThrottleTest, OutageIsHeldAtMostOutageHoldMaxAndNotCountedAsThrottling) {
  FakeClock clock;
  ThrottleOptions options;
  options.max_attempts = 4;
  ThrottleGovernor governor(UpstreamApi::kGraph, options, &clock);
  Script script{{Response(503), Response(503), Response(503), Response(503)}, {}, &clock};
  absl::StatusOr<HttpResponse> result = governor.Run(std::ref(script), clock.Now() + absl::Hours(1));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 503);
  ASSERT_EQ(script.sent_at.size(), 4u);
  for (size_t i = 1; i < script.sent_at.size(); ++i) {
    EXPECT_GT(script.sent_at[i] - script.sent_at[i - 1], absl::ZeroDuration());
    EXPECT_LE(script.sent_at[i] - script.sent_at[i - 1], options.outage_hold_max);
  }
  EXPECT_TRUE(governor.InOutage());
  EXPECT_EQ(governor.Snapshot().throttled_response_count, 0);
  EXPECT_FALSE(governor.Snapshot().throttled);
}

// A caller that cannot wait for the outage's hold is told the tenant is unreachable (UNAVAILABLE), not
// that it is throttled; a caller that can wait sends one probe, and its success ends the outage: the
// next request leaves at once.
TEST(ThrottleTest, OutageBeyondTheDeadlineIsUnavailableAndARecoveredTenantIsUsedAtOnce) {
  FakeClock clock;
  ThrottleOptions options;
  options.max_attempts = 1;
  ThrottleGovernor governor(UpstreamApi::kGraph, options, &clock);
  Script refused{{}, {}, &clock};
  absl::StatusOr<HttpResponse> first = governor.Run(
      [&]() -> absl::StatusOr<HttpResponse> {
        refused.sent_at.push_back(clock.Now());
        return absl::UnavailableError("upstream graph.microsoft.com unreachable: Couldn't connect to server");
      },
      clock.Now() + absl::Minutes(1));
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(governor.InOutage());

  Script impatient{{Response(200)}, {}, &clock};
  absl::StatusOr<HttpResponse> second = governor.Run(std::ref(impatient), clock.Now() + absl::Milliseconds(1));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_THAT(std::string(second.status().message()), ::testing::HasSubstr("unreachable"));
  EXPECT_THAT(std::string(second.status().message()), ::testing::Not(::testing::HasSubstr("throttl")));
  // It says what the last try met (a proxy in the way would be named there), not a generic guess.
  EXPECT_THAT(std::string(second.status().message()), ::testing::HasSubstr("last try: upstream graph.microsoft.com "
                                                                           "unreachable: Couldn't connect to server"));
  EXPECT_TRUE(impatient.sent_at.empty());

  Script probe{{Response(200)}, {}, &clock};
  ASSERT_TRUE(governor.Run(std::ref(probe), clock.Now() + absl::Minutes(1)).ok());
  ASSERT_EQ(probe.sent_at.size(), 1u);
  EXPECT_LE(probe.sent_at[0] - refused.sent_at[0], options.outage_hold_max);
  EXPECT_FALSE(governor.InOutage());

  Script after{{Response(200)}, {}, &clock};
  const absl::Time asked = clock.Now();
  ASSERT_TRUE(governor.Run(std::ref(after), asked + absl::Minutes(1)).ok());
  EXPECT_EQ(after.sent_at[0], asked);
}

// However long the outage lasted, the hold never grows past outage_hold_max: the tenant is probed
// every few seconds, and used within them of answering again.
TEST(ThrottleTest, ALongOutageIsProbedEveryFewSeconds) {
  FakeClock clock;
  ThrottleOptions options;
  options.max_attempts = 1;
  ThrottleGovernor governor(UpstreamApi::kGraph, options, &clock);
  std::vector<absl::Time> sent;
  for (int call = 0; call < 30; ++call) {
    (void)governor.Run(
        [&]() -> absl::StatusOr<HttpResponse> {
          sent.push_back(clock.Now());
          return Response(503);
        },
        clock.Now() + absl::Minutes(1));
  }
  ASSERT_EQ(sent.size(), 30u);
  EXPECT_LE(sent.back() - sent[sent.size() - 2], options.outage_hold_max);
  Script recovered{{Response(200)}, {}, &clock};
  const absl::Time asked = clock.Now();
  ASSERT_TRUE(governor.Run(std::ref(recovered), asked + absl::Minutes(1)).ok());
  EXPECT_LE(recovered.sent_at[0] - asked, options.outage_hold_max);
}

// A 503 with Retry-After is Microsoft asking us to slow down: throttling, RESOURCE_EXHAUSTED.
TEST(ThrottleTest, FiveOhThreeWithRetryAfterIsThrottling) {
  FakeClock clock;
  ThrottleOptions options;
  options.max_attempts = 2;
  ThrottleGovernor governor(UpstreamApi::kGraph, options, &clock);
  Script script{{Response(503, "3"), Response(503, "4")}, {}, &clock};
  absl::StatusOr<HttpResponse> result = governor.Run(std::ref(script), clock.Now() + absl::Hours(1));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryDelayOf(result.status()), absl::Seconds(4));
  EXPECT_FALSE(governor.InOutage());
}

// A `$batch` sub-response 503 without Retry-After is an outage's short hold, not a throttle.
TEST(ThrottleTest, SubResponseFiveOhThreeWithoutRetryAfterIsAnOutage) {
  FakeClock clock;
  ThrottleGovernor governor(UpstreamApi::kGraph, ThrottleOptions{}, &clock);
  governor.NoteThrottled(Response(503));
  EXPECT_TRUE(governor.InOutage());
  EXPECT_EQ(governor.Snapshot().throttled_response_count, 0);
  Script script{{Response(200)}, {}, &clock};
  const absl::Time asked = clock.Now();
  ASSERT_TRUE(governor.Run(std::ref(script), asked + absl::Minutes(1)).ok());
  EXPECT_LE(script.sent_at[0] - asked, ThrottleOptions{}.outage_hold_max);
  EXPECT_FALSE(governor.InOutage());
}

}  // namespace
}  // namespace crosstenant::tenant_connector
