#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"
#include "services/common/atomic_file.h"
#include "services/common/health.h"
#include "services/common/logging.h"

namespace crosstenant {
namespace {

using ::testing::HasSubstr;

TEST(LoggingTest, JsonLinesAreParseableWithFields) {
  std::string line = log::FormatLine(log::Format::kJson, "worker", log::Severity::kWarning, "lease lost",
                                     {{"migration", "migrations/m1"}, {"quote", "a \"b\""}});
  nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["severity"], "warning");
  EXPECT_EQ(parsed["service"], "worker");
  EXPECT_EQ(parsed["message"], "lease lost");
  EXPECT_EQ(parsed["quote"], "a \"b\"");
}

TEST(LoggingTest, TextLinesQuoteValuesWithSpaces) {
  std::string line = log::FormatLine(log::Format::kText, "worker", log::Severity::kInfo, "started",
                                     {{"address", "127.0.0.1:1"}, {"note", "two words"}});
  EXPECT_THAT(line, HasSubstr("info worker: started address=127.0.0.1:1 note=\"two words\""));
}

TEST(LoggingTest, InvalidUtf8DoesNotThrow) {
  EXPECT_NO_THROW(log::FormatLine(log::Format::kJson, "w", log::Severity::kInfo, "bad \xff byte", {}));
}

TEST(AtomicFileTest, WritesWholeContentAndReplaces) {
  const std::string path = (std::filesystem::temp_directory_path() / "crosstenant-atomic-test.json").string();
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "second");
  std::filesystem::remove(path);
  EXPECT_EQ(WriteFileAtomically("/nonexistent-dir/x.json", "x").code(), absl::StatusCode::kInternal);
}

TEST(HealthRegistryTest, StartsNotServingAndShutdownIsFinal) {
  HealthRegistry health({"svc.A"});
  EXPECT_FALSE(health.IsServing(""));
  EXPECT_FALSE(health.IsServing("svc.A"));
  health.SetAllServing(true);
  EXPECT_TRUE(health.IsServing(""));
  health.SetServing("svc.A", false);
  EXPECT_FALSE(health.IsServing("svc.A"));
  EXPECT_TRUE(health.IsServing(""));
  health.Shutdown();
  health.SetAllServing(true);
  EXPECT_FALSE(health.IsServing(""));
}

}  // namespace
}  // namespace crosstenant
