// Client assertions (PS256 / x5t#S256, RS256 / x5t), sealing, and the seal key rules.

#include "services/tenant_connector/core/crypto.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/sqlite_database.h"
#include "services/tenant_connector/core/oauth.h"
#include "services/tenant_connector/core/store.h"
#include "tests/support/server_process.h"
#include "tests/unit/tenant_connector/test_certificates.h"

namespace crosstenant::tenant_connector {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Verifies a JWT's signature with the certificate's public key.
bool VerifySignature(const std::string& jwt, const std::string& certificate_pem, bool pss) {
  std::vector<std::string> parts = absl::StrSplit(jwt, '.');
  if (parts.size() != 3) return false;
  std::string input = parts[0] + "." + parts[1];
  std::string signature = *Base64UrlDecode(parts[2]);
  BIO* bio = BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  EVP_PKEY* key = X509_get_pubkey(cert);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, key);
  if (pss) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO);
  }
  bool ok = EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  X509_free(cert);
  BIO_free(bio);
  return ok;
}

nlohmann::json Header(const std::string& jwt) {
  std::vector<std::string> parts = absl::StrSplit(jwt, '.');
  return nlohmann::json::parse(*Base64UrlDecode(parts[0]));
}

TEST(CryptoTest, Ps256AssertionWithSha256Thumbprint) {
  testing::TestCertificate test = testing::MakeCertificate("migration-app", 365);
  CertificateInfo cert = *ParseCertificatePem(test.certificate_pem);
  EXPECT_EQ(cert.subject, "CN=migration-app");
  EXPECT_GT(cert.not_after, absl::Now() + absl::Hours(24 * 300));
  absl::Time now = absl::Now();
  const std::string audience = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
  absl::StatusOr<std::string> jwt =
      SignClientAssertion(cert, test.private_key_pem, "", true, "11111111-1111-4111-8111-111111111111", audience, now);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  nlohmann::json header = Header(*jwt);
  EXPECT_EQ(header["alg"], "PS256");
  EXPECT_EQ(header["typ"], "JWT");
  EXPECT_EQ(header["x5t#S256"], Base64UrlEncode(Sha256(cert.der)));
  EXPECT_FALSE(header.contains("x5t"));
  nlohmann::json claims = *JwtClaims(*jwt);
  EXPECT_EQ(claims["aud"], audience);
  EXPECT_EQ(claims["iss"], "11111111-1111-4111-8111-111111111111");
  EXPECT_EQ(claims["sub"], claims["iss"]);
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["nbf"].get<int64_t>(), 600);
  EXPECT_EQ(claims["jti"].get<std::string>().size(), 36u);
  EXPECT_TRUE(VerifySignature(*jwt, test.certificate_pem, true));
  // A fresh jti every time.
  std::string again = *SignClientAssertion(cert, test.private_key_pem, "", true, "c", audience, now);
  EXPECT_NE(JwtClaims(again)->at("jti"),
            JwtClaims(*SignClientAssertion(cert, test.private_key_pem, "", true, "c", audience, now))->at("jti"));
}

TEST(CryptoTest, Rs256AssertionWithSha1Thumbprint) {
  testing::TestCertificate test = testing::MakeCertificate("legacy", 30);
  CertificateInfo cert = *ParseCertificatePem(test.certificate_pem);
  absl::StatusOr<std::string> jwt =
      SignClientAssertion(cert, test.private_key_pem, "", false, "client", "https://aud", absl::Now());
  ASSERT_TRUE(jwt.ok());
  nlohmann::json header = Header(*jwt);
  EXPECT_EQ(header["alg"], "RS256");
  EXPECT_EQ(header["x5t"], Base64UrlEncode(Sha1(cert.der)));
  EXPECT_TRUE(VerifySignature(*jwt, test.certificate_pem, false));
}

