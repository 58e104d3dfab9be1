#include "services/common/executor.h"

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "services/common/errors.h"

namespace crosstenant {
namespace {

using ::testing::HasSubstr;

// Polls `done` every 5 ms until it holds or `within` has passed; the test then asserts what it expects.
void Await(const std::function<bool()>& done, absl::Duration within = absl::Seconds(5)) {
  for (const absl::Time give_up = absl::Now() + within; !done() && absl::Now() < give_up;) {
    absl::SleepFor(absl::Milliseconds(5));
  }
}

TEST(ExecutorTest, OneKindHoldsAtMostItsLimitAndOtherKindsStillRun) {
  Executor executor(4);
  EXPECT_EQ(executor.kind_limit(), 3);
  auto release = std::make_shared<absl::Notification>();
  // Releases the blocked tasks before the executor joins them, also when an assertion returns early.
  struct Guard {
    std::shared_ptr<absl::Notification> release;
    ~Guard() {
      if (!release->HasBeenNotified()) release->Notify();
    }
  } guard{release};
  std::atomic<int> started{0};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(executor
                    .TryRun("CreateConnection",
                            [release, &started] {
                              ++started;
                              release->WaitForNotification();
                            })
                    .ok());
  }
  Await([&] { return started.load() >= 3; });
  ASSERT_EQ(started.load(), 3);  // all three run at once, each holding a thread
  absl::Status refused = executor.TryRun("CreateConnection", [] {});
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("CreateConnection: 3 calls of this kind are already in progress"));
  EXPECT_EQ(RetryDelayOf(refused), absl::Seconds(1));
  EXPECT_EQ(ErrorInfoReasonOf(refused), kReasonServerBusy) << "a caller may send it again as it was";
  EXPECT_EQ(ErrorInfoMetadataOf(refused, "kind"), "CreateConnection");

  absl::Notification other;
  ASSERT_TRUE(executor.TryRun("CheckConnection", [&other] { other.Notify(); }).ok());
  EXPECT_TRUE(other.WaitForNotificationWithTimeout(absl::Seconds(5)));

  release->Notify();
  // The places free up as the tasks end.
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  absl::Status again = absl::UnknownError("not tried");
  absl::Notification ran;
  while (absl::Now() < give_up) {
    again = executor.TryRun("CreateConnection", [&ran] { ran.Notify(); });
    if (again.ok()) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(again.ok()) << again;
  EXPECT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST(ExecutorTest, RunAtRunsTimedTasksInTheirTimeOrderAfterTasksDueNow) {
  Executor executor(1);
  absl::Mutex mu;
  std::vector<int> order;
  auto record = [&mu, &order](int n) {
    absl::MutexLock lock(&mu);
    order.push_back(n);
  };
  const absl::Time now = absl::Now();
  executor.RunAt(now + absl::Milliseconds(60), [&] { record(2); });
  executor.RunAt(now + absl::Milliseconds(30), [&] { record(1); });
  executor.Run([&] { record(0); });
  absl::MutexLock lock(&mu);
  auto all_ran = [&order] { return order.size() == 3; };
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all_ran), absl::Seconds(5)));
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2));
}

