// Step 7: the redirect sites finished moves leave at the users' old OneDrive URLs on the source.

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "clients/migratectl/commands.h"
#include "clients/migratectl/exit_codes.h"
#include "clients/migratectl/views.h"
#include "services/common/status_macros.h"

namespace crosstenant::migratectl {
namespace v1 = crosstenant::v1;
namespace {

// "https://contoso-my.sharepoint.com/personal/x" -> "contoso-my.sharepoint.com".
std::string HostOf(absl::string_view url) {
  absl::ConsumePrefix(&url, "https://");
  absl::ConsumePrefix(&url, "http://");
  return absl::AsciiStrToLower(url.substr(0, url.find('/')));
}

}  // namespace

absl::Status RunRedirectsList(Invocation& in) {
  std::string source, geo;
  in.flags().Text("source", &source, "CONNECTION", "the source connection (required)");
  in.flags().Text("geo", &geo, "CODE", "only this source geo (default: every geo)");
  ASSIGN_OR_RETURN(bool run,
                   in.Parse({"Lists the redirect sites left at the old OneDrive URLs on the source, on "
                             "every source geo.",
                             "Get-SPOSite -Template RedirectSite#0 -IncludePersonalSite $true (per geo)", "", ""}));
  if (!run) return absl::OkStatus();
  if (source.empty()) return UsageError("--source=CONNECTION is required");
  ASSIGN_OR_RETURN(v1::Connection connection, GetConnection(in, source));
  // Created by SharePoint when the move completed: Microsoft's clock, not the mesh's.
  Table table({"GEO", "URL", "REDIRECTS TO", "CREATED (Microsoft)"});
  nlohmann::json json = nlohmann::json::array();
  for (const v1::Geo& g : AccessibleGeos(connection)) {
    if (!geo.empty() && absl::AsciiStrToLower(g.location_code()) != absl::AsciiStrToLower(geo)) continue;
    v1::ListRedirectSitesRequest request;
    request.set_geo(g.name());
    request.set_page_size(1000);
    do {
      ASSIGN_OR_RETURN(v1::ListRedirectSitesResponse response,
                       in.Call<v1::ListRedirectSitesResponse>(in.connector(),
                                                              &v1::TenantConnector::Stub::ListRedirectSites, request));
      for (const v1::RedirectSite& site : response.redirect_sites()) {
        table.AddRow({g.location_code(), site.url(), site.redirect_url(), TimeText(site.create_time())});
        nlohmann::json row = MessageToJson(site);
        row["geo"] = g.name();
        json.push_back(row);
      }
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
  }
  in.Print(table, json);
  if (in.format() == OutputFormat::kTable) in.out() << table.rows().size() << " redirect site(s)\n";
  return absl::OkStatus();
}

absl::Status RunRedirectsRemove(Invocation& in) {
  std::string source;
  bool permanent = false;
  in.flags().Text("source", &source, "CONNECTION", "the source connection (required)");
  in.flags().Switch("permanent", &permanent, "also purge it from the site recycle bin, freeing the URL at once");
  ASSIGN_OR_RETURN(
      bool run, in.Parse({"Removes redirect sites (needed before moving a user back). The geo is found "
                          "from each URL's host.",
                          "Remove-SPOSite -Identity <url> (and Remove-SPODeletedSite with --permanent)", "URL...", ""},
                         1, 1000));
  if (!run) return absl::OkStatus();
  if (source.empty()) return UsageError("--source=CONNECTION is required");
  ASSIGN_OR_RETURN(v1::Connection connection, GetConnection(in, source));
  for (const std::string& url : in.positionals()) {
    std::string geo_name;
    for (const v1::Geo& g : connection.geos()) {
      if (HostOf(g.my_site_host_url()) == HostOf(url)) geo_name = g.name();
    }
    if (geo_name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(url, ": not on any geo of ", connection.name(),
                                                     " (its OneDrive hosts are the geos' -my hosts)"));
    }
    v1::RemoveRedirectSiteRequest request;
    request.set_geo(geo_name);
    request.set_url(url);
    request.set_permanent(permanent);
    request.set_request_id(NewRequestId());
    RETURN_IF_ERROR(
        in.Call<v1::RemoveRedirectSiteResponse>(in.connector(), &v1::TenantConnector::Stub::RemoveRedirectSite, request)
            .status());
    in.out() << "removed " << url << (permanent ? " (permanently)" : " (to the site recycle bin)") << "\n";
  }
  return absl::OkStatus();
}

}  // namespace crosstenant::migratectl
