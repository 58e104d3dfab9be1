// The one translation from a status to migratectl's exit code and error text.

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "clients/migratectl/exit_codes.h"
#include "services/common/errors.h"
#include "services/common/grpc_status.h"

namespace crosstenant::migratectl {
namespace {

TEST(MigratectlExitCodeTest, EachCanonicalCodeHasItsExitCode) {
  struct Case {
    absl::Status status;
    int exit_code;
  };
  const Case cases[] = {
      {absl::OkStatus(), 0},
      {absl::InternalError("x"), 1},
      {absl::UnknownError("x"), 1},
      {UsageError("unknown flag --colour"), 2},
      {absl::InvalidArgumentError("x"), 3},
      {absl::OutOfRangeError("x"), 3},
      {absl::NotFoundError("x"), 4},
      {absl::AlreadyExistsError("x"), 5},
      {absl::FailedPreconditionError("x"), 6},
      {absl::AbortedError("x"), 6},
      {absl::PermissionDeniedError("x"), 7},
      {absl::UnauthenticatedError("x"), 7},
      {absl::UnavailableError("x"), 8},
      {absl::DeadlineExceededError("x"), 8},
      {absl::ResourceExhaustedError("x"), 9},
      {NotReadyError("preflight found 2 error(s)"), 10},
      // A broken audit chain has its own code; any other DATA_LOSS is an internal error.
      {AuditChainBrokenError("tenant-connector audit record 2: changed"), 11},
      {absl::DataLossError("x"), 1},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(static_cast<int>(ExitCodeOf(c.status)), c.exit_code) << c.status;
  }
}

TEST(MigratectlExitCodeTest, FieldViolationsArePrintedOnceAsFieldColonDescription) {
  absl::Status status = InvalidArgumentWithViolations(
      "the identity map has 2 problems",
      {{"plan.identity_map.csv:3:3", "BAD_UPN SourceUserUpn: 'x' is not a user principal name"},
       {"plan.identity_map.csv:7:0", "WRONG_COLUMN_COUNT: 5 columns, Microsoft needs 6"}});
  const std::string text = DescribeError(status);
  EXPECT_EQ(text,
            "INVALID_ARGUMENT: the identity map has 2 problems\n"
            "  plan.identity_map.csv:3:3: BAD_UPN SourceUserUpn: 'x' is not a user principal name\n"
            "  plan.identity_map.csv:7:0: WRONG_COLUMN_COUNT: 5 columns, Microsoft needs 6\n");
}

TEST(MigratectlExitCodeTest, RetryDelayIsNamedOnceByTheMessage) {
  absl::Status status = ResourceExhaustedWithRetry("Graph throttled contoso", absl::Seconds(12));
  EXPECT_EQ(DescribeError(status), "RESOURCE_EXHAUSTED: Graph throttled contoso (retry after 12s)\n");
  // The RetryInfo's presence, not the message's words, decides: nothing is added to a message that
  // came with one, whatever it says.
  absl::Status reworded = absl::ResourceExhaustedError("zu viele Anfragen");
  reworded.SetPayload(kRetryInfoTypeUrl, *status.GetPayload(kRetryInfoTypeUrl));
  EXPECT_EQ(DescribeError(reworded), "RESOURCE_EXHAUSTED: zu viele Anfragen\n");
  EXPECT_EQ(static_cast<int>(ExitCodeOf(reworded)), 9);
}

TEST(MigratectlExitCodeTest, RetryDelayIsPrintedOnceAndRounded) {
  absl::Status unnamed = ResourceExhaustedWithRetry("Graph throttled contoso", absl::Nanoseconds(2123456789));
  EXPECT_EQ(DescribeError(unnamed), "RESOURCE_EXHAUSTED: Graph throttled contoso (retry after 2.2s)\n");
  EXPECT_EQ(RetryDelayOf(unnamed), absl::Nanoseconds(2123456789));  // the detail keeps the exact delay
  EXPECT_EQ(FormatRetryDelay(absl::Nanoseconds(250000001)), "251ms");
  EXPECT_EQ(FormatRetryDelay(absl::Seconds(62.5)), "1m3s");
}

// A status as migratectl receives it from a mesh server (through the one translation each way).
absl::Status FromServer(const absl::Status& status) { return FromGrpcStatus(ToGrpcStatus(status)); }

TEST(MigratectlExitCodeTest, NoServerGetsAHintAboutAddresses) {
  // gRPC's own failures, whatever their words: UNAVAILABLE or DEADLINE_EXCEEDED without a detail.
  for (const absl::Status& channel :
       {FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect to all addresses")),
        FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "words a new gRPC release may use")),
        FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"))}) {
    EXPECT_TRUE(IsChannelFailure(channel)) << channel;
    const std::string text = DescribeError(channel);
    EXPECT_TRUE(absl::StrContains(text, "--connector/--orchestrator")) << text;
    EXPECT_EQ(static_cast<int>(ExitCodeOf(channel)), 8);
  }
  // A server that answered UNAVAILABLE about Microsoft gets no such hint, even in gRPC's words.
  for (const absl::Status& answer : {FromServer(absl::UnavailableError("Graph answered 503")),
                                     FromServer(absl::UnavailableError("failed to connect to all addresses")),
                                     FromServer(absl::DeadlineExceededError("Deadline Exceeded"))}) {
    EXPECT_FALSE(IsChannelFailure(answer)) << answer;
    EXPECT_FALSE(absl::StrContains(DescribeError(answer), "--connector")) << answer;
    EXPECT_EQ(static_cast<int>(ExitCodeOf(answer)), 8);
  }
  // Nor does migratectl's own --timeout.
  const absl::Status timeout = TimeoutError("migrations/merger is still RUNNING after 10m (--timeout)");
  EXPECT_FALSE(IsChannelFailure(timeout));
  EXPECT_EQ(DescribeError(timeout), "DEADLINE_EXCEEDED: migrations/merger is still RUNNING after 10m (--timeout)\n");
  EXPECT_EQ(static_cast<int>(ExitCodeOf(timeout)), 8);
}

TEST(MigratectlExitCodeTest, OwnOutcomesPrintTheirMessageOnly) {
  EXPECT_EQ(DescribeError(NotReadyError("1 of 4 sides say GoodToProceed")), "1 of 4 sides say GoodToProceed\n");
  EXPECT_EQ(DescribeError(UsageError("missing NAME")), "missing NAME\n");
}

TEST(MigratectlExitCodeTest, HelpListsEveryCode) {
  const std::string help = ExitCodeHelp();
  for (const char* code :
       {"  0 ", "  2 ", "  3 ", "  4 ", "  5 ", "  6 ", "  7 ", "  8 ", "  9 ", "  10 ", "  11 ", "  130 "}) {
    EXPECT_TRUE(absl::StrContains(help, code)) << code;
  }
}

}  // namespace
}  // namespace crosstenant::migratectl
