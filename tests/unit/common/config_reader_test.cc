#include "services/common/config_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace crosstenant {
namespace {

using ::testing::HasSubstr;

TEST(ConfigReaderTest, ReadsTypedValuesAndLeavesAbsentKeysAlone) {
  auto reader = ConfigReader::FromString(
      "name: connector\nenabled: true\ncount: 7\nwait: 1m30s\npeers: [a, b]\nnested:\n  inner: x\n", "test.yaml");
  ASSERT_TRUE(reader.ok());
  std::string name, inner, absent = "default";
  bool enabled = false;
  int count = 0;
  absl::Duration wait;
  std::vector<std::string> peers;
  reader->Read("name", &name);
  reader->Read("enabled", &enabled);
  reader->Read("count", &count, 1, 10);
  reader->Read("wait", &wait);
  reader->Read("peers", &peers);
  reader->Read("absent", &absent);
  ConfigReader nested = reader->Section("nested");
  nested.Read("inner", &inner);
  ASSERT_TRUE(reader->Finish().ok()) << reader->Finish();
  EXPECT_EQ(name, "connector");
  EXPECT_TRUE(enabled);
  EXPECT_EQ(count, 7);
  EXPECT_EQ(wait, absl::Seconds(90));
  EXPECT_EQ(peers, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(inner, "x");
  EXPECT_EQ(absent, "default");
}

TEST(ConfigReaderTest, ReportsEveryProblemWithFileLineColumnAndKeyPath) {
  auto reader =
      ConfigReader::FromString("count: 70\nwait: later\nnested:\n  inner: [1]\n  typo: 1\nextra: 2\n", "svc.yaml");
  ASSERT_TRUE(reader.ok());
  int count = 0;
  absl::Duration wait;
  std::string inner;
  reader->Read("count", &count, 1, 10);
  reader->Read("wait", &wait);
  ConfigReader nested = reader->Section("nested");
  nested.Read("inner", &inner);
  absl::Status status = reader->Finish();
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("svc.yaml:1:8: count: must be between 1 and 10, got 70"));
  EXPECT_THAT(status.message(), HasSubstr("svc.yaml:2:7: wait: expected a duration"));
  EXPECT_THAT(status.message(), HasSubstr("svc.yaml:4:10: nested.inner: expected a string"));
  EXPECT_THAT(status.message(), HasSubstr("svc.yaml:5:3: nested.typo: unknown key (known keys here: inner)"));
  EXPECT_THAT(status.message(), HasSubstr("svc.yaml:6:1: extra: unknown key"));
  EXPECT_EQ(count, 0) << "a bad value leaves the default";
}

TEST(ConfigReaderTest, RejectsSyntaxErrorsAndNonMappings) {
  auto broken = ConfigReader::FromString("a: [1, 2\n", "broken.yaml");
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), HasSubstr("broken.yaml:"));
  EXPECT_THAT(broken.status().message(), HasSubstr("not valid YAML"));
  auto list = ConfigReader::FromString("- a\n- b\n", "list.yaml");
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(list.status().message(), HasSubstr("top level must be a mapping"));
}

TEST(ConfigReaderTest, DuplicateKeysAndUnclosedQuotesAreSyntaxErrors) {
  auto twice = ConfigReader::FromString("grpc_address: a\ntls:\n  cert: x\n  cert: y\ngrpc_address: b\n", "svc.yaml");
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(), HasSubstr("svc.yaml:4:3: key 'cert' is given twice, on lines 3 and 4"));
  EXPECT_THAT(twice.status().message(), HasSubstr("svc.yaml:5:1: key 'grpc_address' is given twice, on lines 1 and 5"));
  auto unclosed = ConfigReader::FromString("a: 1\ntls:\n  cert: 'x.pem\n  key: y\n", "svc.yaml");
  ASSERT_FALSE(unclosed.ok());
  EXPECT_THAT(unclosed.status().message(), HasSubstr("svc.yaml:3:9: not valid YAML: the quoted text that starts here"));
  EXPECT_TRUE(ConfigReader::FromString("k: \"a\\\\\"\nl: 'it''s'\n", "ok.yaml").ok());
}

TEST(ConfigReaderTest, EmptyFileIsValidAndSectionOfScalarIsAnError) {
  auto empty = ConfigReader::FromString("", "empty.yaml");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->Finish().ok());
  auto scalar = ConfigReader::FromString("tls: yes\n", "s.yaml");
  ASSERT_TRUE(scalar.ok());
  scalar->Section("tls");
  EXPECT_THAT(scalar->Finish().message(), HasSubstr("s.yaml:1:6: tls: expected a mapping"));
}

TEST(ConfigReaderTest, MissingFileNamesThePath) {
  auto reader = ConfigReader::FromFile("/nonexistent/crosstenant.yaml");
  ASSERT_FALSE(reader.ok());
  EXPECT_THAT(reader.status().message(), HasSubstr("/nonexistent/crosstenant.yaml"));
}

TEST(ConfigReaderTest, ReadsSequencesOfMappingsWithIndexedPaths) {
  auto reader = ConfigReader::FromString(
      "tenants:\n  - name: contoso\n    size: 5000000000000\n    ratio: 0.25\n  - name: fabrikam\n    typo: 1\n"
      "    ratio: 2\n  - just a string\n",
      "seed.yaml");
  ASSERT_TRUE(reader.ok());
  std::vector<ConfigReader> items = reader->Items("tenants");
  ASSERT_EQ(items.size(), 2u);
  std::string first, second;
  int64_t size = 0;
  double ratio = 0, bad_ratio = 0;
  items[0].Read("name", &first);
  items[0].Read("size", &size, 0, int64_t{1} << 50);
  items[0].Read("ratio", &ratio, 0.0, 1.0);
  items[1].Read("name", &second);
  items[1].Read("ratio", &bad_ratio, 0.0, 1.0);
  absl::Status status = reader->Finish();
  EXPECT_EQ(first, "contoso");
  EXPECT_EQ(second, "fabrikam");
  EXPECT_EQ(size, int64_t{5000000000000});
  EXPECT_DOUBLE_EQ(ratio, 0.25);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("seed.yaml:6:5: tenants[1].typo: unknown key"));
  EXPECT_THAT(status.message(), HasSubstr("seed.yaml:7:12: tenants[1].ratio: must be between 0 and 1, got 2"));
  EXPECT_THAT(status.message(), HasSubstr("seed.yaml:8:5: tenants[2]: expected a mapping of keys to values"));
}

TEST(ConfigReaderTest, ItemsOfANonSequenceIsAnError) {
  auto reader = ConfigReader::FromString("tenants: 3\n", "seed.yaml");
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE(reader->Items("tenants").empty());
  EXPECT_TRUE(reader->Items("absent").empty());
  EXPECT_THAT(reader->Finish().message(), HasSubstr("seed.yaml:1:10: tenants: expected a list of mappings"));
}

}  // namespace
}  // namespace crosstenant
