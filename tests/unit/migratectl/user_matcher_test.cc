// `identity-map generate`: matching source users to target users.

#include <gtest/gtest.h>

#include "clients/migratectl/user_matcher.h"

namespace crosstenant::migratectl {
namespace {
namespace v1 = crosstenant::v1;

v1::TenantUser User(const std::string& upn, const std::string& mail = "", const std::string& type = "Member") {
  v1::TenantUser user;
  user.set_user_principal_name(upn);
  user.set_mail(mail);
  user.set_user_type(type);
  return user;
}

constexpr char kTenant[] = "7f1d1c1e-0000-4000-8000-000000000001";

TEST(MigratectlUserMatcherTest, MatchesByUpnLocalPartThenByMail) {
  std::vector<v1::TenantUser> source = {User("Alice@contoso.onmicrosoft.com"),
                                        User("bob.smith@contoso.onmicrosoft.com", "bob@contoso.com")};
  std::vector<v1::TenantUser> target = {User("alice@fabrikam.onmicrosoft.com", "alice@fabrikam.com"),
                                        User("b.smith@fabrikam.onmicrosoft.com", "bob@fabrikam.com")};
  UserMatch match = MatchUsers(source, target, {kTenant});
  ASSERT_EQ(match.map.users.size(), 2u);
  EXPECT_TRUE(match.unmatched.empty());
  EXPECT_EQ(match.map.users[0].target_upn, "alice@fabrikam.onmicrosoft.com");
  EXPECT_EQ(match.map.users[0].target_email, "alice@fabrikam.com");
  EXPECT_EQ(match.matched_by[0], "upn");
  EXPECT_EQ(match.map.users[1].target_upn, "b.smith@fabrikam.onmicrosoft.com");
  EXPECT_EQ(match.matched_by[1], "mail");
  EXPECT_EQ(identity_map::ToCsv(match.map),
            "User,7f1d1c1e-0000-4000-8000-000000000001,Alice@contoso.onmicrosoft.com,alice@fabrikam.onmicrosoft.com,"
            "alice@fabrikam.com,RegularUser\n"
            "User,7f1d1c1e-0000-4000-8000-000000000001,bob.smith@contoso.onmicrosoft.com,"
            "b.smith@fabrikam.onmicrosoft.com,bob@fabrikam.com,RegularUser\n");
  // What it writes is a valid map.
  EXPECT_TRUE(identity_map::ParseCsv(identity_map::ToCsv(match.map)).problems.empty());
}

TEST(MigratectlUserMatcherTest, ListsWhoCouldNotBeMatchedAndWhy) {
  std::vector<v1::TenantUser> source = {User("o'brien@contoso.onmicrosoft.com"), User("ghost@contoso.onmicrosoft.com"),
                                        User("guest_x@contoso.onmicrosoft.com", "", "Guest"),
                                        User("sam@contoso.onmicrosoft.com"), User("sam@contoso.com")};
  std::vector<v1::TenantUser> target = {User("sam@fabrikam.onmicrosoft.com"), User("o'brien@fabrikam.onmicrosoft.com"),
                                        User("guest_x@fabrikam.onmicrosoft.com")};
  UserMatch match = MatchUsers(source, target, {kTenant});
  ASSERT_EQ(match.map.users.size(), 1u);
  EXPECT_EQ(match.map.users[0].source_upn, "sam@contoso.onmicrosoft.com");
  ASSERT_EQ(match.unmatched.size(), 4u);
  EXPECT_EQ(match.unmatched[0].source_upn, "o'brien@contoso.onmicrosoft.com");
  EXPECT_NE(match.unmatched[0].reason.find("apostrophe"), std::string::npos);
  EXPECT_NE(match.unmatched[1].reason.find("no target user"), std::string::npos);
  EXPECT_NE(match.unmatched[2].reason.find("guest"), std::string::npos);
  EXPECT_EQ(match.unmatched[3].source_upn, "sam@contoso.com");
  EXPECT_NE(match.unmatched[3].reason.find("already mapped to sam@contoso.onmicrosoft.com"), std::string::npos);
}

TEST(MigratectlUserMatcherTest, AmbiguousTargetsAreNotGuessed) {
  std::vector<v1::TenantUser> source = {User("kim@contoso.onmicrosoft.com")};
  std::vector<v1::TenantUser> target = {User("kim@fabrikam.onmicrosoft.com"), User("kim@fabrikam.com")};
  UserMatch match = MatchUsers(source, target, {kTenant});
  EXPECT_TRUE(match.map.users.empty());
  ASSERT_EQ(match.unmatched.size(), 1u);
  EXPECT_NE(match.unmatched[0].reason.find("ambiguous"), std::string::npos);
}

TEST(MigratectlUserMatcherTest, GuestsOnRequestBecomeGuestUsers) {
  MatchOptions options{kTenant, /*include_guests=*/true};
  UserMatch match = MatchUsers({User("guest_x@contoso.onmicrosoft.com", "", "Guest")},
                               {User("guest_x@fabrikam.onmicrosoft.com")}, options);
  ASSERT_EQ(match.map.users.size(), 1u);
  EXPECT_EQ(match.map.users[0].user_type, identity_map::UserType::kGuestUser);
}

}  // namespace
}  // namespace crosstenant::migratectl
