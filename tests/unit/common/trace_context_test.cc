#include "services/common/trace_context.h"

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "services/common/executor.h"
#include "services/common/logging.h"

namespace crosstenant {
namespace {

constexpr char kExample[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

bool IsLowerHexOfLength(const std::string& text, size_t length) {
  return text.size() == length && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(TraceContextTest, ParsesTheSpecificationsExampleAndFormatsItBack) {
  std::optional<TraceContext> parsed = ParseTraceparent(kExample);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(parsed->span_id, "00f067aa0ba902b7");
  EXPECT_EQ(parsed->flags, 0x01);
  EXPECT_EQ(FormatTraceparent(*parsed), kExample);
  std::optional<TraceContext> unsampled = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_EQ(unsampled->flags, 0x00);
  EXPECT_EQ(FormatTraceparent(*unsampled), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
}

TEST(TraceContextTest, RefusesMalformedValues) {
  const char* const kMalformed[] = {
      "",
      "00",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",         // flags too short
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",         // trace id too short
      "00-4bf92f3577b34da6a3ce929d0e0e47361-00f067aa0ba902b7-01",       // trace id too long
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // upper case
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",        // upper case span
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",        // not hex
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // all-zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // all-zero parent id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // version ff
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // version not hex
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // wrong separator
      "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",        // wrong separator
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",        // flags not hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // version 00 has 4 fields
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",       // trailing space
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       // leading space
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",       // later version, no '-'
  };
  for (const char* value : kMalformed) EXPECT_FALSE(ParseTraceparent(value).has_value()) << "'" << value << "'";
}

TEST(TraceContextTest, ReadsALaterVersionByItsFirstFourFields) {
  std::optional<TraceContext> parsed =
      ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(FormatTraceparent(*parsed), kExample);  // sent on as version 00
}

TEST(TraceContextTest, NewTracesAndSpansAreValidAndDistinct) {
  const TraceContext a = NewTrace();
  const TraceContext b = NewTrace();
  EXPECT_TRUE(IsLowerHexOfLength(a.trace_id, 32));
  EXPECT_TRUE(IsLowerHexOfLength(a.span_id, 16));
  EXPECT_NE(a.trace_id, b.trace_id);
  ASSERT_TRUE(ParseTraceparent(FormatTraceparent(a)).has_value());
  const TraceContext child = ChildSpan(a);
  EXPECT_EQ(child.trace_id, a.trace_id);
  EXPECT_NE(child.span_id, a.span_id);
  EXPECT_EQ(child.flags, a.flags);
}

TEST(TraceContextTest, ContinuesAKeptTraceIdWithANewSpan) {
  std::optional<TraceContext> continued = ContinueTrace("4bf92f3577b34da6a3ce929d0e0e4736");
  ASSERT_TRUE(continued.has_value());
  EXPECT_EQ(continued->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_TRUE(IsLowerHexOfLength(continued->span_id, 16));
  for (const char* bad : {"", "4bf92f3577b34da6a3ce929d0e0e473", "4BF92F3577B34DA6A3CE929D0E0E4736",
                          "00000000000000000000000000000000", "4bf92f3577b34da6a3ce929d0e0e4736 "}) {
    EXPECT_FALSE(ContinueTrace(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(TraceContextTest, AServerContinuesAValidTraceAndStartsOneForABadHeader) {
  const TraceContext continued = TraceFromHeaderOrNew(kExample);
  EXPECT_EQ(continued.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(continued.span_id, "00f067aa0ba902b7");
  for (const char* bad : {"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}) {
    const TraceContext fresh = TraceFromHeaderOrNew(bad);
    EXPECT_TRUE(IsLowerHexOfLength(fresh.trace_id, 32)) << bad;
    EXPECT_NE(fresh.trace_id, "00000000000000000000000000000000");
    EXPECT_TRUE(ParseTraceparent(FormatTraceparent(fresh)).has_value());
  }
}

TEST(TraceContextTest, ScopesNestAndRestore) {
  EXPECT_EQ(CurrentTrace(), nullptr);
  EXPECT_EQ(OutgoingTraceparent(), "");
  {
    ScopedTrace outer(ParseTraceparent(kExample));
    EXPECT_EQ(CurrentTraceId(), "4bf92f3577b34da6a3ce929d0e0e4736");
    std::optional<TraceContext> sent = ParseTraceparent(OutgoingTraceparent());
    ASSERT_TRUE(sent.has_value());
    EXPECT_EQ(sent->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_NE(sent->span_id, "00f067aa0ba902b7");
    {
      ScopedTrace none(std::nullopt);
      EXPECT_EQ(CurrentTrace(), nullptr);
    }
    EXPECT_EQ(CurrentTraceId(), "4bf92f3577b34da6a3ce929d0e0e4736");
  }
  EXPECT_EQ(CurrentTrace(), nullptr);
}

TEST(TraceContextTest, AnExecutorTaskRunsUnderTheTraceThatScheduledIt) {
  Executor executor(2);
  std::string seen_with = "unset";
  std::string seen_without = "unset";
  absl::Notification with_done;
  absl::Notification without_done;
  {
    ScopedTrace scope(ParseTraceparent(kExample));
    executor.Run([&] {
      seen_with = CurrentTraceId();
      with_done.Notify();
    });
    ASSERT_TRUE(executor
                    .TryRun("kind",
                            [&] {
                              seen_without = CurrentTraceId();
                              without_done.Notify();
                            })
                    .ok());
  }
  with_done.WaitForNotification();
  without_done.WaitForNotification();
  EXPECT_EQ(seen_with, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(seen_without, "4bf92f3577b34da6a3ce929d0e0e4736");
  std::string later = "unset";
  absl::Notification later_done;
  executor.Run([&] {
    later = CurrentTraceId();
    later_done.Notify();
  });
  later_done.WaitForNotification();
  EXPECT_EQ(later, "");  // the threads keep no trace between tasks
  // Timed work outlives the call that scheduled it (probes reschedule themselves): it runs under none.
  std::string timed = "unset";
  absl::Notification timed_done;
  {
    ScopedTrace scope(ParseTraceparent(kExample));
    executor.RunAt(absl::Now(), [&] {
      timed = CurrentTraceId();
      timed_done.Notify();
    });
  }
  timed_done.WaitForNotification();
  EXPECT_EQ(timed, "");
}

TEST(TraceContextTest, LogLinesWrittenUnderATraceCarryItsId) {
  log::Configure(log::Format::kJson, "test");
  ::testing::internal::CaptureStderr();
  log::Info("outside");
  {
    ScopedTrace scope(ParseTraceparent(kExample));
    log::Info("inside", {{"k", "v"}});
  }
  const std::string lines = ::testing::internal::GetCapturedStderr();
  log::Configure(log::Format::kText, "crosstenant");
  const size_t inside = lines.find("\"message\":\"inside\"");
  ASSERT_NE(inside, std::string::npos) << lines;
  EXPECT_NE(lines.find("\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"", inside), std::string::npos) << lines;
  EXPECT_EQ(lines.substr(0, inside).find("trace_id"), std::string::npos) << lines;
}

TEST(LoggingTest, ParsesSeverities) {
  log::Severity severity = log::Severity::kError;
  EXPECT_TRUE(log::ParseSeverity("debug", &severity));
  EXPECT_EQ(severity, log::Severity::kDebug);
  EXPECT_TRUE(log::ParseSeverity("warning", &severity));
  EXPECT_EQ(severity, log::Severity::kWarning);
  EXPECT_FALSE(log::ParseSeverity("verbose", &severity));
  EXPECT_FALSE(log::ParseSeverity("", &severity));
}

}  // namespace
}  // namespace crosstenant
