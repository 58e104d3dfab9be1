// Entra ID against the real emulator process: every grant, its errors, discovery and keys.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/tenant_emulator/emulator_fixture.h"

namespace crosstenant::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

class TenantEmulatorEntraTest : public EmulatorTest {
 protected:
  HttpResult AssertionToken(const std::string& assertion, const std::string& tenant = "contoso.onmicrosoft.com") {
    return PostForm(TokenEndpoint(tenant),
                    {{"grant_type", "client_credentials"},
                     {"client_id", kContosoApp},
                     {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                     {"client_assertion", assertion},
                     {"scope", "https://graph.microsoft.com/.default"}});
  }
  static void ExpectEntraError(const HttpResult& result, long status, const std::string& error, int code) {
    EXPECT_EQ(result.status, status) << result.body;
    ASSERT_TRUE(result.json.is_object()) << result.body;
    EXPECT_EQ(result.json.value("error", ""), error) << result.body;
    EXPECT_EQ(result.json["error_codes"], nlohmann::json::array({code})) << result.body;
    EXPECT_THAT(result.json.value("error_description", ""), HasSubstr(absl::StrCat("AADSTS", code, ": ")));
    EXPECT_THAT(result.json.value("error_description", ""), HasSubstr("Trace ID: "));
    EXPECT_TRUE(result.json.contains("trace_id") && result.json.contains("correlation_id") &&
                result.json.contains("timestamp"));
  }
};

TEST_F(TenantEmulatorEntraTest, ClientSecretGivesAnRs256AppTokenWithTheDocumentedClaims) {
  HttpResult result = PostForm(TokenEndpoint(kContosoId), {{"grant_type", "client_credentials"},
                                                           {"client_id", kContosoApp},
                                                           {"client_secret", kContosoSecret},
                                                           {"scope", "https://graph.microsoft.com/.default"}});
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.json["token_type"], "Bearer");
  EXPECT_EQ(result.json["expires_in"], 3600);
  EXPECT_FALSE(result.json.contains("refresh_token")) << "client credentials never get a refresh token";
  const std::string token = result.json["access_token"];
  auto jwt = emulator::ParseJwt(token);
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(jwt->header["alg"], "RS256");
  const nlohmann::json& claims = jwt->claims;
  EXPECT_EQ(claims["tid"], kContosoId);
  EXPECT_EQ(claims["appid"], kContosoApp);
  EXPECT_EQ(claims["aud"], "https://graph.microsoft.com");
  EXPECT_EQ(claims["idtyp"], "app");
  EXPECT_THAT(claims["roles"], Contains("User.Read.All"));
  EXPECT_TRUE(claims.contains("oid"));
  EXPECT_GT(claims["exp"].get<int64_t>(), absl::ToUnixSeconds(absl::Now()) + 3000);

  // The signing key is published with the kid the token names.
  HttpResult keys = Get(absl::StrCat(kLogin, "/", kContosoId, "/discovery/v2.0/keys"));
  ASSERT_EQ(keys.status, 200);
  ASSERT_EQ(keys.json["keys"].size(), 1u);
  EXPECT_EQ(keys.json["keys"][0]["kid"], jwt->header["kid"]);
  EXPECT_EQ(keys.json["keys"][0]["kty"], "RSA");
  EXPECT_FALSE(keys.json["keys"][0]["x5c"].empty());
}

TEST_F(TenantEmulatorEntraTest, ClientSecretMayComeAsHttpBasic) {
  const std::string basic = emulator::Base64Encode(absl::StrCat(kContosoApp, ":", kContosoSecret));
  HttpResult result = Request("POST", TokenEndpoint(),
                              "grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
                              {"Content-Type: application/x-www-form-urlencoded", "Authorization: Basic " + basic});
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(DecodeClaims(result.json["access_token"])["appid"], kContosoApp);
}

TEST_F(TenantEmulatorEntraTest, V1EndpointTakesAResource) {
  HttpResult result = PostForm(absl::StrCat(kLogin, "/", kContosoId, "/oauth2/token"),
                               {{"grant_type", "client_credentials"},
                                {"client_id", kContosoApp},
                                {"client_secret", kContosoSecret},
                                {"resource", "https://contoso-admin.sharepoint.com"}});
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.json["resource"], "https://contoso-admin.sharepoint.com");
  EXPECT_TRUE(result.json["expires_on"].is_string());
  EXPECT_EQ(DecodeClaims(result.json["access_token"])["aud"], "https://contoso-admin.sharepoint.com");
}

