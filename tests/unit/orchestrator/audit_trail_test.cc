#include "services/orchestrator/core/audit_trail.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "prometheus/registry.h"
#include "services/common/errors.h"
#include "services/orchestrator/store/sqlite_migration_store.h"
#include "tests/support/server_process.h"

namespace crosstenant::orchestrator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class AuditTrailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteMigrationStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    metrics_ = std::make_unique<OrchestratorMetrics>(store_.get(), registry_);
    AuditTrail::Options options;
    options.now = [] { return absl::FromUnixMicros(1800000000123456); };
    options.metrics = metrics_.get();
    trail_ = std::make_unique<AuditTrail>(store_.get(), options);
  }

  double WriteFailures() {
    for (const prometheus::MetricFamily& family : registry_.Collect()) {
      if (family.name == "crosstenant_audit_write_failures_total") return family.metric.at(0).counter.value;
    }
    ADD_FAILURE() << "no crosstenant_audit_write_failures_total";
    return -1;
  }

  testing::TempDir dir_;
  const std::string path_ = dir_.path() + "/state.db";
  prometheus::Registry registry_;
  std::unique_ptr<SqliteMigrationStore> store_;
  std::unique_ptr<OrchestratorMetrics> metrics_;
  std::unique_ptr<AuditTrail> trail_;
};

TEST_F(AuditTrailTest, RecordsTheCallAndTheOutcomeItsCallerGotWithoutTheViolationsThatDescribeTheBody) {
  const AuditedCall call{"migratectl,spiffe://cluster.local/ns/x/sa/migratectl", "CreateMigration", "migrations/m-1",
                         "create-1", "4bf92f3577b34da6a3ce929d0e0e4736"};
  trail_->Record(call, absl::OkStatus());
  trail_->Record(call, InvalidArgumentWithViolations("invalid migration plan",
                                                     {{"plan.identity_map.csv:2:4", "a@contoso.com is mapped twice"}}));
  auto page = trail_->List({});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records_size(), 2);
  const crosstenant::v1::AuditRecord& ok = page->records(0);
  EXPECT_EQ(ok.service(), "orchestrator");
  EXPECT_EQ(ok.caller(), call.caller);
  EXPECT_EQ(ok.action(), "CreateMigration");
  EXPECT_EQ(ok.target(), "migrations/m-1");
  EXPECT_EQ(ok.request_id(), "create-1");
  EXPECT_EQ(ok.trace_id(), call.trace_id);
  EXPECT_EQ(ok.outcome(), "OK");
  EXPECT_EQ(ok.outcome_message(), "");
  EXPECT_EQ(ok.time().seconds(), 1800000000);
  EXPECT_EQ(ok.time().nanos(), 123456000);
  EXPECT_EQ(page->records(1).outcome(), "INVALID_ARGUMENT");
  EXPECT_EQ(page->records(1).outcome_message(), "invalid migration plan");
  EXPECT_EQ(WriteFailures(), 0);
}

TEST_F(AuditTrailTest, ANulByteInARequestIsKeptVisiblyNotLeftToMakeTheRecordUnwritable) {
  trail_->Record({"migratectl", "PauseMigration", std::string("migrations/m\0x", 14), std::string("id\0", 3), ""},
                 absl::NotFoundError(std::string("migrations/m\0x does not exist", 29)));
  auto page = trail_->List({});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records_size(), 1);
  EXPECT_EQ(page->records(0).target(), "migrations/m\\0x");
  EXPECT_EQ(page->records(0).request_id(), "id\\0");
  EXPECT_EQ(page->records(0).outcome_message(), "migrations/m\\0x does not exist");
}

TEST_F(AuditTrailTest, ARecordTheStoreRefusesIsCountedAndNothingElseFails) {
  {
    auto db = SqliteDatabase::Open(path_);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Execute("DROP TABLE audit_records").ok());
  }
  trail_->Record({"migratectl", "PauseMigration", "migrations/m-1", "", ""}, absl::OkStatus());
  trail_->Record({"migratectl", "ResumeMigration", "migrations/m-1", "", ""}, absl::OkStatus());
  EXPECT_EQ(WriteFailures(), 2);
}

TEST_F(AuditTrailTest, RefusesAnInvalidListingFieldByField) {
  crosstenant::v1::ListAuditRecordsRequest request;
  request.set_after_sequence(-1);
  request.set_page_size(-1);
  request.mutable_since()->set_seconds(20);
  request.mutable_until()->set_seconds(10);
  auto refused = trail_->List(request);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields;
  for (const FieldViolation& violation : FieldViolationsOf(refused.status())) fields.push_back(violation.field);
  EXPECT_THAT(fields, ElementsAre("after_sequence", "page_size", "until"));

  request.Clear();
  request.mutable_since()->set_nanos(-1);
  request.mutable_until()->set_seconds(int64_t{1} << 40);
  refused = trail_->List(request);
  fields.clear();
  for (const FieldViolation& violation : FieldViolationsOf(refused.status())) fields.push_back(violation.field);
  EXPECT_THAT(fields, ElementsAre("since", "until"));

  request.Clear();
  request.mutable_since()->set_seconds(10);
  request.mutable_until()->set_seconds(10);
  EXPECT_TRUE(trail_->List(request).ok()) << "an empty range is a valid one";
}

}  // namespace
}  // namespace crosstenant::orchestrator
