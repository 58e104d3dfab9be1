#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_MIGRATION_STORE_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_MIGRATION_STORE_H_

// Durable state of the orchestrator: migrations, one record per user move, each migration's event
// log, and the audit trail of the operators' actions. Every write is one transaction: a migration's record, the user moves it changes and the events
// that describe the change commit together or not at all, so a crash at any moment leaves a state the
// orchestrator can resume from. SqliteMigrationStore (one replica) and PostgresMigrationStore (several
// replicas on one database) implement it with the same semantics; one test suite runs against both.
//
// Several orchestrator replicas may write the same migration at once (workers' results reach any
// replica; operators call any replica). Writes are therefore optimistic: a migration record carries
// the `etag` of the revision it was read at, and a change commits only if the record is still at that
// revision. The loser gets ConcurrentChangeError, reads again and recomputes its change.
//
// Records are the crosstenant.v1 messages themselves (protobuf, no gRPC types).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crosstenant/v1/audit.pb.h"
#include "crosstenant/v1/identity_map.pb.h"
#include "crosstenant/v1/migration.pb.h"
#include "crosstenant/v1/task.pb.h"
#include "services/common/status_macros.h"

namespace crosstenant::orchestrator {

struct MigrationPage {
  std::vector<crosstenant::v1::Migration> migrations;
  std::string next_page_token;  // empty on the last page
};

struct UserMovePage {
  std::vector<crosstenant::v1::UserMove> user_moves;
  std::string next_page_token;
};

struct UserMoveQuery {
  explicit UserMoveQuery(std::string migration_name = "") : migration(std::move(migration_name)) {}
  std::string migration;                               // migrations/{id}
  std::vector<crosstenant::v1::UserMoveState> states;  // empty: all
  std::string source_geo;                              // empty: all
  // Only users with a task (a start, poll, stop or redirect removal not done yet) that a worker has
  // leased at least once (its attempt is 1 or more): the only users a worker's answer can have changed
  // since their task was made. Their number is bounded by the leases in flight and the tasks being
  // retried, not by the migration's users nor by its queue limit, so this stays cheap at any size.
  bool with_leased_task = false;
  int page_size = 100;
  std::string page_token;
};

// The name of a user's task of one kind (`verb`: "start", "poll", "stop"): for user move
// `migrations/{m}/users/{u}`, `migrations/{m}/tasks/{verb}-{u}`. A user has one task of a kind at a time,
// so whoever needs that task again (a retry, the cancellation) finds it by this name.
inline std::string UserTaskName(absl::string_view migration, absl::string_view verb, absl::string_view user_move) {
  return absl::StrCat(migration, "/tasks/", verb, "-", user_move.substr(user_move.rfind('/') + 1));
}

// Whether `task` is named as a task of `migration` (`migrations/{m}/tasks/...`): the stores find a
// migration's tasks, and a task's migration, by its name.
inline bool IsTaskOf(absl::string_view task, absl::string_view migration) {
  return task.size() > migration.size() + 7 && absl::StartsWith(task, migration) &&
         task.substr(migration.size(), 7) == "/tasks/";
}

// A task a change hands to workers, ready from `ready_time`.
struct NewTask {
  crosstenant::v1::Task task;  // name, kind, user_move, attempt and spec; lease fields are ignored
  absl::Time ready_time;
};

// The lease a change consumes: the task is deleted only if the lease is still this worker's and
// unexpired at `now`, otherwise the whole change fails with ABORTED (fencing).
struct CompletedLease {
  std::string task;
  std::string lease_id;
  std::string worker_id;
  absl::Time now;
};

// A mutating request remembered under its client-chosen `request_id` (AIP-155), so that a retry is
// answered as the first call was and another request that reuses the id is refused.
struct RequestRecord {
  std::string request_id;
  std::string method;       // the RPC, e.g. "CreateMigration"
  std::string migration;    // the migration it created or changed
  std::string fingerprint;  // RequestFingerprint of its body; empty for ids stored before fingerprints
};

// Everything one durable transition writes.
struct MigrationChange {
  // Its new record. Its `etag` is the one it was read with: the change commits only if the stored
  // record still has it (an empty etag writes unconditionally). The store sets a new etag.
  crosstenant::v1::Migration migration;
  std::vector<crosstenant::v1::UserMove> user_moves;  // user moves that changed
  std::vector<crosstenant::v1::MigrationEvent> events;
  std::vector<NewTask> new_tasks;         // replaces a task of the same name
  std::vector<CompletedLease> completed;  // the leases of the worker results it applies
  // Set by the phase driver: the leadership term it drives under (Leadership::term). The change
  // commits only while that term is current and unexpired by the store's clock, so a replica that lost
  // the leadership without knowing it (paused, partitioned) cannot write behind its successor's back.
  std::optional<int64_t> leader_term;
  // The request that made the change, remembered with it. ALREADY_EXISTS (and nothing written) when its
  // `request_id` is already taken.
  std::optional<RequestRecord> request;
};

// What a worker's result is applied to: the task, its migration (with its etag) and its user move.
struct TaskContext {
  crosstenant::v1::Task task;
  crosstenant::v1::Migration migration;
  crosstenant::v1::UserMove user_move;
};

// Who drives the phases of every migration: one orchestrator replica at a time, under a lease kept in
// the store and renewed by its holder.
struct Leadership {
  bool held = false;                              // true when the caller is the leader
  int64_t term = 0;                               // the fencing token: goes up each time the leadership changes hands
  std::string leader;                             // the current leader (possibly another replica); empty if none
  absl::Time expire_time = absl::InfinitePast();  // when the current lease lapses, by the store's clock
};

// One row of an identity map staged by Orchestrator.UploadIdentityMap.
struct StagedIdentityMapRow {
  int line = 0;  // its line in the uploaded CSV; rows are kept and read in line order
  bool group = false;
  std::string source_key;  // column 3 in lower case: no two rows of an upload share one
  std::string target_key;  // column 4 in lower case: likewise
  std::string source;      // column 3 as written: the source UPN or group id
  std::string target;      // column 4: the target UPN or group id
  std::string email;       // column 5: the target e-mail, or the group's name
  std::string csv;         // the row in Microsoft's CSV, ending with '\n'
};

// Which rows of an upload a page read returns.
enum class StagedRows { kAll, kUsers, kGroups };

// An identity map staged by Orchestrator.UploadIdentityMap, without its rows.
struct IdentityMapUpload {
  std::string name;  // identityMapUploads/{id}
  absl::Time create_time;
  bool complete = false;  // the whole map arrived without a problem, and its summary is set
  crosstenant::v1::IdentityMapSummary summary;
  std::string migration;  // the migration created from it, which keeps its rows; empty while unused
};

// ABORTED, recognisable by IsConcurrentChange: the migration was changed by another writer since the
// caller read it (its etag no longer matches). Read again and recompute the change.
absl::Status ConcurrentChangeError(absl::string_view migration);
bool IsConcurrentChange(const absl::Status& status);

// ABORTED: a change's completed `lease` is no longer held by its worker (expired, or the task was done).
absl::Status LeaseLostError(const CompletedLease& lease);

// INTERNAL naming the first of the change's new tasks that is not named as a task of its migration
// (IsTaskOf); OK if none.
absl::Status CheckTaskNames(const MigrationChange& change);

// Waits a little before the next try of a write that lost a race: random, growing with `attempt`,
// so that the writers that collided do not collide again.
void BackOffAfterConflict(int attempt);

// Runs `write` (which reads what it needs, computes its change and applies it) again each time it
// loses the race for a migration record to another writer, at most `attempts` times in all. Returns
// what the last run returned.
template <typename Write>
auto RetryOnConcurrentChange(Write write, int attempts = 16) -> decltype(write()) {
  for (int attempt = 1;; ++attempt) {
    auto result = write();
    if (result.ok() || attempt >= attempts || !IsConcurrentChange(StatusOf(result))) return result;
    BackOffAfterConflict(attempt);
  }
}

struct LeaseQuery {
  std::string worker_id;
  int max_tasks = 10;
  std::vector<crosstenant::v1::TaskKind> kinds;  // empty: any
  absl::Duration lease_duration = absl::Seconds(60);
  absl::Time now;
  // When set, a retry of the same lease call by the same worker gets the leases the first call granted
  // that are still held, instead of more.
  std::string request_id = {};
};

class MigrationStore {
 public:
  virtual ~MigrationStore() = default;

