#include "services/orchestrator/core/migration_service.h"

#include <algorithm>
#include <map>
#include <random>
#include <regex>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/errors.h"
#include "services/common/migration_state.h"
#include "services/common/proto_time.h"
#include "services/common/request_fingerprint.h"
#include "services/common/status_macros.h"
#include "services/common/trace_context.h"
#include "services/orchestrator/core/identity_map_input.h"
#include "services/orchestrator/core/identity_map_upload.h"
#include "services/orchestrator/core/task_service.h"
#include "services/orchestrator/core/user_transition.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;

constexpr int kMaxQueuedPerSourceGeo = 4000;  // Microsoft's limit per source instance
constexpr int kMaxDisplayName = 200;

// The rows (or CSV lines, blank ones included) of an inline identity map.
int64_t InlineRows(const v1::IdentityMapInput& input) {
  if (input.has_rows()) return input.rows().entries_size();
  const std::string& csv = input.csv();
  return std::count(csv.begin(), csv.end(), '\n') + (!csv.empty() && csv.back() != '\n' ? 1 : 0);
}

// Users the orchestrator has not handed to Microsoft yet; cancelling stops them at once.
bool NotStartedAtMicrosoft(v1::UserMoveState state) {
  return state == v1::USER_MOVE_STATE_PENDING || state == v1::USER_MOVE_STATE_QUEUED;
}

// "connections/contoso/geos/eur" -> "EUR": a geo's id is its data location code.
std::string LocationCodeOf(const std::string& geo) { return absl::AsciiStrToUpper(geo.substr(geo.rfind('/') + 1)); }

bool ValidResourceId(const std::string& id) {
  static const std::regex kId("[a-z]([a-z0-9-]{0,61}[a-z0-9])?");
  return std::regex_match(id, kId);
}

bool ValidResourceName(const std::string& name, absl::string_view collection) {
  const std::string prefix = absl::StrCat(collection, "/");
  return absl::StartsWith(name, prefix) && name.size() > prefix.size() &&
         name.find('/', prefix.size()) == std::string::npos;
}

void CheckRequestId(const std::string& request_id, std::vector<FieldViolation>& violations) {
  if (std::string problem = RequestIdProblem(request_id); !problem.empty()) {
    violations.push_back({"request_id", problem});
  }
}

std::string RandomId() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string id = "m-";
  for (int i = 0; i < 10; ++i) id += kAlphabet[random() % 36];
  return id;
}

absl::Status CheckWindow(const v1::MoveWindow& window, absl::string_view field, absl::Time now,
                         std::vector<FieldViolation>& violations) {
  const bool has_begin = window.has_preferred_begin_time();
  const bool has_end = window.has_preferred_end_time();
  if (has_begin && has_end && TimeOf(window.preferred_end_time()) <= TimeOf(window.preferred_begin_time())) {
    violations.push_back({absl::StrCat(field, ".preferred_end_time"), "must be after preferred_begin_time"});
  }
  if (has_end && TimeOf(window.preferred_end_time()) <= now) {
    violations.push_back(
        {absl::StrCat(field, ".preferred_end_time"), "is in the past: give a window that has not ended"});
  }
  return absl::OkStatus();
}

// The fields of a CreateMigrationRequest that need no store: the id, the display name, the plan's
// connections, options and window. The identity map is ReadIdentityMap's.
absl::Status CheckCreateRequest(const v1::CreateMigrationRequest& request, absl::Time now,
                                std::vector<FieldViolation>& violations) {
  if (!request.migration_id().empty() && !ValidResourceId(request.migration_id())) {
    violations.push_back({"migration_id",
                          "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter "
                          "and not ending with '-'"});
  }
  if (request.display_name().size() > kMaxDisplayName) {
    violations.push_back({"display_name", "must be at most 200 characters"});
  }
  const v1::MigrationPlan& plan = request.plan();
  if (!request.has_plan()) violations.push_back({"plan", "is required"});
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"plan.source_connection", &plan.source_connection()},
        {"plan.target_connection", &plan.target_connection()}}) {
    if (value->empty()) {
      violations.push_back({field, "is required: the name of a connection, e.g. connections/contoso"});
    } else if (!ValidResourceName(*value, "connections")) {
      violations.push_back(
          {field, absl::StrCat("'", *value, "' is not a connection name such as connections/contoso")});
    }
  }
  if (!plan.source_connection().empty() && plan.source_connection() == plan.target_connection()) {
    violations.push_back(
        {"plan.target_connection", absl::StrCat("must differ from plan.source_connection: ", plan.source_connection(),
                                                " twice is one tenant, and a cross-tenant migration needs two")});
  }
  const v1::MigrationOptions& options = plan.options();
  if (options.max_queued_per_source_geo() < 0 || options.max_queued_per_source_geo() > kMaxQueuedPerSourceGeo) {
    violations.push_back({"plan.options.max_queued_per_source_geo",
                          "must be between 1 and 4000 (Microsoft's limit per source geo), or 0 for 4000"});
  }
  return CheckWindow(options.window(), "plan.options.window", now, violations);
}

