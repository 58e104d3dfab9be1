#include "tests/support/test_postgres.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace crosstenant::testing {
namespace {

constexpr char kDsnFileVariable[] = "CROSSTENANT_TEST_POSTGRES_DSN_FILE";

// A key='value' connection string (libpq's quoting) from `server_dsn` with `dbname` replaced.
absl::StatusOr<std::string> WithDatabase(const std::string& server_dsn, const std::string& dbname) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(server_dsn.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    return absl::FailedPreconditionError("the test PostgreSQL server's connection string is malformed");
  }
  std::vector<std::string> pairs;
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    const std::string keyword = option->keyword;
    std::string value = keyword == "dbname" ? dbname : (option->val ? option->val : "");
    if (value.empty()) continue;
    value = absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"'", "\\'"}});
    pairs.push_back(absl::StrCat(keyword, "='", value, "'"));
  }
  PQconninfoFree(options);
  return absl::StrJoin(pairs, " ");
}

// Runs one statement on the server's maintenance database.
absl::Status RunOnServer(const std::string& server_dsn, const std::string& sql) {
  PGconn* conn = PQconnectdb(server_dsn.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message(absl::StripAsciiWhitespace(PQerrorMessage(conn)));
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat(
        "cannot reach the test PostgreSQL server (is the ctest fixture postgres_server_start running?): ", message));
  }
  PGresult* result = PQexec(conn, sql.c_str());
  absl::Status status = absl::OkStatus();
  if (PQresultStatus(result) != PGRES_COMMAND_OK) {
    status = absl::InternalError(absl::StrCat(
        "[", sql, "] failed on the test PostgreSQL server: ", absl::StripAsciiWhitespace(PQerrorMessage(conn))));
  }
  PQclear(result);
  PQfinish(conn);
  return status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestPostgresDatabase>> TestPostgresDatabase::Create() {
  const char* file = std::getenv(kDsnFileVariable);
  if (file == nullptr || *file == '\0') {
    return absl::FailedPreconditionError(
        absl::StrCat(kDsnFileVariable,
                     " is not set: this test needs the test PostgreSQL server. Run it through ctest "
                     "(the fixture `postgres` starts one), or start one with `tests/support/postgres_server.sh "
                     "start DIR` and set ",
                     kDsnFileVariable, "=DIR/dsn"));
  }
  std::ifstream in(file);
  std::stringstream content;
  content << in.rdbuf();
  const std::string server_dsn(absl::StripAsciiWhitespace(content.str()));
  if (!in || server_dsn.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the test PostgreSQL server's connection string from ", file, " (", kDsnFileVariable,
                     "): did tests/support/postgres_server.sh start fail?"));
  }
  static std::atomic<int> counter{0};
  std::random_device random;
  const std::string name =
      absl::StrCat("crosstenant_test_", getpid(), "_", counter++, "_", absl::Hex(random(), absl::kZeroPad8));
  absl::StatusOr<std::string> dsn = WithDatabase(server_dsn, name);
  if (!dsn.ok()) return dsn.status();
  if (absl::Status created = RunOnServer(server_dsn, absl::StrCat("CREATE DATABASE ", name)); !created.ok()) {
    return created;
  }
  const std::string dsn_file(file);
  const size_t slash = dsn_file.rfind('/');
  std::string ca_file = absl::StrCat(slash == std::string::npos ? "." : dsn_file.substr(0, slash), "/ca.pem");
  return std::unique_ptr<TestPostgresDatabase>(
      new TestPostgresDatabase(server_dsn, name, *std::move(dsn), std::move(ca_file)));
}

TestPostgresDatabase::~TestPostgresDatabase() {
  RunOnServer(server_dsn_, absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)")).IgnoreError();
}

}  // namespace crosstenant::testing