  // Stores a new migration with its user moves, first events and identity map (Microsoft's CSV, kept
  // for the uploads of step 5). ALREADY_EXISTS if the name is taken, or if `request` is given and its
  // `request_id` is taken (FindRequest tells which). `request` is remembered with the migration.
  virtual absl::Status CreateMigration(const crosstenant::v1::Migration& migration,
                                       const std::vector<crosstenant::v1::UserMove>& user_moves,
                                       const std::vector<crosstenant::v1::MigrationEvent>& events,
                                       const std::optional<RequestRecord>& request,
                                       absl::string_view identity_map_csv) = 0;

  // The same, without an identity map (tests and tools).
  absl::Status CreateMigration(const crosstenant::v1::Migration& migration,
                               const std::vector<crosstenant::v1::UserMove>& user_moves,
                               const std::vector<crosstenant::v1::MigrationEvent>& events,
                               const std::optional<RequestRecord>& request = std::nullopt) {
    return CreateMigration(migration, user_moves, events, request, "");
  }

  // The identity map CSV stored with a migration. Empty for a migration created from a staged upload:
  // its rows are read with ListStagedRows(IdentityMapUploadOf(migration)).
  virtual absl::StatusOr<std::string> GetIdentityMap(absl::string_view migration) = 0;

  // Staged identity maps (Orchestrator.UploadIdentityMap). An upload is created empty, receives its rows a
  // page at a time, is completed with its summary, and is either consumed by CreateMigrationFromUpload
  // or deleted unused.
  // ALREADY_EXISTS if the name is taken.
  virtual absl::Status CreateIdentityMapUpload(absl::string_view name, absl::Time create_time) = 0;
  // Appends rows (their lines above every stored one). NOT_FOUND without the upload; FAILED_PRECONDITION
  // once it is complete.
  virtual absl::Status AppendStagedRows(absl::string_view upload, const std::vector<StagedIdentityMapRow>& rows) = 0;
  // The line of the stored row whose source key (`target` false) or target key (`target` true) is each
  // of `keys`; keys no row has are left out. How duplicates are found across a whole map without
  // holding it.
  virtual absl::StatusOr<std::map<std::string, int>> FindStagedKeys(absl::string_view upload, bool target,
                                                                    const std::vector<std::string>& keys) = 0;
  // Up to `limit` rows of `which` kind with a line above `after_line`, in line order.
  virtual absl::StatusOr<std::vector<StagedIdentityMapRow>> ListStagedRows(absl::string_view upload, StagedRows which,
                                                                           int after_line, int limit) = 0;
  // Marks the upload complete with its summary. NOT_FOUND without it.
  virtual absl::Status CompleteIdentityMapUpload(absl::string_view upload,
                                                 const crosstenant::v1::IdentityMapSummary& summary) = 0;
  // NOT_FOUND if absent.
  virtual absl::StatusOr<IdentityMapUpload> GetIdentityMapUpload(absl::string_view upload) = 0;
  // The upload a migration was created from; nullopt for one created with an inline map.
  virtual absl::StatusOr<std::optional<std::string>> IdentityMapUploadOf(absl::string_view migration) = 0;
  // Deletes, with their rows, the uploads no migration was created from that were created before
  // `created_before`; `upload`, when given, whatever its age (an invalid map). Returns how many.
  virtual absl::StatusOr<int> DeleteUnusedIdentityMapUploads(absl::Time created_before,
                                                             absl::string_view upload = "") = 0;
  // Up to `limit` source users (column 3 as written) of the upload's User rows that already have a user
  // move in one of `migrations`, in line order.
  virtual absl::StatusOr<std::vector<std::string>> StagedUsersIn(absl::string_view upload,
                                                                 const std::vector<std::string>& migrations,
                                                                 int limit) = 0;
  // The same for an inline map: up to `limit` of `source_keys` (source UPNs in lower case) that already
  // have a user move in one of `migrations`, in the order of `source_keys`.
  virtual absl::StatusOr<std::vector<std::string>> UsersIn(const std::vector<std::string>& source_keys,
                                                           const std::vector<std::string>& migrations, int limit) = 0;
  // CreateMigration for a migration whose identity map is the complete, unused upload `upload`: in the
  // same transaction, one user move per staged User row (made by `make_move`, a page of rows at a time,
  // never all at once), and the upload is given to the migration. FAILED_PRECONDITION when the upload is
  // incomplete or already used; NOT_FOUND when it does not exist (or was deleted after 24 hours).
  virtual absl::Status CreateMigrationFromUpload(
      const crosstenant::v1::Migration& migration, const std::vector<crosstenant::v1::MigrationEvent>& events,
      const std::optional<RequestRecord>& request, absl::string_view upload,
      const std::function<crosstenant::v1::UserMove(const StagedIdentityMapRow&)>& make_move) = 0;

