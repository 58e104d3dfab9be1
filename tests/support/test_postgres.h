#ifndef CROSSTENANT_TESTS_SUPPORT_TEST_POSTGRES_H_
#define CROSSTENANT_TESTS_SUPPORT_TEST_POSTGRES_H_

// A fresh, uniquely named database on the test PostgreSQL server (the ctest fixture `postgres`,
// tests/postgres.cmake), so that tests never see each other's data. The server's connection string is
// read from the file named by CROSSTENANT_TEST_POSTGRES_DSN_FILE, which the fixture sets.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace crosstenant::testing {

class TestPostgresDatabase {
 public:
  // Creates the database. FAILED_PRECONDITION, saying how to get a server, if the environment variable
  // is unset or the file unreadable; UNAVAILABLE if the server cannot be reached. Never skips.
  static absl::StatusOr<std::unique_ptr<TestPostgresDatabase>> Create();
  // Drops the database, disconnecting whoever is still connected to it.
  ~TestPostgresDatabase();
  TestPostgresDatabase(const TestPostgresDatabase&) = delete;
  TestPostgresDatabase& operator=(const TestPostgresDatabase&) = delete;

  // The connection string of the new database (with the test role's password).
  const std::string& dsn() const { return dsn_; }
  const std::string& name() const { return name_; }
  // The CA that issued the server's TLS certificate (for IP 127.0.0.1 only), for sslmode=verify-full.
  const std::string& ca_file() const { return ca_file_; }

 private:
  TestPostgresDatabase(std::string server_dsn, std::string name, std::string dsn, std::string ca_file)
      : server_dsn_(std::move(server_dsn)),
        name_(std::move(name)),
        dsn_(std::move(dsn)),
        ca_file_(std::move(ca_file)) {}
  std::string server_dsn_;
  std::string name_;
  std::string dsn_;
  std::string ca_file_;
};

}  // namespace crosstenant::testing

#endif  // CROSSTENANT_TESTS_SUPPORT_TEST_POSTGRES_H_