TEST_F(TenantEmulatorEntraTest, ClientCredentialErrorsCarryAadstsCodes) {
  auto form = [](std::map<std::string, std::string> changes) {
    std::map<std::string, std::string> fields = {{"grant_type", "client_credentials"},
                                                 {"client_id", kContosoApp},
                                                 {"client_secret", kContosoSecret},
                                                 {"scope", "https://graph.microsoft.com/.default"}};
    for (auto& [key, value] : changes) {
      if (value.empty()) {
        fields.erase(key);
      } else {
        fields[key] = value;
      }
    }
    return fields;
  };
  ExpectEntraError(PostForm(TokenEndpoint(), form({{"client_secret", "wrong"}})), 401, "invalid_client", 7000215);
  ExpectEntraError(PostForm(TokenEndpoint(), form({{"client_secret", ""}})), 401, "invalid_client", 7000218);
  ExpectEntraError(PostForm(TokenEndpoint("nowhere.onmicrosoft.com"), form({})), 400, "invalid_request", 90002);
  ExpectEntraError(PostForm(TokenEndpoint(), form({{"client_id", "99999999-9999-4999-8999-999999999999"}})), 400,
                   "unauthorized_client", 700016);
  ExpectEntraError(PostForm(TokenEndpoint(), form({{"scope", "https://graph.microsoft.com/User.Read"}})), 400,
                   "invalid_scope", 1002012);
  ExpectEntraError(PostForm(TokenEndpoint(), form({{"scope", ""}})), 400, "invalid_request", 900144);
  ExpectEntraError(PostForm(TokenEndpoint(), form({{"grant_type", ""}})), 400, "invalid_request", 900144);
  ExpectEntraError(PostForm(TokenEndpoint(), form({{"grant_type", "authorization_code"}})), 400,
                   "unsupported_grant_type", 70003);
  ExpectEntraError(PostForm(TokenEndpoint(), form({{"scope", "https://fabrikam-admin.sharepoint.com/.default"}})), 400,
                   "invalid_resource", 500011);
  ExpectEntraError(PostForm(TokenEndpoint("common"), form({})), 400, "invalid_request", 50059);
}

TEST_F(TenantEmulatorEntraTest, Rs256AssertionWithX5tIsAccepted) {
  HttpResult result = AssertionToken(Assertion("RS256"));
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(DecodeClaims(result.json["access_token"])["appid"], kContosoApp);
}

TEST_F(TenantEmulatorEntraTest, Ps256AssertionWithX5tS256IsAccepted) {
  const std::string assertion = Assertion("PS256");
  auto parsed = emulator::ParseJwt(assertion);
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->header.contains("x5t"));
  HttpResult result = AssertionToken(assertion);
  ASSERT_EQ(result.status, 200) << result.body;
}

TEST_F(TenantEmulatorEntraTest, AssertionAudienceMayNameTheTenantByDomain) {
  HttpResult result =
      AssertionToken(Assertion("RS256", {{"aud", absl::StrCat(kLogin, "/contoso.onmicrosoft.com/oauth2/v2.0/token")}}));
  EXPECT_EQ(result.status, 200) << result.body;
}

TEST_F(TenantEmulatorEntraTest, TamperedAssertionFailsSignatureValidation) {
  std::string assertion = Assertion("RS256");
  // Swap the payload for another one (claims of a different app id) and keep the signature.
  const std::size_t first = assertion.find('.');
  const std::size_t second = assertion.find('.', first + 1);
  nlohmann::json claims = DecodeClaims(assertion);
  claims["exp"] = claims["exp"].get<int64_t>() + 3600;
  assertion =
      absl::StrCat(assertion.substr(0, first + 1), emulator::Base64UrlEncode(claims.dump()), assertion.substr(second));
  ExpectEntraError(AssertionToken(assertion), 401, "invalid_client", 700027);
}

TEST_F(TenantEmulatorEntraTest, AssertionFromAnUnregisteredCertificateIsRejected) {
  ExpectEntraError(AssertionToken(Assertion("RS256", {}, &StrangerKey())), 401, "invalid_client", 700027);
  ExpectEntraError(AssertionToken(Assertion("PS256", {}, &StrangerKey())), 401, "invalid_client", 700027);
}

