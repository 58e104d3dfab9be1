// Fuzzes the tenant emulator's JWT code (services/tenant_emulator/jwt.h), which checks every bearer
// token and client assertion the connector sends it. The first input byte picks what the rest is:
//
//   0  a compact JWT: ParseJwt, then VerifyJwtSignature with the emulator's key, which must refuse it
//      (a random input that verifies would be a forged token);
//   1  a JSON claims object: SigningKey::Sign, then ParseJwt and Verify must give the same claims back;
//   2  PEM text: PublicKeyFromPem and Certificate::FromPem (registered app certificates);
//   3  base64url text: Base64UrlDecode, and re-encoding the decoded bytes decodes to the same bytes.

#include <cstddef>
#include <cstdint>
#include <string>

#include "nlohmann/json.hpp"
#include "services/tenant_emulator/jwt.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

const crosstenant::emulator::SigningKey& Key() {
  static const crosstenant::emulator::SigningKey* key = [] {
    absl::StatusOr<crosstenant::emulator::SigningKey> made = crosstenant::emulator::SigningKey::Generate("fuzz");
    FUZZ_CHECK(made.ok(), made.status());
    return new crosstenant::emulator::SigningKey(*std::move(made));
  }();
  return *key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace crosstenant::emulator;
  if (size == 0) return 0;
  const int mode = data[0] % 4;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (mode) {
    case 0: {
      absl::StatusOr<Jwt> jwt = ParseJwt(text);
      if (!jwt.ok()) {
        FUZZ_CHECK(jwt.status().code() == absl::StatusCode::kInvalidArgument, jwt.status());
        return 0;
      }
      FUZZ_CHECK(jwt->header.is_object() && jwt->claims.is_object(), "ParseJwt accepted a non-object part");
      FUZZ_CHECK(!Key().Verify(*jwt), "a fuzzed token verified with the emulator's key: " << text);
      return 0;
    }
    case 1: {
      nlohmann::json claims = nlohmann::json::parse(text, nullptr, false);
      if (!claims.is_object()) return 0;
      for (const char* alg : {"RS256", "PS256"}) {
        const std::string token = Key().Sign(claims, alg);
        absl::StatusOr<Jwt> jwt = ParseJwt(token);
        FUZZ_CHECK(jwt.ok(), "a token the emulator signed does not parse: " << jwt.status());
        FUZZ_CHECK(Key().Verify(*jwt), "a token the emulator signed (" << alg << ") does not verify");
        FUZZ_CHECK(jwt->claims == claims, "claims changed through Sign -> ParseJwt");
      }
      return 0;
    }
    case 2: {
      (void)PublicKeyFromPem(text);
      absl::StatusOr<Certificate> certificate = Certificate::FromPem(text);
      if (certificate.ok()) {
        FUZZ_CHECK(certificate->public_key() != nullptr, "a certificate without a public key");
        FUZZ_CHECK(certificate->sha1_hex().size() == 40, "sha1_hex " << certificate->sha1_hex());
      }
      return 0;
    }
    default: {
      std::string decoded;
      if (!Base64UrlDecode(text, &decoded)) return 0;
      std::string again;
      FUZZ_CHECK(Base64UrlDecode(Base64UrlEncode(decoded), &again) && again == decoded,
                 "Base64UrlEncode -> Base64UrlDecode changed the bytes");
      return 0;
    }
  }
}
