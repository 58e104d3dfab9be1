// Fuzzes tenant_connector::ParseAdminUrl, the check of the SharePoint admin URL an admin types in step 1.
//
// The first input byte picks the cloud (byte % 6: unspecified, commercial, GCC, GCC High, DoD, China);
// the rest is the URL. Besides crashes and sanitizer reports it checks the parser's promises:
//  - a refusal is INVALID_ARGUMENT with a message that quotes what was typed ("admin_url \"...\"");
//  - an accepted URL is canonical: https, lower case, "<tenant>-admin.<suffix>", a tenant name of 1..63
//    letters and digits, and parsing the canonical URL again gives the same result (idempotent).

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/tenant_connector/core/admin_url.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace crosstenant::tenant_connector;
  if (size == 0) return 0;
  const Cloud cloud = static_cast<Cloud>(data[0] % 6);
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);

  absl::StatusOr<AdminUrl> url = ParseAdminUrl(text, cloud);
  if (!url.ok()) {
    FUZZ_CHECK(url.status().code() == absl::StatusCode::kInvalidArgument, "refusal is " << url.status());
    FUZZ_CHECK(absl::StartsWith(url.status().message(), "admin_url"), "refusal names no field: " << url.status());
    return 0;
  }
  FUZZ_CHECK(!url->tenant_name.empty() && url->tenant_name.size() <= 63, "tenant name '" << url->tenant_name << "'");
  for (char c : url->tenant_name) {
    FUZZ_CHECK(absl::ascii_isdigit(static_cast<unsigned char>(c)) || absl::ascii_islower(static_cast<unsigned char>(c)),
               "tenant name '" << url->tenant_name << "' is not lower-case letters and digits");
  }
  FUZZ_CHECK(url->host == absl::StrCat(url->tenant_name, "-admin.", ProfileOf(url->cloud).sharepoint_suffix),
             "host " << url->host << " for tenant " << url->tenant_name);
  FUZZ_CHECK(url->url == absl::StrCat("https://", url->host), "url " << url->url);
  FUZZ_CHECK(cloud == Cloud::kUnspecified || url->cloud == cloud,
             "asked for cloud " << static_cast<int>(cloud) << ", got " << static_cast<int>(url->cloud));

  absl::StatusOr<AdminUrl> again = ParseAdminUrl(url->url, url->cloud);
  FUZZ_CHECK(again.ok(), "the canonical URL " << url->url << " is refused: " << again.status());
  FUZZ_CHECK(again->url == url->url && again->tenant_name == url->tenant_name && again->cloud == url->cloud,
             "parsing " << url->url << " again gives " << again->url);
  return 0;
}
