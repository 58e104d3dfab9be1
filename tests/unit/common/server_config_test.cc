#include "services/common/server_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/common/errors.h"

namespace crosstenant {
namespace {

using ::testing::HasSubstr;

TEST(SplitHostPortTest, AcceptsHostPortForms) {
  std::string host;
  int port = -1;
  EXPECT_TRUE(SplitHostPort("127.0.0.1:0", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 0);
  EXPECT_TRUE(SplitHostPort("[::]:50051", &host, &port));
  EXPECT_EQ(host, "[::]");
  EXPECT_TRUE(SplitHostPort("orchestrator:50052", &host, &port));
  EXPECT_FALSE(SplitHostPort("localhost", &host, &port));
  EXPECT_FALSE(SplitHostPort(":50051", &host, &port));
  EXPECT_FALSE(SplitHostPort("::1:50051", &host, &port));
  EXPECT_FALSE(SplitHostPort("host:70000", &host, &port));
  EXPECT_FALSE(SplitHostPort("host:http", &host, &port));
}

TEST(ValidateServerConfigTest, NamesEveryBadField) {
  ServerConfig config;
  config.grpc_address = "";
  config.metrics_address = "nope";
  config.tls.cert_file = "/nonexistent/cert.pem";
  absl::Status status = ValidateServerConfig(config);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields;
  for (const auto& violation : FieldViolationsOf(status)) fields.push_back(violation.field);
  EXPECT_THAT(fields,
              ::testing::UnorderedElementsAre("grpc_address", "metrics_address", "tls.cert", "tls.key", "tls.ca"));
  EXPECT_THAT(status.message(), HasSubstr("cannot read /nonexistent/cert.pem"));
}

TEST(ValidateServerConfigTest, DefaultsWithAnAddressAreValid) {
  ServerConfig config;
  config.grpc_address = "127.0.0.1:0";
  EXPECT_TRUE(ValidateServerConfig(config).ok());
}

TEST(DeclareServerSettingsTest, ReadsTheCommonKeys) {
  auto reader = ConfigReader::FromString(
      "grpc_address: 0.0.0.0:50051\nlog_format: json\nshutdown_grace: 3s\n"
      "tls: {cert: c, key: k, ca: a, reload_interval: 5s, allowed_peers: [orchestrator]}\n",
      "c.yaml");
  ASSERT_TRUE(reader.ok());
  ServerConfig config;
  SettingsTable table("server", "");
  DeclareServerSettings(table, &config);
  table.ReadConfig(*reader);
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(config.grpc_address, "0.0.0.0:50051");
  EXPECT_EQ(config.log_format, log::Format::kJson);
  EXPECT_EQ(config.shutdown_grace, absl::Seconds(3));
  EXPECT_EQ(config.tls.reload_interval, absl::Seconds(5));
  EXPECT_EQ(config.tls.allowed_peers, std::vector<std::string>{"orchestrator"});
  EXPECT_TRUE(config.tls.enabled());
}

}  // namespace
}  // namespace crosstenant
