#include "services/common/user_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace crosstenant {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(UserTextTest, KeepsShortValidTextAsIs) {
  EXPECT_EQ(QuoteForMessage("https://contoso-admin.sharepoint.com"), "https://contoso-admin.sharepoint.com");
  EXPECT_EQ(QuoteForMessage("Zoë, 東京"), "Zoë, 東京");
}

TEST(UserTextTest, EscapesInvalidUtf8AndControlCharacters) {
  EXPECT_EQ(QuoteForMessage("a\xC3(b"), "a\\xC3(b");
  EXPECT_EQ(QuoteForMessage("\xFF\xFE"), "\\xFF\\xFE");
  EXPECT_EQ(QuoteForMessage("\xED\xA0\x80"), "\\xED\\xA0\\x80");  // a surrogate
  EXPECT_EQ(QuoteForMessage("line\nnext\x7F"), "line\\x0Anext\\x7F");
}

TEST(UserTextTest, TruncatesLongTextAtACharacterBoundary) {
  const std::string long_text = std::string(199, 'a') + "é" + std::string(100000, 'b');
  const std::string quoted = QuoteForMessage(long_text);
  EXPECT_EQ(quoted, std::string(199, 'a') + "… (100201 bytes)");
  EXPECT_LT(QuoteForMessage(std::string(10 << 20, 'x')).size(), 250u);
}

TEST(UserTextTest, RedactsUserInformationOfUrls) {
  EXPECT_EQ(RedactUrlUserinfo("https://admin:hunter2@contoso-admin.sharepoint.com/x@y"),
            "https://***@contoso-admin.sharepoint.com/x@y");
  EXPECT_EQ(RedactUrlUserinfo("admin:hunter2@contoso-admin.sharepoint.com"), "***@contoso-admin.sharepoint.com");
  EXPECT_EQ(RedactUrlUserinfo("https://contoso-admin.sharepoint.com/?u=a@b"),
            "https://contoso-admin.sharepoint.com/?u=a@b");
  EXPECT_THAT(QuoteUrlForMessage("https://u:p%40ss\xFF@h.com"), Not(HasSubstr("p%40ss")));
  EXPECT_THAT(QuoteUrlForMessage("https://u:pw@" + std::string(1000, 'h')), EndsWith("bytes)"));
}

}  // namespace
}  // namespace crosstenant
