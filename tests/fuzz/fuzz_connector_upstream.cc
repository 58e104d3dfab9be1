// Fuzzes the connector's reading of Microsoft's JSON: the Graph and SharePoint admin answers of
// step 1 (token, organization, directory roles, geo locations) and of the tenant operations of steps
// 2-7 (users, user checks, cross-tenant host URL, relationships, compatibility, identity map entries,
// moves, redirect sites). The real Connector runs against a scripted Microsoft (fake_upstream.h).
//
// Input: a first line "app|user [operation ...]" (the credential kind of the connection, then the
// operations to run once it is connected: hosturl users check move moves batch compat redirects start
// entry verify check2), then the script of upstream responses, answered in the order requests go out.
//
// Besides crashes, uncaught exceptions and sanitizer reports it checks that the connector sends its
// bearer tokens only to Microsoft's hosts (Entra ID, Graph, SharePoint), whatever the answers say.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/common/executor.h"
#include "services/common/logging.h"
#include "services/tenant_connector/core/connector.h"
#include "tests/fuzz/fake_upstream.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace tc = crosstenant::tenant_connector;
namespace v1 = crosstenant::v1;

constexpr char kPartner[] = "https://fabrikam-my.sharepoint.com/";

std::string HostOf(const std::string& url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "https://")) return "";
  return std::string(rest.substr(0, rest.find_first_of("/?#:")));
}

bool MicrosoftHost(const std::string& host) {
  return host == "login.microsoftonline.com" || host == "graph.microsoft.com" ||
         absl::EndsWith(host, ".sharepoint.com");
}

v1::CreateConnectionRequest CreateRequest(bool delegated) {
  v1::CreateConnectionRequest request;
  request.set_role(v1::CONNECTION_ROLE_SOURCE);
  request.set_admin_url("https://contoso-admin.sharepoint.com");
  v1::Credential* credential = request.mutable_credential();
  credential->set_tenant("contoso.onmicrosoft.com");
  if (delegated) {
    credential->mutable_username_password()->set_client_id("11111111-1111-4111-8111-111111111111");
    credential->mutable_username_password()->set_username("admin@contoso.onmicrosoft.com");
    credential->mutable_username_password()->mutable_password()->set_value("password");
  } else {
    credential->mutable_client_secret()->set_client_id("11111111-1111-4111-8111-111111111111");
    credential->mutable_client_secret()->mutable_secret()->set_value("secret");
  }
  return request;
}

void RunOperation(tc::Connector& connector, const v1::Connection& connection, absl::string_view op,
                  absl::Time deadline) {
  const std::string geo = connection.home_geo();
  const std::string upn = "alice@contoso.com";
  if (op == "hosturl") {
    (void)connector.GetCrossTenantHostUrl(geo, deadline);
  } else if (op == "users") {
    v1::ListTenantUsersRequest request;
    request.set_connection(connection.name());
    request.set_page_size(10);
    (void)connector.ListTenantUsers(request, deadline);
  } else if (op == "check") {
    v1::BatchCheckUsersRequest request;
    request.set_connection(connection.name());
    request.add_user_principal_names(upn);
    request.add_user_principal_names("bob@contoso.com");
    (void)connector.BatchCheckUsers(request, deadline);
  } else if (op == "move") {
    v1::GetUserContentMoveRequest request;
    request.set_geo(geo);
    request.set_partner_host_url(kPartner);
    request.set_source_user_principal_name(upn);
    (void)connector.GetMove(request, deadline);
  } else if (op == "moves") {
    v1::ListUserContentMovesRequest request;
    request.set_geo(geo);
    request.set_partner_host_url(kPartner);
    request.set_page_size(5);
    (void)connector.ListMoves(request, deadline);
  } else if (op == "batch") {
    v1::BatchGetUserContentMovesRequest request;
    request.set_geo(geo);
    request.set_partner_host_url(kPartner);
    request.add_source_user_principal_names(upn);
    request.add_source_user_principal_names("bob@contoso.com");
    (void)connector.BatchGetMoves(request, deadline);
  } else if (op == "compat") {
    v1::GetCompatibilityStatusRequest request;
    request.set_geo(geo);
    request.set_partner_host_url(kPartner);
    (void)connector.GetCompatibility(request, deadline);
  } else if (op == "redirects") {
    v1::ListRedirectSitesRequest request;
    request.set_geo(geo);
    request.set_page_size(5);
    (void)connector.ListRedirectSites(request, deadline);
  } else if (op == "start") {
    v1::StartUserContentMoveRequest request;
    request.set_geo(geo);
    request.set_source_user_principal_name(upn);
    request.set_target_user_principal_name("alice@fabrikam.com");
    request.set_target_host_url(kPartner);
    request.set_target_tenant_id("7f1d1c1e-0000-4000-8000-000000000002");
    request.set_target_location_code("NAM");
    (void)connector.StartMove(request, deadline);
  } else if (op == "entry") {
    v1::GetIdentityMapEntryRequest request;
    request.set_geo(geo);
    request.set_source_user_principal_name(upn);
    (void)connector.GetIdentityMapEntry(request, deadline);
  } else if (op == "verify") {
    v1::CrossTenantRelationship relationship;
    relationship.set_partner_role(v1::CONNECTION_ROLE_TARGET);
    relationship.set_partner_host_url(kPartner);
    (void)connector.VerifyRelationship(geo, relationship, deadline);
  } else if (op == "check2") {
    (void)connector.Check(connection.name(), deadline);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    crosstenant::log::Configure(crosstenant::log::Format::kText, "fuzz", crosstenant::log::Severity::kError);
    return true;
  }();
  (void)quiet;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::vector<std::string> words = absl::StrSplit(input.substr(0, newline), ' ', absl::SkipEmpty());
  const std::string script = newline == std::string::npos ? "" : input.substr(newline + 1);

  crosstenant::fuzz::ScriptedTransport transport(script);
  crosstenant::fuzz::InstantClock clock(absl::Now());
  crosstenant::Executor executor(1);
  tc::ConnectorOptions options;
  options.probe_interval = absl::Hours(1000);  // no probe runs during one input
  options.throttle.max_attempts = 3;
  options.throttle.backoff_base = absl::Seconds(1);
  {
    tc::Connector connector(options, &transport, &clock, &executor, nullptr, "", nullptr);
    const bool delegated = !words.empty() && words[0] == "user";
    absl::StatusOr<v1::Connection> connection =
        connector.Create(CreateRequest(delegated), clock.Now() + absl::Minutes(5));
    if (connection.ok()) {
      for (size_t i = 1; i < words.size() && i < 16; ++i) {
        RunOperation(connector, *connection, words[i], clock.Now() + absl::Minutes(5));
      }
    }
    connector.Stop();
    executor.Shutdown();  // before the connector goes: no task of it may run afterwards
  }
  for (const std::string& url : transport.urls()) {
    FUZZ_CHECK(MicrosoftHost(HostOf(url)), "the connector sent a request to " << url);
  }
  return 0;
}
