#include "services/tenant_connector/core/crypto.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"

namespace crosstenant::tenant_connector {
namespace {

template <typename T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
using BioPtr = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Free<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX, EVP_MD_CTX_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Free<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;

BioPtr MemoryBio(absl::string_view data) { return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size()))); }

int PassphraseCallback(char* buffer, int size, int /*rwflag*/, void* user) {
  auto* passphrase = static_cast<absl::string_view*>(user);
  int length = std::min<int>(size, static_cast<int>(passphrase->size()));
  memcpy(buffer, passphrase->data(), static_cast<size_t>(length));
  return length;
}

}  // namespace

std::string Base64UrlEncode(absl::string_view data) {
  std::string out;
  absl::WebSafeBase64Escape(data, &out);
  return out;
}

absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text) {
  std::string out;
  if (!absl::WebSafeBase64Unescape(text, &out)) return absl::InvalidArgumentError("not base64url");
  return out;
}

std::string Sha256(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

std::string Sha1(absl::string_view data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

std::string HexLower(absl::string_view data) { return absl::BytesToHexString(data); }

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &length);
  return std::string(reinterpret_cast<char*>(out), length);
}

std::string RandomBytes(size_t count) {
  std::string out(count, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count));
  return out;
}

std::string NewGuid() {
  std::string bytes = RandomBytes(16);
  bytes[6] = static_cast<char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<char>((bytes[8] & 0x3f) | 0x80);
  std::string hex = HexLower(bytes);
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-", hex.substr(16, 4), "-",
                      hex.substr(20));
}

absl::StatusOr<CertificateInfo> ParseCertificatePem(absl::string_view pem) {
  BioPtr bio = MemoryBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!cert) return absl::InvalidArgumentError("the certificate is not a PEM X.509 certificate");
  CertificateInfo info;
  int length = i2d_X509(cert.get(), nullptr);
  info.der.resize(static_cast<size_t>(length));
  unsigned char* out = reinterpret_cast<unsigned char*>(info.der.data());
  i2d_X509(cert.get(), &out);
  BioPtr name_bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(name_bio.get(), X509_get_subject_name(cert.get()), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long size = BIO_get_mem_data(name_bio.get(), &data);
  info.subject.assign(data, static_cast<size_t>(size));
  struct tm tm_after {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm_after) == 1) {
    info.not_after = absl::FromTM(tm_after, absl::UTCTimeZone());
  }
  info.sha256_thumbprint_hex = HexLower(Sha256(info.der));
  return info;
}

absl::StatusOr<std::string> SignClientAssertion(const CertificateInfo& certificate, absl::string_view private_key_pem,
                                                absl::string_view passphrase, bool pss, absl::string_view client_id,
                                                absl::string_view audience, absl::Time now) {
  BioPtr bio = MemoryBio(private_key_pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, PassphraseCallback, &passphrase));
  ERR_clear_error();
  if (!key) {
    return absl::InvalidArgumentError(
        "the private key is not a PEM private key (PKCS#8 or PKCS#1), or its passphrase is wrong");
  }
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return absl::InvalidArgumentError("the private key must be RSA (Entra ID assertions use PS256 or RS256)");
  }
  // The key must belong to the certificate.
  {
    const unsigned char* der = reinterpret_cast<const unsigned char*>(certificate.der.data());
    X509Ptr cert(d2i_X509(nullptr, &der, static_cast<long>(certificate.der.size())));
    if (!cert || X509_check_private_key(cert.get(), key.get()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError("the private key does not match the certificate");
    }
  }
  nlohmann::json header = {{"alg", pss ? "PS256" : "RS256"}, {"typ", "JWT"}};
  if (pss) {
    header["x5t#S256"] = Base64UrlEncode(Sha256(certificate.der));
  } else {
    header["x5t"] = Base64UrlEncode(Sha1(certificate.der));
  }
  int64_t seconds = absl::ToUnixSeconds(now);
  nlohmann::json claims = {{"aud", std::string(audience)},
                           {"iss", std::string(client_id)},
                           {"sub", std::string(client_id)},
                           {"jti", NewGuid()},
                           {"nbf", seconds},
                           {"iat", seconds},
                           {"exp", seconds + 600}};
  std::string signing_input = absl::StrCat(Base64UrlEncode(header.dump()), ".", Base64UrlEncode(claims.dump()));

  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  if (EVP_DigestSignInit(ctx.get(), &pkey_ctx, EVP_sha256(), nullptr, key.get()) != 1) {
    ERR_clear_error();
    return absl::InternalError("cannot initialise the assertion signature");
  }
  if (pss) {
    EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, RSA_PSS_SALTLEN_DIGEST);
  }
  size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    ERR_clear_error();
    return absl::InternalError("cannot sign the assertion");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1) {
    ERR_clear_error();
    return absl::InternalError("cannot sign the assertion");
  }
  signature.resize(length);
  return absl::StrCat(signing_input, ".", Base64UrlEncode(signature));
}

absl::StatusOr<std::string> Seal(absl::string_view key, absl::string_view plaintext, absl::string_view associated) {
  if (key.size() != 32) return absl::InvalidArgumentError("the seal key must be 32 bytes");
  std::string nonce = RandomBytes(12);
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::string out(plaintext.size(), '\0');
  int length = 0;
  unsigned char tag[16];
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(associated.data()),
                        static_cast<int>(associated.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &length,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), nullptr, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) {
    ERR_clear_error();
    return absl::InternalError("AES-256-GCM sealing failed");
  }
  return absl::StrCat(nonce, out, absl::string_view(reinterpret_cast<char*>(tag), 16));
}

absl::StatusOr<std::string> Unseal(absl::string_view key, absl::string_view sealed, absl::string_view associated) {
  if (key.size() != 32) return absl::InvalidArgumentError("the seal key must be 32 bytes");
  if (sealed.size() < 28) return absl::DataLossError("sealed value too short");
  absl::string_view nonce = sealed.substr(0, 12);
  absl::string_view body = sealed.substr(12, sealed.size() - 28);
  std::string tag(sealed.substr(sealed.size() - 16));
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::string out(body.size(), '\0');
  int length = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(associated.data()),
                        static_cast<int>(associated.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &length,
                        reinterpret_cast<const unsigned char*>(body.data()), static_cast<int>(body.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), nullptr, &length) != 1) {
    ERR_clear_error();
    return absl::DataLossError("sealed value does not open with this key (wrong key file, or data corrupted)");
  }
  return out;
}

}  // namespace crosstenant::tenant_connector
