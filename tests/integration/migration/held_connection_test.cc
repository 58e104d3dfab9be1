// A real orchestrator holds the connections of the migration it drives: while the migration is live,
// DeleteConnection is refused naming it; once it has ended the holds are released and the delete goes
// through.

#include <algorithm>
#include <chrono>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/migration/migration_fixture.h"

namespace crosstenant::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> HoldersOf(Connector& connector, const std::string& name) {
  grpc::ClientContext context;
  v1::GetConnectionRequest request;
  request.set_name(name);
  v1::GetConnectionResponse response;
  if (!connector.stub().GetConnection(&context, request, &response).ok()) return {};
  return {response.connection().holders().begin(), response.connection().holders().end()};
}

grpc::Status Delete(Connector& connector, const std::string& name) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::DeleteConnectionRequest request;
  request.set_name(name);
  v1::DeleteConnectionResponse response;
  return connector.stub().DeleteConnection(&context, request, &response);
}

// Polls until `done` or 20 seconds.
template <typename Done>
bool Eventually(Done done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return true;
}

TEST_F(MigrationTest, AConnectionALiveMigrationUsesIsNotDeletedUntilTheMigrationEnds) {
  MeshSeed seed;
  seed.nam_users = 4;
  seed.dormant_period = "1h";  // at 600x: about six seconds in TRUST_VERIFICATION, live and unfinished
  ASSERT_TRUE(StartMesh(seed, 600, 1));
  ASSERT_TRUE(Create("held"));

  for (const std::string connection : {"connections/contoso", "connections/fabrikam"}) {
    EXPECT_TRUE(Eventually([&] {
      const std::vector<std::string> holders = HoldersOf(connector_, connection);
      return std::find(holders.begin(), holders.end(), "migrations/held") != holders.end();
    })) << connection
        << " is not held by the migration";
  }
  ASSERT_FALSE(Ended(Get("migrations/held")));
  const grpc::Status refused = Delete(connector_, "connections/fabrikam");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("migrations/held"));
  EXPECT_THAT(refused.error_message(), HasSubstr("--force"));

  const v1::Migration migration = WaitUntil("migrations/held", Ended, absl::Seconds(60));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  ExpectFinalStatesMatchEmulator("migrations/held");
  EXPECT_TRUE(Eventually([&] { return HoldersOf(connector_, "connections/fabrikam").empty(); }))
      << "the ended migration still holds the target";
  EXPECT_THAT(HoldersOf(connector_, "connections/contoso"), IsEmpty());
  const grpc::Status deleted = Delete(connector_, "connections/fabrikam");
  EXPECT_TRUE(deleted.ok()) << deleted.error_message();
}

}  // namespace
}  // namespace crosstenant::testing
