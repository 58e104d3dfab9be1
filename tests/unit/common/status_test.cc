// errors.h, error_detail.h, grpc_status.h and status_macros.h together: how a business error reaches
// the wire.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "services/common/error_detail.h"
#include "services/common/errors.h"
#include "services/common/grpc_status.h"
#include "services/common/status_macros.h"

namespace crosstenant {
namespace {

using ::testing::HasSubstr;

TEST(ErrorDetailTest, AStatusInsideAResponseReadsBackWithItsCodeMessageAndDelay) {
  const absl::Status full = ResourceExhaustedWithRetry("the state database is full", absl::Milliseconds(1500));
  const crosstenant::v1::ErrorDetail detail = ErrorDetailOf(full);
  EXPECT_EQ(detail.code(), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(detail.retry_delay().seconds(), 1);
  EXPECT_EQ(detail.retry_delay().nanos(), 500000000);
  const absl::Status again = StatusOfErrorDetail(detail);
  EXPECT_EQ(again.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(again.message(), full.message());
  EXPECT_EQ(RetryDelayOf(again), absl::Milliseconds(1500));

  const absl::Status lost = StatusOfErrorDetail(ErrorDetailOf(absl::AbortedError("the lease is lost")));
  EXPECT_EQ(lost.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(RetryDelayOf(lost), absl::ZeroDuration());
  crosstenant::v1::ErrorDetail odd;
  odd.set_code("NOT_A_CODE");
  EXPECT_EQ(StatusOfErrorDetail(odd).code(), absl::StatusCode::kUnknown);
}

TEST(ErrorsTest, InvalidArgumentCarriesEveryViolationInMessageAndDetails) {
  absl::Status status = InvalidArgumentWithViolations(
      "invalid plan", {{"window.begin", "must be before window.end"}, {"users.csv:3:2", "not a UPN"}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("window.begin: must be before window.end"));
  EXPECT_THAT(status.message(), HasSubstr("users.csv:3:2: not a UPN"));
  auto violations = FieldViolationsOf(status);
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[1].field, "users.csv:3:2");
}

TEST(GrpcStatusTest, BadRequestTravelsInTheStatusDetails) {
  grpc::Status wire = ToGrpcStatus(InvalidArgumentWithViolations("bad", {{"admin_url", "use the -admin host"}}));
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(wire.error_details()));
  EXPECT_EQ(details.code(), 3);
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_EQ(details.details(0).type_url(), "type.googleapis.com/google.rpc.BadRequest");
  google::rpc::BadRequest bad_request;
  ASSERT_TRUE(details.details(0).UnpackTo(&bad_request));
  EXPECT_EQ(bad_request.field_violations(0).field(), "admin_url");

  absl::Status back = FromGrpcStatus(wire);
  EXPECT_EQ(back.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldViolationsOf(back).at(0).description, "use the -admin host");
}

TEST(GrpcStatusTest, RetryInfoRoundTrips) {
  grpc::Status wire = ToGrpcStatus(ResourceExhaustedWithRetry("tenant throttled", absl::Milliseconds(2500)));
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(wire.error_message(), HasSubstr("retry after 2.5s"));
  EXPECT_EQ(RetryDelayOf(FromGrpcStatus(wire)), absl::Milliseconds(2500));
}

TEST(GrpcStatusTest, RetryDelayIsNamedOnceInTheMessage) {
  const absl::Status status = ResourceExhaustedWithRetry("Microsoft graph is throttling this tenant", absl::Seconds(3));
  EXPECT_EQ(status.message(), "Microsoft graph is throttling this tenant (retry after 3s)");
}

TEST(GrpcStatusTest, ErrorInfoTravelsAndAServersUnavailableAlwaysCarriesOne) {
  const absl::Status upstream = WithErrorInfo(absl::UnavailableError("Microsoft graph answered HTTP 502"), "HTTP_502",
                                              "graph.microsoft.com", {{"http_status", "502"}, {"a", "1"}});
  const absl::Status back = FromGrpcStatus(ToGrpcStatus(upstream));
  EXPECT_EQ(ErrorInfoReasonOf(back), "HTTP_502");  // a reason of its own is kept
  EXPECT_EQ(ErrorInfoMetadataOf(back, "http_status"), "502");
  EXPECT_EQ(ErrorInfoMetadataListOf(back),
            (std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"http_status", "502"}}));

  const absl::Status unavailable = FromGrpcStatus(ToGrpcStatus(absl::UnavailableError("store down")));
  EXPECT_EQ(ErrorInfoReasonOf(unavailable), kReasonUnavailable);
  EXPECT_TRUE(HasErrorDetails(unavailable));
  EXPECT_EQ(ErrorInfoReasonOf(FromGrpcStatus(ToGrpcStatus(absl::DeadlineExceededError("x")))), kReasonDeadlineExceeded);
  // Other codes get no reason they did not have; a channel's own failure has no detail at all.
  EXPECT_TRUE(ToGrpcStatus(absl::FailedPreconditionError("x")).error_details().empty());
  EXPECT_FALSE(HasErrorDetails(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect"))));
}

TEST(GrpcStatusTest, CodesMapOneToOneExceptUnknown) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_EQ(ToGrpcStatus(absl::FailedPreconditionError("x")).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ToGrpcStatus(absl::UnknownError("x")).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_TRUE(ToGrpcStatus(absl::NotFoundError("x")).error_details().empty());
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::CANCELLED), "Canceled");
  EXPECT_STREQ(GoCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED), "ResourceExhausted");
}

absl::StatusOr<int> Half(int value) {
  if (value % 2 != 0) return absl::InvalidArgumentError("odd");
  return value / 2;
}

absl::StatusOr<int> Quarter(int value) {
  ASSIGN_OR_RETURN(int half, Half(value));
  ASSIGN_OR_RETURN(half, Half(half));
  return half;
}

absl::Status CheckEven(int value) {
  RETURN_IF_ERROR(Half(value).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, ReturnEarlyOnErrorAndAssignOnSuccess) {
  EXPECT_EQ(Quarter(8).value(), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(3).message(), "odd");
}

}  // namespace
}  // namespace crosstenant
