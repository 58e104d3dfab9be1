#ifndef CROSSTENANT_SERVICES_COMMON_ONEDRIVE_URL_H_
#define CROSSTENANT_SERVICES_COMMON_ONEDRIVE_URL_H_

// OneDrive addresses as Microsoft gives them.

#include <string>

#include "absl/strings/string_view.h"

namespace crosstenant {

// The personal site a OneDrive lives in, from its drive's URL (Graph's `webUrl`) or the site's own:
// "https://contoso-my.sharepoint.com/personal/pat_contoso_com/Documents" ->
// "https://contoso-my.sharepoint.com/personal/pat_contoso_com". The site is what SharePoint's admin
// calls take (Get-SPOSite, Remove-SPOSite), and where Microsoft leaves a redirect site after a move.
// A URL without "/personal/" is returned as it is.
std::string PersonalSiteOf(absl::string_view onedrive_url);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_ONEDRIVE_URL_H_
