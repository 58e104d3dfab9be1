#include "services/common/audit_chain.h"

#include <openssl/sha.h>

#include <algorithm>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/errors.h"
#include "services/common/proto_time.h"

namespace crosstenant {
namespace {

// Length-prefixed, so that no two different records encode to the same bytes (a field's text cannot
// spill into the next one).
void AppendField(absl::string_view value, std::string* out) { absl::StrAppend(out, value.size(), ":", value); }

bool ValidTimestamp(const google::protobuf::Timestamp& time) {
  using google::protobuf::util::TimeUtil;
  return time.seconds() >= TimeUtil::kTimestampMinSeconds && time.seconds() <= TimeUtil::kTimestampMaxSeconds &&
         time.nanos() >= 0 && time.nanos() <= 999999999;
}

}  // namespace

absl::Status CheckAuditQuery(const v1::ListAuditRecordsRequest& request) {
  std::vector<FieldViolation> violations;
  if (request.after_sequence() < 0) {
    violations.push_back({"after_sequence", "must not be negative: 0 lists from the first record"});
  }
  if (request.page_size() < 0) {
    violations.push_back({"page_size", absl::StrCat("must not be negative: 0 means ", kDefaultAuditPageSize,
                                                    ", at most ", kMaxAuditPageSize)});
  }
  const bool since_valid = !request.has_since() || ValidTimestamp(request.since());
  const bool until_valid = !request.has_until() || ValidTimestamp(request.until());
  if (!since_valid) violations.push_back({"since", "is not a valid timestamp"});
  if (!until_valid) violations.push_back({"until", "is not a valid timestamp"});
  if (request.has_since() && request.has_until() && since_valid && until_valid &&
      TimeOf(request.since()) > TimeOf(request.until())) {
    violations.push_back({"until", "must not be before since"});
  }
  if (violations.empty()) return absl::OkStatus();
  return InvalidArgumentWithViolations("invalid ListAuditRecordsRequest", violations);
}

int AuditPageSize(int requested) {
  return requested <= 0 ? kDefaultAuditPageSize : std::min(requested, kMaxAuditPageSize);
}

void EndAuditPage(int matched, int page_size, v1::ListAuditRecordsResponse* response) {
  response->set_next_after_sequence(matched > page_size && response->records_size() > 0
                                        ? response->records(response->records_size() - 1).sequence()
                                        : 0);
}

std::string AuditCaller(const std::vector<std::string>& certificate_names) {
  return absl::StrJoin(certificate_names, ",");
}

absl::Time AuditTime(absl::Time time) { return absl::FromUnixMicros(absl::ToUnixMicros(time)); }

std::string AuditRecordHash(const v1::AuditRecord& record) {
  std::string encoded;
  AppendField(absl::StrCat(record.sequence()), &encoded);
  AppendField(absl::StrCat(absl::ToUnixMicros(TimeOf(record.time()))), &encoded);
  for (const std::string* field :
       {&record.service(), &record.caller(), &record.action(), &record.target(), &record.request_id(),
        &record.trace_id(), &record.outcome(), &record.outcome_message(), &record.previous_hash()}) {
    AppendField(*field, &encoded);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(encoded.data()), encoded.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

void SealAuditRecord(absl::string_view previous_hash, v1::AuditRecord* record) {
  SetTimestamp(AuditTime(TimeOf(record->time())), record->mutable_time());
  record->set_previous_hash(std::string(previous_hash));
  record->set_hash(AuditRecordHash(*record));
}

absl::Status AuditChainVerifier::Add(const v1::AuditRecord& record) {
  if (!failure_.ok()) return failure_;
  const std::string where = absl::StrCat(record.service().empty() ? "" : absl::StrCat(record.service(), " "),
                                         "audit record ", record.sequence());
  if (record.sequence() != last_sequence_ + 1) {
    failure_ = absl::DataLossError(
        record.sequence() > last_sequence_ + 1
            ? absl::StrCat(where, ": records ", last_sequence_ + 1, " to ", record.sequence() - 1,
                           " are missing (deleted from the trail)")
            : absl::StrCat(where, ": comes after record ", last_sequence_, " (a record was inserted or reordered)"));
  } else if (record.previous_hash() != last_hash_) {
    failure_ = absl::DataLossError(
        absl::StrCat(where, ": its previous_hash is not the hash of ",
                     last_sequence_ == 0 ? "the start of the trail" : absl::StrCat("record ", last_sequence_),
                     " (the chain was cut or relinked here)"));
  } else if (AuditRecordHash(record) != record.hash()) {
    failure_ = absl::DataLossError(
        absl::StrCat(where, ": its content does not match its hash (the record was changed after it was written)"));
  }
  if (!failure_.ok()) return failure_;
  ++checked_;
  last_sequence_ = record.sequence();
  last_hash_ = record.hash();
  return absl::OkStatus();
}

void AuditChainVerifier::Resume(int64_t sequence, absl::string_view hash) {
  last_sequence_ = sequence;
  last_hash_ = std::string(hash);
}

}  // namespace crosstenant
