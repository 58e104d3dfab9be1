#include "tests/integration/tenant_emulator/emulator_fixture.h"

#include <curl/curl.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"

namespace crosstenant::testing {
namespace {

std::string CertDir() {
  const char* dir = std::getenv("TENANT_EMULATOR_CERT_DIR");
  return dir != nullptr ? dir : "";
}

size_t CollectBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

size_t CollectHeader(char* data, size_t size, size_t count, void* out) {
  std::string line(data, size * count);
  const std::size_t colon = line.find(':');
  if (colon != std::string::npos) {
    (*static_cast<std::map<std::string, std::string>*>(out))[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * count;
}

std::string FormEncode(const std::map<std::string, std::string>& form) {
  std::string out;
  for (const auto& [key, value] : form) {
    char* escaped = curl_easy_escape(nullptr, value.c_str(), static_cast<int>(value.size()));
    absl::StrAppend(&out, out.empty() ? "" : "&", key, "=", escaped);
    curl_free(escaped);
  }
  return out;
}

}  // namespace

namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

const emulator::SigningKey& AppKey() {
  // The RSA key dev-certs.sh made for apps, with a certificate made here: no key generation per test.
  static const emulator::SigningKey* key = new emulator::SigningKey(
      *emulator::SigningKey::FromPrivateKeyPem(ReadText(CertDir() + "/migration-app.key"), "test app"));
  return *key;
}

const emulator::SigningKey& StrangerKey() {
  static const emulator::SigningKey* key = new emulator::SigningKey(*emulator::SigningKey::Generate("stranger"));
  return *key;
}

std::string TestSeed(const std::string& app_certificate) {
  std::string seed = R"(settings:
  dormant_period: 1h
  device_code_interval: 5s
  device_code_lifetime: 15m
  max_queued_per_geo: 3
  users_page_size: 4
  move_durations: {scheduled: 1m, ready_to_trigger: 1m, validation: 1m, backup: 1m, restore: 1m, cleanup: 1m,
                   reschedule_delay: 1m}
tenants:
  - name: contoso
    id: 7f1d1c1e-0000-4000-8000-000000000001
    display_name: Contoso
    geos: [{location: NAM, name: contoso}, {location: EUR, name: contosoeur}]
    apps:
      - client_id: 11111111-1111-4111-8111-111111111111
        secret: contoso-secret
        certificate: APP_CERT
        application_permissions: [Organization.Read.All, User.Read.All, Files.Read.All, Sites.FullControl.All,
                                  SharePointCrossTenantMigration.Manage.All]
        federated_credentials:   # the test's "Kubernetes issuer" signs with the app key, to save a key
          - {issuer: "https://kubernetes.default.svc.cluster.local",
             subject: "system:serviceaccount:crosstenant:tenant-connector", key: APP_CERT}
      - client_id: 14d82eec-204b-4c2f-b7e8-296a70dab67e
        public_client: true
        delegated_permissions: [User.Read, User.Read.All, Files.Read.All, SharePointCrossTenantMigration.Manage.All]
      - client_id: 33333333-3333-4333-8333-333333333333
        secret: none-secret
    admins:
      - {upn: admin@contoso.onmicrosoft.com, password: "Admin-1!", roles: [GlobalAdministrator]}
      - {upn: mfa@contoso.onmicrosoft.com, password: "Mfa-1!", roles: [SharePointAdministrator], mfa_required: true}
      - {upn: reader@contoso.onmicrosoft.com, password: "Reader-1!", roles: [GlobalReader]}
    generate_users:
      - {count: 6, upn_pattern: "user{n}@contoso.onmicrosoft.com", geo: NAM}
      - {count: 2, upn_pattern: "euser{n}@contoso.onmicrosoft.com", geo: EUR}
    users:
      - {upn: "o'brien@contoso.onmicrosoft.com"}
      - {upn: taken@contoso.onmicrosoft.com}
      - {upn: readonly@contoso.onmicrosoft.com, onedrive: {read_only: true}}
      - {upn: legalhold@contoso.onmicrosoft.com, onedrive: {legal_hold: true}}
      - {upn: unlicensed@contoso.onmicrosoft.com, licensed: false}
      - {upn: huge@contoso.onmicrosoft.com, onedrive: {size_bytes: 6597069766656}}
      - {upn: manyitems@contoso.onmicrosoft.com, onedrive: {items: 1500000}}
      - {upn: longpaths@contoso.onmicrosoft.com, onedrive: {longest_path: 380}}
      - {upn: nodrive@contoso.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: flaky@contoso.onmicrosoft.com, onedrive: {reschedules: 1}}
  - name: fabrikam
    id: 9a2b3c4d-0000-4000-8000-000000000002
    geos: [{location: NAM, name: fabrikam}]
    apps:
      - client_id: 22222222-2222-4222-8222-222222222222
        secret: fabrikam-secret
        certificate: APP_CERT
        application_permissions: [User.Read.All, Files.Read.All, Sites.FullControl.All,
                                  SharePointCrossTenantMigration.Manage.All]
      - client_id: 14d82eec-204b-4c2f-b7e8-296a70dab67e
        public_client: true
    admins:
      - {upn: admin@fabrikam.onmicrosoft.com, password: "Admin-2!", roles: [GlobalAdministrator]}
    generate_users:
      - {count: 6, upn_pattern: "user{n}@fabrikam.onmicrosoft.com", onedrive: {exists: false}}
      - {count: 2, upn_pattern: "euser{n}@fabrikam.onmicrosoft.com", onedrive: {exists: false}}
    users:
      - {upn: "o'brien@fabrikam.onmicrosoft.com", onedrive: {exists: false}}
      - {upn: taken@fabrikam.onmicrosoft.com}
      - {upn: readonly@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: legalhold@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: unlicensed@fabrikam.onmicrosoft.com, licensed: false, onedrive: {exists: false}}
      - {upn: huge@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: manyitems@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: longpaths@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: nodrive@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: flaky@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: lit@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
      - {upn: ada@fabrikam.onmicrosoft.com, onedrive: {exists: false}}
  - name: northwind
    features: {cross_tenant_move_enabled: false}
    apps: [{client_id: 44444444-4444-4444-8444-444444444444, secret: northwind-secret, certificate: APP_CERT,
            application_permissions: [Sites.FullControl.All, SharePointCrossTenantMigration.Manage.All]}]
    users: [{upn: user1@northwind.onmicrosoft.com}]
  - name: litware
    features: {compatibility: Incompatible}
    apps: [{client_id: 55555555-5555-4555-8555-555555555555, secret: litware-secret, certificate: APP_CERT,
            application_permissions: [Sites.FullControl.All, SharePointCrossTenantMigration.Manage.All]}]
    users: [{upn: lit@litware.onmicrosoft.com}]
  - name: adatum
    features: {customer_key: true, compatibility: Warning}
    apps: [{client_id: 66666666-6666-4666-8666-666666666666, secret: adatum-secret, certificate: APP_CERT,
            application_permissions: [Sites.FullControl.All, SharePointCrossTenantMigration.Manage.All]}]
    users: [{upn: ada@adatum.onmicrosoft.com}]
)";
  return absl::StrReplaceAll(seed, {{"APP_CERT", app_certificate}});
}

std::string EmulatorTest::SeedYaml() { return TestSeed(dir_->path() + "/app.pem"); }

void EmulatorTest::SetUp() {
  ASSERT_FALSE(CertDir().empty()) << "TENANT_EMULATOR_CERT_DIR is not set";
  dir_ = std::make_unique<TempDir>();
  dir_->WriteFile("app.pem", AppKey().CertificatePem());
  const std::string seed = dir_->WriteFile("seed.yaml", SeedYaml());
  ready_file_ = dir_->path() + "/ready.json";
  std::vector<std::string> args = {"--seed",        seed,
                                   "--address",     "127.0.0.1:0",
                                   "--tls-cert",    CertDir() + "/emulator.pem",
                                   "--tls-key",     CertDir() + "/emulator.key",
                                   "--ready-file",  ready_file_,
                                   "--threads",     "16",
                                   "--signing-key", CertDir() + "/emulator-signing.key"};
  for (std::string& arg : ExtraArgs()) args.push_back(std::move(arg));
  process_ = std::make_unique<ServerProcess>(BinaryPath("tenant-emulator"), args, dir_->path());
  std::optional<nlohmann::json> ready = process_->WaitForReadyFile(ready_file_);
  ASSERT_TRUE(ready.has_value()) << process_->Stderr();
  ready_ = *ready;
  const std::string address = ready_["address"];
  port_ = std::stoi(address.substr(address.rfind(':') + 1));
  curl_ = curl_easy_init();
}

void EmulatorTest::TearDown() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
  curl_ = nullptr;
  if (process_ && port_ != 0) {
    process_->Signal(SIGTERM);
    std::optional<int> code = process_->WaitForExit(std::chrono::seconds(10));
    if (expect_clean_exit_) {
      EXPECT_EQ(code, 0) << process_->Stderr();
      EXPECT_FALSE(std::ifstream(ready_file_).good()) << "the ready file must be removed on a clean exit";
    }
  }
}

HttpResult EmulatorTest::Request(const std::string& method, const std::string& url, const std::string& body,
                                 const std::vector<std::string>& headers) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  HttpResult result;
  const std::string connect_to = absl::StrCat("::127.0.0.1:", port_);
  curl_slist* connect = curl_slist_append(nullptr, connect_to.c_str());
  curl_slist* header_list = nullptr;
  for (const std::string& header : headers) header_list = curl_slist_append(header_list, header.c_str());
  const std::string ca = CertDir() + "/ca.pem";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect);
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
  const CURLcode code = curl_easy_perform(curl);
  EXPECT_EQ(code, CURLE_OK) << curl_easy_strerror(code) << " for " << method << " " << url;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(connect);
  curl_slist_free_all(header_list);
  result.json = nlohmann::json::parse(result.body, nullptr, false);
  if (result.json.is_discarded()) result.json = nullptr;
  return result;
}

