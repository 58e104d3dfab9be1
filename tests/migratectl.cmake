# Tests of migratectl: unit tests of its parts (plan file, exit codes, output formats against
# golden files, user matching, the command line without a server) and integration tests that run the
# real binary against the real mesh. Every suite is named Migratectl*: `ctest -R Migratectl`.

crosstenant_cc_test(NAME migratectl_unit_test
  SRCS unit/migratectl/cli_test.cc unit/migratectl/exit_codes_test.cc unit/migratectl/output_test.cc
       unit/migratectl/plan_file_test.cc unit/migratectl/user_matcher_test.cc
  DEPS migratectl_lib crosstenant_test_support
  LABELS unit)

# The demo runs the binaries of the build it is tested in (not necessarily build/).
if(TEST demo_smoke)
  set_tests_properties(demo_smoke PROPERTIES ENVIRONMENT "CROSSTENANT_BIN_DIR=${CMAKE_BINARY_DIR}/bin")
endif()

# The dev CA and certificates the mesh tests use, made by the script users run.
set(MIGRATECTL_TEST_CERT_DIR "${CMAKE_BINARY_DIR}/migratectl_test_certs")
add_custom_command(
  OUTPUT ${MIGRATECTL_TEST_CERT_DIR}/client-migratectl.pem ${MIGRATECTL_TEST_CERT_DIR}/migration-app.pem
  COMMAND bash ${CMAKE_SOURCE_DIR}/deploy/local/dev-certs.sh ${MIGRATECTL_TEST_CERT_DIR} > /dev/null
  DEPENDS ${CMAKE_SOURCE_DIR}/deploy/local/dev-certs.sh
  COMMENT "dev-certs.sh for the migratectl tests")
add_custom_target(migratectl_test_certs DEPENDS ${MIGRATECTL_TEST_CERT_DIR}/client-migratectl.pem)

crosstenant_cc_test(NAME migratectl_mesh_test
  SRCS integration/migratectl/mesh.cc integration/migratectl/migratectl_test.cc
  DEPS crosstenant_mesh_support absl::strings
  LABELS integration)
target_compile_definitions(migratectl_mesh_test PRIVATE MIGRATECTL_TEST_CERT_DIR="${MIGRATECTL_TEST_CERT_DIR}")
add_dependencies(migratectl_mesh_test migratectl tenant-emulator tenant-connector orchestrator worker
                 migratectl_test_certs)

find_package(SQLite3 REQUIRED)
# The connector's audit trail through migratectl: recorded, listed, kept across restarts, verified, and
# tampered with in the database (the SQLite C API) to show that verify names the record.
crosstenant_cc_test(NAME migratectl_audit_test
  SRCS integration/migratectl/mesh.cc integration/migratectl/audit_test.cc
  DEPS crosstenant_mesh_support absl::strings SQLite::SQLite3
  LABELS integration)
target_compile_definitions(migratectl_audit_test PRIVATE MIGRATECTL_TEST_CERT_DIR="${MIGRATECTL_TEST_CERT_DIR}")
add_dependencies(migratectl_audit_test migratectl tenant-emulator tenant-connector orchestrator worker
                 migratectl_test_certs)

# migratectl on devices, FIFOs, directories, oversized files and 50 MB of garbage (the real binary's
# peak memory is measured).
crosstenant_cc_test(NAME migratectl_limits_test
  SRCS integration/migratectl/limits_test.cc
  DEPS migratectl_lib crosstenant_test_support
  LABELS integration)
add_dependencies(migratectl_limits_test migratectl)
