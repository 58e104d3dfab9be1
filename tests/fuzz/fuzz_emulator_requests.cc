// Fuzzes the tenant emulator's request handling in process (RequestDispatcher::Handle, without
// sockets): Entra's token endpoint with its client assertion (JWT) checks, the bearer-token checks in
// front of Graph and SharePoint, and the JSON bodies of their routes. The emulator stands in for
// Microsoft in every test, so a request must never crash it.
//
// Input: a request line "METHOD HOST PATH[?QUERY]", header lines "Name: value", an empty line, the
// body (form fields of a POST with Content-Type application/x-www-form-urlencoded become parameters,
// as cpp-httplib's server does). In headers and body, $GRAPH_TOKEN and $SHAREPOINT_TOKEN stand for
// valid app tokens of tenant contoso, made once by the emulator itself (the SharePoint one as if the
// app had signed in with a certificate, which SharePoint insists on), so that fuzzing reaches past the
// signature check into the Graph routes, CSOM ProcessQuery and the Multi-Geo REST routes.
//
// Each input runs on a fresh emulator state built from the same seed (the signing key is made once).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "services/common/logging.h"
#include "services/tenant_emulator/emulator_context.h"
#include "services/tenant_emulator/jwt.h"
#include "services/tenant_emulator/request_dispatcher.h"
#include "services/tenant_emulator/seed.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace em = crosstenant::emulator;

constexpr char kSeed[] = R"(settings: {token_lifetime: 1h, max_queued_per_geo: 10}
tenants:
  - name: contoso
    id: 7f1d1c1e-0000-4000-8000-000000000001
    geos: [{location: NAM, name: contoso}, {location: EUR, name: contosoeur}]
    apps:
      - client_id: 11111111-1111-4111-8111-111111111111
        secret: contoso-secret
        application_permissions: [Organization.Read.All, User.Read.All, Files.Read.All, Sites.FullControl.All,
                                  SharePointCrossTenantMigration.Manage.All]
        delegated_permissions: [AllSites.FullControl, User.Read.All]
        public_client: true
    admins:
      - {upn: admin@contoso.onmicrosoft.com, password: admin-password, roles: [GlobalAdministrator]}
    users:
      - {upn: alice@contoso.com}
      - {upn: bob@contoso.com, geo: EUR, onedrive: {legal_hold: true}}
  - name: fabrikam
    id: 7f1d1c1e-0000-4000-8000-000000000002
    apps:
      - client_id: 22222222-2222-4222-8222-222222222222
        secret: fabrikam-secret
        application_permissions: [Sites.FullControl.All, User.Read.All]
    users:
      - {upn: alice@fabrikam.com}
)";

// One emulator, built from the seed, as emulator.cc builds it.
struct Emulator {
  explicit Emulator(const em::Seed& seed_in, const em::Directory& directory_in, const em::SigningKey& key,
                    em::EmulatorMetrics& metrics_in)
      : seed(seed_in),
        directory(directory_in),
        clock(1.0),
        faults(em::FaultSettings{}),
        cloud(directory),
        tokens(directory, seed.settings, faults, clock, key),
        moves(directory, seed.settings, clock, cloud, accounting, [](em::MoveState) {}),
        context{directory, seed.settings, clock, faults, accounting, metrics_in, tokens, cloud, moves},
        dispatcher(context) {}

  const em::Seed& seed;
  const em::Directory& directory;
  em::ScaledClock clock;
  em::Faults faults;
  em::Accounting accounting;
  em::CloudState cloud;
  em::TokenService tokens;
  em::MoveSimulator moves;
  em::EmulatorContext context;
  em::RequestDispatcher dispatcher;
};

struct Fixed {
  em::Seed seed;
  std::unique_ptr<em::Directory> directory;
  std::unique_ptr<em::SigningKey> key;
  std::unique_ptr<em::EmulatorMetrics> metrics;
  std::string graph_token;
  std::string sharepoint_token;
};