// One violation per identity-map problem (at most MigrationService::kMaxViolations in all), named by
// CSV line and column or by row.
void AddIdentityMapProblems(const ParsedIdentityMap& identity_map, bool csv, std::vector<FieldViolation>& violations) {
  for (const auto& problem : identity_map.problems) {
    if (static_cast<int>(violations.size()) >= MigrationService::kMaxViolations) break;
    violations.push_back(
        {csv ? absl::StrCat("plan.identity_map.csv:", problem.line(), ":", problem.column())
             : absl::StrCat("plan.identity_map.rows.entries[", problem.line() - 1, "]"),
         absl::StrCat(problem.code(), problem.field().empty() ? "" : absl::StrCat(" (", problem.field(), ")"), ": ",
                      problem.message())});
  }
}

// A user of `migration` as created: PENDING, named by the source UPN in lower case.
v1::UserMove NewUserMove(const std::string& migration, const std::string& source_upn, const std::string& target_upn,
                         const std::string& target_email, int line, absl::Time now) {
  v1::UserMove move;
  move.set_name(absl::StrCat(migration, "/users/", absl::AsciiStrToLower(source_upn)));
  move.set_source_user_principal_name(source_upn);
  move.set_target_user_principal_name(target_upn);
  move.set_target_user_email(target_email);
  move.set_state(v1::USER_MOVE_STATE_PENDING);
  move.set_identity_map_line(line);
  SetTimestamp(now, move.mutable_update_time());
  return move;
}

// The migration `request` creates, RUNNING in CONNECTIONS_CHECK with `users` users pending. The plan
// keeps no identity map (input-only): `summary` stands for it.
v1::Migration NewMigration(const v1::CreateMigrationRequest& request, const std::string& name,
                           const v1::IdentityMapSummary& summary, int32_t users, absl::Time now) {
  v1::Migration migration;
  migration.set_name(name);
  migration.set_display_name(request.display_name());
  *migration.mutable_plan() = request.plan();
  migration.mutable_plan()->clear_identity_map();
  if (migration.plan().options().max_queued_per_source_geo() == 0) {
    migration.mutable_plan()->mutable_options()->set_max_queued_per_source_geo(kMaxQueuedPerSourceGeo);
  }
  *migration.mutable_identity_map_summary() = summary;
  migration.set_phase(v1::MIGRATION_PHASE_CONNECTIONS_CHECK);
  migration.set_state(v1::MIGRATION_STATE_RUNNING);
  migration.set_state_reason("created");
  migration.set_trace_id(CurrentTraceId());
  SetTimestamp(now, migration.mutable_create_time());
  SetTimestamp(now, migration.mutable_update_time());
  migration.mutable_counts()->set_total(users);
  auto* pending = migration.mutable_counts()->add_by_state();
  pending->set_state(v1::USER_MOVE_STATE_PENDING);
  pending->set_count(users);
  return migration;
}

}  // namespace

MigrationService::MigrationService(MigrationStore* store, Options options)
    : store_(store), options_(std::move(options)) {
  if (!options_.new_id) options_.new_id = RandomId;
}

v1::MigrationEvent MigrationService::NewEvent(v1::Migration& migration, const std::string& message) {
  v1::MigrationEvent event;
  event.set_name(migration.name());
  event.set_sequence(migration.last_event_sequence() + 1);
  migration.set_last_event_sequence(event.sequence());
  SetTimestamp(options_.now(), event.mutable_event_time());
  event.set_message(message);
  return event;
}

absl::Status MigrationService::FillLiveFields(v1::Migration& migration) {
  ASSIGN_OR_RETURN(auto counts, store_->CountUserMoves(migration.name()));
  migration.clear_counts();
  int total = 0;
  for (const auto& [state, count] : counts) {
    auto* by_state = migration.mutable_counts()->add_by_state();
    by_state->set_state(state);
    by_state->set_count(count);
    total += count;
  }
  migration.mutable_counts()->set_total(total);
  migration.clear_queues();
  std::set<std::string> source_geos;
  for (const v1::GeoPair& pair : migration.geo_pairs()) {
    if (!source_geos.insert(pair.source_geo()).second) continue;
    ASSIGN_OR_RETURN(v1::SourceGeoQueue queue, store_->GetSourceGeoQueue(migration.name(), pair.source_geo()));
    queue.set_limit(migration.plan().options().max_queued_per_source_geo());
    *migration.add_queues() = std::move(queue);
  }
  return absl::OkStatus();
}

std::optional<RequestRecord> MigrationService::RecordOf(absl::string_view method,
                                                        const google::protobuf::Message& request,
                                                        const std::string& request_id, const std::string& migration) {
  if (request_id.empty()) return std::nullopt;
  return RequestRecord{request_id, std::string(method), migration, RequestFingerprint(request)};
}

