#include "services/tenant_connector/core/admin_url.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/common/status_macros.h"
#include "services/common/user_text.h"

namespace crosstenant::tenant_connector {
namespace {

constexpr CloudProfile kProfiles[] = {
    {Cloud::kCommercial, "COMMERCIAL", "login.microsoftonline.com", "graph.microsoft.com", "sharepoint.com", true},
    {Cloud::kGcc, "GCC", "login.microsoftonline.com", "graph.microsoft.com", "sharepoint.com", false},
    {Cloud::kGccHigh, "GCC_HIGH", "login.microsoftonline.us", "graph.microsoft.us", "sharepoint.us", false},
    {Cloud::kDod, "DOD", "login.microsoftonline.us", "dod-graph.microsoft.us", "sharepoint-mil.us", false},
    {Cloud::kChina, "CHINA", "login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn", "sharepoint.cn", false},
};

constexpr int kMaxTenantNameLength = 63;

std::string Example(absl::string_view name, Cloud cloud) {
  return absl::StrCat("https://", name.empty() ? "<tenant>" : name, "-admin.", ProfileOf(cloud).sharepoint_suffix);
}

// The URL is echoed bounded, without its user information, and as valid UTF-8: a status message
// travels in gRPC metadata, and a pasted URL may carry a password.
absl::Status Refuse(absl::string_view given, absl::string_view why, absl::string_view instead) {
  return absl::InvalidArgumentError(absl::StrCat("admin_url \"", QuoteUrlForMessage(given), "\" ", why, "; type ",
                                                 QuoteUrlForMessage(instead), " instead"));
}

// The cloud whose SharePoint suffix ends `host`, and the label before it; kUnspecified if none.
Cloud CloudOfHost(absl::string_view host, std::string* label_part) {
  // sharepoint-mil.us before sharepoint.us would not matter (different strings), but check longest first.
  for (Cloud cloud : {Cloud::kDod, Cloud::kGccHigh, Cloud::kChina, Cloud::kCommercial}) {
    std::string suffix = absl::StrCat(".", ProfileOf(cloud).sharepoint_suffix);
    if (absl::EndsWith(host, suffix)) {
      *label_part = std::string(host.substr(0, host.size() - suffix.size()));
      return cloud;
    }
  }
  return Cloud::kUnspecified;
}

bool IsAlnum(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return !text.empty();
}

}  // namespace

const CloudProfile& ProfileOf(Cloud cloud) {
  for (const CloudProfile& profile : kProfiles) {
    if (profile.cloud == cloud) return profile;
  }
  return kProfiles[0];
}

std::string AdminUrl::MySiteHost() const {
  return absl::StrCat("https://", tenant_name, "-my.", ProfileOf(cloud).sharepoint_suffix, "/");
}

std::string AdminUrl::RootSite() const {
  return absl::StrCat("https://", tenant_name, ".", ProfileOf(cloud).sharepoint_suffix);
}

std::string AdminUrl::InitialDomainGuess() const {
  switch (cloud) {
    case Cloud::kGccHigh:
    case Cloud::kDod:
      return absl::StrCat(tenant_name, ".onmicrosoft.us");
    case Cloud::kChina:
      return absl::StrCat(tenant_name, ".partner.onmschina.cn");
    default:
      return absl::StrCat(tenant_name, ".onmicrosoft.com");
  }
}

AdminUrl AdminUrlFor(absl::string_view tenant_name, Cloud cloud) {
  if (cloud == Cloud::kUnspecified) cloud = Cloud::kCommercial;
  AdminUrl url;
  url.tenant_name = absl::AsciiStrToLower(tenant_name);
  url.cloud = cloud;
  url.host = absl::StrCat(url.tenant_name, "-admin.", ProfileOf(cloud).sharepoint_suffix);
  url.url = absl::StrCat("https://", url.host);
  return url;
}

namespace {

// A typed URL split at its host: whether it said https, its host (no port, no trailing dot) and
// whatever followed the host.
struct UrlParts {
  bool https = false;
  absl::string_view host;
  absl::string_view tail;
};

// Splits `lower` (the URL `given`, in lower case) or says what is wrong with its scheme or host.
absl::StatusOr<UrlParts> SplitUrl(absl::string_view given, absl::string_view lower, Cloud cloud) {
  UrlParts parts;
  absl::string_view rest = lower;
  if (absl::ConsumePrefix(&rest, "https://")) {
    parts.https = true;
  } else if (!absl::ConsumePrefix(&rest, "http://") && absl::StrContains(rest, "://")) {
    return Refuse(given, "is not an https URL", Example("<tenant>", cloud));
  }
  const size_t host_end = rest.find_first_of("/?#");
  absl::string_view host = rest.substr(0, host_end);
  if (host_end != absl::string_view::npos) parts.tail = rest.substr(host_end);
  if (absl::StrContains(host, "@")) {
    return Refuse(given, "contains a user name; the admin URL carries no credentials", Example("<tenant>", cloud));
  }
  if (size_t colon = host.find(':'); colon != absl::string_view::npos) {
    if (host.substr(colon) != ":443") {
      return Refuse(given, "names a port; SharePoint is served on the https port only",
                    absl::StrCat("https://", host.substr(0, colon)));
    }
    host = host.substr(0, colon);
  }
  absl::ConsumeSuffix(&host, ".");
  if (host.empty()) return Refuse(given, "has no host name", Example("<tenant>", cloud));
  for (char c : host) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
      return Refuse(
          given, absl::StrCat("has an invalid character '", QuoteForMessage(std::string(1, c)), "' in its host name"),
          Example("<tenant>", cloud));
    }
  }
  parts.host = host;
  return parts;
}