HttpResult EmulatorTest::Get(const std::string& url, const std::string& token,
                             const std::vector<std::string>& headers) {
  std::vector<std::string> all = headers;
  if (!token.empty()) all.push_back("Authorization: Bearer " + token);
  return Request("GET", url, "", all);
}

HttpResult EmulatorTest::PostJson(const std::string& url, const nlohmann::json& body, const std::string& token,
                                  const std::string& method) {
  std::vector<std::string> headers = {"Content-Type: application/json"};
  if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
  return Request(method, url, body.is_null() ? "" : body.dump(), headers);
}

HttpResult EmulatorTest::PostForm(const std::string& url, const std::map<std::string, std::string>& form) {
  return Request("POST", url, FormEncode(form), {"Content-Type: application/x-www-form-urlencoded"});
}

HttpResult EmulatorTest::Admin(const std::string& method, const std::string& path, const nlohmann::json& body) {
  return PostJson(absl::StrCat(kGraph, "/_emulator/", path), body, "", method);
}

std::string EmulatorTest::TokenEndpoint(const std::string& tenant) const {
  return absl::StrCat(kLogin, "/", tenant, "/oauth2/v2.0/token");
}

std::string EmulatorTest::AppToken(const std::string& tenant, const std::string& app, const std::string& secret,
                                   const std::string& resource) {
  HttpResult result = PostForm(TokenEndpoint(tenant), {{"grant_type", "client_credentials"},
                                                       {"client_id", app},
                                                       {"client_secret", secret},
                                                       {"scope", resource + "/.default"}});
  EXPECT_EQ(result.status, 200) << result.body;
  return result.json.is_object() ? result.json.value("access_token", "") : "";
}

