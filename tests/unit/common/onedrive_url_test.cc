#include "services/common/onedrive_url.h"

#include <gtest/gtest.h>

namespace crosstenant {
namespace {

TEST(PersonalSiteOfTest, CutsADrivesUrlToItsPersonalSite) {
  EXPECT_EQ(PersonalSiteOf("https://contoso-my.sharepoint.com/personal/pat_contoso_com/Documents"),
            "https://contoso-my.sharepoint.com/personal/pat_contoso_com");
  EXPECT_EQ(PersonalSiteOf("https://contosoeur-my.sharepoint.com/personal/lea_contoso_com/Documents/Folder/a.docx"),
            "https://contosoeur-my.sharepoint.com/personal/lea_contoso_com");
}

TEST(PersonalSiteOfTest, KeepsASitesOwnUrlAndAnyOtherUrl) {
  EXPECT_EQ(PersonalSiteOf("https://contoso-my.sharepoint.com/personal/pat_contoso_com"),
            "https://contoso-my.sharepoint.com/personal/pat_contoso_com");
  EXPECT_EQ(PersonalSiteOf("https://contoso.sharepoint.com/sites/finance/Shared Documents"),
            "https://contoso.sharepoint.com/sites/finance/Shared Documents");
  EXPECT_EQ(PersonalSiteOf(""), "");
}

}  // namespace
}  // namespace crosstenant