absl::StatusOr<std::optional<std::string>> MigrationService::EarlierRequest(
    const std::optional<RequestRecord>& record) {
  if (!record) return std::nullopt;
  ASSIGN_OR_RETURN(std::optional<RequestRecord> earlier, store_->FindRequest(record->request_id));
  if (!earlier) return std::nullopt;
  // An id remembered before fingerprints were kept can only be compared by method and migration.
  const bool same =
      earlier->method == record->method &&
      (earlier->fingerprint.empty() ? record->method == "CreateMigration" || earlier->migration == record->migration
                                    : earlier->fingerprint == record->fingerprint);
  if (!same) {
    return InvalidArgumentWithViolations(
        "request_id reused for another request",
        {{"request_id",
          absl::StrCat("was already used by a different ", earlier->method, " request on ", earlier->migration,
                       ": a retry must repeat the request exactly; a new request needs a new id")}});
  }
  return earlier->migration;
}

absl::StatusOr<v1::Migration> MigrationService::CreateMigration(const v1::CreateMigrationRequest& request) {
  const absl::Time now = options_.now();
  std::vector<FieldViolation> violations;
  CheckRequestId(request.request_id(), violations);
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid request", violations);
  std::optional<RequestRecord> record = RecordOf("CreateMigration", request, request.request_id(), "");
  ASSIGN_OR_RETURN(std::optional<std::string> earlier, EarlierRequest(record));
  if (earlier) return GetMigration(*earlier);

  RETURN_IF_ERROR(CheckCreateRequest(request, now, violations));
  const v1::MigrationPlan& plan = request.plan();
  std::optional<IdentityMapUpload> upload;
  ParsedIdentityMap identity_map;
  RETURN_IF_ERROR(ReadIdentityMap(plan.identity_map(), upload, identity_map, violations));
  AddIdentityMapProblems(identity_map, plan.identity_map().has_csv(), violations);
  if (violations.empty()) RETURN_IF_ERROR(CheckAgainstOtherMigrations(plan, upload, identity_map, violations));
  if (!violations.empty()) {
    std::string summary = "invalid migration plan";
    if (!identity_map.problems.empty()) {
      absl::StrAppend(&summary, ": the identity map has ", identity_map.problems.size(), " problem(s)",
                      identity_map.problems.size() > kMaxViolations
                          ? " (the first 100 are listed; ValidateIdentityMap lists them all)"
                          : "");
    }
    return InvalidArgumentWithViolations(summary, violations);
  }

  const std::string name =
      absl::StrCat("migrations/", request.migration_id().empty() ? options_.new_id() : request.migration_id());
  std::vector<v1::UserMove> user_moves;
  user_moves.reserve(identity_map.map.users.size());
  for (const identity_map::UserMapping& user : identity_map.map.users) {
    user_moves.push_back(NewUserMove(name, user.source_upn, user.target_upn, user.target_email, user.line, now));
  }
  const int32_t users = upload ? upload->summary.user_rows() : static_cast<int32_t>(user_moves.size());
  v1::Migration migration = NewMigration(request, name, identity_map.summary, users, now);
  v1::MigrationEvent created = NewEvent(
      migration,
      absl::StrCat("migration created: ", users, " user(s), ", identity_map.summary.group_rows(), " group mapping(s)"));
  created.mutable_state_change()->set_to_state(migration.state());
  created.mutable_state_change()->set_reason(migration.state_reason());
  if (record) record->migration = migration.name();
  absl::Status stored =
      upload ? store_->CreateMigrationFromUpload(migration, {created}, record, upload->name,
                                                 [&](const StagedIdentityMapRow& row) {
                                                   return NewUserMove(name, row.source, row.target, row.email, row.line,
                                                                      now);
                                                 })
             : store_->CreateMigration(migration, user_moves, {created}, record, identity_map::ToCsv(identity_map.map));
  // Two tries raced: the other one took the id (or, from an upload, the upload) first.
  if ((absl::IsAlreadyExists(stored) || (upload && absl::IsFailedPrecondition(stored))) && record) {
    ASSIGN_OR_RETURN(std::optional<std::string> other, EarlierRequest(record));
    if (other) return GetMigration(*other);
  }
  RETURN_IF_ERROR(stored);
  events_.Notify(migration.name());
  return migration;
}