TEST(CryptoTest, KeyMustMatchCertificate) {
  testing::TestCertificate a = testing::MakeCertificate("a", 30);
  testing::TestCertificate b = testing::MakeCertificate("b", 30);
  CertificateInfo cert = *ParseCertificatePem(a.certificate_pem);
  absl::StatusOr<std::string> jwt = SignClientAssertion(cert, b.private_key_pem, "", true, "c", "aud", absl::Now());
  ASSERT_FALSE(jwt.ok());
  EXPECT_THAT(jwt.status().message(), HasSubstr("does not match the certificate"));
  EXPECT_THAT(jwt.status().message(), Not(HasSubstr("BEGIN")));
  EXPECT_FALSE(ParseCertificatePem("not a certificate").ok());
}

TEST(CryptoTest, SealRoundTripAndWrongKey) {
  std::string key = RandomBytes(32);
  std::string sealed = *Seal(key, "contoso-migration-secret", "connections/a");
  EXPECT_THAT(sealed, Not(HasSubstr("contoso-migration-secret")));
  EXPECT_EQ(*Unseal(key, sealed, "connections/a"), "contoso-migration-secret");
  EXPECT_FALSE(Unseal(RandomBytes(32), sealed, "connections/a").ok());
  EXPECT_FALSE(Unseal(key, sealed, "connections/b").ok());  // bound to the connection name
}

TEST(CryptoTest, SealKeyFileRules) {
  crosstenant::testing::TempDir dir;
  const std::string path = dir.path() + "/seal.key";
  // Absent with sealed secrets stored: refused, naming the file.
  absl::StatusOr<std::string> refused = LoadSealKey(path, true);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr(path));
  // Absent without sealed secrets: created, and read back the same.
  absl::StatusOr<std::string> created = LoadSealKey(path, false);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->size(), 32u);
  EXPECT_EQ(*LoadSealKey(path, true), *created);
  // A malformed key file is refused.
  dir.WriteFile("bad.key", "short");
  EXPECT_FALSE(LoadSealKey(dir.path() + "/bad.key", false).ok());
}

TEST(CryptoTest, StoreRoundTrip) {
  crosstenant::testing::TempDir dir;
  auto store = ConnectionStore::Open(dir.path() + "/state");
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Put({"connections/a", "conn-a", "sealed-a"}).ok());
  ASSERT_TRUE((*store)->Put({"connections/b", "conn-b", "sealed-b"}).ok());
  ASSERT_TRUE((*store)->Put({"connections/a", "conn-a2", "sealed-a2"}).ok());
  auto rows = (*store)->LoadAll();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].connection, "conn-a2");
  ASSERT_TRUE((*store)->Delete("connections/a").ok());
  EXPECT_EQ(*(*store)->CountSealed(), 1);
}

TEST(CryptoTest, StoreRefusesAFileOfANewerSchemaAndStampsItsOwn) {
  crosstenant::testing::TempDir dir;
  const std::string state = dir.path() + "/state";
  const std::string path = ConnectionStore::DatabasePath(state);
  auto user_version = [&](const std::string& set = "") -> int64_t {
    auto db = SqliteDatabase::Open(path);
    EXPECT_TRUE(db.ok()) << db.status();
    if (!set.empty()) {
      EXPECT_TRUE((*db)->Execute("PRAGMA user_version = " + set).ok());
    }
    auto read = (*db)->Prepare("PRAGMA user_version");
    EXPECT_TRUE(read.ok() && read->Step().value_or(false));
    return read->ColumnInt(0);
  };
  {
    auto store = ConnectionStore::Open(state);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Put({"connections/a", "conn-a", "sealed-a"}).ok());
  }
  EXPECT_EQ(user_version(), ConnectionStore::kSchemaVersion);

  // Written by a newer release: refused, naming the file and both versions, and left as it was.
  user_version(std::to_string(ConnectionStore::kSchemaVersion + 1));
  auto newer = ConnectionStore::Open(state);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(newer.status().message(), HasSubstr(path));
  EXPECT_THAT(newer.status().message(),
              HasSubstr("schema version " + std::to_string(ConnectionStore::kSchemaVersion + 1)));
  EXPECT_EQ(user_version(), ConnectionStore::kSchemaVersion + 1);

  // Written before versions were kept (0): opened, its rows kept, and stamped.
  user_version("0");
  auto older = ConnectionStore::Open(state);
  ASSERT_TRUE(older.ok()) << older.status();
  ASSERT_EQ((*older)->LoadAll()->size(), 1u);
  older->reset();
  EXPECT_EQ(user_version(), ConnectionStore::kSchemaVersion);
}

