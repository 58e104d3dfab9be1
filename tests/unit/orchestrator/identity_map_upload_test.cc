// UploadIdentityMap's core (IdentityMapUploadStream) on a real SQLite store, and CreateMigration from
// what it staged.

#include "services/orchestrator/core/identity_map_upload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/orchestrator/core/migration_service.h"
#include "services/orchestrator/store/sqlite_migration_store.h"
#include "tests/support/server_process.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::HasSubstr;

constexpr const char* kTenant = "7f1d1c1e-0000-4000-8000-000000000001";
constexpr const char* kGroup =
    "Group,7f1d1c1e-0000-4000-8000-000000000001,11111111-0000-4000-8000-000000000001,"
    "22222222-0000-4000-8000-000000000001,22222222-0000-4000-8000-000000000001,M365Group\n";

std::string UserRow(int i) {
  return std::string("User,") + kTenant + ",User" + std::to_string(i) + "@contoso.com,user" + std::to_string(i) +
         "@fabrikam.com,user" + std::to_string(i) + "@fabrikam.com,RegularUser\n";
}

class IdentityMapUploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteMigrationStore::Open(dir_.path() + "/o.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    MigrationService::Options options;
    options.now = [this] { return now_; };
    service_ = std::make_unique<MigrationService>(store_.get(), options);
  }

  // Streams `csv` in pieces of `piece` bytes.
  absl::StatusOr<v1::OrchestratorUploadIdentityMapResponse> Upload(const std::string& csv, size_t piece,
                                                                   int max_problems = 0) {
    std::unique_ptr<IdentityMapUploadStream> upload = service_->NewIdentityMapUpload();
    for (size_t at = 0; at < csv.size(); at += piece) {
      v1::OrchestratorUploadIdentityMapRequest request;
      request.set_csv_chunk(csv.substr(at, piece));
      if (at == 0) request.set_max_problems(max_problems);
      if (absl::Status added = upload->Add(request); !added.ok()) return added;
    }
    return upload->Finish();
  }

  v1::ValidateIdentityMapResponse Validate(const std::string& csv) {
    v1::ValidateIdentityMapRequest request;
    request.mutable_identity_map()->set_csv(csv);
    return service_->ValidateIdentityMap(request).value();
  }

  v1::CreateMigrationRequest CreateFrom(const std::string& upload, const std::string& id) {
    v1::CreateMigrationRequest request;
    request.set_migration_id(id);
    request.mutable_plan()->set_source_connection("connections/contoso");
    request.mutable_plan()->set_target_connection("connections/fabrikam");
    request.mutable_plan()->mutable_identity_map()->set_upload(upload);
    return request;
  }

  testing::TempDir dir_;
  absl::Time now_ = absl::FromUnixSeconds(1800000000);
  std::unique_ptr<SqliteMigrationStore> store_;
  std::unique_ptr<MigrationService> service_;
};