absl::Status MigrationService::ReadIdentityMap(const v1::IdentityMapInput& map_input,
                                               std::optional<IdentityMapUpload>& upload,
                                               ParsedIdentityMap& identity_map,
                                               std::vector<FieldViolation>& violations) {
  if (map_input.has_upload()) {
    if (!ValidResourceName(map_input.upload(), "identityMapUploads")) {
      violations.push_back({"plan.identity_map.upload", absl::StrCat("'", map_input.upload(),
                                                                     "' is not an upload name such as "
                                                                     "identityMapUploads/u-0123456789abcdef")});
      return absl::OkStatus();
    }
    absl::StatusOr<IdentityMapUpload> found = store_->GetIdentityMapUpload(map_input.upload());
    if (absl::IsNotFound(found.status())) {
      return absl::NotFoundError(absl::StrCat(map_input.upload(), " does not exist: uploads are deleted ",
                                              absl::FormatDuration(IdentityMapUploadStream::kUnusedLifetime),
                                              " after UploadIdentityMap unless a migration is created from them"));
    }
    RETURN_IF_ERROR(found.status());
    if (!found->migration.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(map_input.upload(), " was already used by ", found->migration, ": upload the map again"));
    }
    if (!found->complete) {
      return absl::FailedPreconditionError(absl::StrCat(map_input.upload(), " is still being uploaded"));
    }
    upload = *std::move(found);
    identity_map.summary = upload->summary;
    if (upload->summary.user_rows() == 0) {
      violations.push_back({"plan.identity_map", "maps no user: a migration needs at least one User row"});
    }
  } else if (const int64_t rows = InlineRows(map_input); rows > kMaxInlineRows) {
    violations.push_back({map_input.has_csv() ? "plan.identity_map.csv" : "plan.identity_map.rows",
                          absl::StrCat("has ", rows, map_input.has_csv() ? " lines" : " rows",
                                       ": an inline map takes at most 10000; stage a larger one with "
                                       "UploadIdentityMap (migratectl does) and name it in plan.identity_map.upload")});
  } else {
    identity_map = ParseIdentityMapInput(map_input, "");
    if (!identity_map.given) {
      violations.push_back(
          {"plan.identity_map", "is required: the six-column CSV, structured rows or a staged upload"});
    } else if (identity_map.map.users.empty() && identity_map.problems.empty()) {
      violations.push_back({"plan.identity_map", "maps no user: a migration needs at least one User row"});
    }
  }
  return absl::OkStatus();
}

absl::Status MigrationService::CheckAgainstOtherMigrations(const v1::MigrationPlan& plan,
                                                           const std::optional<IdentityMapUpload>& upload,
                                                           const ParsedIdentityMap& identity_map,
                                                           std::vector<FieldViolation>& violations) {
  if (options_.tenant != nullptr) {
    // Refused now rather than failing in TRUST with every user left pending. A connection the connector
    // cannot show (not connected yet, connector down) is checked again in CONNECTIONS_CHECK.
    absl::StatusOr<v1::Connection> source = options_.tenant->GetConnection(plan.source_connection());
    absl::StatusOr<v1::Connection> target =
        source.ok() ? options_.tenant->GetConnection(plan.target_connection()) : source.status();
    if (target.ok()) {
      if (std::string problem = SameTenantProblem(*source, *target); !problem.empty()) {
        violations.push_back({"plan.target_connection", problem});
        return absl::OkStatus();
      }
    }
  }
  // A user in two live migrations from one source would be started twice at Microsoft. Live migrations
  // are few; their users are matched against the map's by the store, by index.
  std::vector<std::string> live;
  std::string token;
  do {
    ASSIGN_OR_RETURN(MigrationPage page,
                     store_->ListMigrations({v1::MIGRATION_STATE_RUNNING, v1::MIGRATION_STATE_WAITING,
                                             v1::MIGRATION_STATE_PAUSED, v1::MIGRATION_STATE_CANCELLING},
                                            1000, token));
    for (const v1::Migration& other : page.migrations) {
      if (other.plan().source_connection() == plan.source_connection()) live.push_back(other.name());
    }
    token = page.next_page_token;
  } while (!token.empty());
  if (live.empty()) return absl::OkStatus();
  constexpr int kNamed = 10;
  std::vector<std::string> taken;
  if (upload) {
    ASSIGN_OR_RETURN(taken, store_->StagedUsersIn(upload->name, live, kNamed));
  } else {
    std::vector<std::string> source_keys;
    source_keys.reserve(identity_map.map.users.size());
    for (const identity_map::UserMapping& user : identity_map.map.users) {
      source_keys.push_back(absl::AsciiStrToLower(user.source_upn));
    }
    ASSIGN_OR_RETURN(taken, store_->UsersIn(source_keys, live, kNamed));
  }
  if (taken.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "user(s) already in another live migration from ", plan.source_connection(), " (", absl::StrJoin(live, ", "),
      "): ", absl::StrJoin(taken, ", "), taken.size() == kNamed ? " and maybe more" : "",
      "; leave them out of this map or wait for it to end"));
}

