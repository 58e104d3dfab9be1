#ifndef CROSSTENANT_TESTS_INTEGRATION_TENANT_EMULATOR_EMULATOR_FIXTURE_H_
#define CROSSTENANT_TESTS_INTEGRATION_TENANT_EMULATOR_EMULATOR_FIXTURE_H_

// Starts a real tenant-emulator on 127.0.0.1:0 with a small seed, and talks to it as a client would:
// HTTPS with the real Microsoft hostnames, sent to the emulator's port (curl's CONNECT_TO) and
// verified against the dev CA.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "services/tenant_emulator/jwt.h"
#include "tests/support/server_process.h"

namespace crosstenant::testing {

inline constexpr char kContosoApp[] = "11111111-1111-4111-8111-111111111111";
inline constexpr char kContosoSecret[] = "contoso-secret";
inline constexpr char kFabrikamApp[] = "22222222-2222-4222-8222-222222222222";
inline constexpr char kFabrikamSecret[] = "fabrikam-secret";
inline constexpr char kPublicClient[] = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
inline constexpr char kNoPermissionApp[] = "33333333-3333-4333-8333-333333333333";
inline constexpr char kContosoId[] = "7f1d1c1e-0000-4000-8000-000000000001";
inline constexpr char kFabrikamId[] = "9a2b3c4d-0000-4000-8000-000000000002";
inline constexpr char kLogin[] = "https://login.microsoftonline.com";
inline constexpr char kGraph[] = "https://graph.microsoft.com";
inline constexpr char kContosoAdmin[] = "https://contoso-admin.sharepoint.com";
inline constexpr char kContosoEurAdmin[] = "https://contosoeur-admin.sharepoint.com";
inline constexpr char kFabrikamAdmin[] = "https://fabrikam-admin.sharepoint.com";
inline constexpr char kNorthwindApp[] = "44444444-4444-4444-8444-444444444444";
inline constexpr char kLitwareApp[] = "55555555-5555-4555-8555-555555555555";
inline constexpr char kAdatumApp[] = "66666666-6666-4666-8666-666666666666";
inline constexpr char kContosoHost[] = "https://contoso-my.sharepoint.com/";
inline constexpr char kContosoEurHost[] = "https://contosoeur-my.sharepoint.com/";
inline constexpr char kFabrikamHost[] = "https://fabrikam-my.sharepoint.com/";

struct HttpResult {
  long status = 0;
  std::string body;
  nlohmann::json json;                         // null unless the body is JSON
  std::map<std::string, std::string> headers;  // lowercase names
};

// The seed the tests use (see the .cc); `app_certificate` is the file holding the test app's certificate.
std::string TestSeed(const std::string& app_certificate);

// A self-signed RSA key + certificate for client assertions, made once per test process.
const emulator::SigningKey& AppKey();
// Another key, never registered.
const emulator::SigningKey& StrangerKey();

class EmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Overridable start-up.
  virtual std::string SeedYaml();
  virtual std::vector<std::string> ExtraArgs() { return {}; }

  HttpResult Request(const std::string& method, const std::string& url, const std::string& body = "",
                     const std::vector<std::string>& headers = {});
  HttpResult Get(const std::string& url, const std::string& token = "", const std::vector<std::string>& headers = {});
  HttpResult PostJson(const std::string& url, const nlohmann::json& body, const std::string& token = "",
                      const std::string& method = "POST");
  HttpResult PostForm(const std::string& url, const std::map<std::string, std::string>& form);
  // POST/PUT/GET on /_emulator/... (any host).
  HttpResult Admin(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr);

