#include "services/identity_map/identity_map.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace crosstenant::identity_map {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr const char* kTenant = "7f1d1c1e-0000-4000-8000-000000000001";

std::string UserRow(const std::string& source, const std::string& target, const std::string& type = "RegularUser") {
  return std::string("User,") + kTenant + "," + source + "," + target + "," + target + "," + type + "\n";
}

// Problems as "line:column:code" for compact assertions.
std::vector<std::string> Codes(const std::vector<Problem>& problems) {
  std::vector<std::string> codes;
  for (const Problem& p : problems)
    codes.push_back(std::to_string(p.line) + ":" + std::to_string(p.column) + ":" + p.code);
  return codes;
}

TEST(IdentityMapTest, ParsesUsersAndGroups) {
  const std::string csv = UserRow("alice@contoso.com", "alice@fabrikam.com") + "Group," + kTenant +
                          ",11111111-2222-3333-4444-555555555555,aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee,"
                          "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee,M365Group\r\n" +
                          UserRow("Bob.Smith@contoso.com", "bob@fabrikam.com", "guestuser");
  ParseResult result = ParseCsv(csv);
  EXPECT_THAT(result.problems, IsEmpty());
  ASSERT_EQ(result.map.users.size(), 2u);
  ASSERT_EQ(result.map.groups.size(), 1u);
  EXPECT_EQ(result.map.users[1].line, 3);
  EXPECT_EQ(result.map.users[1].user_type, UserType::kGuestUser);
  EXPECT_EQ(result.map.groups[0].group_type, GroupType::kM365Group);
}

TEST(IdentityMapTest, ReportsEveryProblemWithLineColumnAndMicrosoftColumnName) {
  const std::string csv =
      std::string("Type,SourceTenantCompanyID,SourceUserUpn,TargetUserUpn,TargetUserEmail,UserType\n") +
      UserRow("o'brien@contoso.com", "obrien@fabrikam.com") +                         // 2: apostrophe
      "User,not-a-guid,carol@contoso.com,carol@fabrikam,carol@fabrikam.com,Boss\n" +  // 3
      "User,a,b,c\n" +                                                                // 4: 4 columns
      UserRow("dave@contoso.com", "dave@fabrikam.com") +                              // 5
      UserRow("DAVE@contoso.com", "dave2@fabrikam.com") +                             // 6: duplicate source
      UserRow("erin@contoso.com", "dave@fabrikam.com") +                              // 7: duplicate target
      "Person," + kTenant + ",x@y.com,x@y.com,x@y.com,RegularUser\n" +                // 8: bad kind
      "\n" +                                                                          // 9: blank, skipped
      UserRow(" frank@contoso.com", "frank@fabrikam.com");                            // 10: whitespace
  ParseResult result = ParseCsv(csv);
  EXPECT_THAT(Codes(result.problems),
              ElementsAre("1:0:HEADER_ROW", "2:3:APOSTROPHE_IN_UPN", "3:2:BAD_GUID", "3:4:BAD_UPN", "3:6:BAD_USER_TYPE",
                          "4:0:WRONG_COLUMN_COUNT", "6:3:DUPLICATE_SOURCE", "7:4:DUPLICATE_TARGET", "8:1:BAD_ROW_KIND",
                          "10:3:WHITESPACE"));
  const Problem& duplicate = result.problems[6];
  EXPECT_EQ(duplicate.field, "SourceUserUpn");
  EXPECT_THAT(duplicate.message, HasSubstr("already mapped on line 5"));
  EXPECT_THAT(result.problems[3].message, HasSubstr("needs a domain with a dot"));
  EXPECT_EQ(result.problems[5].field, "") << "whole-line problems name no column";
}

TEST(IdentityMapTest, OneSourceTenantPerMap) {
  ValidationOptions options;
  options.expected_source_tenant_id = "00000000-0000-4000-8000-000000000009";
  ParseResult result = ParseCsv(UserRow("a@contoso.com", "a@fabrikam.com"), options);
  EXPECT_THAT(Codes(result.problems), ElementsAre("1:2:SOURCE_TENANT_MISMATCH"));
  EXPECT_THAT(result.problems[0].message, HasSubstr("source connection's tenant id"));

  const std::string mixed = UserRow("a@contoso.com", "a@fabrikam.com") +
                            "User,00000000-0000-4000-8000-000000000009,b@contoso.com,b@fabrikam.com,b@fabrikam.com,"
                            "RegularUser\n";
  EXPECT_THAT(Codes(ParseCsv(mixed).problems), ElementsAre("2:2:SOURCE_TENANT_MISMATCH"));
}