  // The queue of `source_geo` (without its limit): `active` counts the users that count against
  // Microsoft's queue limit, moves active at Microsoft (NOT_STARTED to RESCHEDULED) plus QUEUED users
  // whose start task is waiting for a worker; `queued` the QUEUED users still waiting for a slot.
  // Costs in proportion to the migration's start tasks (the starts in flight), not to its size nor to
  // its moves at Microsoft. Relies on what the phase driver and the task service keep: start tasks are
  // made for QUEUED users only, and a QUEUED user has no task of another kind.
  virtual absl::StatusOr<crosstenant::v1::SourceGeoQueue> GetSourceGeoQueue(absl::string_view migration,
                                                                            absl::string_view source_geo) = 0;
  // The `active` of GetSourceGeoQueue alone, in proportion to those users only: what the phase driver
  // reads each time it fills the queue.
  virtual absl::StatusOr<int> CountActiveMoves(absl::string_view migration, absl::string_view source_geo) = 0;

  // Up to `limit` QUEUED users of `source_geo` with no task yet, by source UPN.
  virtual absl::StatusOr<std::vector<crosstenant::v1::UserMove>> NextQueuedUsers(absl::string_view migration,
                                                                                 absl::string_view source_geo,
                                                                                 int limit) = 0;

  // The request remembered under `request_id` (by CreateMigration or Apply), if any. Requests are kept
  // as long as their migration.
  virtual absl::StatusOr<std::optional<RequestRecord>> FindRequest(absl::string_view request_id) = 0;

