#include "services/common/settings_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/common/config_reader.h"

namespace crosstenant {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A program with one setting of each kind, as a server declares them.
struct Example {
  std::string config_path;
  std::string address = "127.0.0.1:1";
  int concurrency = 4;
  absl::Duration lease = absl::Seconds(60);
  bool verbose = false;
  std::vector<std::string> rules;
  SettingsTable table{"prog", "does things"};

  Example() {
    table.ConfigFile(&config_path);
    table.Text("grpc_address", &address, "HOST:PORT", "listen address");
    table.Int("worker.concurrency", &concurrency, 1, 256, "tasks at once");
    table.Duration("worker.lease_duration", &lease, absl::Seconds(5), "lease");
    table.Switch("verbose", &verbose, "say more");
    table.TextList("upstream.connect_to", &rules, "RULES", "connect-to rules");
  }
  absl::Status Parse(const std::vector<std::string>& args) { return table.ParseCommandLine(args); }
  std::optional<bool> FlagTakesValue(absl::string_view name) const { return table.FlagTakesValue(name); }
  absl::Status Read(absl::string_view yaml) {
    absl::StatusOr<ConfigReader> reader = ConfigReader::FromString(yaml, "prog.yaml");
    if (!reader.ok()) return reader.status();
    table.ReadConfig(*reader);
    return reader->Finish();
  }
};

TEST(SettingsTableTest, FlagsAreTheKeysDashedAndOverrideTheFileInOrder) {
  Example e;
  ASSERT_TRUE(e.Parse({"--worker-concurrency=8", "--config", "c.yaml", "--worker-concurrency", "9",
                       "--upstream-connect-to=a:1:b:2,c:3:d:4", "--upstream-connect-to", "e:5:f:6"})
                  .ok());
  EXPECT_EQ(e.config_path, "c.yaml") << "--config is applied while parsing";
  EXPECT_EQ(e.concurrency, 4) << "the others wait for the file";
  ASSERT_TRUE(e.Read("worker:\n  concurrency: 3\n  lease_duration: 10s\nupstream:\n  connect_to: [x:1:y:2]\n").ok());
  EXPECT_EQ(e.concurrency, 3);
  EXPECT_THAT(e.rules, ElementsAre("x:1:y:2"));
  ASSERT_TRUE(e.table.ApplyCommandLine().ok());
  EXPECT_EQ(e.concurrency, 9) << "the last flag wins";
  EXPECT_EQ(e.lease, absl::Seconds(10)) << "a key no flag named keeps the file's value";
  EXPECT_THAT(e.rules, ElementsAre("a:1:b:2", "c:3:d:4", "e:5:f:6")) << "flags replace the file's list";
}

TEST(SettingsTableTest, OneRangeForTheFlagAndTheFile) {
  Example flag;
  ASSERT_TRUE(flag.Parse({"--worker-concurrency=300"}).ok());
  EXPECT_THAT(flag.table.ApplyCommandLine().message(),
              HasSubstr("flag --worker-concurrency: expected a whole number from 1 to 256, got '300'"));
  Example file;
  EXPECT_THAT(file.Read("worker:\n  concurrency: 300\n").message(),
              HasSubstr("prog.yaml:2:16: worker.concurrency: expected a whole number from 1 to 256, got '300'"));
  Example duration;
  EXPECT_THAT(duration.Read("worker:\n  lease_duration: 1s\n").message(),
              HasSubstr("worker.lease_duration: must be at least 5s, got '1s'"));
}

TEST(SettingsTableTest, UnknownAndDuplicateKeysAreRefused) {
  Example unknown;
  EXPECT_THAT(unknown.Read("worker:\n  concurency: 3\n").message(), HasSubstr("worker.concurency: unknown key"));
  Example twice;
  EXPECT_THAT(twice.Read("grpc_address: a:1\ngrpc_address: b:2\n").message(), HasSubstr("grpc_address"));
  Example list;
  EXPECT_THAT(list.Read("grpc_address: [a, b]\n").message(), HasSubstr("grpc_address: expected a single value"));
}

TEST(SettingsTableTest, SwitchesStandBareOrTakeTrueOrFalse) {
  Example bare;
  ASSERT_TRUE(bare.Parse({"--verbose"}).ok());
  ASSERT_TRUE(bare.table.ApplyCommandLine().ok());
  EXPECT_TRUE(bare.verbose);
  Example off;
  ASSERT_TRUE(off.Parse({"--verbose=false"}).ok());
  ASSERT_TRUE(off.table.ApplyCommandLine().ok());
  EXPECT_FALSE(off.verbose);
  Example wrong;
  ASSERT_TRUE(wrong.Parse({"--verbose=maybe"}).ok());
  EXPECT_THAT(wrong.table.ApplyCommandLine().message(), HasSubstr("expected true or false, got 'maybe'"));
}

TEST(SettingsTableTest, ErrorsNameTheArgument) {
  Example e;
  EXPECT_THAT(e.Parse({"--grpc-adress=1"}).message(),
              HasSubstr("unknown flag --grpc-adress; did you mean --grpc-address?"));
  EXPECT_THAT(std::string(e.Parse({"--frobnicate"}).message()),
              HasSubstr("unknown flag --frobnicate; the flags of prog are: --config --grpc-address "));
  EXPECT_THAT(std::string(e.Parse({"--grpc-address", "--verbose"}).message()),
              HasSubstr("flag --grpc-address needs a value: --grpc-address=HOST:PORT"))
      << "a bare text flag before another flag is not an empty value";
  EXPECT_THAT(e.Parse({"stray"}).message(), HasSubstr("unexpected argument 'stray'"));
  EXPECT_THAT(e.Parse({"--worker-concurrency"}).message(),
              HasSubstr("flag --worker-concurrency needs a value: --worker-concurrency=N"));
  ASSERT_TRUE(e.Parse({"--grpc-address="}).ok()) << "text may be given empty explicitly";
  ASSERT_TRUE(e.table.ApplyCommandLine().ok());
  EXPECT_EQ(e.address, "");
}

// A command with arguments (migratectl's): the declarations decide what a word after a flag is, so a
// switch never swallows the argument after it and a text flag always takes its value.
TEST(SettingsTableTest, ArgumentsBesideFlagsAreKeptInOrderWhenAsked) {
  Example e;
  std::vector<std::string> positionals;
  const absl::Status parsed = e.table.ParseCommandLine(
      {"first", "--verbose", "second", "--grpc-address", "third", "--", "--fourth"}, &positionals);
  ASSERT_TRUE(parsed.ok()) << parsed;
  EXPECT_THAT(positionals, ElementsAre("first", "second", "--fourth"));
  ASSERT_TRUE(e.table.ApplyCommandLine().ok());
  EXPECT_TRUE(e.verbose);
  EXPECT_EQ(e.address, "third");

  EXPECT_EQ(e.FlagTakesValue("grpc-address"), true);
  EXPECT_EQ(e.FlagTakesValue("verbose"), false);
  EXPECT_EQ(e.FlagTakesValue("grpc-adress"), std::nullopt);

  std::vector<std::string> unused;
  EXPECT_THAT(e.table.ParseCommandLine({"word", "--frobnicate", "x"}, &unused).message(),
              HasSubstr("unknown flag --frobnicate"))
      << "an unknown flag is refused even where arguments are welcome";
  EXPECT_THAT(e.Parse({"--verbose", "--", "stray"}).message(), HasSubstr("unexpected argument 'stray'"))
      << "without room for arguments, one after -- is still refused";
}

TEST(SettingsTableTest, HelpShowsFlagDefaultRangeAndKey) {
  Example e;
  ASSERT_TRUE(e.Parse({"--help"}).ok());
  EXPECT_TRUE(e.table.help_requested());
  const std::string usage = e.table.Usage();
  EXPECT_THAT(usage, HasSubstr("does things"));
  EXPECT_THAT(usage, HasSubstr("--worker-concurrency=N"));
  EXPECT_THAT(usage, HasSubstr("tasks at once (1-256) [default 4; config key worker.concurrency]"));
  EXPECT_THAT(usage, HasSubstr("--worker-lease-duration=DURATION"));
  EXPECT_THAT(usage, HasSubstr("[default 1m; config key worker.lease_duration]"));
  EXPECT_THAT(usage, HasSubstr("--verbose "));
}

}  // namespace
}  // namespace crosstenant