absl::StatusOr<v1::Migration> MigrationService::GetMigration(const std::string& name) {
  if (!ValidResourceName(name, "migrations")) {
    return InvalidArgumentWithViolations("invalid migration name",
                                         {{"name", absl::StrCat("'", name, "' is not of the form migrations/{id}")}});
  }
  ASSIGN_OR_RETURN(v1::Migration migration, store_->GetMigration(name));
  RETURN_IF_ERROR(FillLiveFields(migration));
  return migration;
}

absl::StatusOr<v1::ListMigrationsResponse> MigrationService::ListMigrations(const v1::ListMigrationsRequest& request) {
  if (request.page_size() < 0) {
    return InvalidArgumentWithViolations("invalid request", {{"page_size", "must not be negative"}});
  }
  std::vector<v1::MigrationState> states;
  for (int state : request.states()) states.push_back(static_cast<v1::MigrationState>(state));
  ASSIGN_OR_RETURN(MigrationPage page, store_->ListMigrations(states, request.page_size(), request.page_token()));
  v1::ListMigrationsResponse response;
  for (v1::Migration& migration : page.migrations) {
    RETURN_IF_ERROR(FillLiveFields(migration));
    *response.add_migrations() = std::move(migration);
  }
  response.set_next_page_token(page.next_page_token);
  return response;
}

absl::StatusOr<v1::Migration> MigrationService::Transition(const TransitionRequest& transition) {
  std::vector<FieldViolation> violations;
  if (transition.request) CheckRequestId(transition.request->request_id, violations);
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid request", violations);
  absl::MutexLock lock(&write_mutex_);
  absl::Status done = RetryOnConcurrentChange([&] { return TransitionOnce(transition); }).status();
  if (absl::IsAlreadyExists(done) && transition.request) {
    // The same id raced in from another try: answer as a retry if it was this request.
    ASSIGN_OR_RETURN(std::optional<std::string> earlier, EarlierRequest(transition.request));
    if (earlier) done = absl::OkStatus();
  }
  RETURN_IF_ERROR(done);
  // The record as stored now (a new etag), with its live fields.
  return GetMigration(transition.name);
}

absl::StatusOr<v1::Migration> MigrationService::TransitionOnce(const TransitionRequest& step) {
  const std::string& name = step.name;
  v1::MigrationState to = step.to;
  const std::string& reason = step.reason;
  ASSIGN_OR_RETURN(std::optional<std::string> earlier, EarlierRequest(step.request));
  if (earlier) return GetMigration(name);  // a retry of a request already applied
  ASSIGN_OR_RETURN(v1::Migration migration, GetMigration(name));
  const v1::MigrationState from = migration.state();
  if (to == v1::MIGRATION_STATE_CANCELLED && migration.phase() >= v1::MIGRATION_PHASE_MOVES) {
    // Moves may be at Microsoft: the phase driver stops what can be stopped and waits for the rest.
    to = v1::MIGRATION_STATE_CANCELLING;
  }
  if (from == to) return migration;  // idempotent: pausing a paused migration succeeds
  if (MigrationHasEnded(from)) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " has ended (", v1::MigrationState_Name(from), "): it can no longer change"));
  }
  if (from == v1::MIGRATION_STATE_CANCELLING) {
    return absl::FailedPreconditionError(absl::StrCat(name, " is being cancelled"));
  }
  if (to == v1::MIGRATION_STATE_RUNNING && from != v1::MIGRATION_STATE_PAUSED) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " is ", v1::MigrationState_Name(from), ", not PAUSED: only a paused migration resumes"));
  }

  std::vector<v1::UserMove> changed;
  std::vector<v1::MigrationEvent> events;
  const absl::Time now = options_.now();
  if (to == v1::MIGRATION_STATE_CANCELLED) {
    // Before the moves, no user has reached Microsoft: every user not blocked stops now.
    UserMoveQuery query(name);
    query.page_size = 1000;
    do {
      ASSIGN_OR_RETURN(UserMovePage page, store_->ListUserMoves(query));
      for (v1::UserMove& move : page.user_moves) {
        if (!NotStartedAtMicrosoft(move.state())) continue;
        v1::MigrationEvent event = NewEvent(migration, "user stopped by cancellation");
        const v1::UserMoveState before = move.state();
        move.set_state(v1::USER_MOVE_STATE_STOPPED);
        SetUserTransition(move, before, &event);
        SetTimestamp(now, move.mutable_update_time());
        SetTimestamp(now, move.mutable_end_time());
        changed.push_back(std::move(move));
        events.push_back(std::move(event));
      }
      query.page_token = page.next_page_token;
    } while (!query.page_token.empty());
    SetTimestamp(now, migration.mutable_end_time());
  }
  if (step.window != nullptr) {
    *migration.mutable_plan()->mutable_options()->mutable_window() = *step.window;
    events.push_back(NewEvent(migration, "window changed on resume"));
  }
  v1::MigrationEvent event = NewEvent(
      migration, absl::StrCat("migration ", v1::MigrationState_Name(from), " -> ", v1::MigrationState_Name(to)));
  event.mutable_state_change()->set_from_state(from);
  event.mutable_state_change()->set_to_state(to);
  event.mutable_state_change()->set_reason(reason);
  events.push_back(std::move(event));
  migration.set_state(to);
  migration.set_state_reason(reason);
  if (std::string trace_id = CurrentTraceId(); !trace_id.empty()) migration.set_trace_id(trace_id);
  SetTimestamp(now, migration.mutable_update_time());
  MigrationChange change;
  change.migration = migration;
  change.user_moves = std::move(changed);
  change.events = std::move(events);
  change.request = step.request;
  RETURN_IF_ERROR(store_->Apply(change));
  events_.Notify(migration.name());
  // A resumed migration's tasks may be leased again.
  if (to == v1::MIGRATION_STATE_RUNNING) events_.NotifyTasks(now, EventHub::kAllTasks);
  return migration;
}

