#include "services/common/byte_size.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/common/config_reader.h"
#include "services/common/settings_table.h"

namespace crosstenant {
namespace {

using ::testing::HasSubstr;

TEST(ByteSizeTest, ParsesBinaryAndDecimalUnits) {
  EXPECT_EQ(ParseByteSize("4096").value(), 4096);
  EXPECT_EQ(ParseByteSize("4096B").value(), 4096);
  EXPECT_EQ(ParseByteSize("64KiB").value(), 64 * 1024);
  EXPECT_EQ(ParseByteSize("512MiB").value(), int64_t{512} << 20);
  EXPECT_EQ(ParseByteSize("512mib").value(), int64_t{512} << 20);
  EXPECT_EQ(ParseByteSize(" 2 GiB ").value(), int64_t{2} << 30);
  EXPECT_EQ(ParseByteSize("1TiB").value(), int64_t{1} << 40);
  EXPECT_EQ(ParseByteSize("10MB").value(), 10000000);
  EXPECT_EQ(ParseByteSize("1.5GB").value(), 1500000000);
  EXPECT_EQ(ParseByteSize("0.5MiB").value(), 512 * 1024);
  EXPECT_EQ(ParseByteSize("0").value(), 0);
}

TEST(ByteSizeTest, RefusesWhatIsNotASize) {
  for (const char* bad : {"", "MiB", "-1MiB", "12XB", "1.5", "1.5B", "1e3", "99999999999TiB", "1..2MiB", "ten"}) {
    const auto parsed = ParseByteSize(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(parsed.status())) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("512MiB")) << "the message shows what is accepted";
  }
}

TEST(ByteSizeTest, FormatsExactly) {
  EXPECT_EQ(FormatByteSize(int64_t{512} << 20), "512 MiB");
  EXPECT_EQ(FormatByteSize(1536 * 1024), "1536 KiB");
  EXPECT_EQ(FormatByteSize(1000), "1000 B");
  EXPECT_EQ(FormatByteSize(0), "0 B");
}

TEST(ByteSizeTest, FlagAndConfigKeyTakeTheSameSpelling) {
  int64_t from_flag = 0;
  SettingsTable table("prog", "");
  table.ByteSize("max_size", &from_flag, 0, int64_t{1} << 40, "a cap");
  ASSERT_TRUE(table.ParseCommandLine({"--max-size=512MiB"}).ok());
  ASSERT_TRUE(table.ApplyCommandLine().ok());
  EXPECT_EQ(from_flag, int64_t{512} << 20);
  ASSERT_TRUE(table.ParseCommandLine({"--max-size=lots"}).ok());
  EXPECT_THAT(table.ApplyCommandLine().message(), HasSubstr("is not a size"));

  auto reader = ConfigReader::FromString("a: 2GiB\nb: 4096\nc: huge\nd: 1KiB\n", "o.yaml").value();
  int64_t a = 0, b = 0, c = 0, d = 0;
  reader.ReadByteSize("a", &a, 0, int64_t{1} << 40);
  reader.ReadByteSize("b", &b, 0, int64_t{1} << 40);
  reader.ReadByteSize("c", &c, 0, int64_t{1} << 40);
  reader.ReadByteSize("d", &d, 1 << 20, int64_t{1} << 40);
  EXPECT_EQ(a, int64_t{2} << 30);
  EXPECT_EQ(b, 4096);
  const absl::Status finished = reader.Finish();
  EXPECT_THAT(finished.message(), HasSubstr("o.yaml:3:4: c: 'huge' is not a size"));
  EXPECT_THAT(finished.message(), HasSubstr("o.yaml:4:4: d: must be between 1 MiB and 1 TiB, got 1 KiB"));
}

}  // namespace
}  // namespace crosstenant
