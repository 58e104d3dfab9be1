#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_JWT_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_JWT_H_

// JSON Web Tokens over OpenSSL 3: the emulator's RS256 signing key (access and ID tokens, JWKS),
// X.509 certificates registered on app registrations, and RS256 / PS256 signature checks of
// client assertions.
//
//   ASSIGN_OR_RETURN(SigningKey key, SigningKey::Generate("emulator"));
//   std::string token = key.Sign({{"aud", "https://graph.microsoft.com"}, ...});
//   ASSIGN_OR_RETURN(Jwt parsed, ParseJwt(token));
//   bool good = key.Verify(parsed);

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;

namespace crosstenant::emulator {

std::string Base64UrlEncode(absl::string_view data);
// Accepts input with or without '=' padding; nullopt-like false on bad characters.
bool Base64UrlDecode(absl::string_view text, std::string* out);
std::string Base64Encode(absl::string_view data);

// A compact JWS split into its parts. Claims and header are parsed JSON objects.
struct Jwt {
  nlohmann::json header;
  nlohmann::json claims;
  std::string signing_input;  // "<header>.<payload>" as received
  std::string signature;      // raw bytes
};

// Splits and decodes a compact JWT; INVALID_ARGUMENT if it is not three base64url parts of JSON
// objects.
absl::StatusOr<Jwt> ParseJwt(absl::string_view token);

// Checks `jwt`'s signature with `public_key` for alg RS256 (PKCS#1 v1.5) or PS256 (PSS, SHA-256).
// Any other alg is refused.
bool VerifyJwtSignature(const Jwt& jwt, EVP_PKEY* public_key);

// The RSA public key of a PEM certificate or PEM public key.
absl::StatusOr<std::shared_ptr<EVP_PKEY>> PublicKeyFromPem(absl::string_view pem);

// An X.509 certificate (as registered on an app).
class Certificate {
 public:
  static absl::StatusOr<Certificate> FromPem(absl::string_view pem);

  // base64url of the SHA-1 / SHA-256 of the DER encoding (JOSE x5t and x5t#S256).
  const std::string& x5t() const { return x5t_; }
  const std::string& x5t_s256() const { return x5t_s256_; }
  std::string sha1_hex() const;
  EVP_PKEY* public_key() const { return public_key_.get(); }

 private:
  std::shared_ptr<X509> x509_;
  std::shared_ptr<EVP_PKEY> public_key_;
  std::string x5t_;
  std::string x5t_s256_;
  std::string sha1_;
};

// An RSA key pair with a self-signed certificate, used to sign tokens (and, in tests, assertions).
class SigningKey {
 public:
  // A fresh 2048-bit RSA key and a certificate for it with subject CN=`common_name`.
  static absl::StatusOr<SigningKey> Generate(absl::string_view common_name);
  // An RSA private key read from PEM, with a fresh self-signed certificate (CN=`common_name`).
  static absl::StatusOr<SigningKey> FromPrivateKeyPem(absl::string_view pem, absl::string_view common_name);

  // A compact JWS with header {"typ":"JWT","alg":<alg>,"kid":..,"x5t":..} plus `extra_header` (a null
  // value there removes that header field). alg is "RS256" or "PS256".
  std::string Sign(const nlohmann::json& claims, absl::string_view alg = "RS256",
                   const nlohmann::json& extra_header = nlohmann::json::object()) const;
  bool Verify(const Jwt& jwt) const { return VerifyJwtSignature(jwt, key_.get()); }

  const std::string& kid() const { return kid_; }
  // The JWK of the public key: kty, use, kid, x5t, n, e, x5c.
  nlohmann::json PublicJwk() const;
  std::string CertificatePem() const;
  std::string PrivateKeyPem() const;
  const std::string& x5t() const { return x5t_; }
  const std::string& x5t_s256() const { return x5t_s256_; }

 private:
  static absl::StatusOr<SigningKey> WithCertificate(EVP_PKEY* key, absl::string_view common_name);

  std::shared_ptr<EVP_PKEY> key_;
  std::shared_ptr<X509> certificate_;
  std::string kid_;
  std::string x5t_;
  std::string x5t_s256_;
  std::string der_;
};

// A random GUID (version 4) in lowercase.
std::string RandomGuid();
// `bytes` random bytes, base64url-encoded.
std::string RandomToken(int bytes);

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_JWT_H_