// The refusal of a host that is no SharePoint Online host, naming the usual confusions: the Entra
// domain, the Microsoft 365 admin center, a custom domain.
absl::Status RefuseForeignHost(absl::string_view given, absl::string_view host, Cloud cloud) {
  const std::string first(host.substr(0, host.find('.')));
  if (absl::EndsWith(host, ".onmicrosoft.com") || absl::EndsWith(host, ".onmicrosoft.us")) {
    return Refuse(given, "is the tenant's Entra ID domain, not its SharePoint admin URL", Example(first, cloud));
  }
  if (host == "admin.microsoft.com" || host == "portal.office.com" || host == "admin.cloud.microsoft") {
    return Refuse(given, "is the Microsoft 365 admin center, not the SharePoint admin center",
                  Example("<tenant>", cloud));
  }
  return Refuse(
      given,
      absl::StrCat("is not a SharePoint Online host (expected a name ending in .",
                   ProfileOf(cloud == Cloud::kUnspecified ? Cloud::kCommercial : cloud).sharepoint_suffix, ")"),
      Example("<tenant>", cloud));
}

// The tenant name in `label`, what precedes a SharePoint suffix ("<tenant>-admin"), or why it is none.
absl::StatusOr<std::string> TenantNameOf(absl::string_view given, absl::string_view label, Cloud cloud) {
  if (absl::StrContains(label, ".")) {
    absl::string_view name = label.substr(label.rfind('.') + 1);
    absl::ConsumeSuffix(&name, "-admin");
    absl::ConsumeSuffix(&name, "-my");
    return Refuse(given, "has extra labels before the tenant's SharePoint host", Example(name, cloud));
  }
  if (absl::ConsumeSuffix(&label, "-my")) {
    return Refuse(given, "is the OneDrive (my-site) host, which is the cross-tenant host URL, not the admin URL",
                  Example(label, cloud));
  }
  if (!absl::ConsumeSuffix(&label, "-admin")) {
    return Refuse(given, "is a SharePoint site URL, not the SharePoint admin center", Example(label, cloud));
  }
  if (label.empty()) return Refuse(given, "has no tenant name before -admin", Example("<tenant>", cloud));
  if (absl::StrContains(label, "-")) {
    return Refuse(given,
                  "has a hyphen in the tenant name; SharePoint tenant names are letters and digits only (the "
                  "service adds -admin and -my itself)",
                  Example("<tenant>", cloud));
  }
  if (!IsAlnum(label) || label.size() > kMaxTenantNameLength) {
    return Refuse(given, "has an invalid tenant name (letters and digits only, at most 63)",
                  Example("<tenant>", cloud));
  }
  return std::string(label);
}

}  // namespace

absl::StatusOr<AdminUrl> ParseAdminUrl(absl::string_view text, Cloud cloud) {
  const absl::string_view given = absl::StripAsciiWhitespace(text);
  if (given.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin_url is required; type the SharePoint admin URL, e.g. ", Example("contoso", cloud)));
  }
  const std::string lower = absl::AsciiStrToLower(given);
  ASSIGN_OR_RETURN(const UrlParts parts, SplitUrl(given, lower, cloud));

  std::string label;
  const Cloud host_cloud = CloudOfHost(parts.host, &label);
  if (host_cloud == Cloud::kUnspecified) return RefuseForeignHost(given, parts.host, cloud);
  if (cloud == Cloud::kUnspecified) cloud = host_cloud;
  // GCC uses the commercial host names.
  const Cloud expected_host_cloud = cloud == Cloud::kGcc ? Cloud::kCommercial : cloud;
  if (host_cloud != expected_host_cloud) {
    absl::string_view name = label;
    absl::ConsumeSuffix(&name, "-admin");
    absl::ConsumeSuffix(&name, "-my");
    return Refuse(
        given,
        absl::StrCat("is a ", ProfileOf(host_cloud).sharepoint_suffix, " URL but the cloud is ", ProfileOf(cloud).name,
                     " (whose SharePoint suffix is ", ProfileOf(cloud).sharepoint_suffix, ")"),
        absl::StrCat(Example(name, cloud), ", or set the cloud to match the URL"));
  }
  ASSIGN_OR_RETURN(const std::string tenant_name, TenantNameOf(given, label, cloud));

  const std::string canonical = Example(tenant_name, cloud);
  if (!parts.https) return Refuse(given, "must use https", canonical);
  if (!parts.tail.empty() && parts.tail != "/") {
    const absl::string_view path = parts.tail.substr(0, parts.tail.find_first_of("?#"));
    if (path.size() > 1) return Refuse(given, "has a path; the admin URL is the host alone", canonical);
    return Refuse(given, "has a query or fragment; the admin URL is the host alone", canonical);
  }
  return AdminUrlFor(tenant_name, cloud);
}

}  // namespace crosstenant::tenant_connector
