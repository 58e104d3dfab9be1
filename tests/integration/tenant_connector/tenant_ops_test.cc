// Steps 2-7 through the connector against the real emulator: host URLs, trust (set, dormant, verify,
// remove), compatibility, user pre-checks via Graph $batch, identity map deltas of at most 50, moves
// (start idempotently, refusals, get, batch get, list, stop), redirect sites, preflight, and the
// connection states DEGRADED / EXPIRED and their recovery.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "services/common/errors.h"
#include "services/common/grpc_status.h"
#include "tests/support/mesh_processes.h"

namespace crosstenant::testing {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::HasSubstr;

constexpr char kContosoTenantId[] = "7f1d1c1e-0000-4000-8000-000000000001";
constexpr char kSourceHost[] = "https://contoso-my.sharepoint.com/";
constexpr char kTargetHost[] = "https://fabrikam-my.sharepoint.com/";

std::chrono::system_clock::time_point In(std::chrono::seconds duration) {
  return std::chrono::system_clock::now() + duration;
}

// The suite's connector holds connections/src (contoso) and connections/tgt (fabrikam).
class TenantOpsTest : public ConnectorSuite {
 protected:
  static void SetUpTestSuite() {
    ConnectorSuite::SetUpTestSuite();
    if (setup_error_.empty() && !connector_->ConnectSourceAndTarget("src", "tgt")) setup_error_ = connector_->error();
  }

  template <typename Request, typename Response, typename Method>
  static grpc::Status Call(Method method, const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(30)));
    return (connector_->stub().*method)(&context, request, response);
  }

  static v1::VerifyCrossTenantRelationshipResponse Verify(const std::string& geo, const std::string& partner) {
    v1::VerifyCrossTenantRelationshipRequest request;
    request.set_geo(geo);
    request.mutable_relationship()->set_partner_host_url(partner);
    v1::VerifyCrossTenantRelationshipResponse response;
    grpc::Status status = Call(&v1::TenantConnector::Stub::VerifyCrossTenantRelationship, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  static void EstablishTrust() {
    // Multi-Geo: every source geo with every target geo, on both sides.
    for (auto [geo, partner] :
         {std::make_pair("connections/src", kTargetHost), std::make_pair("connections/src/geos/eur", kTargetHost),
          std::make_pair("connections/tgt", kSourceHost),
          std::make_pair("connections/tgt", "https://contosoeur-my.sharepoint.com/")}) {
      v1::SetCrossTenantRelationshipRequest request;
      request.set_geo(geo);
      request.mutable_relationship()->set_partner_host_url(partner);
      v1::SetCrossTenantRelationshipResponse response;
      grpc::Status status = Call(&v1::TenantConnector::Stub::SetCrossTenantRelationship, request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
  }
};

TEST_F(TenantOpsTest, HostUrlsTrustAndCompatibility) {
  v1::GetCrossTenantHostUrlRequest host_request;
  host_request.set_geo("connections/tgt");
  v1::GetCrossTenantHostUrlResponse host;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::GetCrossTenantHostUrl, host_request, &host).ok());
  EXPECT_EQ(host.host_url(), kTargetHost);

  EXPECT_EQ(Verify("connections/src", kTargetHost).status(), v1::TRUST_STATUS_NOT_ESTABLISHED);
  EstablishTrust();
  // Set again: idempotent; partner role filled in from the connection's role.
  v1::SetCrossTenantRelationshipRequest again;
  again.set_geo("connections/src");
  again.mutable_relationship()->set_partner_host_url("https://FABRIKAM-my.sharepoint.com");
  v1::SetCrossTenantRelationshipResponse set;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::SetCrossTenantRelationship, again, &set).ok());
  EXPECT_EQ(set.relationship().partner_role(), v1::CONNECTION_ROLE_TARGET);
  EXPECT_EQ(set.relationship().scenario(), v1::RELATIONSHIP_SCENARIO_MNA);
  EXPECT_EQ(set.relationship().partner_host_url(), kTargetHost);

  v1::VerifyCrossTenantRelationshipResponse dormant = Verify("connections/src", kTargetHost);
  EXPECT_EQ(dormant.status(), v1::TRUST_STATUS_DORMANT_BY_PARTNER);
  EXPECT_EQ(dormant.raw_status(), "DormantByPartner");
  emulator_->Admin("POST", "/_emulator/time", {{"advance_seconds", 8 * 86400}});
  EXPECT_EQ(Verify("connections/src", kTargetHost).status(), v1::TRUST_STATUS_GOOD_TO_PROCEED);
  EXPECT_EQ(Verify("connections/tgt", kSourceHost).status(), v1::TRUST_STATUS_GOOD_TO_PROCEED);

  v1::GetCompatibilityStatusRequest compat_request;
  compat_request.set_geo("connections/src");
  compat_request.set_partner_host_url(kTargetHost);
  v1::GetCompatibilityStatusResponse compat;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::GetCompatibilityStatus, compat_request, &compat).ok());
  EXPECT_EQ(compat.status(), v1::COMPATIBILITY_STATUS_COMPATIBLE);
  compat_request.set_geo("connections/tgt");
  EXPECT_EQ(Call(&v1::TenantConnector::Stub::GetCompatibilityStatus, compat_request, &compat).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Preflight across both: ready once trust is good.
  v1::PreflightRequest preflight_request;
  preflight_request.set_source_connection("connections/src");
  preflight_request.set_target_connection("connections/tgt");
  v1::PreflightResponse preflight;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::Preflight, preflight_request, &preflight).ok());
  for (const auto& result : preflight.report().results()) {
    EXPECT_NE(result.finding().severity(), v1::SEVERITY_ERROR) << result.DebugString();
  }
  EXPECT_TRUE(preflight.report().ready());
}