absl::StatusOr<v1::Migration> MigrationService::PauseMigration(const v1::PauseMigrationRequest& request) {
  return Transition({request.name(), v1::MIGRATION_STATE_PAUSED,
                     request.reason().empty() ? "paused by an operator" : request.reason(), nullptr,
                     RecordOf("PauseMigration", request, request.request_id(), request.name())});
}

absl::StatusOr<v1::Migration> MigrationService::ResumeMigration(const v1::ResumeMigrationRequest& request) {
  if (request.has_window()) {
    std::vector<FieldViolation> violations;
    RETURN_IF_ERROR(CheckWindow(request.window(), "window", options_.now(), violations));
    if (!violations.empty()) return InvalidArgumentWithViolations("invalid window", violations);
  }
  std::optional<RequestRecord> record = RecordOf("ResumeMigration", request, request.request_id(), request.name());
  ASSIGN_OR_RETURN(std::optional<std::string> earlier, EarlierRequest(record));
  ASSIGN_OR_RETURN(v1::Migration migration, GetMigration(request.name()));
  if (earlier || migration.state() == v1::MIGRATION_STATE_WAITING || migration.state() == v1::MIGRATION_STATE_RUNNING) {
    return migration;  // already going: a retried resume succeeds
  }
  return Transition({request.name(), v1::MIGRATION_STATE_RUNNING, "resumed by an operator",
                     request.has_window() ? &request.window() : nullptr, std::move(record)});
}

absl::StatusOr<v1::Migration> MigrationService::CancelMigration(const v1::CancelMigrationRequest& request) {
  return Transition({request.name(), v1::MIGRATION_STATE_CANCELLED,
                     request.reason().empty() ? "cancelled by an operator" : request.reason(), nullptr,
                     RecordOf("CancelMigration", request, request.request_id(), request.name())});
}

namespace {

bool AtMicrosoft(v1::UserMoveState state) {
  return state == v1::USER_MOVE_STATE_NOT_STARTED || state == v1::USER_MOVE_STATE_SCHEDULED ||
         state == v1::USER_MOVE_STATE_READY_TO_TRIGGER || state == v1::USER_MOVE_STATE_IN_PROGRESS ||
         state == v1::USER_MOVE_STATE_RESCHEDULED;
}

// The user state of Microsoft's last reported raw state of a move still running ("InProgress" ...);
// NOT_STARTED when none was reported or it is not one of those.
v1::UserMoveState ActiveStateOfRaw(const std::string& raw_state) {
  const std::string raw = absl::AsciiStrToLower(raw_state);
  if (raw == "scheduled" || raw == "queued") return v1::USER_MOVE_STATE_SCHEDULED;
  if (raw == "readytotrigger") return v1::USER_MOVE_STATE_READY_TO_TRIGGER;
  if (raw == "inprogress") return v1::USER_MOVE_STATE_IN_PROGRESS;
  if (raw == "rescheduled") return v1::USER_MOVE_STATE_RESCHEDULED;
  return v1::USER_MOVE_STATE_NOT_STARTED;
}

// Whether `user`'s state did not come from Microsoft's word although its move may be at Microsoft.
bool InDoubt(const v1::UserMove& user, bool migration_ended) {
  if (user.state() == v1::USER_MOVE_STATE_FAILED) {
    if (IsConnectionReason(user.error().code())) return true;
    const std::string raw = absl::AsciiStrToLower(user.raw_state());
    const bool reported_by_microsoft = !user.task_id().empty() || !raw.empty();
    return reported_by_microsoft && raw != "failed" && raw != "notsupported";
  }
  return migration_ended && AtMicrosoft(user.state());
}

}  // namespace

