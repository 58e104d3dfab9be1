// The connector's audit trail in its state database: appending seals and chains records in order,
// listing filters and pages, the triggers refuse changes, the trail survives a reopen, and AuditTrail
// checks listings, names targets and counts the records it could not write.

#include "services/tenant_connector/core/audit_trail.h"

#include <sqlite3.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crosstenant/v1/tenant_connector.pb.h"
#include "prometheus/registry.h"
#include "services/common/audit_chain.h"
#include "services/common/errors.h"
#include "services/common/proto_time.h"
#include "services/tenant_connector/core/store.h"
#include "tests/support/server_process.h"

namespace crosstenant::tenant_connector {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::AuditRecord Record(const std::string& action, const std::string& target, const std::string& outcome = "OK",
                       const std::string& caller = "migratectl", absl::Time time = absl::Now()) {
  v1::AuditRecord record;
  SetTimestamp(time, record.mutable_time());
  record.set_service("tenant-connector");
  record.set_caller(caller);
  record.set_action(action);
  record.set_target(target);
  record.set_request_id("r-" + action);
  record.set_outcome(outcome);
  return record;
}

std::vector<int64_t> Sequences(const v1::ListAuditRecordsResponse& response) {
  std::vector<int64_t> sequences;
  for (const v1::AuditRecord& record : response.records()) sequences.push_back(record.sequence());
  return sequences;
}

// Runs `sql` on the state file through a connection of its own, as someone with the file would.
std::string ExecOnFile(const std::string& state_dir, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(ConnectionStore::DatabasePath(state_dir).c_str(), &db);
  char* error = nullptr;
  std::string message;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) message = error ? error : "error";
  sqlite3_free(error);
  sqlite3_close(db);
  return message;
}

class AuditStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = ConnectionStore::Open(dir_.path() + "/state");
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *std::move(opened);
  }
  std::string state_dir() const { return dir_.path() + "/state"; }

  crosstenant::testing::TempDir dir_;
  std::unique_ptr<ConnectionStore> store_;
};

TEST_F(AuditStoreTest, AppendNumbersAndChainsRecords) {
  auto first = store_->AppendAudit(Record("CreateConnection", "connections/contoso"));
  auto second = store_->AppendAudit(Record("DeleteConnection", "connections/contoso"));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->sequence(), 1);
  EXPECT_EQ(first->previous_hash(), kAuditGenesisHash);
  EXPECT_EQ(second->sequence(), 2);
  EXPECT_EQ(second->previous_hash(), first->hash());
  EXPECT_EQ(second->hash(), AuditRecordHash(*second));

  auto listed = store_->ListAudit(v1::ListAuditRecordsRequest());
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->records_size(), 2);
  EXPECT_EQ(listed->records(1).DebugString(), second->DebugString());  // stored as returned, to the microsecond
  EXPECT_EQ(listed->last_sequence(), 2);
  EXPECT_EQ(listed->next_after_sequence(), 0);
  AuditChainVerifier verifier;
  for (const v1::AuditRecord& record : listed->records()) EXPECT_TRUE(verifier.Add(record).ok());
}

