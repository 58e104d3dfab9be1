#include "services/common/onedrive_url.h"

namespace crosstenant {

std::string PersonalSiteOf(absl::string_view onedrive_url) {
  constexpr absl::string_view kPersonal = "/personal/";
  const size_t personal = onedrive_url.find(kPersonal);
  if (personal == absl::string_view::npos) return std::string(onedrive_url);
  return std::string(onedrive_url.substr(0, onedrive_url.find('/', personal + kPersonal.size())));
}

}  // namespace crosstenant
