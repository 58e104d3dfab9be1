// Steps 2, 3 and 7 (trust) and the compatibility check of step 5, for every pair of a source geo and a
// target geo (Microsoft: with Multi-Geo, trust is needed between every pair of geographies involved).

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/migratectl/commands.h"
#include "clients/migratectl/exit_codes.h"
#include "clients/migratectl/plan_file.h"
#include "clients/migratectl/views.h"
#include "services/common/status_macros.h"

namespace crosstenant::migratectl {
namespace v1 = crosstenant::v1;
namespace {

// One geo of either side with its cross-tenant host URL (Get-SPOCrossTenantHostUrl).
struct SideGeo {
  std::string geo;       // connections/x/geos/nam
  std::string host_url;  // https://x-my.sharepoint.com/
};

struct Sides {
  std::vector<SideGeo> source;
  std::vector<SideGeo> target;
};

absl::StatusOr<std::vector<SideGeo>> GeosWithHosts(Invocation& in, const std::string& connection) {
  ASSIGN_OR_RETURN(v1::Connection c, GetConnection(in, connection));
  std::vector<SideGeo> geos;
  for (const v1::Geo& geo : AccessibleGeos(c)) {
    v1::GetCrossTenantHostUrlRequest request;
    request.set_geo(geo.name());
    ASSIGN_OR_RETURN(v1::GetCrossTenantHostUrlResponse response,
                     in.Call<v1::GetCrossTenantHostUrlResponse>(
                         in.connector(), &v1::TenantConnector::Stub::GetCrossTenantHostUrl, request));
    geos.push_back({geo.name(), response.host_url()});
  }
  if (geos.empty()) return absl::FailedPreconditionError(absl::StrCat(c.name(), " has no geo it can administer"));
  return geos;
}

absl::StatusOr<Sides> LoadSides(Invocation& in, const std::string& source, const std::string& target) {
  if (source.empty() || target.empty()) {
    return UsageError("--source=CONNECTION and --target=CONNECTION are required");
  }
  Sides sides;
  ASSIGN_OR_RETURN(sides.source, GeosWithHosts(in, source));
  ASSIGN_OR_RETURN(sides.target, GeosWithHosts(in, target));
  return sides;
}

// Calls `method` on both sides of every pair: on the source geo with the target as partner (role
// Target), on the target geo with the source as partner (role Source).
template <typename Visit>
absl::Status ForEachSide(const Sides& sides, Visit visit) {
  for (const SideGeo& s : sides.source) {
    for (const SideGeo& t : sides.target) {
      RETURN_IF_ERROR(visit("source", s, v1::CONNECTION_ROLE_TARGET, t));
      RETURN_IF_ERROR(visit("target", t, v1::CONNECTION_ROLE_SOURCE, s));
    }
  }
  return absl::OkStatus();
}

v1::CrossTenantRelationship Relationship(v1::ConnectionRole partner_role, const SideGeo& partner) {
  v1::CrossTenantRelationship relationship;
  relationship.set_scenario(v1::RELATIONSHIP_SCENARIO_MNA);
  relationship.set_partner_role(partner_role);
  relationship.set_partner_host_url(partner.host_url);
  return relationship;
}

std::string PartnerRoleName(v1::ConnectionRole role) {
  return role == v1::CONNECTION_ROLE_SOURCE ? "Source" : "Target";
}

struct VerifyRow {
  std::string side, geo, partner_role, partner_host, status, raw;
};

absl::StatusOr<std::vector<VerifyRow>> VerifyAll(Invocation& in, const Sides& sides) {
  std::vector<VerifyRow> rows;
  RETURN_IF_ERROR(ForEachSide(
      sides,
      [&](const char* side, const SideGeo& geo, v1::ConnectionRole partner_role,
          const SideGeo& partner) -> absl::Status {
        v1::VerifyCrossTenantRelationshipRequest request;
        request.set_geo(geo.geo);
        *request.mutable_relationship() = Relationship(partner_role, partner);
        ASSIGN_OR_RETURN(v1::VerifyCrossTenantRelationshipResponse response,
                         in.Call<v1::VerifyCrossTenantRelationshipResponse>(
                             in.connector(), &v1::TenantConnector::Stub::VerifyCrossTenantRelationship, request));
        rows.push_back({side, geo.geo, PartnerRoleName(partner_role), partner.host_url, TrustName(response.status()),
                        response.raw_status()});
        return absl::OkStatus();
      }));
  return rows;
}

void PrintVerifyRows(Invocation& in, const std::vector<VerifyRow>& rows) {
  Table table({"SIDE", "GEO", "PARTNER ROLE", "PARTNER HOST URL", "STATUS"});
  for (const VerifyRow& row : rows) table.AddRow({row.side, row.geo, row.partner_role, row.partner_host, row.raw});
  in.Print(table, nlohmann::json());
}

}  // namespace

absl::Status RunTrustEstablish(Invocation& in) {
  std::string source, target;
  in.flags().Text("source", &source, "CONNECTION", "the source connection (required)");
  in.flags().Text("target", &target, "CONNECTION", "the target connection (required)");
  ASSIGN_OR_RETURN(bool run,
                   in.Parse({"Establishes the trust on both tenants for every source-geo/target-geo pair, "
                             "with each geo's cross-tenant host URL read from the tenant itself.",
                             "Get-SPOCrossTenantHostUrl on both tenants, then Set-SPOCrossTenantRelationship "
                             "-Scenario MnA -PartnerRole Target|Source -PartnerCrossTenantHostUrl <partner> on "
                             "each side",
                             "",
                             "Setting a relationship that exists already succeeds. Then wait for "
                             "GoodToProceed with `migratectl trust verify --wait`."}));
  if (!run) return absl::OkStatus();
  ASSIGN_OR_RETURN(Sides sides, LoadSides(in, source, target));
  Table table({"SIDE", "GEO", "HOST URL", "PARTNER ROLE", "PARTNER HOST URL", "RESULT"});
  RETURN_IF_ERROR(ForEachSide(
      sides,
      [&](const char* side, const SideGeo& geo, v1::ConnectionRole partner_role,
          const SideGeo& partner) -> absl::Status {
        v1::SetCrossTenantRelationshipRequest request;
        request.set_geo(geo.geo);
        *request.mutable_relationship() = Relationship(partner_role, partner);
        request.set_request_id(NewRequestId());
        ASSIGN_OR_RETURN(v1::SetCrossTenantRelationshipResponse response,
                         in.Call<v1::SetCrossTenantRelationshipResponse>(
                             in.connector(), &v1::TenantConnector::Stub::SetCrossTenantRelationship, request));
        (void)response;
        table.AddRow({side, geo.geo, geo.host_url, PartnerRoleName(partner_role), partner.host_url, "set"});
        return absl::OkStatus();
      }));
  in.Print(table, nlohmann::json());
  return absl::OkStatus();
}

absl::Status RunTrustVerify(Invocation& in) {
  std::string source, target;
  bool wait = false;
  absl::Duration timeout = absl::Hours(24 * 7 + 1);
  absl::Duration interval = absl::Seconds(2);
  in.flags().Text("source", &source, "CONNECTION", "the source connection (required)");
  in.flags().Text("target", &target, "CONNECTION", "the target connection (required)");
  in.flags().Switch("wait", &wait, "check again until every side says GoodToProceed");
  in.flags().Duration("timeout", &timeout, absl::Milliseconds(1),
                      "with --wait: give up after this long (default 7 days and an hour: "
                      "DormantByPartner lasts up to 7 days)");
  in.flags().Duration("interval", &interval, absl::Milliseconds(1), "with --wait: time between checks");
  ASSIGN_OR_RETURN(bool run, in.Parse({"Verifies the trust on both tenants for every pair. Exit 10 unless every side "
                                       "says GoodToProceed.",
                                       "Verify-SPOCrossTenantRelationship -Scenario MnA -PartnerRole Target|Source "
                                       "-PartnerCrossTenantHostUrl <partner> on each side",
                                       "", ""}));
  if (!run) return absl::OkStatus();
  ASSIGN_OR_RETURN(Sides sides, LoadSides(in, source, target));
  const absl::Time deadline = absl::Now() + timeout;
  std::string last;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<VerifyRow> rows, VerifyAll(in, sides));
    int good = 0;
    std::string summary;
    for (const VerifyRow& row : rows) {
      if (row.status == "GOOD_TO_PROCEED") ++good;
      absl::StrAppend(&summary, summary.empty() ? "" : ", ", row.side, " ", row.geo, " ", row.raw);
    }
    const bool all_good = good == static_cast<int>(rows.size());
    if (!wait || all_good || absl::Now() >= deadline) {
      PrintVerifyRows(in, rows);
      if (all_good) return absl::OkStatus();
      return NotReadyError(absl::StrCat(good, " of ", rows.size(), " sides say GoodToProceed",
                                        wait ? absl::StrCat(" after ", absl::FormatDuration(timeout)) : ""));
    }
    if (summary != last) {
      in.err() << TimeText(absl::Now()) << "  waiting for GoodToProceed: " << summary << "\n";
      in.err().flush();
      last = summary;
    }
    absl::SleepFor(interval);
  }
}