TEST_F(TenantOpsTest, BatchCheckUsersByRole) {
  v1::BatchCheckUsersRequest request;
  request.set_connection("connections/tgt");
  for (const char* upn :
       {"alice@fabrikam.onmicrosoft.com", "bob@fabrikam.onmicrosoft.com", "nobody@fabrikam.onmicrosoft.com"}) {
    request.add_user_principal_names(upn);
  }
  v1::BatchCheckUsersResponse response;
  grpc::Status status = Call(&v1::TenantConnector::Stub::BatchCheckUsers, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.checks_size(), 3);
  EXPECT_TRUE(response.checks(0).found());
  EXPECT_FALSE(response.checks(0).onedrive().exists());
  EXPECT_EQ(response.checks(0).findings_size(), 0);
  EXPECT_TRUE(response.checks(1).onedrive().exists());
  ASSERT_EQ(response.checks(1).findings_size(), 1);
  EXPECT_EQ(response.checks(1).findings(0).code(), "TARGET_ONEDRIVE_EXISTS");
  EXPECT_FALSE(response.checks(2).found());
  EXPECT_EQ(response.checks(2).findings(0).code(), "TARGET_USER_MISSING");

  request.set_connection("connections/src");
  request.clear_user_principal_names();
  request.add_user_principal_names("o'brien@contoso.onmicrosoft.com");
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::BatchCheckUsers, request, &response).ok());
  ASSERT_GE(response.checks(0).findings_size(), 1);
  EXPECT_EQ(response.checks(0).findings(0).code(), "APOSTROPHE_IN_UPN");
}