TEST_F(TenantEmulatorEntraTest, AssertionClaimsAreChecked) {
  ExpectEntraError(
      AssertionToken(Assertion("RS256", {{"aud", "https://login.microsoftonline.com/other/oauth2/v2.0/token"}})), 401,
      "invalid_client", 50027);
  ExpectEntraError(AssertionToken(Assertion("RS256", {{"iss", kFabrikamApp}})), 401, "invalid_client", 700021);
  ExpectEntraError(AssertionToken(Assertion("RS256", {{"sub", kFabrikamApp}})), 401, "invalid_client", 700021);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  ExpectEntraError(AssertionToken(Assertion("RS256", {{"nbf", now - 3600}, {"exp", now - 1200}})), 401,
                   "invalid_client", 700024);
  ExpectEntraError(AssertionToken(Assertion("RS256", {{"nbf", now + 1800}, {"exp", now + 2400}})), 401,
                   "invalid_client", 700024);
  ExpectEntraError(AssertionToken("not.a.jwt"), 401, "invalid_client", 50027);
}

TEST_F(TenantEmulatorEntraTest, WorkloadIdentityFederationAcceptsTheProjectedToken) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  auto projected = [&](const std::string& subject) {
    // A Kubernetes projected service account token: no x5t, the issuer's kid.
    return AppKey().Sign({{"iss", "https://kubernetes.default.svc.cluster.local"},
                          {"sub", subject},
                          {"aud", nlohmann::json::array({"api://AzureADTokenExchange"})},
                          {"iat", now},
                          {"nbf", now},
                          {"exp", now + 3600}},
                         "RS256", {{"x5t", nullptr}, {"kid", "k8s-key-1"}});
  };
  const std::string token = projected("system:serviceaccount:crosstenant:tenant-connector");
  HttpResult first = AssertionToken(token);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(DecodeClaims(first.json["access_token"])["appid"], kContosoApp);
  EXPECT_EQ(AssertionToken(token).status, 200) << "a projected token is reused until it rotates";
  ExpectEntraError(AssertionToken(projected("system:serviceaccount:other:intruder")), 400, "invalid_client", 70021);
}

TEST_F(TenantEmulatorEntraTest, AnAssertionMayBePresentedAgainWhileItIsValid) {
  // MSAL and the Azure SDK cache their signed assertion and send it for every resource: Entra takes it.
  const std::string assertion = Assertion("PS256");
  ASSERT_EQ(AssertionToken(assertion).status, 200);
  HttpResult again = AssertionToken(assertion);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(DecodeClaims(again.json["access_token"])["appidacr"], "2");
  // Every other check still holds for a second use: an expired one is refused.
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const std::string expired = Assertion("RS256", {{"nbf", now - 3600}, {"exp", now - 1200}});
  ExpectEntraError(AssertionToken(expired), 401, "invalid_client", 700024);
  ExpectEntraError(AssertionToken(expired), 401, "invalid_client", 700024);
}

TEST_F(TenantEmulatorEntraTest, TheAccountingRecordsEachAssertionsHeaderAndClaimsButNotItsSignature) {
  ASSERT_EQ(Admin("DELETE", "accounting").status, 200);
  const std::string assertion = Assertion("PS256");
  ASSERT_EQ(AssertionToken(assertion).status, 200);
  ExpectEntraError(AssertionToken(Assertion("RS256", {{"iss", kFabrikamApp}})), 401, "invalid_client", 700021);
  HttpResult accounting = Admin("GET", "accounting");
  ASSERT_EQ(accounting.status, 200) << accounting.body;
  const nlohmann::json& records = accounting.json["client_assertions"];
  ASSERT_EQ(records.size(), 2u) << accounting.body;
  const nlohmann::json sent = DecodeClaims(assertion);
  EXPECT_EQ(records[0]["client_id"], kContosoApp);
  EXPECT_EQ(records[0]["tenant"], "contoso");
  EXPECT_EQ(records[0]["header"]["alg"], "PS256");
  EXPECT_TRUE(records[0]["header"].contains("x5t#S256")) << records[0];
  EXPECT_EQ(records[0]["claims"]["jti"], sent["jti"]);
  EXPECT_EQ(records[0]["claims"]["aud"], sent["aud"]);
  EXPECT_EQ(records[0]["claims"]["exp"], sent["exp"]);
  EXPECT_EQ(records[1]["claims"]["iss"], kFabrikamApp) << "refused assertions are recorded too";
  const std::string signature = assertion.substr(assertion.rfind('.') + 1);
  EXPECT_THAT(accounting.body, ::testing::Not(HasSubstr(signature)));
  EXPECT_THAT(accounting.body, ::testing::Not(HasSubstr(assertion.substr(0, assertion.find('.')))));
}

