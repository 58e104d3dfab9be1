#include "services/tenant_emulator/jwt.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace crosstenant::emulator {
namespace {

constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kStdAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Encode(absl::string_view data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const uint32_t v =
        (uint32_t(uint8_t(data[i])) << 16) | (uint32_t(uint8_t(data[i + 1])) << 8) | uint8_t(data[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == data.size()) {
    const uint32_t v = uint32_t(uint8_t(data[i])) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (i + 2 == data.size()) {
    const uint32_t v = (uint32_t(uint8_t(data[i])) << 16) | (uint32_t(uint8_t(data[i + 1])) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += "=";
  }
  return out;
}

std::string Sha(absl::string_view data, bool sha256) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  if (sha256) {
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
    return std::string(reinterpret_cast<char*>(digest), SHA256_DIGEST_LENGTH);
  }
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), SHA_DIGEST_LENGTH);
}

std::string DerOf(X509* x509) {
  unsigned char* der = nullptr;
  const int length = i2d_X509(x509, &der);
  if (length <= 0) return "";
  std::string out(reinterpret_cast<char*>(der), length);
  OPENSSL_free(der);
  return out;
}

std::string BigNumBytes(EVP_PKEY* key, const char* name) {
  BIGNUM* value = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &value) != 1) return "";
  std::string out(BN_num_bytes(value), '\0');
  BN_bn2bin(value, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(value);
  return out;
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return std::string(data, length);
}

}  // namespace

std::string Base64UrlEncode(absl::string_view data) { return Encode(data, kUrlAlphabet, false); }
std::string Base64Encode(absl::string_view data) { return Encode(data, kStdAlphabet, true); }

bool Base64UrlDecode(absl::string_view text, std::string* out) {
  static const std::vector<int> table = [] {
    std::vector<int> t(256, -1);
    for (int i = 0; i < 64; ++i) {
      t[static_cast<unsigned char>(kUrlAlphabet[i])] = i;
      t[static_cast<unsigned char>(kStdAlphabet[i])] = i;
    }
    return t;
  }();
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  out->clear();
  out->reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = table[static_cast<unsigned char>(c)];
    if (v < 0) return false;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return bits < 6;
}

absl::StatusOr<Jwt> ParseJwt(absl::string_view token) {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return absl::InvalidArgumentError("a JWT has three dot-separated parts");
  Jwt jwt;
  std::string header, payload;
  if (!Base64UrlDecode(parts[0], &header) || !Base64UrlDecode(parts[1], &payload) ||
      !Base64UrlDecode(parts[2], &jwt.signature)) {
    return absl::InvalidArgumentError("a JWT part is not base64url");
  }
  jwt.header = nlohmann::json::parse(header, nullptr, false);
  jwt.claims = nlohmann::json::parse(payload, nullptr, false);
  if (!jwt.header.is_object() || !jwt.claims.is_object()) {
    return absl::InvalidArgumentError("the JWT header or payload is not a JSON object");
  }
  jwt.signing_input = absl::StrCat(parts[0], ".", parts[1]);
  return jwt;
}

bool VerifyJwtSignature(const Jwt& jwt, EVP_PKEY* public_key) {
  const std::string alg = jwt.header.value("alg", "");
  const bool pss = alg == "PS256";
  if (!pss && alg != "RS256") return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx, &pkey_ctx, EVP_sha256(), nullptr, public_key) == 1;
  if (ok && pss) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, RSA_PSS_SALTLEN_AUTO) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pkey_ctx, EVP_sha256()) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(jwt.signature.data()), jwt.signature.size(),
                              reinterpret_cast<const unsigned char*>(jwt.signing_input.data()),
                              jwt.signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> PublicKeyFromPem(absl::string_view pem) {
  absl::StatusOr<Certificate> certificate = Certificate::FromPem(pem);
  if (certificate.ok()) {
    EVP_PKEY* key = certificate->public_key();
    EVP_PKEY_up_ref(key);
    return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
  }
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    if (key != nullptr) EVP_PKEY_free(key);
    return absl::InvalidArgumentError("not a PEM certificate or public key with an RSA key");
  }
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