std::string EmulatorTest::UserToken(const std::string& upn, const std::string& password, const std::string& resource) {
  HttpResult result = PostForm(TokenEndpoint("organizations"), {{"grant_type", "password"},
                                                                {"client_id", kPublicClient},
                                                                {"username", upn},
                                                                {"password", password},
                                                                {"scope", resource + "/.default offline_access"}});
  EXPECT_EQ(result.status, 200) << result.body;
  return result.json.is_object() ? result.json.value("access_token", "") : "";
}

std::string EmulatorTest::Assertion(const std::string& alg, const nlohmann::json& claim_overrides,
                                    const emulator::SigningKey* key, const std::string& tenant) {
  const emulator::SigningKey& signer = key != nullptr ? *key : AppKey();
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  nlohmann::json claims = {{"aud", absl::StrCat(kLogin, "/", tenant, "/oauth2/v2.0/token")},
                           {"iss", kContosoApp},
                           {"sub", kContosoApp},
                           {"jti", emulator::RandomGuid()},
                           {"nbf", now},
                           {"exp", now + 600}};
  for (const auto& [name, value] : claim_overrides.items()) claims[name] = value;
  // PS256 assertions name the certificate by x5t#S256 only (the newest Entra docs); RS256 by x5t.
  nlohmann::json header = nlohmann::json::object();
  if (alg == "PS256") header = {{"x5t#S256", signer.x5t_s256()}, {"x5t", nullptr}, {"kid", nullptr}};
  return signer.Sign(claims, alg, header);
}