absl::StatusOr<v1::ReconcileMigrationResponse> MigrationService::ReconcileMigration(
    const v1::ReconcileMigrationRequest& request) {
  if (!ValidResourceName(request.name(), "migrations")) {
    return InvalidArgumentWithViolations(
        "invalid migration name",
        {{"name", absl::StrCat("'", request.name(), "' is not of the form migrations/{id}")}});
  }
  absl::MutexLock lock(&write_mutex_);
  ASSIGN_OR_RETURN(v1::ReconcileMigrationResponse response,
                   RetryOnConcurrentChange([&] { return ReconcileMigrationOnce(request.name()); }));
  ASSIGN_OR_RETURN(*response.mutable_migration(), GetMigration(request.name()));
  return response;
}

absl::StatusOr<v1::ReconcileMigrationResponse> MigrationService::ReconcileMigrationOnce(const std::string& name) {
  ASSIGN_OR_RETURN(v1::Migration migration, store_->GetMigration(name));
  if (migration.state() == v1::MIGRATION_STATE_CANCELLING) {
    return absl::FailedPreconditionError(absl::StrCat(name, " is being cancelled: reconcile it once it is CANCELLED"));
  }
  const bool ended = MigrationHasEnded(migration.state());
  const absl::Time now = options_.now();
  MigrationChange change;
  UserMoveQuery query(name);
  query.states = {v1::USER_MOVE_STATE_FAILED};
  if (ended) {
    query.states.insert(query.states.end(), {v1::USER_MOVE_STATE_NOT_STARTED, v1::USER_MOVE_STATE_SCHEDULED,
                                             v1::USER_MOVE_STATE_READY_TO_TRIGGER, v1::USER_MOVE_STATE_IN_PROGRESS,
                                             v1::USER_MOVE_STATE_RESCHEDULED});
  }
  query.page_size = 1000;
  do {
    ASSIGN_OR_RETURN(UserMovePage page, store_->ListUserMoves(query));
    for (v1::UserMove& user : page.user_moves) {
      if (!InDoubt(user, ended)) continue;
      const v1::UserMoveState before = user.state();
      if (before == v1::USER_MOVE_STATE_FAILED) {
        user.set_state(ActiveStateOfRaw(user.raw_state()));
        user.clear_error();
        user.clear_end_time();
      }
      SetTimestamp(now, user.mutable_update_time());
      v1::GetUserContentMoveRequest base;
      base.set_geo(user.source_geo());
      change.new_tasks.push_back({PollTaskOf(name, user, base), now});
      if (user.state() != before) {
        v1::MigrationEvent event = NewEvent(migration, "user reconciled with Microsoft");
        SetUserTransition(user, before, &event);
        change.events.push_back(std::move(event));
      }
      change.user_moves.push_back(std::move(user));
    }
    query.page_token = page.next_page_token;
  } while (!query.page_token.empty());

  v1::ReconcileMigrationResponse response;
  response.set_users_to_reconcile(static_cast<int32_t>(change.new_tasks.size()));
  if (change.new_tasks.empty()) return response;  // nothing in doubt: nothing changes
  const std::string reason =
      absl::StrCat("reconciling ", change.new_tasks.size(), " user(s) whose final state Microsoft had not confirmed");
  if (ended || migration.phase() == v1::MIGRATION_PHASE_POST_MIGRATION) {
    const v1::MigrationState from = migration.state();
    v1::MigrationEvent phase = NewEvent(migration, absl::StrCat("phase ", v1::MigrationPhase_Name(migration.phase()),
                                                                " -> MIGRATION_PHASE_MOVES (reconcile)"));
    phase.mutable_phase_change()->set_from_phase(migration.phase());
    phase.mutable_phase_change()->set_to_phase(v1::MIGRATION_PHASE_MOVES);
    change.events.push_back(std::move(phase));
    if (from != v1::MIGRATION_STATE_RUNNING) {
      v1::MigrationEvent state = NewEvent(migration, reason);
      state.mutable_state_change()->set_from_state(from);
      state.mutable_state_change()->set_to_state(v1::MIGRATION_STATE_RUNNING);
      state.mutable_state_change()->set_reason(reason);
      change.events.push_back(std::move(state));
    }
    bool marked = false;
    for (const v1::Finding& finding : migration.findings()) {
      marked = marked || finding.code() == kReconcilingFinding || finding.code() == kReconcilingCancelledFinding;
    }
    if (!marked) {
      v1::Finding* finding = migration.add_findings();
      finding->set_code(from == v1::MIGRATION_STATE_CANCELLED ? kReconcilingCancelledFinding : kReconcilingFinding);
      finding->set_severity(v1::SEVERITY_INFO);
      finding->set_message(absl::StrCat(reason, "; no new move is started"));
      finding->set_subject(name);
    }
    migration.set_phase(v1::MIGRATION_PHASE_MOVES);
    migration.set_state(v1::MIGRATION_STATE_RUNNING);
    migration.set_state_reason(reason);
    migration.clear_end_time();
    migration.clear_error();
    migration.clear_next_check_time();
  } else {
    change.events.push_back(NewEvent(migration, reason));
  }
  SetTimestamp(now, migration.mutable_update_time());
  change.migration = migration;
  RETURN_IF_ERROR(store_->Apply(change));
  events_.Notify(name);
  events_.NotifyTasks(change.new_tasks);
  return response;
}

