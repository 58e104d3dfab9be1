#include "services/common/audit_chain.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/common/proto_time.h"

namespace crosstenant {
namespace {

using ::testing::HasSubstr;

std::vector<v1::AuditRecord> Trail(int length) {
  std::vector<v1::AuditRecord> trail;
  std::string previous(kAuditGenesisHash);
  for (int i = 1; i <= length; ++i) {
    v1::AuditRecord record;
    record.set_sequence(i);
    SetTimestamp(absl::FromUnixNanos(1'700'000'000'123'456'789 + i), record.mutable_time());
    record.set_service("orchestrator");
    record.set_caller("spiffe://cluster.local/ns/crosstenant/sa/migratectl");
    record.set_action("CancelMigration");
    record.set_target("migrations/m-" + std::to_string(i));
    record.set_outcome("OK");
    SealAuditRecord(previous, &record);
    previous = record.hash();
    trail.push_back(record);
  }
  return trail;
}

absl::Status Verify(const std::vector<v1::AuditRecord>& trail) {
  AuditChainVerifier verifier;
  for (const v1::AuditRecord& record : trail) {
    absl::Status status = verifier.Add(record);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

TEST(AuditChainTest, SealedTrailVerifiesAndTimesAreWholeMicroseconds) {
  std::vector<v1::AuditRecord> trail = Trail(5);
  EXPECT_TRUE(Verify(trail).ok());
  EXPECT_EQ(trail[0].previous_hash(), kAuditGenesisHash);
  EXPECT_EQ(trail[1].previous_hash(), trail[0].hash());
  EXPECT_EQ(trail[0].hash().size(), 64u);
  EXPECT_EQ(trail[0].time().nanos() % 1000, 0);
}

TEST(AuditChainTest, AChangedFieldIsFoundAtItsRecord) {
  std::vector<v1::AuditRecord> trail = Trail(5);
  trail[2].set_caller("someone-else");
  absl::Status status = Verify(trail);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("orchestrator audit record 3: its content does not match its hash"));
}

TEST(AuditChainTest, ARecordRehashedInPlaceBreaksTheNextLink) {
  std::vector<v1::AuditRecord> trail = Trail(5);
  trail[1].set_outcome("PERMISSION_DENIED");
  SealAuditRecord(trail[1].previous_hash(), &trail[1]);
  EXPECT_THAT(Verify(trail).message(), HasSubstr("audit record 3: its previous_hash is not the hash of record 2"));
}

TEST(AuditChainTest, DeletedAndInsertedRecordsAreNamed) {
  std::vector<v1::AuditRecord> trail = Trail(6);
  std::vector<v1::AuditRecord> deleted = trail;
  deleted.erase(deleted.begin() + 2, deleted.begin() + 4);
  EXPECT_THAT(Verify(deleted).message(), HasSubstr("audit record 5: records 3 to 4 are missing"));

  std::vector<v1::AuditRecord> duplicated = trail;
  duplicated.insert(duplicated.begin() + 3, trail[2]);
  EXPECT_THAT(Verify(duplicated).message(), HasSubstr("audit record 3: comes after record 3"));
}

TEST(AuditChainTest, FieldBoundariesMatter) {
  std::vector<v1::AuditRecord> trail = Trail(1);
  v1::AuditRecord moved = trail[0];
  // The same bytes split differently between two fields is another record.
  moved.set_action("CancelMigrationm");
  moved.set_target("igrations/m-1");
  EXPECT_NE(AuditRecordHash(moved), trail[0].hash());
}

TEST(AuditChainTest, ResumeChecksATrailReadFromTheMiddle) {
  std::vector<v1::AuditRecord> trail = Trail(4);
  AuditChainVerifier verifier;
  verifier.Resume(2, trail[1].hash());
  EXPECT_TRUE(verifier.Add(trail[2]).ok());
  EXPECT_TRUE(verifier.Add(trail[3]).ok());
  EXPECT_EQ(verifier.checked(), 2);
  EXPECT_EQ(verifier.last_sequence(), 4);
  // A failure sticks.
  AuditChainVerifier broken;
  EXPECT_FALSE(broken.Add(trail[1]).ok());
  EXPECT_FALSE(broken.Add(trail[0]).ok());
}

}  // namespace
}  // namespace crosstenant
