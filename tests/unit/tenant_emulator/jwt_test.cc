#include <gtest/gtest.h>

#include "services/tenant_emulator/jwt.h"

namespace crosstenant::emulator {
namespace {

const SigningKey& Key() {
  static const SigningKey* key = new SigningKey(*SigningKey::Generate("unit"));
  return *key;
}

TEST(TenantEmulatorJwtTest, Base64UrlRoundTrip) {
  for (const std::string& text :
       {std::string(""), std::string("f"), std::string("fo"), std::string("foo"), std::string("\xff\xfe\x00\x01", 4)}) {
    std::string decoded;
    ASSERT_TRUE(Base64UrlDecode(Base64UrlEncode(text), &decoded));
    EXPECT_EQ(decoded, text);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
  std::string out;
  EXPECT_FALSE(Base64UrlDecode("a*b", &out));
}

TEST(TenantEmulatorJwtTest, SignsAndVerifiesRs256AndPs256) {
  for (const char* alg : {"RS256", "PS256"}) {
    const std::string token = Key().Sign({{"sub", "x"}}, alg);
    absl::StatusOr<Jwt> jwt = ParseJwt(token);
    ASSERT_TRUE(jwt.ok());
    EXPECT_EQ(jwt->header["alg"], alg);
    EXPECT_EQ(jwt->header["kid"], Key().kid());
    EXPECT_TRUE(Key().Verify(*jwt)) << alg;
    Jwt tampered = *jwt;
    tampered.signing_input.back() ^= 1;
    EXPECT_FALSE(Key().Verify(tampered)) << alg;
  }
}

TEST(TenantEmulatorJwtTest, RefusesOtherAlgorithmsAndMalformedTokens) {
  absl::StatusOr<Jwt> jwt = ParseJwt(Key().Sign({{"sub", "x"}}, "RS256", {{"alg", "none"}}));
  ASSERT_TRUE(jwt.ok());
  EXPECT_FALSE(Key().Verify(*jwt));
  EXPECT_FALSE(ParseJwt("a.b").ok());
  EXPECT_FALSE(ParseJwt("!!.??.##").ok());
  EXPECT_FALSE(ParseJwt(Base64UrlEncode("[1]") + "." + Base64UrlEncode("{}") + ".").ok());
}

TEST(TenantEmulatorJwtTest, CertificateThumbprintsMatchTheSigningKeys) {
  absl::StatusOr<Certificate> certificate = Certificate::FromPem(Key().CertificatePem());
  ASSERT_TRUE(certificate.ok()) << certificate.status();
  EXPECT_EQ(certificate->x5t(), Key().x5t());
  EXPECT_EQ(certificate->x5t_s256(), Key().x5t_s256());
  EXPECT_EQ(certificate->sha1_hex().size(), 40u);
  absl::StatusOr<Jwt> jwt = ParseJwt(Key().Sign({{"a", 1}}, "PS256"));
  ASSERT_TRUE(jwt.ok());
  EXPECT_TRUE(VerifyJwtSignature(*jwt, certificate->public_key()));
  EXPECT_FALSE(Certificate::FromPem("junk").ok());
}

TEST(TenantEmulatorJwtTest, PublicJwkHasModulusAndExponent) {
  nlohmann::json jwk = Key().PublicJwk();
  EXPECT_EQ(jwk["kty"], "RSA");
  EXPECT_EQ(jwk["e"], "AQAB");
  std::string n;
  ASSERT_TRUE(Base64UrlDecode(jwk["n"].get<std::string>(), &n));
  EXPECT_EQ(n.size(), 256u);
}

TEST(TenantEmulatorJwtTest, RandomIdsAreGuids) {
  const std::string a = RandomGuid(), b = RandomGuid();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
}

TEST(TenantEmulatorJwtTest, LoadsAnRsaPrivateKeyFromPem) {
  absl::StatusOr<SigningKey> loaded = SigningKey::FromPrivateKeyPem(Key().PrivateKeyPem(), "again");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->PublicJwk()["n"], Key().PublicJwk()["n"]);
  absl::StatusOr<Jwt> jwt = ParseJwt(loaded->Sign({{"a", 1}}));
  ASSERT_TRUE(jwt.ok());
  EXPECT_TRUE(Key().Verify(*jwt)) << "same key, so the original verifies it";
  EXPECT_FALSE(SigningKey::FromPrivateKeyPem("junk", "x").ok());
}

}  // namespace
}  // namespace crosstenant::emulator