absl::Status RunTrustRemove(Invocation& in) {
  std::string source, target;
  in.flags().Text("source", &source, "CONNECTION", "the source connection (required)");
  in.flags().Text("target", &target, "CONNECTION", "the target connection (required)");
  ASSIGN_OR_RETURN(bool run, in.Parse({"Removes the trust on both tenants for every pair, then verifies that each "
                                       "side says NotEstablished. Do it before the source licences expire.",
                                       "Remove-SPOCrossTenantRelationship -Scenario MnA -PartnerRole Target|Source "
                                       "-PartnerCrossTenantHostUrl <partner> on each side (the target side with "
                                       "-PartnerRole Source: step 7's page has a typo)",
                                       "", ""}));
  if (!run) return absl::OkStatus();
  ASSIGN_OR_RETURN(Sides sides, LoadSides(in, source, target));
  RETURN_IF_ERROR(ForEachSide(
      sides,
      [&](const char*, const SideGeo& geo, v1::ConnectionRole partner_role, const SideGeo& partner) -> absl::Status {
        v1::RemoveCrossTenantRelationshipRequest request;
        request.set_geo(geo.geo);
        *request.mutable_relationship() = Relationship(partner_role, partner);
        request.set_request_id(NewRequestId());
        return in
            .Call<v1::RemoveCrossTenantRelationshipResponse>(
                in.connector(), &v1::TenantConnector::Stub::RemoveCrossTenantRelationship, request)
            .status();
      }));
  ASSIGN_OR_RETURN(std::vector<VerifyRow> rows, VerifyAll(in, sides));
  PrintVerifyRows(in, rows);
  int removed = 0;
  for (const VerifyRow& row : rows) {
    if (row.status == "NOT_ESTABLISHED") ++removed;
  }
  if (removed == static_cast<int>(rows.size())) return absl::OkStatus();
  return NotReadyError(absl::StrCat("removed, but only ", removed, " of ", rows.size(), " sides say NotEstablished"));
}