void EmulatorTest::AdvanceTime(double seconds) {
  HttpResult result = Admin("POST", "time", {{"advance_seconds", seconds}});
  ASSERT_EQ(result.status, 200) << result.body;
}

void EmulatorTest::EstablishTrust(const std::string& source_admin, const std::string& source_host) {
  HttpResult set_source = OrgRelation(source_admin, "NewSPOTenantOrgRelation", 2, kFabrikamHost);
  ASSERT_EQ(set_source.status, 200) << set_source.body;
  ASSERT_TRUE(CsomError(set_source).is_null()) << set_source.body;
  HttpResult set_target = OrgRelation(kFabrikamAdmin, "NewSPOTenantOrgRelation", 1, source_host);
  ASSERT_EQ(set_target.status, 200) << set_target.body;
  ASSERT_TRUE(CsomError(set_target).is_null()) << set_target.body;
  AdvanceTime(3601);
}

HttpResult EmulatorTest::StartMove(const std::string& user, bool validate_only, const nlohmann::json& extra) {
  return StartMoveAs(AppToken(), user, validate_only, extra);
}

HttpResult EmulatorTest::StartMoveAs(const std::string& token, const std::string& user, bool validate_only,
                                     const nlohmann::json& extra) {
  nlohmann::json parameters = {{"@odata.type", "#microsoft.graph.sharePointUserMigrationTaskParameters"},
                               {"targetOrganizationHost", "https://fabrikam-my.sharepoint.com"},
                               {"sourceUserIdentity", {{"userPrincipalName", user + "@contoso.onmicrosoft.com"}}},
                               {"targetUserIdentity", {{"userPrincipalName", user + "@fabrikam.onmicrosoft.com"}}}};
  if (validate_only) parameters["validateOnly"] = true;
  for (const auto& [name, value] : extra.items()) parameters[name] = value;
  return PostJson(std::string(kGraph) + "/beta/solutions/sharePoint/migrations/crossOrganizationMigrationTasks",
                  {{"parameters", parameters}}, token);
}

std::string EmulatorTest::MoveState(const std::string& user, const std::string& source_admin) {
  const nlohmann::json rows = MoveRows(source_admin, kFabrikamHost, user + "@contoso.onmicrosoft.com");
  if (!rows.is_array() || rows.empty()) return "";
  return rows.back().value("MoveState", "");
}

std::string EmulatorTest::CertToken(const std::string& tenant, const std::string& app, const std::string& resource) {
  HttpResult result = PostForm(TokenEndpoint(tenant),
                               {{"grant_type", "client_credentials"},
                                {"client_id", app},
                                {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                                {"client_assertion", Assertion("RS256", {{"iss", app}, {"sub", app}}, nullptr, tenant)},
                                {"scope", resource + "/.default"}});
  EXPECT_EQ(result.status, 200) << result.body;
  return result.json.is_object() ? result.json.value("access_token", "") : "";
}

std::string EmulatorTest::SharePointToken(const std::string& host) {
  // "https://contosoeur-admin.sharepoint.com" → contoso (the geo label starts with the tenant name).
  static const std::vector<std::pair<std::string, std::string>> kApps = {{"fabrikam", kFabrikamApp},
                                                                         {"northwind", kNorthwindApp},
                                                                         {"litware", kLitwareApp},
                                                                         {"adatum", kAdatumApp},
                                                                         {"contoso", kContosoApp}};
  for (const auto& [name, app] : kApps) {
    if (absl::StartsWith(host, absl::StrCat("https://", name))) {
      return CertToken(absl::StrCat(name, ".onmicrosoft.com"), app, host);
    }
  }
  ADD_FAILURE() << "no test app for " << host;
  return "";
}

std::string EmulatorTest::XmlEscape(const std::string& text) {
  return absl::StrReplaceAll(text, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"\n", "&#xA;"}});
}

std::string EmulatorTest::CsomBody(const std::string& actions, const std::string& object_paths) {
  return absl::StrCat(
      "<Request xmlns=\"http://schemas.microsoft.com/sharepoint/clientquery/2009\" SchemaVersion=\"15.0.0.0\" "
      "LibraryVersion=\"16.0.0.0\" ApplicationName=\"crosstenant tests\"><Actions>",
      actions, "</Actions><ObjectPaths>", object_paths, "</ObjectPaths></Request>");
}

