#include "services/common/flag_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace crosstenant {
namespace {

using ::testing::HasSubstr;

absl::Status ParseArgs(FlagSet& flags, std::vector<std::string> args) {
  std::vector<char*> argv;
  static std::string program = "prog";
  argv.push_back(program.data());
  for (std::string& arg : args) argv.push_back(arg.data());
  return flags.Parse(static_cast<int>(argv.size()), argv.data());
}

TEST(FlagSetTest, EarlyFlagsApplyAtParseOthersOnApplyInOrder) {
  std::string config, address;
  FlagSet flags("prog", "does things");
  flags.AddEarlyString("config", "FILE", "config file", &config);
  flags.Add("grpc-address", "HOST:PORT", "listen", [&](absl::string_view v) {
    address = std::string(v);
    return absl::OkStatus();
  });
  ASSERT_TRUE(ParseArgs(flags, {"--grpc-address=a:1", "--config", "c.yaml", "--grpc-address", "b:2"}).ok());
  EXPECT_EQ(config, "c.yaml");
  EXPECT_EQ(address, "") << "not applied yet";
  ASSERT_TRUE(flags.Apply().ok());
  EXPECT_EQ(address, "b:2") << "the last one wins";
}

TEST(FlagSetTest, ErrorsNameTheArgument) {
  FlagSet flags("prog", "does things");
  flags.Add("port", "N", "a port", [](absl::string_view) { return absl::InvalidArgumentError("expected a number"); });
  EXPECT_THAT(ParseArgs(flags, {"--prot=1"}).message(), HasSubstr("unknown flag --prot"));
  EXPECT_THAT(ParseArgs(flags, {"stray"}).message(), HasSubstr("unexpected argument 'stray'"));
  EXPECT_THAT(ParseArgs(flags, {"--port"}).message(), HasSubstr("flag --port needs a value"));
  ASSERT_TRUE(ParseArgs(flags, {"--port=x"}).ok());
  EXPECT_THAT(flags.Apply().message(), HasSubstr("flag --port: expected a number"));
}

TEST(FlagSetTest, HelpListsEveryFlag) {
  FlagSet flags("prog", "does things");
  flags.Add("grpc-address", "HOST:PORT", "gRPC listen address", [](absl::string_view) { return absl::OkStatus(); });
  ASSERT_TRUE(ParseArgs(flags, {"--help"}).ok());
  EXPECT_TRUE(flags.help_requested());
  EXPECT_THAT(flags.Usage(), HasSubstr("--grpc-address=HOST:PORT"));
  EXPECT_THAT(flags.Usage(), HasSubstr("gRPC listen address"));
  EXPECT_THAT(flags.Usage(), HasSubstr("does things"));
}

}  // namespace
}  // namespace crosstenant