// On a source, each OneDrive's lock state comes from the SharePoint admin of its own geo (Get-SPOSite),
// for a whole page of users in one request per geo; a OneDrive that is not Unlock is read-only and
// blocked, its finding naming the lock state and how to lift it.
TEST_F(TenantOpsTest, BatchCheckUsersReadsEachSourceOneDrivesLockStateFromItsGeo) {
  v1::BatchCheckUsersRequest request;
  request.set_connection("connections/src");
  for (const char* upn : {"alice@contoso.onmicrosoft.com", "bob@contoso.onmicrosoft.com",
                          "locked@contoso.onmicrosoft.com", "nobody@contoso.onmicrosoft.com"}) {
    request.add_user_principal_names(upn);
  }
  emulator_->Admin("POST", "/_emulator/accounting/reset");
  v1::BatchCheckUsersResponse response;
  const grpc::Status status = Call(&v1::TenantConnector::Stub::BatchCheckUsers, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.checks_size(), 4);
  auto codes = [](const v1::UserCheck& check) {
    std::vector<std::string> out;
    for (const v1::Finding& finding : check.findings()) out.push_back(finding.code());
    return out;
  };
  for (int i : {0, 1}) {
    EXPECT_FALSE(response.checks(i).has_error()) << response.checks(i).DebugString();
    EXPECT_FALSE(response.checks(i).onedrive().read_only()) << response.checks(i).DebugString();
    EXPECT_THAT(codes(response.checks(i)), ::testing::IsEmpty());
  }
  EXPECT_EQ(response.checks(0).onedrive().site_url(),
            "https://contoso-my.sharepoint.com/personal/alice_contoso_onmicrosoft_com");
  const v1::UserCheck& locked = response.checks(2);
  EXPECT_EQ(locked.onedrive().location_code(), "EUR");
  EXPECT_TRUE(locked.onedrive().read_only()) << locked.DebugString();
  ASSERT_THAT(codes(locked), ::testing::ElementsAre("ONEDRIVE_LOCKED"));
  EXPECT_THAT(locked.findings(0).message(), HasSubstr("LockState ReadOnly"));
  EXPECT_THAT(locked.findings(0).remedy(),
              HasSubstr("Set-SPOSite -Identity https://contosoeur-my.sharepoint.com/personal/"
                        "locked_contoso_onmicrosoft_com -LockState Unlock"));
  EXPECT_FALSE(response.checks(3).onedrive().read_only());
  // One request per geo: alice's (NAM) on contoso-admin, bob's and locked's (EUR) on contosoeur-admin.
  const nlohmann::json accounting = emulator_->Admin("GET", "/_emulator/accounting");
  EXPECT_EQ(accounting["requests"]["by_route"].value("sharepoint.csom.GetSitePropertiesByUrl", 0), 2)
      << accounting.dump();
}