httplib::Request MakeRequest(const std::string& method, const std::string& host, const std::string& target,
                             const std::string& body) {
  httplib::Request request;
  request.method = method;
  request.target = target;
  const size_t question = target.find('?');
  request.path = target.substr(0, question);
  if (question != std::string::npos) httplib::detail::parse_query_text(target.substr(question + 1), request.params);
  request.headers.emplace("Host", host);
  request.body = body;
  return request;
}

std::string AppToken(Emulator& emulator, const std::string& scope) {
  httplib::Request request =
      MakeRequest("POST", "login.microsoftonline.com", "/contoso.onmicrosoft.com/oauth2/v2.0/token", "");
  request.params.emplace("grant_type", "client_credentials");
  request.params.emplace("client_id", "11111111-1111-4111-8111-111111111111");
  request.params.emplace("client_secret", "contoso-secret");
  request.params.emplace("scope", scope);
  httplib::Response response;
  emulator.dispatcher.Handle(request, response);
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  FUZZ_CHECK(response.status == 200 && body.is_object() && body.contains("access_token"),
             "the emulator issued no token for " << scope << ": " << response.status << " " << response.body);
  return body["access_token"].get<std::string>();
}

const Fixed& GetFixed() {
  static const Fixed* fixed = [] {
    crosstenant::log::Configure(crosstenant::log::Format::kText, "fuzz", crosstenant::log::Severity::kError);
    auto* f = new Fixed;
    absl::StatusOr<em::Seed> seed = em::LoadSeedText(kSeed, "fuzz-emulator-seed.yaml", "/nonexistent");
    FUZZ_CHECK(seed.ok(), seed.status());
    f->seed = *std::move(seed);
    absl::StatusOr<em::Directory> directory = em::Directory::Build(f->seed);
    FUZZ_CHECK(directory.ok(), directory.status());
    f->directory = std::make_unique<em::Directory>(*std::move(directory));
    absl::StatusOr<em::SigningKey> key = em::SigningKey::Generate("fuzz token signing");
    FUZZ_CHECK(key.ok(), key.status());
    f->key = std::make_unique<em::SigningKey>(*std::move(key));
    f->metrics = std::make_unique<em::EmulatorMetrics>();
    Emulator emulator(f->seed, *f->directory, *f->key, *f->metrics);
    f->graph_token = AppToken(emulator, "https://graph.microsoft.com/.default");
    f->sharepoint_token =
        emulator.tokens.IssueAppToken(0, f->directory->tenant(0).apps.at("11111111-1111-4111-8111-111111111111"),
                                      "https://contoso-admin.sharepoint.com", em::ClientCredential::kAssertion);
    return f;
  }();
  return *fixed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixed& fixed = GetFixed();
  std::string input(reinterpret_cast<const char*>(data), size);
  input =
      absl::StrReplaceAll(input, {{"$GRAPH_TOKEN", fixed.graph_token}, {"$SHAREPOINT_TOKEN", fixed.sharepoint_token}});

  const size_t head_end = input.find("\n\n");
  const std::string head = input.substr(0, head_end);
  const std::string body = head_end == std::string::npos ? "" : input.substr(head_end + 2);
  std::vector<std::string> lines = absl::StrSplit(head, '\n');
  std::vector<std::string> request_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (request_line.size() != 3) return 0;
  httplib::Request request = MakeRequest(request_line[0], request_line[1], request_line[2], body);
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(": ");
    if (colon == std::string::npos) continue;
    request.headers.emplace(lines[i].substr(0, colon), lines[i].substr(colon + 2));
  }
  if (request.get_header_value("Content-Type") == "application/x-www-form-urlencoded") {
    httplib::detail::parse_query_text(body, request.params);
  }

  Emulator emulator(fixed.seed, *fixed.directory, *fixed.key, *fixed.metrics);
  httplib::Response response;
  emulator.dispatcher.Handle(request, response);
  FUZZ_CHECK(response.status >= 200 && response.status < 600, "answered with status " << response.status);
  return 0;
}
