#include "services/common/reflection_v1.h"

#include <google/protobuf/descriptor.pb.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crosstenant/v1/diagnostics.pb.h"

namespace crosstenant {
namespace {

namespace reflection = ::grpc::reflection::v1;
using ::testing::Contains;
using ::testing::ElementsAre;

std::vector<std::string> FileNames(const reflection::ServerReflectionResponse& response) {
  std::vector<std::string> names;
  for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    EXPECT_TRUE(file.ParseFromString(bytes));
    names.push_back(file.name());
  }
  return names;
}

TEST(ReflectionV1Test, ListsTheServicesItWasGiven) {
  ReflectionV1Service service({"crosstenant.v1.Diagnostics", "grpc.health.v1.Health"});
  reflection::ServerReflectionRequest request;
  request.set_host("localhost");
  request.set_list_services("*");
  std::vector<std::string> sent;
  reflection::ServerReflectionResponse response = service.Answer(request, sent);
  ASSERT_TRUE(response.has_list_services_response());
  std::vector<std::string> names;
  for (const auto& listed : response.list_services_response().service()) names.push_back(listed.name());
  EXPECT_THAT(names, ElementsAre("crosstenant.v1.Diagnostics", "grpc.health.v1.Health"));
  EXPECT_EQ(response.valid_host(), "localhost");
  EXPECT_EQ(response.original_request().list_services(), "*");
}

TEST(ReflectionV1Test, SendsAFileWithItsImportsOncePerStream) {
  (void)v1::EchoRequest::descriptor();  // linked in, as in a server
  ReflectionV1Service service({});
  reflection::ServerReflectionRequest request;
  request.set_file_containing_symbol("crosstenant.v1.Diagnostics");
  std::vector<std::string> sent;
  std::vector<std::string> first = FileNames(service.Answer(request, sent));
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first.front(), "crosstenant/v1/diagnostics.proto");
  EXPECT_THAT(first, Contains("google/protobuf/duration.proto"));
  EXPECT_THAT(first, Contains("google/protobuf/timestamp.proto"));

  // The same stream asking again gets nothing it already has.
  request.set_file_by_filename("google/protobuf/duration.proto");
  reflection::ServerReflectionResponse again = service.Answer(request, sent);
  EXPECT_TRUE(again.has_file_descriptor_response());
  EXPECT_TRUE(FileNames(again).empty());
}

TEST(ReflectionV1Test, UnknownNamesAreNotFoundAndEmptyRequestsInvalid) {
  ReflectionV1Service service({});
  std::vector<std::string> sent;
  reflection::ServerReflectionRequest request;
  request.set_file_containing_symbol("no.such.Service");
  reflection::ServerReflectionResponse response = service.Answer(request, sent);
  ASSERT_TRUE(response.has_error_response());
  EXPECT_EQ(response.error_response().error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_THAT(response.error_response().error_message(), ::testing::HasSubstr("no.such.Service"));

  request.set_file_by_filename("no/such.proto");
  EXPECT_EQ(service.Answer(request, sent).error_response().error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  request.set_all_extension_numbers_of_type("no.such.Type");
  EXPECT_EQ(service.Answer(request, sent).error_response().error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));

  EXPECT_EQ(service.Answer(reflection::ServerReflectionRequest(), sent).error_response().error_code(),
            static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
}

TEST(ReflectionV1Test, ListsTheExtensionNumbersOfAType) {
  ReflectionV1Service service({});
  std::vector<std::string> sent;
  reflection::ServerReflectionRequest request;
  request.set_all_extension_numbers_of_type("crosstenant.v1.EchoRequest");
  reflection::ServerReflectionResponse response = service.Answer(request, sent);
  ASSERT_TRUE(response.has_all_extension_numbers_response());
  EXPECT_EQ(response.all_extension_numbers_response().base_type_name(), "crosstenant.v1.EchoRequest");
  EXPECT_EQ(response.all_extension_numbers_response().extension_number_size(), 0);
}

}  // namespace
}  // namespace crosstenant