std::string EmulatorTest::CsomParameter(const std::string& type, const std::string& value) {
  return absl::StrCat("<Parameter Type=\"", type, "\">", XmlEscape(value), "</Parameter>");
}

HttpResult EmulatorTest::ProcessQuery(const std::string& host, const std::string& body, const std::string& token,
                                      const std::vector<std::string>& headers) {
  std::vector<std::string> all = headers;
  all.push_back("Content-Type: text/xml");
  all.push_back("Authorization: Bearer " + (token.empty() ? SharePointToken(host) : token));
  return Request("POST", host + "/_vti_bin/client.svc/ProcessQuery", body, all);
}

HttpResult EmulatorTest::CallTenant(const std::string& host, const std::string& method, const std::string& parameters,
                                    const std::string& token) {
  return ProcessQuery(
      host,
      CsomBody(absl::StrCat("<ObjectPath Id=\"2\" ObjectPathId=\"1\"/><Method Name=\"", method,
                            "\" Id=\"3\" ObjectPathId=\"1\"><Parameters>", parameters, "</Parameters></Method>"),
               "<Constructor Id=\"1\" TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\"/>"),
      token);
}

HttpResult EmulatorTest::QueryTenantMethod(const std::string& host, const std::string& method,
                                           const std::string& parameters, const std::string& token) {
  return ProcessQuery(
      host,
      CsomBody("<ObjectPath Id=\"2\" ObjectPathId=\"1\"/><ObjectPath Id=\"6\" ObjectPathId=\"4\"/>"
               "<Query Id=\"5\" ObjectPathId=\"4\"><Query SelectAllProperties=\"true\"><Properties/></Query>"
               "<ChildItemQuery SelectAllProperties=\"true\"><Properties/></ChildItemQuery></Query>",
               absl::StrCat("<Constructor Id=\"1\" TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\"/>"
                            "<Method Id=\"4\" ParentId=\"1\" Name=\"",
                            method, "\"><Parameters>", parameters, "</Parameters></Method>")),
      token);
}

nlohmann::json EmulatorTest::CsomResult(const HttpResult& result, int id) {
  if (!result.json.is_array()) return nullptr;
  for (std::size_t i = 1; i + 1 < result.json.size(); i += 2) {
    if (result.json[i] == id) return result.json[i + 1];
  }
  return nullptr;
}

nlohmann::json EmulatorTest::CsomError(const HttpResult& result) {
  if (!result.json.is_array() || result.json.empty() || !result.json[0].is_object()) return nullptr;
  return result.json[0].value("ErrorInfo", nlohmann::json(nullptr));
}

HttpResult EmulatorTest::OrgRelation(const std::string& host, const std::string& method, int role,
                                     const std::string& partner, const std::string& token) {
  return CallTenant(
      host, method,
      CsomParameter("Enum", "1") + CsomParameter("Enum", std::to_string(role)) + CsomParameter("String", partner),
      token);
}

nlohmann::json EmulatorTest::MoveRows(const std::string& host, const std::string& partner, const std::string& upn) {
  HttpResult result =
      CallTenant(host, "GetSPOCrossTenantContentMoveState",
                 CsomParameter("Enum", "0") + CsomParameter("String", partner) +
                     (upn.empty() ? CsomParameter("Null", "") : CsomParameter("String", upn)) +
                     CsomParameter("Guid", "{00000000-0000-0000-0000-000000000000}") + CsomParameter("Int32", "-1") +
                     CsomParameter("Int32", "0") + CsomParameter("UInt32", "0") +
                     CsomParameter("DateTime", "0001-01-01T00:00:00.0000000") +
                     CsomParameter("DateTime", "9999-12-31T23:59:59.0000000") + CsomParameter("Enum", "2"));
  EXPECT_EQ(result.status, 200) << result.body;
  EXPECT_TRUE(CsomError(result).is_null()) << result.body;
  const nlohmann::json value = CsomResult(result, 3);
  if (!value.is_string()) return nullptr;
  return nlohmann::json::parse(value.get<std::string>(), nullptr, false);
}

nlohmann::json EmulatorTest::DecodeClaims(const std::string& jwt) {
  absl::StatusOr<emulator::Jwt> parsed = emulator::ParseJwt(jwt);
  return parsed.ok() ? parsed->claims : nlohmann::json(nullptr);
}

}  // namespace crosstenant::testing
