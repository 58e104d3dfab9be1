#ifndef CROSSTENANT_TESTS_UNIT_TENANT_CONNECTOR_TEST_CERTIFICATES_H_
#define CROSSTENANT_TESTS_UNIT_TENANT_CONNECTOR_TEST_CERTIFICATES_H_

// A self-signed RSA certificate and key made at test time (no key material in the repository).

#include <string>

namespace crosstenant::tenant_connector::testing {

struct TestCertificate {
  std::string certificate_pem;
  std::string private_key_pem;
};

// `days` may be negative for an expired certificate.
TestCertificate MakeCertificate(const std::string& common_name, int days);

}  // namespace crosstenant::tenant_connector::testing

#endif  // CROSSTENANT_TESTS_UNIT_TENANT_CONNECTOR_TEST_CERTIFICATES_H_