TEST(IdentityMapTest, HandlesQuotingBomAndLineEnds) {
  const std::string csv =
      "\xEF\xBB\xBF"
      "\"User\"," +
      std::string(kTenant) + ",a@contoso.com,\"a@fabrikam.com\",a@fabrikam.com,RegularUser\r\n\r\n";
  ParseResult result = ParseCsv(csv);
  EXPECT_THAT(result.problems, IsEmpty());
  ASSERT_EQ(result.map.users.size(), 1u);
  EXPECT_EQ(result.map.users[0].target_upn, "a@fabrikam.com");

  EXPECT_THAT(Codes(ParseCsv(std::string("User,\"") + kTenant + ",a@b.com\n").problems),
              ::testing::Contains("1:2:BAD_QUOTING"));
  EXPECT_THAT(Codes(ParseCsv("").problems), ElementsAre("1:0:EMPTY_MAP"));
  EXPECT_THAT(Codes(ParseCsv(UserRow("b\xff@contoso.com", "b@fabrikam.com")).problems),
              ElementsAre("1:0:BAD_ENCODING"));
}

TEST(IdentityMapTest, BlankLinesAnywhereAreSkippedAndLinesKeepTheirNumbers) {
  // As a spreadsheet exports it: an empty line, a row of empty cells, spaces, and blank rows at the end.
  const std::string csv = UserRow("alice@contoso.com", "alice@fabrikam.com") + "\r\n" + ",,,,,\r\n" + "  \n" +
                          UserRow("bob@contoso.com", "bob@fabrikam.com", "Boss") + "\n\n,,,,,\r\n\r\n";
  ParseResult result = ParseCsv(csv);
  EXPECT_THAT(Codes(result.problems), ElementsAre("5:6:BAD_USER_TYPE"));
  ASSERT_EQ(result.map.users.size(), 2u);
  EXPECT_EQ(result.map.users[1].line, 5);
  EXPECT_THAT(Codes(ParseCsv("\n,,,,,\n\n").problems), ElementsAre("1:0:EMPTY_MAP"));
}

TEST(IdentityMapTest, GroupRowsNeedGuidsAndAName) {
  const std::string csv = std::string("Group,") + kTenant + ",not-a-guid,aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee,,Team\n";
  EXPECT_THAT(Codes(ParseCsv(csv).problems), ElementsAre("1:3:BAD_GUID", "1:5:EMPTY_FIELD", "1:6:BAD_GROUP_TYPE"));
}

TEST(IdentityMapTest, StructuredRowsGetTheSameChecksAndRoundTripThroughCsv) {
  IdentityMap map;
  map.users.push_back({1, kTenant, "a@contoso.com", "a@fabrikam.com", "a@fabrikam.com", UserType::kAdminUser});
  map.users.push_back({2, kTenant, "b@contoso.com", "a@fabrikam.com", "not-an-email", UserType::kRegularUser});
  EXPECT_THAT(Codes(Validate(map)), ElementsAre("2:4:DUPLICATE_TARGET", "2:5:BAD_EMAIL"));

  map.users[1].target_upn = "b,\"quoted\"@fabrikam.com";
  const std::string csv = ToCsv(map);
  ParseResult back = ParseCsv(csv);
  ASSERT_EQ(back.map.users.size(), 2u);
  EXPECT_EQ(back.map.users[1].target_upn, map.users[1].target_upn);
  EXPECT_EQ(back.map.users[0].user_type, UserType::kAdminUser);
}

TEST(IdentityMapTest, ListsTheFirstProblemsAndCountsTheRest) {
  std::string csv;
  for (int i = 0; i < 50; ++i) csv += "Nobody,x\n";  // WRONG_COLUMN_COUNT on every line
  ValidationOptions options;
  options.max_problems = 10;
  ParseResult result = ParseCsv(csv, options);
  ASSERT_EQ(result.problems.size(), 11u);
  EXPECT_EQ(result.problems[0].line, 1);
  EXPECT_EQ(result.problems[9].line, 10);
  EXPECT_EQ(result.problems_omitted, 40);
  EXPECT_EQ(result.problems.back().code, "TOO_MANY_PROBLEMS");
  EXPECT_EQ(result.problems.back().line, 0);
  EXPECT_THAT(result.problems.back().message, HasSubstr("and 40 more problems"));
  // Structured rows are capped the same way.
  IdentityMap map;
  for (int i = 1; i <= 30; ++i) map.users.push_back({i, "not-a-guid", "a@contoso.com" + std::to_string(i), "", "", {}});
  std::vector<Problem> problems = Validate(map, options);
  EXPECT_EQ(problems.size(), 11u);
  EXPECT_EQ(problems.back().code, "TOO_MANY_PROBLEMS");
}