// More users than one `$filter ... in (...)` look-up holds (15): every user is answered, found or not
// and whatever the case of its name, and the same when Graph refuses `in` and each user is looked up alone.
TEST_F(TenantOpsTest, BatchCheckUsersLooksUsersUpFifteenAtATimeOrAloneWhenGraphRefusesTheList) {
  v1::BatchCheckUsersRequest request;
  request.set_connection("connections/src");
  for (int i = 0; i < 17; ++i) request.add_user_principal_names(absl::StrCat("nobody", i, "@contoso.onmicrosoft.com"));
  request.add_user_principal_names("Alice@Contoso.onmicrosoft.com");
  request.add_user_principal_names("o'brien@contoso.onmicrosoft.com");
  auto summaries = [&] {
    v1::BatchCheckUsersResponse response;
    const grpc::Status status = Call(&v1::TenantConnector::Stub::BatchCheckUsers, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> out;
    for (const v1::UserCheck& check : response.checks()) {
      EXPECT_FALSE(check.has_error()) << check.DebugString();
      out.push_back(absl::StrCat(check.user_principal_name(), " found=", check.found(),
                                 " onedrive=", check.onedrive().exists(), " id=", check.user().id()));
    }
    return out;
  };
  const std::vector<std::string> listed = summaries();
  ASSERT_EQ(listed.size(), 19u);
  for (int i = 0; i < 17; ++i) EXPECT_THAT(listed[i], ::testing::HasSubstr("found=0 onedrive=0"));
  EXPECT_THAT(listed[17], ::testing::HasSubstr("found=1 onedrive=1 id="));
  EXPECT_THAT(listed[18], ::testing::HasSubstr("found=1"));
  EXPECT_THAT(listed[17], ::testing::Not(::testing::EndsWith("id="))) << "Graph's id of the user";

  emulator_->Admin("PUT", "/_emulator/faults", {{"refuse_filter_in", true}});
  const std::vector<std::string> alone = summaries();
  emulator_->Admin("DELETE", "/_emulator/faults");
  EXPECT_EQ(alone, listed);
}

TEST_F(TenantOpsTest, ListTenantUsersFollowsNextLink) {
  std::vector<std::string> upns;
  std::string token;
  int pages = 0;
  do {
    v1::ListTenantUsersRequest request;
    request.set_connection("connections/src");
    request.set_page_size(2);
    request.set_page_token(token);
    v1::ListTenantUsersResponse response;
    grpc::Status status = Call(&v1::TenantConnector::Stub::ListTenantUsers, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_LE(response.users_size(), 2);
    for (const auto& user : response.users()) upns.push_back(user.user_principal_name());
    token = response.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 20);
  EXPECT_GE(pages, 2);
  EXPECT_THAT(upns, ::testing::IsSupersetOf({"alice@contoso.onmicrosoft.com", "bob@contoso.onmicrosoft.com",
                                             "carol@contoso.onmicrosoft.com"}));
  v1::ListTenantUsersRequest bad;
  bad.set_connection("connections/src");
  bad.set_page_token("bm90LWEtbGluaw");
  v1::ListTenantUsersResponse response;
  EXPECT_EQ(Call(&v1::TenantConnector::Stub::ListTenantUsers, bad, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(TenantOpsTest, IdentityMapDeltasOfAtMostFifty) {
  std::string csv;
  for (int i = 0; i < 120; ++i) {
    absl::StrAppend(&csv, "User,", kContosoTenantId, ",user", i, "@contoso.onmicrosoft.com,user", i,
                    "@fabrikam.onmicrosoft.com,user", i, "@fabrikam.com,RegularUser\n");
  }
  absl::StrAppend(&csv, "User,", kContosoTenantId,
                  ",alice@contoso.onmicrosoft.com,alice@fabrikam.onmicrosoft.com,alice@fabrikam.com,RegularUser\n");
  v1::UploadIdentityMapRequest request;
  request.set_geo("connections/tgt");
  request.mutable_identity_map()->set_csv(csv);
  v1::UploadIdentityMapResponse response;
  grpc::Status status = Call(&v1::TenantConnector::Stub::UploadIdentityMap, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.summary().user_rows(), 121);
  EXPECT_EQ(response.upstream_request_count(), 3);
  EXPECT_EQ(response.summary().sha256().size(), 64u);

  v1::GetIdentityMapEntryRequest get;
  get.set_geo("connections/tgt");
  get.set_source_user_principal_name("alice@contoso.onmicrosoft.com");
  v1::GetIdentityMapEntryResponse entry;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::GetIdentityMapEntry, get, &entry).ok());
  EXPECT_EQ(entry.mapping().target_user_principal_name(), "alice@fabrikam.onmicrosoft.com");
  EXPECT_EQ(entry.mapping().source_tenant_id(), kContosoTenantId);

  // A bad map: every problem reported, nothing sent.
  request.mutable_identity_map()->set_csv(
      absl::StrCat("User,not-a-guid,a@contoso.com,b@fabrikam.com,b@fabrikam.com,RegularUser\n", "User,",
                   kContosoTenantId, ",o'x@contoso.com\n"));
  status = Call(&v1::TenantConnector::Stub::UploadIdentityMap, request, &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  google::rpc::BadRequest bad;
  ASSERT_TRUE(details.details(0).UnpackTo(&bad));
  EXPECT_GE(bad.field_violations_size(), 2);
  EXPECT_THAT(bad.field_violations(0).field(), HasSubstr("identity_map.csv:1"));

  // The source is not where maps go.
  request.set_geo("connections/src");
  request.mutable_identity_map()->set_csv(
      absl::StrCat("User,", kContosoTenantId, ",a@contoso.com,b@fabrikam.com,b@fabrikam.com,RegularUser\n"));
  EXPECT_EQ(Call(&v1::TenantConnector::Stub::UploadIdentityMap, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(TenantOpsTest, AMapSentInPagesArrivesWholeAtMicrosoft) {
  constexpr int kPages = 3, kPageRows = 60;
  int upstream = 0;
  for (int page = 0; page < kPages; ++page) {
    std::string csv;
    for (int i = page * kPageRows; i < (page + 1) * kPageRows; ++i) {
      absl::StrAppend(&csv, "User,", kContosoTenantId, ",paged", i, "@contoso.onmicrosoft.com,paged", i,
                      "@fabrikam.onmicrosoft.com,paged", i, "@fabrikam.com,RegularUser\n");
    }
    v1::UploadIdentityMapRequest request;
    request.set_geo("connections/tgt");
    request.mutable_identity_map()->set_csv(csv);
    v1::UploadIdentityMapResponse response;
    grpc::Status status = Call(&v1::TenantConnector::Stub::UploadIdentityMap, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.summary().user_rows(), kPageRows);
    upstream += response.upstream_request_count();
  }
  EXPECT_EQ(upstream, kPages * 2) << "each page of 60 in deltas of 50 and 10";
  // Every row of every page is at Microsoft: a later page adds to the earlier ones, it does not replace them.
  for (int i = 0; i < kPages * kPageRows; ++i) {
    v1::GetIdentityMapEntryRequest get;
    get.set_geo("connections/tgt");
    get.set_source_user_principal_name(absl::StrCat("paged", i, "@contoso.onmicrosoft.com"));
    v1::GetIdentityMapEntryResponse entry;
    grpc::Status status = Call(&v1::TenantConnector::Stub::GetIdentityMapEntry, get, &entry);
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
    EXPECT_EQ(entry.mapping().target_user_principal_name(), absl::StrCat("paged", i, "@fabrikam.onmicrosoft.com"));
  }
}

TEST_F(TenantOpsTest, MovesStartIdempotentlyProgressAndStop) {
  EstablishTrust();
  emulator_->Admin("POST", "/_emulator/time", {{"advance_seconds", 8 * 86400}});
  emulator_->Admin("DELETE", "/_emulator/accounting");
  auto start = [](const std::string& source, const std::string& target, v1::StartUserContentMoveResponse* response) {
    v1::StartUserContentMoveRequest request;
    request.set_geo("connections/src");
    request.set_source_user_principal_name(source);
    request.set_target_user_principal_name(target);
    request.set_target_host_url(kTargetHost);
    return Call(&v1::TenantConnector::Stub::StartUserContentMove, request, response);
  };
  v1::StartUserContentMoveResponse first;
  grpc::Status status = start("alice@contoso.onmicrosoft.com", "alice@fabrikam.onmicrosoft.com", &first);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(first.already_started());
  EXPECT_EQ(first.move().state(), v1::MOVE_STATE_NOT_STARTED);
  EXPECT_FALSE(first.move().task_id().empty());
  v1::StartUserContentMoveResponse second;
  ASSERT_TRUE(start("alice@contoso.onmicrosoft.com", "alice@fabrikam.onmicrosoft.com", &second).ok());
  EXPECT_TRUE(second.already_started());
  EXPECT_EQ(second.move().task_id(), first.move().task_id());
  nlohmann::json accounting = emulator_->Admin("GET", "/_emulator/accounting");
  EXPECT_EQ(accounting["moves"]["starts"].get<int>(), 1) << accounting.dump();

  // Refusals carry Microsoft's text.
  v1::StartUserContentMoveResponse refused;
  status = start("carol@contoso.onmicrosoft.com", "bob@fabrikam.onmicrosoft.com", &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("conflict"));
  // Without trust: Microsoft's 422 text.
  {
    v1::RemoveCrossTenantRelationshipRequest remove;
    remove.set_geo("connections/src/geos/eur");
    remove.mutable_relationship()->set_partner_host_url(kTargetHost);
    v1::RemoveCrossTenantRelationshipResponse removed;
    ASSERT_TRUE(Call(&v1::TenantConnector::Stub::RemoveCrossTenantRelationship, remove, &removed).ok());
    EXPECT_EQ(Verify("connections/src/geos/eur", kTargetHost).status(), v1::TRUST_STATUS_NOT_ESTABLISHED);
  }
  status = start("bob@contoso.onmicrosoft.com", "carol@fabrikam.onmicrosoft.com", &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("no Cross-Tenant relationship established"));
  status = start("o'brien@contoso.onmicrosoft.com", "alice@fabrikam.onmicrosoft.com", &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("invalid character"));

  // Get one, batch get, list.
  v1::GetUserContentMoveRequest get;
  get.set_geo("connections/src");
  get.set_partner_host_url(kTargetHost);
  get.set_source_user_principal_name("alice@contoso.onmicrosoft.com");
  v1::GetUserContentMoveResponse got;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::GetUserContentMove, get, &got).ok());
  EXPECT_EQ(got.move().target_user_principal_name(), "alice@fabrikam.onmicrosoft.com");
  v1::BatchGetUserContentMovesRequest batch;
  batch.set_geo("connections/src");
  batch.set_partner_host_url(kTargetHost);
  batch.add_source_user_principal_names("alice@contoso.onmicrosoft.com");
  batch.add_source_user_principal_names("nobody@contoso.onmicrosoft.com");
  v1::BatchGetUserContentMovesResponse batched;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::BatchGetUserContentMoves, batch, &batched).ok());
  ASSERT_EQ(batched.results_size(), 2);
  EXPECT_TRUE(batched.results(0).found());
  EXPECT_FALSE(batched.results(1).found());

  // Stop a queued move; stopping again succeeds.
  v1::StartUserContentMoveResponse carol;
  ASSERT_TRUE(start("carol@contoso.onmicrosoft.com", "carol@fabrikam.onmicrosoft.com", &carol).ok());
  v1::StopUserContentMoveRequest stop;
  stop.set_geo("connections/src");
  stop.set_source_user_principal_name("carol@contoso.onmicrosoft.com");
  v1::StopUserContentMoveResponse stopped;
  status = Call(&v1::TenantConnector::Stub::StopUserContentMove, stop, &stopped);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(stopped.move().state(), v1::MOVE_STATE_STOPPED);
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::StopUserContentMove, stop, &stopped).ok());

  // Let alice's move finish: it leaves a redirect site on the source.
  emulator_->Admin("POST", "/_emulator/time", {{"advance_seconds", 6 * 3600}});
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::GetUserContentMove, get, &got).ok());
  EXPECT_EQ(got.move().state(), v1::MOVE_STATE_SUCCESS) << got.move().DebugString();
  v1::ListUserContentMovesRequest list;
  list.set_geo("connections/src");
  list.set_partner_host_url(kTargetHost);
  list.add_states(v1::MOVE_STATE_SUCCESS);
  v1::ListUserContentMovesResponse listed;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::ListUserContentMoves, list, &listed).ok());
  ASSERT_EQ(listed.moves_size(), 1);
  // A finished move can not be stopped.
  stop.set_source_user_principal_name("alice@contoso.onmicrosoft.com");
  EXPECT_EQ(Call(&v1::TenantConnector::Stub::StopUserContentMove, stop, &stopped).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::ListRedirectSitesRequest redirects_request;
  redirects_request.set_geo("connections/src");
  v1::ListRedirectSitesResponse redirects;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::ListRedirectSites, redirects_request, &redirects).ok());
  ASSERT_EQ(redirects.redirect_sites_size(), 1);
  EXPECT_THAT(redirects.redirect_sites(0).url(), HasSubstr("contoso-my.sharepoint.com/personal/alice"));
  v1::RemoveRedirectSiteRequest remove;
  remove.set_geo("connections/src");
  remove.set_url(redirects.redirect_sites(0).url());
  v1::RemoveRedirectSiteResponse removed;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::RemoveRedirectSite, remove, &removed).ok());
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::RemoveRedirectSite, remove, &removed).ok());  // absent: fine
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::ListRedirectSites, redirects_request, &redirects).ok());
  EXPECT_EQ(redirects.redirect_sites_size(), 0);
}