  std::string TokenEndpoint(const std::string& tenant = "contoso.onmicrosoft.com") const;
  // An app-only access token (secret) for `resource`.
  std::string AppToken(const std::string& tenant = "contoso.onmicrosoft.com", const std::string& app = kContosoApp,
                       const std::string& secret = kContosoSecret, const std::string& resource = kGraph);
  // An app-only access token obtained with the test certificate (client assertion) for `resource`.
  std::string CertToken(const std::string& tenant, const std::string& app, const std::string& resource);
  // A certificate token of the migration app of the tenant that owns SharePoint host `host`
  // ("https://fabrikam-admin.sharepoint.com": fabrikam's app), for that host.
  std::string SharePointToken(const std::string& host = kContosoAdmin);
  // A delegated token by the password grant with the public client.
  std::string UserToken(const std::string& upn, const std::string& password, const std::string& resource = kGraph);
  // A client assertion of the test app for `tenant`.
  std::string Assertion(const std::string& alg, const nlohmann::json& claim_overrides = nlohmann::json::object(),
                        const emulator::SigningKey* key = nullptr, const std::string& tenant = kContosoId);

  void AdvanceTime(double seconds);
  // Source contoso (geo `source_host`) ⇄ target fabrikam, both sides set and the dormant period over.
  void EstablishTrust(const std::string& source_admin = kContosoAdmin, const std::string& source_host = kContosoHost);
  // Starts a move of <user>@contoso → <user>@fabrikam with a contoso app token.
  HttpResult StartMove(const std::string& user, bool validate_only = false, const nlohmann::json& extra = {});
  // The same with another token (user token, other app).
  HttpResult StartMoveAs(const std::string& token, const std::string& user = "user1", bool validate_only = false,
                         const nlohmann::json& extra = {});
  // The SharePoint move state of a source user ("Scheduled", ...).
  std::string MoveState(const std::string& user, const std::string& source_admin = kContosoAdmin);

  static nlohmann::json DecodeClaims(const std::string& jwt);

  // CSOM. A ProcessQuery body from XML fragments of <Actions> and <ObjectPaths>.
  static std::string CsomBody(const std::string& actions, const std::string& object_paths);
  // <Parameter Type="type">value (XML-escaped)</Parameter>
  static std::string CsomParameter(const std::string& type, const std::string& value);
  static std::string XmlEscape(const std::string& text);
  // POST /_vti_bin/client.svc/ProcessQuery on `host` (token: SharePointToken(host) when empty).
  HttpResult ProcessQuery(const std::string& host, const std::string& body, const std::string& token = "",
                          const std::vector<std::string>& headers = {});
  // One Tenant method called as an action (<ObjectPath Id="2"/>, <Method Id="3">): the answer.
  HttpResult CallTenant(const std::string& host, const std::string& method, const std::string& parameters = "",
                        const std::string& token = "");
  // A Tenant method as an object path (Id 4), queried with its child items (Query Id 5).
  HttpResult QueryTenantMethod(const std::string& host, const std::string& method, const std::string& parameters = "",
                               const std::string& token = "");
  // The value that follows action `id` in a ProcessQuery answer (null if none).
  static nlohmann::json CsomResult(const HttpResult& result, int id);
  // The ErrorInfo of a ProcessQuery answer (null if none).
  static nlohmann::json CsomError(const HttpResult& result);
  // Set-/Verify-/Remove-SPOCrossTenantRelationship: role 1 Source, 2 Target.
  HttpResult OrgRelation(const std::string& host, const std::string& method, int role, const std::string& partner,
                         const std::string& token = "");
  // GetSPOCrossTenantContentMoveState from `host` about `partner`, optionally for one source UPN: the rows.
  nlohmann::json MoveRows(const std::string& host, const std::string& partner, const std::string& upn = "");

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<ServerProcess> process_;
  std::string ready_file_;
  int port_ = 0;
  nlohmann::json ready_;
  bool expect_clean_exit_ = true;

 private:
  void* curl_ = nullptr;
};

}  // namespace crosstenant::testing

#endif  // CROSSTENANT_TESTS_INTEGRATION_TENANT_EMULATOR_EMULATOR_FIXTURE_H_