// One idle thread waits for the earliest timed task; a task timed earlier than the one it waits for
// wakes it, so it is not late.
TEST(ExecutorTest, AnEarlierTimedTaskIsNotLateBehindALaterOne) {
  Executor executor(8);
  absl::Notification early_ran;
  const absl::Time start = absl::Now();
  executor.RunAt(start + absl::Seconds(30), [] {});
  absl::SleepFor(absl::Milliseconds(20));  // the timer thread is waiting for the 30 s task by now
  absl::Time ran_at;
  executor.RunAt(start + absl::Milliseconds(50), [&] {
    ran_at = absl::Now();
    early_ran.Notify();
  });
  ASSERT_TRUE(early_ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_LT(ran_at - start, absl::Seconds(5));
  EXPECT_GE(ran_at - start, absl::Milliseconds(50));
}

// With every other thread busy, the one waiting for a timed task runs a task due now.
TEST(ExecutorTest, ATaskDueNowRunsWhileTheOnlyIdleThreadWaitsForATimedOne) {
  Executor executor(2);
  absl::Notification busy_started, release, due_ran;
  executor.Run([&] {
    busy_started.Notify();
    release.WaitForNotification();
  });
  ASSERT_TRUE(busy_started.WaitForNotificationWithTimeout(absl::Seconds(5)));
  executor.RunAt(absl::Now() + absl::Seconds(30), [] {});
  absl::SleepFor(absl::Milliseconds(20));
  executor.Run([&] { due_ran.Notify(); });
  EXPECT_TRUE(due_ran.WaitForNotificationWithTimeout(absl::Seconds(5)));
  release.Notify();
}

// Many producers, many tasks, some timed: every one runs, once.
TEST(ExecutorTest, EveryTaskFromManyProducersRunsOnce) {
  Executor executor(8);
  constexpr int kProducers = 4, kTasks = 2000;
  std::atomic<int> ran{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&executor, &ran, p] {
      for (int i = 0; i < kTasks; ++i) {
        if (i % 10 == p) {
          executor.RunAt(absl::Now() + absl::Milliseconds(i % 7), [&ran] { ++ran; });
        } else {
          executor.Run([&ran] { ++ran; });
        }
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  Await([&] { return ran.load() >= kProducers * kTasks; }, absl::Seconds(10));
  EXPECT_EQ(ran.load(), kProducers * kTasks);
}

TEST(ExecutorTest, ThreadsGrowWithTheWorkAndThoseIdleForTheKeepAliveEnd) {
  Executor executor(8, 0, absl::Milliseconds(50));
  EXPECT_EQ(executor.threads(), 1) << "an idle executor holds one thread";
  for (int round = 0; round < 2; ++round) {
    absl::Notification release;
    std::atomic<int> started{0};
    for (int i = 0; i < 6; ++i) {
      executor.Run([&] {
        ++started;
        release.WaitForNotification();
      });
    }
    Await([&] { return started.load() >= 6; });
    EXPECT_EQ(started.load(), 6) << "round " << round << ": every task runs at once, a thread each";
    EXPECT_GE(executor.threads(), 6);
    release.Notify();
    Await([&] { return executor.threads() == 1; });
    EXPECT_EQ(executor.threads(), 1) << "round " << round << ": back to one once idle";
  }
}

TEST(ExecutorTest, ATimedTaskIsOnTimeWhileEveryLiveThreadIsBusy) {
  Executor executor(4, 0, absl::Milliseconds(50));
  Await([&] { return executor.threads() == 1; });
  ASSERT_EQ(executor.threads(), 1);
  absl::Notification busy_started, release, timed_ran;
  executor.Run([&] {
    busy_started.Notify();
    release.WaitForNotification();
  });
  ASSERT_TRUE(busy_started.WaitForNotificationWithTimeout(absl::Seconds(5)));
  executor.RunAt(absl::Now() + absl::Milliseconds(20), [&] { timed_ran.Notify(); });
  EXPECT_TRUE(timed_ran.WaitForNotificationWithTimeout(absl::Seconds(5))) << "a thread is started to wait for it";
  release.Notify();
}

TEST(ExecutorTest, ShutdownAbandonsATaskBlockedPastTheGrace) {
  auto executor = std::make_unique<Executor>(2);
  auto release = std::make_shared<absl::Notification>();
  absl::Notification started;
  executor->Run([release, &started] {
    started.Notify();
    release->WaitForNotification();
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(5)));
  const absl::Time start = absl::Now();
  EXPECT_EQ(executor->Shutdown(absl::Milliseconds(300)), 1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  executor.reset();   // the abandoned thread no longer needs the Executor
  release->Notify();  // and ends on its own
  absl::SleepFor(absl::Milliseconds(50));
}

TEST(ExecutorTest, ShutdownWaitsForTasksThatFinishInTime) {
  Executor executor(2);
  std::atomic<bool> done{false};
  absl::Notification started;
  executor.Run([&] {
    started.Notify();
    absl::SleepFor(absl::Milliseconds(100));
    done = true;
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(executor.Shutdown(absl::Seconds(5)), 0);
  EXPECT_TRUE(done.load());
  EXPECT_EQ(executor.TryRun("x", [] {}).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace crosstenant