TEST_F(TenantOpsTest, ConnectionDegradesExpiresAndRecovers) {
  // A secret read from a file: rotating the file rotates the secret.
  TempDir dir;
  std::string secret_file = dir.WriteFile("secret", std::string(kFabrikamSecret) + "\n");
  v1::Credential credential;
  credential.mutable_client_secret()->set_client_id(kFabrikamApp);
  credential.mutable_client_secret()->mutable_secret()->set_file_path(secret_file);
  v1::CreateConnectionResponse created;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(connector_->stub()
                    .CreateConnection(&context,
                                      ConnectRequest("health", v1::CONNECTION_ROLE_TARGET,
                                                     "https://fabrikam-admin.sharepoint.com", credential),
                                      &created)
                    .ok());
  }
  auto check = [] {
    v1::CheckConnectionRequest request;
    request.set_name("connections/health");
    v1::CheckConnectionResponse response;
    grpc::Status status = Call(&v1::TenantConnector::Stub::CheckConnection, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.connection();
  };
  // The tenant becomes unreachable: DEGRADED; back: CONNECTED.
  emulator_->Admin("PUT", "/_emulator/faults", {{"unreachable_tenants", {"fabrikam"}}});
  v1::Connection degraded = check();
  EXPECT_EQ(degraded.state(), v1::CONNECTION_STATE_DEGRADED) << degraded.state_reason();
  EXPECT_EQ(degraded.health().last_error().code(), "UPSTREAM_UNAVAILABLE");
  emulator_->Admin("DELETE", "/_emulator/faults");
  EXPECT_EQ(check().state(), v1::CONNECTION_STATE_CONNECTED);

  // The secret is revoked (wrong secret in the file) and tokens expire: EXPIRED with the AADSTS code.
  emulator_->Admin("PUT", "/_emulator/faults", {{"token_lifetime_seconds", 1}});
  {
    grpc::ClientContext context;
    v1::ReauthenticateConnectionRequest request;
    request.set_name("connections/health");
    v1::ReauthenticateConnectionResponse response;
    ASSERT_TRUE(connector_->stub().ReauthenticateConnection(&context, request, &response).ok());
  }
  std::ofstream(secret_file) << "revoked-secret\n";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the 1 s token must really expire
  v1::Connection expired = check();
  EXPECT_EQ(expired.state(), v1::CONNECTION_STATE_EXPIRED);
  EXPECT_THAT(expired.state_reason(), HasSubstr("AADSTS7000215"));
  EXPECT_THAT(expired.DebugString(), ::testing::Not(HasSubstr("revoked-secret")));
  // Tenant operations refuse an EXPIRED connection, naming the state.
  v1::GetCrossTenantHostUrlRequest host_request;
  host_request.set_geo("connections/health");
  v1::GetCrossTenantHostUrlResponse host;
  grpc::Status refused = Call(&v1::TenantConnector::Stub::GetCrossTenantHostUrl, host_request, &host);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("EXPIRED"));
  // Typed as the connection's refusal, not Microsoft's: a worker keeps a move in flight on it.
  EXPECT_EQ(ErrorInfoReasonOf(FromGrpcStatus(refused)), kReasonConnectionNotUsable);
  EXPECT_EQ(ErrorInfoMetadataOf(FromGrpcStatus(refused), "state"), "EXPIRED");
  {
    v1::GetUserContentMoveRequest get;
    get.set_geo("connections/no-such-connection");
    get.set_task_id("any");
    v1::GetUserContentMoveResponse got;
    const grpc::Status missing = Call(&v1::TenantConnector::Stub::GetUserContentMove, get, &got);
    EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(ErrorInfoReasonOf(FromGrpcStatus(missing)), kReasonConnectionNotFound);
  }
  // The file is fixed: the next probe recovers.
  std::ofstream(secret_file) << kFabrikamSecret << "\n";
  EXPECT_EQ(check().state(), v1::CONNECTION_STATE_CONNECTED);
  emulator_->Admin("DELETE", "/_emulator/faults");

  v1::DeleteConnectionRequest del;
  del.set_name("connections/health");
  v1::DeleteConnectionResponse deleted;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::DeleteConnection, del, &deleted).ok());
}

