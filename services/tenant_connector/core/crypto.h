#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_CRYPTO_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_CRYPTO_H_

// The connector's cryptography, all on OpenSSL: encodings, digests, certificate client assertions
// (PS256 with x5t#S256, RS256 with x5t) and sealing of secrets at rest (AES-256-GCM).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace crosstenant::tenant_connector {

std::string Base64UrlEncode(absl::string_view data);  // no padding
absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text);
std::string Sha256(absl::string_view data);  // raw digest
std::string Sha1(absl::string_view data);
std::string HexLower(absl::string_view data);
std::string HmacSha256(absl::string_view key, absl::string_view data);
std::string RandomBytes(size_t count);
std::string NewGuid();  // random (v4) GUID, lower case

// A certificate with its private key, for client assertions.
struct CertificateInfo {
  std::string der;
  std::string subject;  // RFC 2253 distinguished name
  absl::Time not_after;
  std::string sha256_thumbprint_hex;  // lower-case hex of SHA-256(DER)
};

// Parses the first certificate of `pem`. Errors never quote the input.
absl::StatusOr<CertificateInfo> ParseCertificatePem(absl::string_view pem);

// Signs a client assertion JWT for Entra ID (`aud` = token endpoint, `iss` = `sub` = client id, fresh
// `jti`, `nbf`/`iat` = now, `exp` = now + 10 min). `pss` selects PS256 with `x5t#S256`, else RS256 with
// `x5t`. The key must match the certificate.
absl::StatusOr<std::string> SignClientAssertion(const CertificateInfo& certificate, absl::string_view private_key_pem,
                                                absl::string_view passphrase, bool pss, absl::string_view client_id,
                                                absl::string_view audience, absl::Time now);

// AES-256-GCM with a random 96-bit nonce: nonce || ciphertext || tag. `key` is 32 bytes.
absl::StatusOr<std::string> Seal(absl::string_view key, absl::string_view plaintext, absl::string_view associated);
absl::StatusOr<std::string> Unseal(absl::string_view key, absl::string_view sealed, absl::string_view associated);

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_CRYPTO_H_