TEST(IdentityMapTest, AVeryLongFieldIsOneProblemAndIsNotEchoedWhole) {
  const std::string huge(10 << 20, 'a');
  ParseResult result = ParseCsv(UserRow(huge + "@contoso.com", "b@fabrikam.com"));
  ASSERT_FALSE(result.problems.empty());
  EXPECT_EQ(result.problems[0].code, "FIELD_TOO_LONG");
  EXPECT_EQ(result.problems[0].column, 3);
  size_t total = 0;
  for (const Problem& problem : result.problems) total += problem.message.size();
  EXPECT_LT(total, 2000u);
  EXPECT_LE(result.map.users.at(0).source_upn.size(), 1024u);
}

TEST(IdentityMapTest, GarbageCostsBoundedProblemsAndValidUtf8Messages) {
  std::string garbage;
  uint32_t state = 12345;
  for (int i = 0; i < (4 << 20); ++i) {
    state = state * 1103515245u + 12345u;
    garbage += static_cast<char>(state >> 24);
  }
  ValidationOptions options;
  options.max_problems = 100;
  ParseResult result = ParseCsv(garbage, options);
  EXPECT_EQ(result.problems.size(), 101u);
  EXPECT_GT(result.problems_omitted, 1000);
  for (const Problem& problem : result.problems) EXPECT_LT(problem.message.size(), 400u);
}

// CsvStream gives ParseCsv's rows and problems however the text is cut: inside a quoted line end, inside a
// multi-byte character, inside the byte order mark.
TEST(IdentityMapTest, CsvStreamCutAnywhereGivesParseCsvsRowsAndProblems) {
  const std::string tenant = "7f1d1c1e-0000-4000-8000-000000000001";
  const std::string csv =
      "\xEF\xBB\xBFUser," + tenant + ",a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\r\n" + "Group," +
      tenant +
      ",1b2c3d4e-0000-4000-8000-000000000001,2b2c3d4e-0000-4000-8000-000000000002,"
      "\"Sales\nEurope\",RegularGroup\n\n" +
      "User,7f1d1c1e-0000-4000-8000-000000000002,j\xC3\xBCrgen@contoso.com,b@fabrikam.com,b@fabrikam.com,Boss\n" +
      "User," + tenant + ",c@contoso.com,c@fabrikam.com";
  const ParseResult whole = ParseCsv(csv);
  for (size_t piece : {size_t{1}, size_t{2}, size_t{5}, size_t{64}, csv.size()}) {
    CsvStream stream;
    IdentityMap rows;
    for (size_t at = 0; at < csv.size(); at += piece) stream.Add(absl::string_view(csv).substr(at, piece), &rows);
    stream.Finish(&rows);
    ASSERT_EQ(rows.users.size(), whole.map.users.size()) << piece;
    ASSERT_EQ(rows.groups.size(), 1u) << piece;
    EXPECT_EQ(rows.groups[0].group_name, "Sales\nEurope") << piece;
    EXPECT_EQ(rows.users[1].source_upn, "j\xC3\xBCrgen@contoso.com") << piece;
    EXPECT_EQ(rows.users[1].line, 5) << piece;
    EXPECT_EQ(ToCsv(rows), ToCsv(whole.map)) << piece;
    EXPECT_EQ(stream.problem_count(), static_cast<int64_t>(whole.problems.size())) << piece;
    std::vector<Problem> problems = stream.TakeProblems();
    ASSERT_EQ(problems.size(), whole.problems.size()) << piece;
    for (size_t i = 0; i < problems.size(); ++i) {
      EXPECT_EQ(problems[i].line, whole.problems[i].line) << piece;
      EXPECT_EQ(problems[i].column, whole.problems[i].column) << piece;
      EXPECT_EQ(problems[i].code, whole.problems[i].code) << piece;
      EXPECT_EQ(problems[i].message, whole.problems[i].message) << piece;
    }
  }
}

}  // namespace
}  // namespace crosstenant::identity_map