// The answers RequestLog keeps: found after a restart, replaced under the same id, and the oldest
// forgotten, by age or beyond the capacity, once every 1,000 answers kept.
TEST(CryptoTest, StoreKeepsAnswersAcrossARestartAndForgetsTheOldest) {
  crosstenant::testing::TempDir dir;
  const std::string state = dir.path() + "/state";
  const absl::Time t0 = absl::FromUnixSeconds(1800000000);
  auto answer = [&](int i) {
    return AnswerStore::Answer{"StartUserContentMove", std::string(32, static_cast<char>(i % 256)),
                               "response-" + std::to_string(i), t0 + absl::Seconds(i)};
  };
  {
    auto store = ConnectionStore::Open(state).value();
    ASSERT_TRUE(store->KeepAnswer("id-0", answer(0), t0 - absl::Hours(1), 10).ok());
    ASSERT_TRUE(store->KeepAnswer("id-1", answer(1), t0 - absl::Hours(1), 10).ok());
    ASSERT_TRUE(store->KeepAnswer("id-1", answer(2), t0 - absl::Hours(1), 10).ok());
    EXPECT_FALSE(store->FindAnswer("id-2").value().has_value());
  }
  auto store = ConnectionStore::Open(state).value();
  std::optional<AnswerStore::Answer> found = store->FindAnswer("id-1").value();
  ASSERT_TRUE(found.has_value()) << "kept across the restart";
  EXPECT_EQ(found->method, "StartUserContentMove");
  EXPECT_EQ(found->fingerprint, std::string(32, '\x02'));
  EXPECT_EQ(found->response, "response-2") << "the later answer under the same id";
  EXPECT_EQ(found->answered, t0 + absl::Seconds(2));

  // 1,000 more (this store's count starts again at its open): the 1,000th forgets what is older than
  // `forget_before` (id-0, id-1) and all but the newest `capacity`.
  for (int i = 3; i < 1003; ++i) {
    ASSERT_TRUE(store->KeepAnswer("id-" + std::to_string(i), answer(i), t0 + absl::Seconds(3), 500).ok());
  }
  EXPECT_FALSE(store->FindAnswer("id-0").value().has_value());
  EXPECT_FALSE(store->FindAnswer("id-1").value().has_value()) << "older than forget_before";
  EXPECT_FALSE(store->FindAnswer("id-502").value().has_value()) << "beyond the capacity";
  EXPECT_TRUE(store->FindAnswer("id-503").value().has_value());
  EXPECT_EQ(store->FindAnswer("id-1002").value()->response, "response-1002");
}

TEST(OAuthTest, AuthFailureClassification) {
  EXPECT_EQ(AuthFailureOf(absl::UnavailableError("x")), AuthFailure::kTransient);
  // The AADSTS code is read from Entra's ErrorInfo (error_reasons_test.cc), not from the message.
  EXPECT_EQ(AuthFailureOf(WithErrorInfo(absl::FailedPreconditionError("secret expired"), "AADSTS7000222", kEntraDomain,
                                        {{kMetadataAadsts, "AADSTS7000222"}})),
            AuthFailure::kExpired);
  EXPECT_EQ(AuthFailureOf(WithErrorInfo(absl::FailedPreconditionError("wrong secret"), "AADSTS7000215", kEntraDomain,
                                        {{kMetadataAadsts, "AADSTS7000215"}})),
            AuthFailure::kRefused);
  EXPECT_EQ(AuthFailureOf(absl::OkStatus()), AuthFailure::kNone);
}

}  // namespace
}  // namespace crosstenant::tenant_connector