absl::StatusOr<v1::ListUserMovesResponse> MigrationService::ListUserMoves(const v1::ListUserMovesRequest& request) {
  ASSIGN_OR_RETURN(v1::Migration migration, GetMigration(request.parent()));
  UserMoveQuery query(migration.name());
  for (int state : request.states()) query.states.push_back(static_cast<v1::UserMoveState>(state));
  query.source_geo = request.source_geo();
  query.page_size = request.page_size();
  query.page_token = request.page_token();
  ASSIGN_OR_RETURN(UserMovePage page, store_->ListUserMoves(query));
  v1::ListUserMovesResponse response;
  for (v1::UserMove& move : page.user_moves) *response.add_user_moves() = std::move(move);
  response.set_next_page_token(page.next_page_token);
  return response;
}

absl::StatusOr<v1::UserMove> MigrationService::GetUserMove(const std::string& name) {
  const size_t users = name.find("/users/");
  if (users == std::string::npos || !ValidResourceName(name.substr(0, users), "migrations") ||
      users + 7 >= name.size()) {
    return InvalidArgumentWithViolations(
        "invalid user move name",
        {{"name", absl::StrCat("'", name, "' is not of the form migrations/{id}/users/{upn}")}});
  }
  return store_->GetUserMove(name);
}

absl::StatusOr<v1::GetMigrationReportResponse> MigrationService::GetMigrationReport(
    const v1::GetMigrationReportRequest& request) {
  v1::ListUserMovesRequest list;
  list.set_parent(request.name());
  list.set_page_size(request.page_size());
  list.set_page_token(request.page_token());
  *list.mutable_states() = request.states();
  ASSIGN_OR_RETURN(v1::ListUserMovesResponse moves, ListUserMoves(list));
  ASSIGN_OR_RETURN(v1::Migration migration, GetMigration(request.name()));
  v1::GetMigrationReportResponse report;
  for (const v1::UserMove& move : moves.user_moves()) {
    v1::MigrationReportRow* row = report.add_rows();
    row->set_user_move(move.name());
    row->set_source_user_principal_name(move.source_user_principal_name());
    row->set_target_user_principal_name(move.target_user_principal_name());
    row->set_source_location_code(LocationCodeOf(move.source_geo()));
    row->set_target_location_code(LocationCodeOf(move.target_geo()));
    row->set_state(move.state());
    if (move.has_queue_time()) *row->mutable_queue_time() = move.queue_time();
    if (move.has_start_time()) *row->mutable_start_time() = move.start_time();
    if (move.has_end_time()) *row->mutable_end_time() = move.end_time();
    if (move.has_microsoft_start_time()) *row->mutable_microsoft_start_time() = move.microsoft_start_time();
    if (move.has_microsoft_end_time()) *row->mutable_microsoft_end_time() = move.microsoft_end_time();
    row->set_error_code(move.error().code());
    row->set_error_message(move.error().message());
    row->set_attempts(move.attempts());
    row->set_source_site_url(move.source_site_url());
    row->set_target_site_url(move.target_site_url());
  }
  report.set_next_page_token(moves.next_page_token());
  *report.mutable_counts() = migration.counts();
  report.set_phase(migration.phase());
  report.set_state(migration.state());
  SetTimestamp(options_.now(), report.mutable_report_time());
  return report;
}

absl::StatusOr<v1::ValidateIdentityMapResponse> MigrationService::ValidateIdentityMap(
    const v1::ValidateIdentityMapRequest& request) {
  std::vector<FieldViolation> violations;
  if (request.identity_map().content_case() == v1::IdentityMapInput::CONTENT_NOT_SET) {
    violations.push_back({"identity_map", "is required: csv or rows"});
  } else if (request.identity_map().has_upload()) {
    violations.push_back({"identity_map.upload", "was validated as it was uploaded: give csv or rows here"});
  }
  if (request.max_problems() < 0 || request.max_problems() > 100000) {
    violations.push_back({"max_problems", "must be between 0 (for 1000) and 100000"});
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid request", violations);
  ParsedIdentityMap parsed = ParseIdentityMapInput(request.identity_map(), request.source_tenant_id());
  v1::ValidateIdentityMapResponse response;
  const size_t limit = request.max_problems() == 0 ? 1000 : static_cast<size_t>(request.max_problems());
  for (size_t i = 0; i < parsed.problems.size() && i < limit; ++i) *response.add_problems() = parsed.problems[i];
  response.set_problem_count(static_cast<int32_t>(parsed.problems.size()));
  response.set_valid(parsed.problems.empty());
  *response.mutable_summary() = parsed.summary;
  return response;
}

}  // namespace crosstenant::orchestrator
