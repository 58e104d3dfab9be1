#ifndef CROSSTENANT_SERVICES_COMMON_AUDIT_CHAIN_H_
#define CROSSTENANT_SERVICES_COMMON_AUDIT_CHAIN_H_

// The hash chain of an audit trail (crosstenant/v1/audit.proto), in one place for the services that
// write trails and for migratectl, which verifies them.
//
// Writing: a store appends record N+1 in the same transaction that reads record N's hash:
//
//   v1::AuditRecord record = ...;                 // service, caller, action, target, ... filled in
//   record.set_sequence(last.sequence() + 1);
//   SealAuditRecord(last.hash(), &record);       // or kAuditGenesisHash for the first record
//
// Reading: AuditChainVerifier takes the records of a whole trail in sequence order, a page at a time.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crosstenant/v1/audit.pb.h"

namespace crosstenant {

// The `previous_hash` of record 1: 64 zeros.
inline constexpr absl::string_view kAuditGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// An audit record's `caller`: the client certificate's names joined with "," ("" without one).
std::string AuditCaller(const std::vector<std::string>& certificate_names);

// `time` in whole microseconds, as an audit record keeps it (and a PostgreSQL timestamptz stores it).
absl::Time AuditTime(absl::Time time);

// The hash `record` should carry: SHA-256 in lowercase hex of fields 1-11 (audit.proto says how they
// are encoded). Reads `record.previous_hash()`; ignores `record.hash()`.
std::string AuditRecordHash(const v1::AuditRecord& record);

// Sets `record`'s time to whole microseconds, its `previous_hash` to `previous_hash` and its `hash`.
void SealAuditRecord(absl::string_view previous_hash, v1::AuditRecord* record);

// Listing a trail (ListAuditRecords): the same rules on every service and every store.
inline constexpr int kDefaultAuditPageSize = 1000;
inline constexpr int kMaxAuditPageSize = 10000;

// OK, or INVALID_ARGUMENT with a field violation for each problem: a negative `after_sequence` or
// `page_size`, a `since` or `until` outside google.protobuf.Timestamp's range, `until` before `since`.
absl::Status CheckAuditQuery(const v1::ListAuditRecordsRequest& request);

// The page a request asks for: 0 is kDefaultAuditPageSize, more than kMaxAuditPageSize is that many.
int AuditPageSize(int requested);

// Sets `response`'s `next_after_sequence` once a store has read `matched` rows for a page of `page_size`
// (a store asks for one more than a page: a row beyond the page means that another page follows).
void EndAuditPage(int matched, int page_size, v1::ListAuditRecordsResponse* response);

// Checks a trail record by record. Feed every record of one service's trail in sequence order from
// record 1 (or from any record, after Resume); the first problem is returned and every later call
// returns it again.
class AuditChainVerifier {
 public:
  // OK, or DATA_LOSS naming the record and what is wrong with it:
  //   - a sequence that is not the one after the previous record (records deleted or inserted);
  //   - a `previous_hash` that is not the previous record's `hash` (the chain was cut or re-linked);
  //   - a `hash` that is not the hash of the record's content (the record was changed).
  absl::Status Add(const v1::AuditRecord& record);

  // Starts checking after a record already trusted (for a trail read from the middle).
  void Resume(int64_t sequence, absl::string_view hash);

  // How many records were checked, and the last good one.
  int64_t checked() const { return checked_; }
  int64_t last_sequence() const { return last_sequence_; }
  const std::string& last_hash() const { return last_hash_; }

 private:
  int64_t checked_ = 0;
  int64_t last_sequence_ = 0;
  std::string last_hash_ = std::string(kAuditGenesisHash);
  absl::Status failure_;
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_AUDIT_CHAIN_H_