TEST_F(IdentityMapUploadTest, AMapStreamedInSmallPiecesIsStagedWithValidateIdentityMapsSummary) {
  // Rows cut anywhere (7-byte pieces), a byte order mark, blank lines, a quoted field with a comma, a
  // group between users, and more rows than one page.
  std::string csv = "\xEF\xBB\xBF";
  for (int i = 0; i < 2500; ++i) {
    csv += UserRow(i);
    if (i == 10) csv += kGroup;
    if (i == 20) csv += "\n,,,,,\n";
  }
  csv += std::string("User,") + kTenant + ",\"quoted@contoso.com\",q@fabrikam.com,q@fabrikam.com,RegularUser";
  auto response = Upload(csv, 7);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->valid());
  EXPECT_EQ(response->problem_count(), 0);
  EXPECT_THAT(response->name(), HasSubstr("identityMapUploads/u-"));
  EXPECT_EQ(response->expire_time().seconds(), absl::ToUnixSeconds(now_ + absl::Hours(24)));
  const v1::ValidateIdentityMapResponse inline_check = Validate(csv);
  ASSERT_TRUE(inline_check.valid());
  EXPECT_EQ(response->summary().user_rows(), 2501);
  EXPECT_EQ(response->summary().group_rows(), 1);
  EXPECT_EQ(response->summary().sha256(), inline_check.summary().sha256()) << "the same canonical CSV";

  // A migration from it: one user per User row with its line, created once per upload.
  v1::CreateMigrationRequest request = CreateFrom(response->name(), "merger");
  request.set_request_id("create-from-upload");
  auto migration = service_->CreateMigration(request);
  ASSERT_TRUE(migration.ok()) << migration.status();
  EXPECT_EQ(migration->counts().total(), 2501);
  EXPECT_EQ(migration->identity_map_summary().sha256(), inline_check.summary().sha256());
  EXPECT_EQ(service_->GetMigration("migrations/merger")->counts().total(), 2501);
  auto user = service_->GetUserMove("migrations/merger/users/user2499@contoso.com");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->source_user_principal_name(), "User2499@contoso.com");
  EXPECT_EQ(user->target_user_principal_name(), "user2499@fabrikam.com");
  EXPECT_EQ(user->identity_map_line(), 2500 + 3) << "a group row and two blank lines before it";
  EXPECT_EQ(service_->GetUserMove("migrations/merger/users/quoted@contoso.com")->state(), v1::USER_MOVE_STATE_PENDING);

  // A retry is answered as the first call was; another migration cannot take the same upload.
  auto retry = service_->CreateMigration(request);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->name(), "migrations/merger");
  auto again = service_->CreateMigration(CreateFrom(response->name(), "second"));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("already used by migrations/merger"));
  // The same request id with another upload is another request.
  request.mutable_plan()->mutable_identity_map()->set_upload("identityMapUploads/other");
  EXPECT_EQ(service_->CreateMigration(request).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->CreateMigration(CreateFrom("identityMapUploads/none", "third")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(IdentityMapUploadTest, ProblemsAreThoseOfValidateIdentityMapWithTheirLinesAndNothingIsKept) {
  std::string csv;
  for (int i = 0; i < 1500; ++i) csv += UserRow(i);
  csv += UserRow(3);  // duplicate of line 4, a page earlier
  csv += "User,bad,o'neil@contoso.com,x@fabrikam.com,x@fabrikam.com,Boss\n";
  csv += std::string("User,") + kTenant + ",new@contoso.com,USER1499@fabrikam.com,n@fabrikam.com,RegularUser\n";
  auto response = Upload(csv, 4096);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_FALSE(response->valid());
  EXPECT_TRUE(response->name().empty()) << "an invalid map is not kept";
  const v1::ValidateIdentityMapResponse inline_check = Validate(csv);
  ASSERT_EQ(response->problems_size(), inline_check.problems_size());
  EXPECT_EQ(response->problem_count(), inline_check.problem_count());
  for (int i = 0; i < response->problems_size(); ++i) {
    EXPECT_EQ(response->problems(i).DebugString(), inline_check.problems(i).DebugString()) << i;
  }
  EXPECT_EQ(response->problems(0).code(), "DUPLICATE_SOURCE");
  EXPECT_THAT(response->problems(0).message(), HasSubstr("already mapped on line 4"));
  EXPECT_EQ(store_->DeleteUnusedIdentityMapUploads(absl::InfiniteFuture(), "").value_or(-1), 0) << "already deleted";

  // At most max_problems are listed; problem_count counts them all.
  std::string garbage;
  for (int i = 0; i < 30; ++i) garbage += "User,x,y,z,w,RegularUser\n";
  auto limited = Upload(garbage, 100, 10);
  ASSERT_TRUE(limited.ok()) << limited.status();
  EXPECT_EQ(limited->problems_size(), 10);
  EXPECT_GT(limited->problem_count(), 30);
  auto empty = Upload("", 10);
  ASSERT_TRUE(empty.ok()) << empty.status();
  ASSERT_EQ(empty->problems_size(), 1);
  EXPECT_EQ(empty->problems(0).code(), "EMPTY_MAP");
}

TEST_F(IdentityMapUploadTest, AUserInAnotherLiveMigrationFromTheSameSourceIsRefusedByName) {
  std::string first, second;
  for (int i = 0; i < 1500; ++i) first += UserRow(i);
  for (int i = 1400; i < 1600; ++i) second += UserRow(i);
  auto a = Upload(first, 65536);
  ASSERT_TRUE(a.ok() && a->valid()) << a.status();
  ASSERT_TRUE(service_->CreateMigration(CreateFrom(a->name(), "wave1")).ok());
  auto b = Upload(second, 65536);
  ASSERT_TRUE(b.ok() && b->valid()) << b.status();
  auto refused = service_->CreateMigration(CreateFrom(b->name(), "wave2"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("migrations/wave1"));
  EXPECT_THAT(refused.status().message(), HasSubstr("User1400@contoso.com, User1401@contoso.com"));
  EXPECT_THAT(refused.status().message(), HasSubstr("and maybe more"));
  // From another source the same users are free.
  v1::CreateMigrationRequest elsewhere = CreateFrom(b->name(), "wave2");
  elsewhere.mutable_plan()->set_source_connection("connections/northwind");
  EXPECT_TRUE(service_->CreateMigration(elsewhere).ok());
}

TEST_F(IdentityMapUploadTest, OversizedPiecesAndRowsAreRefused) {
  auto big = Upload(std::string(IdentityMapUploadStream::kMaxChunkBytes + 1, 'x'),
                    IdentityMapUploadStream::kMaxChunkBytes + 1);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  auto unclosed = Upload("User,\"" + std::string(70 * 1024, 'x'), 4096);
  EXPECT_EQ(unclosed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unclosed.status().message(), HasSubstr("invalid upload"));
}

TEST_F(IdentityMapUploadTest, InlineMapsOverTenThousandRowsAreSentToUploadIdentityMap) {
  std::string csv;
  for (int i = 0; i <= MigrationService::kMaxInlineRows; ++i) csv += UserRow(i);
  v1::CreateMigrationRequest request = CreateFrom("", "big");
  request.mutable_plan()->mutable_identity_map()->set_csv(csv);
  auto refused = service_->CreateMigration(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().ToString(), HasSubstr("UploadIdentityMap"));
  csv.resize(csv.size() - UserRow(MigrationService::kMaxInlineRows).size());
  request.mutable_plan()->mutable_identity_map()->set_csv(csv);
  auto created = service_->CreateMigration(request);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->counts().total(), MigrationService::kMaxInlineRows);
}

}  // namespace
}  // namespace crosstenant::orchestrator