TEST_F(TenantEmulatorEntraTest, TokenAnswersAreNotToBeCached) {
  HttpResult ok = PostForm(TokenEndpoint(kContosoId), {{"grant_type", "client_credentials"},
                                                       {"client_id", kContosoApp},
                                                       {"client_secret", kContosoSecret},
                                                       {"scope", "https://graph.microsoft.com/.default"}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  HttpResult refused = PostForm(TokenEndpoint(kContosoId), {{"grant_type", "client_credentials"},
                                                            {"client_id", kContosoApp},
                                                            {"client_secret", "wrong"},
                                                            {"scope", "https://graph.microsoft.com/.default"}});
  ASSERT_EQ(refused.status, 401) << refused.body;
  HttpResult v1 =
      PostForm(absl::StrCat(kLogin, "/", kContosoId, "/oauth2/token"), {{"grant_type", "client_credentials"},
                                                                        {"client_id", kContosoApp},
                                                                        {"client_secret", kContosoSecret},
                                                                        {"resource", "https://graph.microsoft.com"}});
  ASSERT_EQ(v1.status, 200) << v1.body;
  for (HttpResult* answer : {&ok, &refused, &v1}) {
    EXPECT_THAT(answer->headers["cache-control"], HasSubstr("no-store")) << answer->body;
    EXPECT_EQ(answer->headers["pragma"], "no-cache");
  }
}

TEST_F(TenantEmulatorEntraTest, PasswordGrantGivesAUserTokenWithWidsAndARefreshToken) {
  HttpResult result = PostForm(TokenEndpoint("organizations"),
                               {{"grant_type", "password"},
                                {"client_id", kPublicClient},
                                {"username", "admin@contoso.onmicrosoft.com"},
                                {"password", "Admin-1!"},
                                {"client_info", "1"},
                                {"scope", "https://graph.microsoft.com/.default openid offline_access profile"}});
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_TRUE(result.json.contains("refresh_token"));
  EXPECT_TRUE(result.json.contains("id_token"));
  EXPECT_TRUE(result.json.contains("client_info"));
  const nlohmann::json claims = DecodeClaims(result.json["access_token"]);
  EXPECT_EQ(claims["upn"], "admin@contoso.onmicrosoft.com");
  EXPECT_EQ(claims["tid"], kContosoId);
  EXPECT_EQ(claims["idtyp"], "user");
  EXPECT_THAT(claims["wids"], Contains("62e90394-69f5-4237-9190-012177145e10"));
  EXPECT_THAT(claims["scp"].get<std::string>(), HasSubstr("User.Read"));
}

TEST_F(TenantEmulatorEntraTest, PasswordGrantErrors) {
  auto password = [&](const std::string& user, const std::string& secret) {
    return PostForm(TokenEndpoint("organizations"), {{"grant_type", "password"},
                                                     {"client_id", kPublicClient},
                                                     {"username", user},
                                                     {"password", secret},
                                                     {"scope", "https://graph.microsoft.com/.default"}});
  };
  ExpectEntraError(password("admin@contoso.onmicrosoft.com", "wrong"), 400, "invalid_grant", 50126);
  ExpectEntraError(password("ghost@contoso.onmicrosoft.com", "x"), 400, "invalid_grant", 50034);
  HttpResult mfa = password("mfa@contoso.onmicrosoft.com", "Mfa-1!");
  ExpectEntraError(mfa, 400, "invalid_grant", 50076);
  EXPECT_EQ(mfa.json.value("suberror", ""), "basic_action");
  EXPECT_THAT(mfa.json.value("error_description", ""), HasSubstr("must use multi-factor authentication"));
}

TEST_F(TenantEmulatorEntraTest, RefreshTokenGivesATokenForAnotherResource) {
  HttpResult first = PostForm(TokenEndpoint(), {{"grant_type", "password"},
                                                {"client_id", kPublicClient},
                                                {"username", "admin@contoso.onmicrosoft.com"},
                                                {"password", "Admin-1!"},
                                                {"scope", "https://graph.microsoft.com/.default offline_access"}});
  ASSERT_EQ(first.status, 200) << first.body;
  HttpResult refreshed = PostForm(TokenEndpoint(), {{"grant_type", "refresh_token"},
                                                    {"client_id", kPublicClient},
                                                    {"refresh_token", first.json["refresh_token"]},
                                                    {"scope", "https://contoso-admin.sharepoint.com/.default"}});
  ASSERT_EQ(refreshed.status, 200) << refreshed.body;
  EXPECT_EQ(DecodeClaims(refreshed.json["access_token"])["aud"], "https://contoso-admin.sharepoint.com");
  EXPECT_TRUE(refreshed.json.contains("refresh_token"));
  ExpectEntraError(
      PostForm(TokenEndpoint(),
               {{"grant_type", "refresh_token"}, {"client_id", kPublicClient}, {"refresh_token", "1.forged"}}),
      400, "invalid_grant", 9002313);
}

class TenantEmulatorDeviceCodeTest : public TenantEmulatorEntraTest {
 protected:
  nlohmann::json Begin() {
    HttpResult result =
        PostForm(absl::StrCat(kLogin, "/organizations/oauth2/v2.0/devicecode"),
                 {{"client_id", kPublicClient}, {"scope", "https://graph.microsoft.com/.default offline_access"}});
    EXPECT_EQ(result.status, 200) << result.body;
    return result.json;
  }
  HttpResult Poll(const std::string& device_code,
                  const std::string& grant_type = "urn:ietf:params:oauth:grant-type:device_code") {
    return PostForm(TokenEndpoint("organizations"),
                    {{"grant_type", grant_type}, {"client_id", kPublicClient}, {"device_code", device_code}});
  }
};

TEST_F(TenantEmulatorDeviceCodeTest, PendingSlowDownApprovedThenRedeemedOnce) {
  const nlohmann::json code = Begin();
  EXPECT_EQ(code["verification_uri"], "https://microsoft.com/devicelogin");
  EXPECT_EQ(code["interval"], 5);
  EXPECT_EQ(code["expires_in"], 900);
  EXPECT_THAT(code["message"].get<std::string>(), HasSubstr(code["user_code"].get<std::string>()));
  EXPECT_FALSE(code.contains("verification_uri_complete"));
  ExpectEntraError(Poll(code["device_code"]), 400, "authorization_pending", 70016);
  ExpectEntraError(Poll(code["device_code"]), 400, "slow_down", 70016);
  AdvanceTime(11);  // the interval is now 10 s
  ExpectEntraError(Poll(code["device_code"]), 400, "authorization_pending", 70016);
  HttpResult approve =
      Admin("POST", "devicecode/approve", {{"user_code", code["user_code"]}, {"upn", "admin@contoso.onmicrosoft.com"}});
  ASSERT_EQ(approve.status, 200) << approve.body;
  HttpResult token = Poll(code["device_code"]);
  ASSERT_EQ(token.status, 200) << token.body;
  EXPECT_EQ(DecodeClaims(token.json["access_token"])["upn"], "admin@contoso.onmicrosoft.com");
  EXPECT_TRUE(token.json.contains("refresh_token"));
  ExpectEntraError(Poll(code["device_code"]), 400, "invalid_grant", 54005);
}

TEST_F(TenantEmulatorDeviceCodeTest, TheShortGrantTypeMsalSendsIsAccepted) {
  const nlohmann::json code = Begin();
  ExpectEntraError(Poll(code["device_code"], "device_code"), 400, "authorization_pending", 70016);
  ASSERT_EQ(
      Admin("POST", "devicecode/approve", {{"user_code", code["user_code"]}, {"upn", "admin@contoso.onmicrosoft.com"}})
          .status,
      200);
  AdvanceTime(6);
  HttpResult token = Poll(code["device_code"], "device_code");
  ASSERT_EQ(token.status, 200) << token.body;
  EXPECT_EQ(DecodeClaims(token.json["access_token"])["upn"], "admin@contoso.onmicrosoft.com");
  ExpectEntraError(Poll(code["device_code"], "devicecode"), 400, "unsupported_grant_type", 70003);
}

TEST_F(TenantEmulatorDeviceCodeTest, DeclinedExpiredAndUnknownCodes) {
  const nlohmann::json declined = Begin();
  ASSERT_EQ(Admin("POST", "devicecode/decline", {{"user_code", declined["user_code"]}}).status, 200);
  ExpectEntraError(Poll(declined["device_code"]), 400, "authorization_declined", 65004);

  const nlohmann::json expiring = Begin();
  AdvanceTime(901);
  ExpectEntraError(Poll(expiring["device_code"]), 400, "expired_token", 70019);
  EXPECT_EQ(Admin("POST", "devicecode/approve",
                  {{"user_code", expiring["user_code"]}, {"upn", "admin@contoso.onmicrosoft.com"}})
                .status,
            409);

  ExpectEntraError(Poll("DAQABAAEAAABnot-a-code"), 400, "bad_verification_code", 70018);
  EXPECT_EQ(Admin("POST", "devicecode/approve", {{"user_code", "NOSUCHCODE"}, {"upn", "admin@contoso.onmicrosoft.com"}})
                .status,
            404);
}

TEST_F(TenantEmulatorEntraTest, OpenIdConfigurationInstanceDiscoveryAndUserRealm) {
  HttpResult oidc = Get(absl::StrCat(kLogin, "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"));
  ASSERT_EQ(oidc.status, 200) << oidc.body;
  EXPECT_EQ(oidc.json["issuer"], absl::StrCat(kLogin, "/", kContosoId, "/v2.0"));
  EXPECT_EQ(oidc.json["token_endpoint"], absl::StrCat(kLogin, "/", kContosoId, "/oauth2/v2.0/token"));
  EXPECT_EQ(oidc.json["device_authorization_endpoint"],
            absl::StrCat(kLogin, "/", kContosoId, "/oauth2/v2.0/devicecode"));
  EXPECT_EQ(oidc.json["jwks_uri"], absl::StrCat(kLogin, "/", kContosoId, "/discovery/v2.0/keys"));
  EXPECT_THAT(oidc.json["token_endpoint_auth_methods_supported"], Contains("private_key_jwt"));

  HttpResult sovereign = Get("https://login.microsoftonline.us/organizations/v2.0/.well-known/openid-configuration");
  ASSERT_EQ(sovereign.status, 200) << sovereign.body;
  EXPECT_EQ(sovereign.json["issuer"], "https://login.microsoftonline.us/{tenantid}/v2.0");
  EXPECT_EQ(sovereign.json["msgraph_host"], "graph.microsoft.us");

  HttpResult instance = Get(
      absl::StrCat(kLogin, "/common/discovery/instance?api-version=1.1&authorization_endpoint=",
                   "https%3A%2F%2Flogin.microsoftonline.com%2Fcontoso.onmicrosoft.com%2Foauth2%2Fv2.0%2Fauthorize"));
  ASSERT_EQ(instance.status, 200) << instance.body;
  EXPECT_EQ(instance.json["api-version"], "1.1");
  EXPECT_EQ(instance.json["tenant_discovery_endpoint"],
            absl::StrCat(kLogin, "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"));
  EXPECT_EQ(instance.json["metadata"][0]["preferred_network"], "login.microsoftonline.com");
  HttpResult us =
      Get(absl::StrCat(kLogin, "/common/discovery/instance?api-version=1.1&authorization_endpoint=",
                       "https%3A%2F%2Flogin.microsoftonline.us%2Fcontoso.onmicrosoft.com%2Foauth2%2Fv2.0%2Fauthorize"));
  ASSERT_EQ(us.status, 200) << us.body;
  EXPECT_EQ(us.json["tenant_discovery_endpoint"],
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration");
  // A host of no cloud Entra knows: MSAL reports the authority as untrusted.
  ExpectEntraError(
      Get(absl::StrCat(kLogin, "/common/discovery/instance?api-version=1.1&authorization_endpoint=",
                       "https%3A%2F%2Flogin.contoso.example%2Fcontoso.onmicrosoft.com%2Foauth2%2Fv2.0%2Fauthorize")),
      400, "invalid_instance", 50049);

  HttpResult realm = Get(absl::StrCat(kLogin, "/common/userrealm/admin@contoso.onmicrosoft.com?api-version=1.0"));
  ASSERT_EQ(realm.status, 200);
  EXPECT_EQ(realm.json["account_type"], "Managed");

  ExpectEntraError(Get(absl::StrCat(kLogin, "/nowhere.example/v2.0/.well-known/openid-configuration")), 400,
                   "invalid_tenant", 90002);
}

}  // namespace
}  // namespace crosstenant::testing
