#ifndef CROSSTENANT_SERVICES_COMMON_SQLITE_AUDIT_TABLE_H_
#define CROSSTENANT_SERVICES_COMMON_SQLITE_AUDIT_TABLE_H_

// An audit trail (crosstenant/v1/audit.proto) kept in a SQLite database: table `audit_records`, one
// column per AuditRecord field (time in whole microseconds since the epoch, `time_us`), so that filters
// are SQL and the trail can be read and checked with SQLite's own tools. Records are numbered from 1
// without gaps and hash-chained (services/common/audit_chain.h); triggers refuse UPDATE and DELETE, so
// the trail is append-only in the database too. The connector's state database and the orchestrator's
// SQLite store keep their trails here.
//
// Not thread-safe: the caller serialises access to `db`, as for every use of SqliteDatabase.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crosstenant/v1/audit.pb.h"
#include "services/common/sqlite_database.h"

namespace crosstenant {

// Creates the table and its triggers where they are missing. Run at every start: a trigger dropped by
// hand comes back (what was changed meanwhile is found by the hash chain).
absl::Status CreateSqliteAuditTable(SqliteDatabase& db);

// Appends `record` in a transaction of its own: gives it the next sequence, seals it with the newest
// record's hash, stores it, and returns it as stored. BEGIN IMMEDIATE takes the file's write lock
// before the newest record is read, so that another process appending to the same file chains after it.
absl::StatusOr<v1::AuditRecord> AppendSqliteAuditRecord(SqliteDatabase& db, v1::AuditRecord record);

// A page of the records that pass `request`'s filters, in sequence order (see ListAuditRecordsRequest;
// the page size as AuditPageSize reads it), with `next_after_sequence` and `last_sequence` set. The page
// holds no record past `last_sequence`. The request is taken as valid (CheckAuditQuery).
absl::StatusOr<v1::ListAuditRecordsResponse> ListSqliteAuditRecords(SqliteDatabase& db,
                                                                    const v1::ListAuditRecordsRequest& request);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_SQLITE_AUDIT_TABLE_H_