absl::StatusOr<Certificate> Certificate::FromPem(absl::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x509 = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (x509 == nullptr) return absl::InvalidArgumentError("not a PEM certificate");
  Certificate certificate;
  certificate.x509_.reset(x509, X509_free);
  EVP_PKEY* key = X509_get_pubkey(x509);
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    if (key != nullptr) EVP_PKEY_free(key);
    return absl::InvalidArgumentError("the certificate's key is not RSA (client assertions are RS256/PS256)");
  }
  certificate.public_key_.reset(key, EVP_PKEY_free);
  const std::string der = DerOf(x509);
  certificate.sha1_ = Sha(der, false);
  certificate.x5t_ = Base64UrlEncode(certificate.sha1_);
  certificate.x5t_s256_ = Base64UrlEncode(Sha(der, true));
  return certificate;
}

std::string Certificate::sha1_hex() const {
  std::string hex;
  char byte[3];
  for (char c : sha1_) {
    std::snprintf(byte, sizeof(byte), "%02X", static_cast<unsigned char>(c));
    hex += byte;
  }
  return hex;
}

absl::StatusOr<SigningKey> SigningKey::Generate(absl::string_view common_name) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  if (key == nullptr) return absl::InternalError("cannot generate an RSA key");
  return WithCertificate(key, common_name);
}

absl::StatusOr<SigningKey> SigningKey::FromPrivateKeyPem(absl::string_view pem, absl::string_view common_name) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return absl::InvalidArgumentError("not a PEM private key");
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < 2048) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError("the key must be RSA of at least 2048 bits (tokens are RS256)");
  }
  return WithCertificate(key, common_name);
}

absl::StatusOr<SigningKey> SigningKey::WithCertificate(EVP_PKEY* key, absl::string_view common_name) {
  SigningKey signing;
  signing.key_.reset(key, EVP_PKEY_free);
  X509* x509 = X509_new();
  signing.certificate_.reset(x509, X509_free);
  X509_set_version(x509, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;
  BIGNUM* serial_bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(serial_bn, X509_get_serialNumber(x509));
  BN_free(serial_bn);
  X509_gmtime_adj(X509_getm_notBefore(x509), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509), 3650L * 24 * 3600);
  X509_set_pubkey(x509, key);
  X509_NAME* name = X509_get_subject_name(x509);
  const std::string cn(common_name);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x509, name);
  if (X509_sign(x509, key, EVP_sha256()) == 0) return absl::InternalError("cannot sign the certificate");
  signing.der_ = DerOf(x509);
  signing.x5t_ = Base64UrlEncode(Sha(signing.der_, false));
  signing.x5t_s256_ = Base64UrlEncode(Sha(signing.der_, true));
  signing.kid_ = signing.x5t_;  // Entra's kid equals the certificate's x5t
  return signing;
}

std::string SigningKey::Sign(const nlohmann::json& claims, absl::string_view alg,
                             const nlohmann::json& extra_header) const {
  nlohmann::json header = {{"typ", "JWT"}, {"alg", std::string(alg)}, {"kid", kid_}, {"x5t", x5t_}};
  for (const auto& [name, value] : extra_header.items()) {
    if (value.is_null()) {
      header.erase(name);
    } else {
      header[name] = value;
    }
  }
  const std::string input = absl::StrCat(Base64UrlEncode(header.dump()), ".", Base64UrlEncode(claims.dump()));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  EVP_DigestSignInit(ctx, &pkey_ctx, EVP_sha256(), nullptr, key_.get());
  if (alg == "PS256") {
    EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, RSA_PSS_SALTLEN_DIGEST);
  }
  std::size_t length = 0;
  EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string signature(length, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  signature.resize(length);
  EVP_MD_CTX_free(ctx);
  return absl::StrCat(input, ".", Base64UrlEncode(signature));
}

nlohmann::json SigningKey::PublicJwk() const {
  return {{"kty", "RSA"},
          {"use", "sig"},
          {"kid", kid_},
          {"x5t", x5t_},
          {"n", Base64UrlEncode(BigNumBytes(key_.get(), OSSL_PKEY_PARAM_RSA_N))},
          {"e", Base64UrlEncode(BigNumBytes(key_.get(), OSSL_PKEY_PARAM_RSA_E))},
          {"x5c", nlohmann::json::array({Base64Encode(der_)})}};
}

std::string SigningKey::CertificatePem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, certificate_.get());
  std::string pem = BioToString(bio);
  BIO_free(bio);
  return pem;
}

std::string SigningKey::PrivateKeyPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::string pem = BioToString(bio);
  BIO_free(bio);
  return pem;
}

std::string RandomGuid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof(b));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  char out[37];
  std::snprintf(out, sizeof(out), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

std::string RandomToken(int bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), bytes);
  return Base64UrlEncode(raw);
}

}  // namespace crosstenant::emulator
