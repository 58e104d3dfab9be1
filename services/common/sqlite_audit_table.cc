#include "services/common/sqlite_audit_table.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/audit_chain.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"

namespace crosstenant {
namespace {

constexpr absl::string_view kColumns =
    "sequence, time_us, service, caller, action, target, request_id, trace_id, outcome, outcome_message, "
    "previous_hash, hash";

int64_t Micros(const google::protobuf::Timestamp& time) { return absl::ToUnixMicros(TimeOf(time)); }

}  // namespace

absl::Status CreateSqliteAuditTable(SqliteDatabase& db) {
  return db.Execute(R"sql(
    CREATE TABLE IF NOT EXISTS audit_records (
      sequence INTEGER PRIMARY KEY,
      time_us INTEGER NOT NULL,
      service TEXT NOT NULL,
      caller TEXT NOT NULL,
      action TEXT NOT NULL,
      target TEXT NOT NULL,
      request_id TEXT NOT NULL,
      trace_id TEXT NOT NULL,
      outcome TEXT NOT NULL,
      outcome_message TEXT NOT NULL,
      previous_hash TEXT NOT NULL,
      hash TEXT NOT NULL
    );
    CREATE TRIGGER IF NOT EXISTS audit_records_never_updated BEFORE UPDATE ON audit_records BEGIN
      SELECT RAISE(ABORT, 'the audit trail is append-only: its records are never changed');
    END;
    CREATE TRIGGER IF NOT EXISTS audit_records_never_deleted BEFORE DELETE ON audit_records BEGIN
      SELECT RAISE(ABORT, 'the audit trail is append-only: its records are never deleted');
    END;
  )sql");
}

absl::StatusOr<v1::AuditRecord> AppendSqliteAuditRecord(SqliteDatabase& db, v1::AuditRecord record) {
  if (!record.has_time()) SetTimestamp(absl::Now(), record.mutable_time());
  RETURN_IF_ERROR(db.Begin());
  auto append = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStatement last,
                     db.Prepare("SELECT sequence, hash FROM audit_records ORDER BY sequence DESC LIMIT 1"));
    ASSIGN_OR_RETURN(bool found, last.Step());
    record.set_sequence(found ? last.ColumnInt(0) + 1 : 1);
    SealAuditRecord(found ? last.ColumnText(1) : std::string(kAuditGenesisHash), &record);
    ASSIGN_OR_RETURN(SqliteStatement insert,
                     db.Prepare(absl::StrCat("INSERT INTO audit_records (", kColumns,
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")));
    return insert.Bind(1, record.sequence())
        .Bind(2, Micros(record.time()))
        .Bind(3, record.service())
        .Bind(4, record.caller())
        .Bind(5, record.action())
        .Bind(6, record.target())
        .Bind(7, record.request_id())
        .Bind(8, record.trace_id())
        .Bind(9, record.outcome())
        .Bind(10, record.outcome_message())
        .Bind(11, record.previous_hash())
        .Bind(12, record.hash())
        .Run();
  };
  if (absl::Status status = append(); !status.ok()) {
    db.Rollback();
    return status;
  }
  RETURN_IF_ERROR(db.Commit());
  return record;
}

absl::StatusOr<v1::ListAuditRecordsResponse> ListSqliteAuditRecords(SqliteDatabase& db,
                                                                    const v1::ListAuditRecordsRequest& request) {
  const int page_size = AuditPageSize(request.page_size());
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM audit_records WHERE sequence > ?1 AND sequence <= ?2");
  if (request.has_since()) absl::StrAppend(&sql, " AND time_us >= ?4");
  if (request.has_until()) absl::StrAppend(&sql, " AND time_us < ?5");
  if (!request.action().empty()) absl::StrAppend(&sql, " AND action = ?6");
  // instr and substr rather than LIKE, whose wildcards the caller's text may contain.
  if (!request.caller().empty()) absl::StrAppend(&sql, " AND instr(caller, ?7) > 0");
  if (!request.target().empty()) {
    absl::StrAppend(&sql, " AND (target = ?8 OR substr(target, 1, length(?8) + 1) = ?8 || '/')");
  }
  if (request.failures_only()) absl::StrAppend(&sql, " AND outcome != 'OK'");
  absl::StrAppend(&sql, " ORDER BY sequence LIMIT ?3");
  v1::ListAuditRecordsResponse response;
  {
    ASSIGN_OR_RETURN(SqliteStatement last, db.Prepare("SELECT COALESCE(MAX(sequence), 0) FROM audit_records"));
    ASSIGN_OR_RETURN(bool found, last.Step());
    response.set_last_sequence(found ? last.ColumnInt(0) : 0);
  }
  ASSIGN_OR_RETURN(SqliteStatement select, db.Prepare(sql));
  select.Bind(1, std::max<int64_t>(request.after_sequence(), 0))
      .Bind(2, response.last_sequence())
      .Bind(3, int64_t{page_size} + 1);
  if (request.has_since()) select.Bind(4, Micros(request.since()));
  if (request.has_until()) select.Bind(5, Micros(request.until()));
  if (!request.action().empty()) select.Bind(6, request.action());
  if (!request.caller().empty()) select.Bind(7, request.caller());
  if (!request.target().empty()) select.Bind(8, request.target());
  int matched = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row || ++matched > page_size) break;
    v1::AuditRecord* record = response.add_records();
    record->set_sequence(select.ColumnInt(0));
    SetTimestamp(absl::FromUnixMicros(select.ColumnInt(1)), record->mutable_time());
    record->set_service(select.ColumnText(2));
    record->set_caller(select.ColumnText(3));
    record->set_action(select.ColumnText(4));
    record->set_target(select.ColumnText(5));
    record->set_request_id(select.ColumnText(6));
    record->set_trace_id(select.ColumnText(7));
    record->set_outcome(select.ColumnText(8));
    record->set_outcome_message(select.ColumnText(9));
    record->set_previous_hash(select.ColumnText(10));
    record->set_hash(select.ColumnText(11));
  }
  EndAuditPage(matched, page_size, &response);
  return response;
}

}  // namespace crosstenant