  // NOT_FOUND if absent.
  virtual absl::StatusOr<crosstenant::v1::Migration> GetMigration(absl::string_view name) = 0;

  // Newest first. `page_token` comes from a previous page; INVALID_ARGUMENT if it is not one.
  virtual absl::StatusOr<MigrationPage> ListMigrations(const std::vector<crosstenant::v1::MigrationState>& states,
                                                       int page_size, absl::string_view page_token) = 0;

  // Writes a whole change in one transaction. The caller has set `migration.last_event_sequence` to the
  // last event's. ABORTED (and nothing written) if `completed` names a lease that is no longer held.
  virtual absl::Status Apply(const MigrationChange& change) = 0;

  // Convenience for a change without tasks.
  absl::Status Update(const crosstenant::v1::Migration& migration,
                      const std::vector<crosstenant::v1::UserMove>& user_moves,
                      const std::vector<crosstenant::v1::MigrationEvent>& events) {
    return Apply({migration, user_moves, events, {}, {}, std::nullopt, std::nullopt});
  }

  // Leases up to `max_tasks` ready tasks (ready time passed, no live lease) of migrations that are
  // running, waiting or cancelling, oldest first, each to this worker alone until the lease expires.
  // Every lease gets a new id (the fencing token) and the task's attempt count goes up by one.
  virtual absl::StatusOr<std::vector<crosstenant::v1::Task>> LeaseTasks(const LeaseQuery& query) = 0;

  // Extends a lease this worker still holds; `renewed` false with a reason otherwise.
  virtual absl::StatusOr<crosstenant::v1::LeaseRenewal> RenewLease(const std::string& task, const std::string& lease_id,
                                                                   const std::string& worker_id,
                                                                   absl::Duration lease_duration, absl::Time now) = 0;