TEST_F(AuditStoreTest, ListFiltersAndPages) {
  const absl::Time t0 = absl::FromUnixSeconds(1800000000);
  ASSERT_TRUE(store_->AppendAudit(Record("CreateConnection", "connections/contoso", "OK", "a,migratectl", t0)).ok());
  ASSERT_TRUE(store_
                  ->AppendAudit(
                      Record("CreateConnection", "connections/contoso-x", "OK", "orchestrator", t0 + absl::Seconds(1)))
                  .ok());
  ASSERT_TRUE(store_
                  ->AppendAudit(Record("StartUserContentMove", "connections/contoso/geos/EUR/users/a@x",
                                       "FAILED_PRECONDITION", "worker", t0 + absl::Seconds(2)))
                  .ok());
  ASSERT_TRUE(
      store_
          ->AppendAudit(Record("DeleteConnection", "connections/contoso", "OK", "b,migratectl", t0 + absl::Seconds(3)))
          .ok());

  auto list = [&](const std::function<void(v1::ListAuditRecordsRequest&)>& set) {
    v1::ListAuditRecordsRequest request;
    set(request);
    auto response = store_->ListAudit(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::ListAuditRecordsResponse();
  };
  EXPECT_THAT(Sequences(list([](auto& r) { r.set_action("CreateConnection"); })), ElementsAre(1, 2));
  EXPECT_THAT(Sequences(list([](auto& r) { r.set_caller("migratectl"); })), ElementsAre(1, 4));
  // The resource and what lies under it, not a name that merely starts the same.
  EXPECT_THAT(Sequences(list([](auto& r) { r.set_target("connections/contoso"); })), ElementsAre(1, 3, 4));
  EXPECT_THAT(Sequences(list([](auto& r) { r.set_target("connections/contoso/geos/EUR"); })), ElementsAre(3));
  EXPECT_THAT(Sequences(list([](auto& r) { r.set_failures_only(true); })), ElementsAre(3));
  EXPECT_THAT(Sequences(list([&](auto& r) {
                SetTimestamp(t0 + absl::Seconds(1), r.mutable_since());
                SetTimestamp(t0 + absl::Seconds(3), r.mutable_until());
              })),
              ElementsAre(2, 3));
  v1::ListAuditRecordsResponse none = list([](auto& r) { r.set_action("RemoveRedirectSite"); });
  EXPECT_EQ(none.records_size(), 0);
  EXPECT_EQ(none.last_sequence(), 4);  // where the trail ends, even when nothing passed the filters

  // Pages of two: a cursor while more follow, 0 on the last page.
  v1::ListAuditRecordsResponse page1 = list([](auto& r) { r.set_page_size(2); });
  EXPECT_THAT(Sequences(page1), ElementsAre(1, 2));
  EXPECT_EQ(page1.next_after_sequence(), 2);
  v1::ListAuditRecordsResponse page2 = list([](auto& r) {
    r.set_page_size(2);
    r.set_after_sequence(2);
  });
  EXPECT_THAT(Sequences(page2), ElementsAre(3, 4));
  EXPECT_EQ(page2.next_after_sequence(), 0);
  // Paging with a filter: the cursor is the last record returned.
  v1::ListAuditRecordsResponse filtered = list([](auto& r) {
    r.set_page_size(1);
    r.set_target("connections/contoso");
  });
  EXPECT_THAT(Sequences(filtered), ElementsAre(1));
  EXPECT_EQ(filtered.next_after_sequence(), 1);
}

TEST_F(AuditStoreTest, TriggersRefuseChangesAndDeletes) {
  ASSERT_TRUE(store_->AppendAudit(Record("CreateConnection", "connections/contoso")).ok());
  EXPECT_THAT(ExecOnFile(state_dir(), "UPDATE audit_records SET caller = 'someone else'"), HasSubstr("append-only"));
  EXPECT_THAT(ExecOnFile(state_dir(), "DELETE FROM audit_records"), HasSubstr("append-only"));
  auto listed = store_->ListAudit(v1::ListAuditRecordsRequest());
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->records_size(), 1);
  EXPECT_EQ(listed->records(0).caller(), "migratectl");
}

TEST_F(AuditStoreTest, TrailSurvivesReopenAndKeepsChaining) {
  auto first = store_->AppendAudit(Record("CreateConnection", "connections/contoso"));
  ASSERT_TRUE(first.ok());
  store_.reset();
  // A trigger dropped while the connector was down comes back at the next start.
  EXPECT_EQ(ExecOnFile(state_dir(), "DROP TRIGGER audit_records_never_updated"), "");
  auto reopened = ConnectionStore::Open(state_dir());
  ASSERT_TRUE(reopened.ok());
  auto second = (*reopened)->AppendAudit(Record("DeleteConnection", "connections/contoso"));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->sequence(), 2);
  EXPECT_EQ(second->previous_hash(), first->hash());
  EXPECT_THAT(ExecOnFile(state_dir(), "UPDATE audit_records SET caller = 'x'"), HasSubstr("append-only"));
}

// A state database from a connector that named the time column `time_micros` (and its triggers
// otherwise) is upgraded in place: the trail reads, verifies and keeps chaining, and stays append-only.
TEST_F(AuditStoreTest, UpgradesTheEarlierTableLayout) {
  auto first = store_->AppendAudit(Record("CreateConnection", "connections/contoso"));
  ASSERT_TRUE(first.ok());
  store_.reset();
  ASSERT_EQ(ExecOnFile(state_dir(),
                       "DROP TRIGGER audit_records_never_updated; DROP TRIGGER audit_records_never_deleted; "
                       "ALTER TABLE audit_records RENAME COLUMN time_us TO time_micros; "
                       "CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records "
                       "  BEGIN SELECT RAISE(ABORT, 'append-only'); END;"),
            "");
  auto reopened = ConnectionStore::Open(state_dir());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto second = (*reopened)->AppendAudit(Record("DeleteConnection", "connections/contoso"));
  ASSERT_TRUE(second.ok()) << second.status();
  auto listed = (*reopened)->ListAudit(v1::ListAuditRecordsRequest());
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->records_size(), 2);
  EXPECT_EQ(TimeOf(listed->records(0).time()), TimeOf(first->time()));
  AuditChainVerifier verifier;
  for (const v1::AuditRecord& record : listed->records()) EXPECT_TRUE(verifier.Add(record).ok());
  EXPECT_THAT(ExecOnFile(state_dir(), "DELETE FROM audit_records"), HasSubstr("append-only"));
  EXPECT_THAT(ExecOnFile(state_dir(), "SELECT time_micros FROM audit_records"), HasSubstr("no such column"));
}