// An outage is not throttling: a tenant that answers 503 without Retry-After is UNAVAILABLE, saying it
// is unreachable (migratectl exit 8, not 9), and once it answers again it is used within seconds. A
// connector of its own, with the default back-off (5 s, doubling), which the outage's hold must not
// follow.
TEST_F(TenantOpsTest, AnUnreachableTenantIsUnavailableAndUsedAgainWithinSecondsOfRecovering) {
  Connector own;
  ASSERT_TRUE(own.Start(*emulator_, "", {"--probe-interval=1h"})) << own.Stderr();
  {
    grpc::ClientContext context;
    v1::CreateConnectionResponse response;
    const grpc::Status status = own.stub().CreateConnection(
        &context,
        ConnectRequest("outage", v1::CONNECTION_ROLE_TARGET, "https://fabrikam-admin.sharepoint.com",
                       SecretCredential(kFabrikamApp, kFabrikamSecret)),
        &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  auto list = [&own](std::chrono::seconds deadline) {
    grpc::ClientContext context;
    context.set_deadline(In(deadline));
    v1::ListTenantUsersRequest request;
    request.set_connection("connections/outage");
    request.set_page_size(1);
    v1::ListTenantUsersResponse response;
    return own.stub().ListTenantUsers(&context, request, &response);
  };
  emulator_->Admin("PUT", "/_emulator/faults", {{"unreachable_tenants", {"fabrikam"}}});
  const grpc::Status down = list(std::chrono::seconds(20));
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE) << down.error_message();
  EXPECT_THAT(down.error_message(), HasSubstr("unreachable"));
  EXPECT_THAT(down.error_message(), ::testing::Not(HasSubstr("throttl")));
  emulator_->Admin("DELETE", "/_emulator/faults");
  const auto recovered_at = std::chrono::steady_clock::now();
  const grpc::Status up = list(std::chrono::seconds(30));
  const auto took = std::chrono::steady_clock::now() - recovered_at;
  EXPECT_TRUE(up.ok()) << up.error_message();
  EXPECT_LT(took, std::chrono::seconds(4)) << "the tenant answered again, but was held back";
  std::cout << "outage: UNAVAILABLE (" << down.error_message() << "); first answer after recovery in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  EXPECT_EQ(own.Stop(), 0);
}

TEST_F(TenantOpsTest, PreflightReportsAMissingRole) {
  v1::PreflightRequest request;
  request.set_source_connection("connections/src");
  request.set_target_connection("connections/src");  // wrong role on purpose
  v1::PreflightResponse response;
  ASSERT_TRUE(Call(&v1::TenantConnector::Stub::Preflight, request, &response).ok());
  EXPECT_FALSE(response.report().ready());
  bool role_mismatch = false;
  for (const auto& result : response.report().results()) {
    if (result.finding().code() == "CONNECTION_ROLE_MISMATCH") role_mismatch = true;
    EXPECT_FALSE(result.finding().code().empty());
  }
  EXPECT_TRUE(role_mismatch);
}

}  // namespace
}  // namespace crosstenant::testing