absl::Status RunCompatibility(Invocation& in) {
  std::string source, target;
  in.flags().Text("source", &source, "CONNECTION", "the source connection (required)");
  in.flags().Text("target", &target, "CONNECTION", "the target connection (required)");
  ASSIGN_OR_RETURN(bool run, in.Parse({"Asks every source geo whether it is compatible with every target geo. "
                                       "Compatible and Warning may proceed; exit 10 when a pair is Incompatible "
                                       "(Microsoft: wait up to 48 hours, then contact support).",
                                       "Get-SPOCrossTenantCompatibilityStatus -PartnerCrossTenantHostUrl <target> "
                                       "(on the source only)",
                                       "", ""}));
  if (!run) return absl::OkStatus();
  ASSIGN_OR_RETURN(Sides sides, LoadSides(in, source, target));
  Table table({"SOURCE GEO", "TARGET HOST URL", "STATUS", "MESSAGE"});
  int incompatible = 0;
  for (const SideGeo& s : sides.source) {
    for (const SideGeo& t : sides.target) {
      v1::GetCompatibilityStatusRequest request;
      request.set_geo(s.geo);
      request.set_partner_host_url(t.host_url);
      ASSIGN_OR_RETURN(v1::GetCompatibilityStatusResponse response,
                       in.Call<v1::GetCompatibilityStatusResponse>(
                           in.connector(), &v1::TenantConnector::Stub::GetCompatibilityStatus, request));
      if (response.status() == v1::COMPATIBILITY_STATUS_INCOMPATIBLE) ++incompatible;
      table.AddRow({s.geo, t.host_url, response.raw_status(), response.message()});
    }
  }
  in.Print(table, nlohmann::json());
  if (incompatible == 0) return absl::OkStatus();
  return NotReadyError(absl::StrCat(incompatible, " pair(s) Incompatible"));
}

}  // namespace crosstenant::migratectl