TEST(AuditTrailTest, RecordsTheCallAndCountsWhatItCannotWrite) {
  crosstenant::testing::TempDir dir;
  auto store = ConnectionStore::Open(dir.path() + "/state");
  ASSERT_TRUE(store.ok());
  prometheus::Registry registry;
  AuditTrail trail(store->get(), registry);

  v1::StartUserContentMoveRequest start;
  start.set_geo("connections/contoso/geos/EUR");
  start.set_source_user_principal_name("adele@contoso.com");
  start.set_request_id("req-1");
  trail.Record(start, v1::StartUserContentMoveResponse(), "worker", absl::FailedPreconditionError("no licence"));
  v1::CreateConnectionRequest create;  // no id given: the created connection names it
  create.mutable_credential()->mutable_client_secret()->mutable_secret()->set_value("hunter2-secret");
  v1::CreateConnectionResponse created;
  created.mutable_connection()->set_name("connections/contoso-source");
  trail.Record(create, created, "migratectl", absl::OkStatus());

  auto listed = trail.List(v1::ListAuditRecordsRequest());
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->records_size(), 2);
  const v1::AuditRecord& move = listed->records(0);
  EXPECT_EQ(move.service(), "tenant-connector");
  EXPECT_EQ(move.action(), "StartUserContentMove");
  EXPECT_EQ(move.target(), "connections/contoso/geos/EUR/users/adele@contoso.com");
  EXPECT_EQ(move.request_id(), "req-1");
  EXPECT_EQ(move.caller(), "worker");
  EXPECT_EQ(move.outcome(), "FAILED_PRECONDITION");
  EXPECT_EQ(move.outcome_message(), "no licence");
  EXPECT_EQ(listed->records(1).target(), "connections/contoso-source");
  EXPECT_EQ(listed->records(1).outcome(), "OK");
  EXPECT_THAT(listed->DebugString(), ::testing::Not(HasSubstr("hunter2")));

  // A trail that cannot be written: the call is counted, nothing is thrown at the caller.
  EXPECT_EQ(ExecOnFile(dir.path() + "/state",
                       "DROP TRIGGER audit_records_never_updated; DROP TRIGGER audit_records_never_deleted; "
                       "ALTER TABLE audit_records RENAME TO gone"),
            "");
  trail.Record(start, v1::StartUserContentMoveResponse(), "worker", absl::OkStatus());
  bool counted = false;
  for (const auto& family : registry.Collect()) {
    if (family.name == "crosstenant_audit_write_failures_total") {
      ASSERT_EQ(family.metric.size(), 1u);
      EXPECT_EQ(family.metric[0].counter.value, 1);
      counted = true;
    }
  }
  EXPECT_TRUE(counted);
}

TEST(AuditTrailTest, ListRefusesInvalidRequests) {
  auto store = ConnectionStore::OpenInMemory();
  ASSERT_TRUE(store.ok());
  prometheus::Registry registry;
  AuditTrail trail(store->get(), registry);
  v1::ListAuditRecordsRequest request;
  request.set_after_sequence(-1);
  request.set_page_size(-5);
  SetTimestamp(absl::FromUnixSeconds(200), request.mutable_since());
  SetTimestamp(absl::FromUnixSeconds(100), request.mutable_until());
  absl::Status status = trail.List(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields;
  for (const FieldViolation& violation : FieldViolationsOf(status)) fields.push_back(violation.field);
  EXPECT_THAT(fields, ElementsAre("after_sequence", "page_size", "until"));
  request.Clear();
  request.set_page_size(20000);  // capped, not refused
  EXPECT_TRUE(trail.List(request).ok());
}

}  // namespace
}  // namespace crosstenant::tenant_connector
