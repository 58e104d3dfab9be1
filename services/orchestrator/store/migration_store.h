#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_MIGRATION_STORE_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_MIGRATION_STORE_H_

// Durable state of the orchestrator: migrations, one record per user move, and each migration's event
// log. Every write is one transaction: a migration's record, the user moves it changes and the events
// that describe the change commit together or not at all, so a crash at any moment leaves a state the
// orchestrator can resume from. SQLite implements it today; PostgreSQL will implement the same
// interface (issue 9).
//
// Records are the crosstenant.v1 messages themselves (protobuf, no gRPC types).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crosstenant/v1/migration.pb.h"

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
  std::string migration;  // migrations/{id}
  std::vector<crosstenant::v1::UserMoveState> states;  // empty: all
  std::string source_geo;                              // empty: all
  int page_size = 100;
  std::string page_token;
};

class MigrationStore {
 public:
  virtual ~MigrationStore() = default;

  // Stores a new migration with its user moves and first events. ALREADY_EXISTS if the name is taken.
  // A non-empty `request_id` is remembered with it, for FindMigrationByRequest.
  virtual absl::Status CreateMigration(const crosstenant::v1::Migration& migration,
                                       const std::vector<crosstenant::v1::UserMove>& user_moves,
                                       const std::vector<crosstenant::v1::MigrationEvent>& events,
                                       absl::string_view request_id) = 0;

  // The migration created by `request_id`, if any.
  virtual absl::StatusOr<std::optional<std::string>> FindMigrationByRequest(absl::string_view request_id) = 0;

  // NOT_FOUND if absent.
  virtual absl::StatusOr<crosstenant::v1::Migration> GetMigration(absl::string_view name) = 0;

  // Newest first. `page_token` comes from a previous page; INVALID_ARGUMENT if it is not one.
  virtual absl::StatusOr<MigrationPage> ListMigrations(const std::vector<crosstenant::v1::MigrationState>& states,
                                                       int page_size, absl::string_view page_token) = 0;

  // Writes a migration's new record, the user moves that changed and the events describing the change,
  // in one transaction. The caller has set `migration.last_event_sequence` to the last event's.
  virtual absl::Status Update(const crosstenant::v1::Migration& migration,
                              const std::vector<crosstenant::v1::UserMove>& user_moves,
                              const std::vector<crosstenant::v1::MigrationEvent>& events) = 0;

  virtual absl::StatusOr<crosstenant::v1::UserMove> GetUserMove(absl::string_view name) = 0;

  // Ordered by source UPN.
  virtual absl::StatusOr<UserMovePage> ListUserMoves(const UserMoveQuery& query) = 0;

  // How many user moves of `migration` are in each state.
  virtual absl::StatusOr<std::map<crosstenant::v1::UserMoveState, int>> CountUserMoves(absl::string_view migration) = 0;

  // Events with sequence > `after_sequence`, oldest first, at most `limit`.
  virtual absl::StatusOr<std::vector<crosstenant::v1::MigrationEvent>> ListEvents(absl::string_view migration,
                                                                                 int64_t after_sequence,
                                                                                 int limit) = 0;
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_MIGRATION_STORE_H_
