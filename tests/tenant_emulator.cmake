# Tests of the tenant emulator: unit tests of its classes, integration tests that start the
# real binary on 127.0.0.1:0 and speak HTTPS to it with the real Microsoft hostnames, and a benchmark.
# Every test suite is named TenantEmulator*: `ctest --test-dir build -R TenantEmulator` runs them all.

# The dev CA and emulator certificate the integration tests trust, made by the script users run.
set(TENANT_EMULATOR_CERT_DIR "${CMAKE_BINARY_DIR}/tenant_emulator_certs")
add_custom_command(
  OUTPUT ${TENANT_EMULATOR_CERT_DIR}/emulator.pem ${TENANT_EMULATOR_CERT_DIR}/ca.pem
         ${TENANT_EMULATOR_CERT_DIR}/emulator-signing.key ${TENANT_EMULATOR_CERT_DIR}/migration-app.key
  COMMAND bash ${CMAKE_SOURCE_DIR}/deploy/local/dev-certs.sh ${TENANT_EMULATOR_CERT_DIR} > /dev/null
  DEPENDS ${CMAKE_SOURCE_DIR}/deploy/local/dev-certs.sh
  COMMENT "dev-certs.sh for the tenant emulator tests")
add_custom_target(tenant_emulator_test_certs DEPENDS ${TENANT_EMULATOR_CERT_DIR}/emulator.pem)

crosstenant_cc_test(NAME tenant_emulator_unit_test
  SRCS unit/tenant_emulator/seed_loader_test.cc unit/tenant_emulator/jwt_test.cc
       unit/tenant_emulator/directory_test.cc unit/tenant_emulator/faults_test.cc
       unit/tenant_emulator/move_simulator_test.cc unit/tenant_emulator/csom_request_test.cc
       unit/tenant_emulator/scaled_clock_test.cc
  DEPS crosstenant_tenant_emulator
  LABELS unit)

crosstenant_cc_test(NAME tenant_emulator_integration_test
  SRCS integration/tenant_emulator/emulator_fixture.cc integration/tenant_emulator/entra_test.cc
       integration/tenant_emulator/graph_test.cc integration/tenant_emulator/csom_test.cc
       integration/tenant_emulator/moves_test.cc integration/tenant_emulator/faults_test.cc
       integration/tenant_emulator/process_test.cc
  DEPS crosstenant_tenant_emulator crosstenant_test_support CURL::libcurl
  LABELS integration
  ENV "TENANT_EMULATOR_CERT_DIR=${TENANT_EMULATOR_CERT_DIR}")
add_dependencies(tenant_emulator_integration_test tenant-emulator tenant_emulator_test_certs)

# Requests per second of the token endpoint and of a Graph GET: build/bin/emulator_bench --help.
crosstenant_cc_binary(NAME emulator_bench
  SRCS bench/emulator_bench.cc
  DEPS crosstenant_tenant_emulator crosstenant_test_support CURL::libcurl Threads::Threads)
target_compile_definitions(emulator_bench PRIVATE
  TENANT_EMULATOR_CERT_DIR="${TENANT_EMULATOR_CERT_DIR}")
add_dependencies(emulator_bench tenant-emulator tenant_emulator_test_certs)
