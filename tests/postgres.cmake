# A real PostgreSQL server for the tests of PostgresMigrationStore, started once per ctest run
# by the fixture `postgres`: tests/support/postgres_server.sh initdb's it into the build directory, on
# 127.0.0.1 and a free port, with a test role whose generated password is in <dir>/dsn. Needs Debian's
# postgresql package (deploy/local/bootstrap.sh installs it).
#
# A test that needs it:
#   crosstenant_cc_test(... FIXTURES ${CROSSTENANT_POSTGRES_FIXTURE} ENV ${CROSSTENANT_POSTGRES_ENV}
#                       DEPS crosstenant_test_postgres ...)   and TestPostgresDatabase (one database per test)
#   crosstenant_requires_postgres(<ctest test>...)             for any other add_test() test

set(CROSSTENANT_POSTGRES_DIR "${CMAKE_BINARY_DIR}/tests/postgres")
set(CROSSTENANT_POSTGRES_FIXTURE postgres)
set(CROSSTENANT_POSTGRES_ENV "CROSSTENANT_TEST_POSTGRES_DSN_FILE=${CROSSTENANT_POSTGRES_DIR}/dsn")

add_test(NAME postgres_server_start
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/support/postgres_server.sh start ${CROSSTENANT_POSTGRES_DIR})
set_tests_properties(postgres_server_start PROPERTIES
  FIXTURES_SETUP ${CROSSTENANT_POSTGRES_FIXTURE} LABELS postgres TIMEOUT 180)
add_test(NAME postgres_server_stop
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/support/postgres_server.sh stop ${CROSSTENANT_POSTGRES_DIR})
set_tests_properties(postgres_server_stop PROPERTIES
  FIXTURES_CLEANUP ${CROSSTENANT_POSTGRES_FIXTURE} LABELS postgres TIMEOUT 120)

function(crosstenant_requires_postgres)
  set_tests_properties(${ARGN} PROPERTIES FIXTURES_REQUIRED ${CROSSTENANT_POSTGRES_FIXTURE})
  set_property(TEST ${ARGN} APPEND PROPERTY ENVIRONMENT "${CROSSTENANT_POSTGRES_ENV}")
endfunction()

# TestPostgresDatabase: a fresh database per test on that server.
crosstenant_cc_library(NAME crosstenant_test_postgres
  SRCS support/test_postgres.cc
  DEPS PkgConfig::LIBPQ absl::status absl::statusor absl::strings)