  // NOT_FOUND if the task does not exist (done, or never was).
  virtual absl::StatusOr<crosstenant::v1::Task> GetTask(const std::string& name) = 0;

  // The task with its migration and user move; nullopt if the task does not exist (done, or never
  // was); NOT_FOUND if its migration or user move does not. A store may read them in one go.
  virtual absl::StatusOr<std::optional<TaskContext>> GetTaskContext(const std::string& task);
  // GetTaskContext of each of `tasks`, in order, each with its own answer; the call fails as a whole
  // only when the store cannot be read. A store may read them all in one go.
  virtual absl::StatusOr<std::vector<absl::StatusOr<std::optional<TaskContext>>>> GetTaskContexts(
      const std::vector<std::string>& tasks);

  // How many tasks a migration has, leased or not.
  virtual absl::StatusOr<int> CountTasks(absl::string_view migration) = 0;

  virtual absl::StatusOr<crosstenant::v1::UserMove> GetUserMove(absl::string_view name) = 0;

  // Ordered by source UPN.
  virtual absl::StatusOr<UserMovePage> ListUserMoves(const UserMoveQuery& query) = 0;

  // How many user moves of `migration` are in each state.
  virtual absl::StatusOr<std::map<crosstenant::v1::UserMoveState, int>> CountUserMoves(absl::string_view migration) = 0;

  // Events with sequence > `after_sequence`, oldest first, at most `limit`.
  virtual absl::StatusOr<std::vector<crosstenant::v1::MigrationEvent>> ListEvents(absl::string_view migration,
                                                                                  int64_t after_sequence,
                                                                                  int limit) = 0;

  // Makes `holder` the leader for `ttl` (by the store's clock) if nobody leads or the leader's lease
  // has lapsed (the term goes up), or renews the lease if `holder` already leads (same term).
  // Otherwise returns the current leader with `held` false. Safe to call from several replicas at once.
  virtual absl::StatusOr<Leadership> AcquireLeadership(absl::string_view holder, absl::Duration ttl) = 0;

  // Ends `holder`'s lease now, if it holds it, so that another replica takes over without waiting.
  virtual absl::Status ReleaseLeadership(absl::string_view holder) = 0;

  // The audit trail (crosstenant/v1/audit.proto): one chain of records for the whole store, shared by
  // every replica writing to it.
  //
  // Appends `record` (service, caller, action, target, ... filled in) as the trail's next record. In
  // one transaction, the store reads the newest record, numbers `record` after it and seals it
  // (SealAuditRecord) with that record's hash, or kAuditGenesisHash for the first: writers appending at
  // once (threads, or replicas sharing a PostgreSQL database) take turns, and the trail stays one
  // unbroken chain. `time` is kept (to the microsecond), or set to now when unset. Returns the record as
  // stored. The trail is append-only in the database too: it refuses to UPDATE or DELETE its rows.
  virtual absl::StatusOr<crosstenant::v1::AuditRecord> AppendAuditRecord(crosstenant::v1::AuditRecord record) = 0;

  // A page of the trail in sequence order, with the filters and paging of ListAuditRecordsRequest:
  // page_size as AuditPageSize (services/common/audit_chain.h) reads it. The request is expected valid
  // (CheckAuditQuery). `last_sequence` is the newest record when the page was read; the page holds no
  // record past it.
  virtual absl::StatusOr<crosstenant::v1::ListAuditRecordsResponse> ListAuditRecords(
      const crosstenant::v1::ListAuditRecordsRequest& request) = 0;

  // What this process sent to a database server so far: statements, and round trips (waits for the
  // server's answer; fewer than statements where they are pipelined). nullopt for an in-process store.
  struct Traffic {
    int64_t statements = 0;
    int64_t round_trips = 0;
  };
  virtual std::optional<Traffic> ServerTraffic() const { return std::nullopt; }

  // Gives back memory kept only for speed (an in-process database's page cache). Safe from any thread.
  virtual void ReleaseMemory() {}
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_MIGRATION_STORE_H_
