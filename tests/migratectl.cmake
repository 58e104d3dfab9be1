# Tests of migratectl (issue 6): unit tests of its parts (plan file, exit codes, output formats against
# golden files, user matching, the command line without a server) and integration tests that run the
# real binary against the real mesh. Every suite is named Migratectl*: `ctest -R Migratectl`.

crosstenant_cc_test(NAME migratectl_unit_test
  SRCS unit/migratectl/cli_test.cc unit/migratectl/exit_codes_test.cc unit/migratectl/output_test.cc
       unit/migratectl/plan_file_test.cc unit/migratectl/user_matcher_test.cc
  DEPS migratectl_lib crosstenant_test_support
  LABELS unit)

# The demo runs the binaries of the build it is tested in.
set_tests_properties(demo_smoke PROPERTIES ENVIRONMENT "CROSSTENANT_BIN_DIR=${CMAKE_BINARY_DIR}/bin")
