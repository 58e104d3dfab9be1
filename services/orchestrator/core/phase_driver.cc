#include "services/orchestrator/core/phase_driver.h"

#ifdef __GLIBC__
#endif

#include <algorithm>
#include <functional>
#include <optional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "services/common/errors.h"
#include "services/common/logging.h"
#include "services/common/migration_state.h"
#include "services/common/onedrive_url.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"
#include "services/common/trace_context.h"
#include "services/orchestrator/core/user_transition.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;

// Up to `rows` non-blank lines of the stored identity map CSV, starting at 1-based `first_line`.
struct IdentityMapPage {
  absl::string_view csv;
  int first_line = 1;
};

// Cuts the CSV at line ends outside quotes (RFC 4180 lets a quoted field hold a line end) into pages of
// at most `rows` rows. Blank lines ride along with the page they fall in but do not count as rows, and a
// page of blank lines only is not sent (the connector refuses an empty map).
std::vector<IdentityMapPage> SplitIdentityMap(absl::string_view csv, int rows) {
  std::vector<IdentityMapPage> pages;
  size_t page_start = 0;
  int line = 1, page_first_line = 1, page_rows = 0;
  bool quoted = false, blank = true;
  for (size_t i = 0; i <= csv.size(); ++i) {
    const bool end = i == csv.size();
    const char c = end ? '\n' : csv[i];
    if (!end && c == '"') quoted = !quoted;
    if (c != '\n' || (quoted && !end)) {
      if (c != ' ' && c != ',' && c != '\r' && c != '\t') blank = false;
      continue;
    }
    if (!blank) ++page_rows;
    const bool last_line = end || i + 1 == csv.size();
    if (page_rows == rows || (last_line && page_rows > 0)) {
      pages.push_back({csv.substr(page_start, std::min(i + 1, csv.size()) - page_start), page_first_line});
      page_start = i + 1;
      page_first_line = line + 1;
      page_rows = 0;
    }
    if (end) break;
    ++line;
    blank = true;
  }
  return pages;
}

bool Driven(v1::MigrationState state) {
  return state == v1::MIGRATION_STATE_RUNNING || state == v1::MIGRATION_STATE_WAITING;
}

// Driven, or paused by an operator: the migration's users still depend on its connections.
bool Live(v1::MigrationState state) {
  return Driven(state) || state == v1::MIGRATION_STATE_PAUSED || state == v1::MIGRATION_STATE_CANCELLING;
}

bool ActiveAtMicrosoft(v1::UserMoveState state) {
  return state == v1::USER_MOVE_STATE_NOT_STARTED || state == v1::USER_MOVE_STATE_SCHEDULED ||
         state == v1::USER_MOVE_STATE_READY_TO_TRIGGER || state == v1::USER_MOVE_STATE_IN_PROGRESS ||
         state == v1::USER_MOVE_STATE_RESCHEDULED;
}

// The least a throttled step waits before asking Microsoft again (the connector holds any request
// back until Microsoft's Retry-After anyway).
constexpr absl::Duration kThrottleRecheckFloor = absl::Milliseconds(500);

// How long Microsoft asked the tenants of `connections` to wait: the latest Retry-After in force in
// their connector governors (GetConnection's health.throttling), zero when none is.
absl::Duration MicrosoftRetryAfter(TenantGateway* tenant, const std::vector<std::string>& connections, absl::Time now) {
  absl::Time until = now;
  for (const std::string& name : connections) {
    absl::StatusOr<v1::Connection> connection = tenant->GetConnection(name);
    if (!connection.ok()) continue;
    for (const v1::ThrottleState& state : connection->health().throttling()) {
      if (state.throttled() && state.has_retry_after_time()) until = std::max(until, TimeOf(state.retry_after_time()));
    }
  }
  return until - now;
}

std::string Describe(const absl::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
}

// Transient upstream trouble: wait and try again rather than fail the migration.
bool IsTransient(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) || absl::IsResourceExhausted(status) ||
         absl::IsAborted(status) || absl::IsInternal(status) || absl::IsUnknown(status);
}

const v1::Geo* HomeGeo(const v1::Connection& connection) {
  for (const v1::Geo& geo : connection.geos()) {
    if (geo.name() == connection.home_geo() || geo.default_geo()) return &geo;
  }
  return connection.geos().empty() ? nullptr : &connection.geos(0);
}

// Runs `on_source` here and `on_target` on a thread of its own under the current trace, and returns
// when both have: each tenant has its own throttling, and asking one after the other would add the two
// tenants' waits up.
void OnBothTenants(const std::function<void()>& on_source, const std::function<void()>& on_target) {
  std::thread target(WithCurrentTrace(on_target));
  on_source();
  target.join();
}

}  // namespace

PhaseDriver::PhaseDriver(MigrationService* migrations, TenantGateway* tenant, Options options)
    : migrations_(migrations), store_(&migrations->store()), tenant_(tenant), options_(std::move(options)) {}

v1::MigrationEvent PhaseDriver::NewEvent(v1::Migration& migration, const std::string& message) {
  v1::MigrationEvent event;
  event.set_name(migration.name());
  SetTimestamp(options_.now(), event.mutable_event_time());
  event.set_message(message);
  return event;
}

absl::StatusOr<bool> PhaseDriver::Commit(v1::Migration& migration, MigrationChange change,
                                         v1::MigrationState expected_state) {
  absl::MutexLock lock(&migrations_->write_mutex());
  if (options_.leader_term) change.leader_term = options_.leader_term();
  return RetryOnConcurrentChange(
      [&]() -> absl::StatusOr<bool> { return CommitOnce(migration, change, expected_state); });
}

absl::StatusOr<bool> PhaseDriver::CommitOnce(v1::Migration& migration, MigrationChange& change,
                                             v1::MigrationState expected_state) {
  ASSIGN_OR_RETURN(v1::Migration current, store_->GetMigration(migration.name()));
  // Paused or cancelled while we were upstream: the step's result no longer applies.
  if (expected_state == v1::MIGRATION_STATE_UNSPECIFIED ? !Driven(current.state())
                                                        : current.state() != expected_state) {
    return false;
  }
  // The driver owns the phase fields; everything else (plan, counts, operator changes) stays current.
  current.set_phase(migration.phase());
  current.set_state(migration.state());
  current.set_state_reason(migration.state_reason());
  // Copied as present or absent: an empty message set here would read as an error with no text.
  current.clear_next_check_time();
  if (migration.has_next_check_time()) *current.mutable_next_check_time() = migration.next_check_time();
  *current.mutable_geo_pairs() = migration.geo_pairs();
  *current.mutable_findings() = migration.findings();
  current.clear_error();
  if (migration.has_error()) *current.mutable_error() = migration.error();
  if (migration.has_end_time()) *current.mutable_end_time() = migration.end_time();
  SetTimestamp(options_.now(), current.mutable_update_time());
  for (v1::MigrationEvent& event : change.events) {
    event.set_sequence(current.last_event_sequence() + 1);
    current.set_last_event_sequence(event.sequence());
  }
  change.migration = current;
  RETURN_IF_ERROR(store_->Apply(change));
  migration = current;
  migrations_->events().Notify(migration.name());
  migrations_->events().NotifyTasks(change.new_tasks);  // workers waiting for a lease
  return true;
}

v1::MigrationEvent PhaseDriver::ChangeState(v1::Migration& migration, v1::MigrationState to,
                                            const std::string& reason) {
  v1::MigrationEvent event = NewEvent(migration, reason);
  event.mutable_state_change()->set_from_state(migration.state());
  event.mutable_state_change()->set_to_state(to);
  event.mutable_state_change()->set_reason(reason);
  migration.set_state(to);
  migration.set_state_reason(reason);
  return event;
}

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::Advanced(v1::Migration& migration, v1::MigrationPhase next) {
  const v1::MigrationPhase from = migration.phase();
  const v1::MigrationState from_state = migration.state();
  MigrationChange change;
  v1::MigrationEvent event =
      NewEvent(migration, absl::StrCat("phase ", v1::MigrationPhase_Name(from), " -> ", v1::MigrationPhase_Name(next)));
  event.mutable_phase_change()->set_from_phase(from);
  event.mutable_phase_change()->set_to_phase(next);
  change.events.push_back(event);
  if (from_state != v1::MIGRATION_STATE_RUNNING) {
    change.events.push_back(ChangeState(migration, v1::MIGRATION_STATE_RUNNING, "running again"));
  }
  migration.set_phase(next);
  migration.set_state(v1::MIGRATION_STATE_RUNNING);
  migration.set_state_reason(absl::StrCat("in ", v1::MigrationPhase_Name(next)));
  migration.clear_next_check_time();
  ASSIGN_OR_RETURN(bool committed, Commit(migration, std::move(change)));
  return StepResult{committed};
}

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::Wait(v1::Migration& migration, const std::string& reason,
                                                          std::optional<absl::Duration> retry_after) {
  const absl::Time now = options_.now();
  absl::Duration gap = options_.first_recheck;
  if (retry_after.has_value()) {
    // Throttling is no obstacle that clears more slowly the longer it lasts: Microsoft named the time.
    gap = std::min(std::max(*retry_after, kThrottleRecheckFloor), options_.max_recheck);
  } else if (migration.state() == v1::MIGRATION_STATE_WAITING && migration.state_reason() == reason &&
             migration.has_next_check_time()) {
    // The same obstacle again: wait twice as long as last time, up to the cap.
    gap = std::clamp(2 * (TimeOf(migration.next_check_time()) - TimeOf(migration.update_time())),
                     options_.first_recheck, options_.max_recheck);
  }
  MigrationChange change;
  if (migration.state() != v1::MIGRATION_STATE_WAITING || migration.state_reason() != reason) {
    change.events.push_back(ChangeState(migration, v1::MIGRATION_STATE_WAITING, reason));
  }
  SetTimestamp(now + gap, migration.mutable_next_check_time());
  RETURN_IF_ERROR(Commit(migration, std::move(change)).status());
  return StepResult{false};
}

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::WaitForUpstream(v1::Migration& migration, const std::string& what,
                                                                     const absl::Status& status) {
  const std::string reason = absl::StrCat(what, ": ", Describe(status));
  // Throttling names its own delay; anything else (an outage included) gets the growing back-off.
  const absl::Duration retry_after = RetryDelayOf(status);
  if (absl::IsResourceExhausted(status) && retry_after > absl::ZeroDuration())
    return Wait(migration, reason, retry_after);
  return Wait(migration, reason);
}

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::Fail(v1::Migration& migration, const std::string& code,
                                                          const std::string& reason) {
  MigrationChange change;
  change.events.push_back(ChangeState(migration, v1::MIGRATION_STATE_FAILED, reason));
  migration.mutable_error()->set_code(code);
  migration.mutable_error()->set_message(reason);
  migration.clear_next_check_time();
  SetTimestamp(options_.now(), migration.mutable_end_time());
  ASSIGN_OR_RETURN(const bool committed, Commit(migration, std::move(change)));
  if (committed) ReleaseConnections(migration);
  return StepResult{false};
}

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::CheckConnections(v1::Migration& migration) {
  const v1::MigrationPlan& plan = migration.plan();
  v1::Connection sides[2];
  const std::pair<const std::string*, v1::ConnectionRole> wanted[2] = {
      {&plan.source_connection(), v1::CONNECTION_ROLE_SOURCE}, {&plan.target_connection(), v1::CONNECTION_ROLE_TARGET}};
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<v1::Connection> connection = tenant_->GetConnection(*wanted[i].first);
    if (absl::IsNotFound(connection.status())) {
      return Fail(migration, "CONNECTION_NOT_FOUND",
                  absl::StrCat(*wanted[i].first, " does not exist: connect the tenant first (migratectl connect)"));
    }
    if (!connection.ok()) return WaitForUpstream(migration, "cannot reach the connector", connection.status());
    if (connection->role() != wanted[i].second) {
      return Fail(migration, "CONNECTION_ROLE_MISMATCH",
                  absl::StrCat(*wanted[i].first, " is a ", v1::ConnectionRole_Name(connection->role()),
                               " connection; the plan needs it as ", v1::ConnectionRole_Name(wanted[i].second)));
    }
    if (connection->state() != v1::CONNECTION_STATE_CONNECTED && connection->state() != v1::CONNECTION_STATE_DEGRADED) {
      return Wait(migration, absl::StrCat(*wanted[i].first, " is ", v1::ConnectionState_Name(connection->state()),
                                          connection->state_reason().empty() ? "" : ": ", connection->state_reason()));
    }
    if (HomeGeo(*connection) == nullptr) {
      return Wait(migration, absl::StrCat(*wanted[i].first, " has no geo yet"));
    }
    sides[i] = *std::move(connection);
  }
  if (std::string problem = SameTenantProblem(sides[0], sides[1]); !problem.empty()) {
    return Fail(migration, "SAME_TENANT", problem);
  }
  absl::StatusOr<v1::PreflightReport> report = tenant_->Preflight(plan.source_connection(), plan.target_connection());
  if (!report.ok()) return WaitForUpstream(migration, "preflight failed", report.status());
  migration.clear_findings();
  std::vector<std::string> errors;
  for (const v1::PreflightCheckResult& result : report->results()) {
    const v1::Finding& finding = result.finding();
    if (finding.severity() == v1::SEVERITY_UNSPECIFIED) continue;
    *migration.add_findings() = finding;
    // Trust and compatibility are what the next phases establish and wait for: they do not block here.
    if (result.check() == v1::PREFLIGHT_CHECK_TRUST || result.check() == v1::PREFLIGHT_CHECK_COMPATIBILITY) continue;
    if (finding.severity() == v1::SEVERITY_ERROR) errors.push_back(finding.code());
  }
  if (!errors.empty()) {
    return Wait(migration, absl::StrCat("preflight is not clean (", absl::StrJoin(errors, ", "),
                                        "): fix the findings; the migration goes on by itself"));
  }
  // One pair per source geo, all towards the target's home geo.
  const v1::Geo* target_geo = HomeGeo(sides[1]);
  migration.clear_geo_pairs();
  for (const v1::Geo& geo : sides[0].geos()) {
    v1::GeoPair* pair = migration.add_geo_pairs();
    pair->set_source_geo(geo.name());
    pair->set_target_geo(target_geo->name());
  }
  return Advanced(migration, v1::MIGRATION_PHASE_TRUST);
}

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::EstablishTrust(v1::Migration& migration) {
  // First every geo's host URL (each trust names its partner's), then the trusts: each time the
  // source's calls and the target's at once, one after the other within a tenant.
  std::set<std::string> source_geos, target_geos;
  for (const v1::GeoPair& pair : migration.geo_pairs()) {
    source_geos.insert(pair.source_geo());
    target_geos.insert(pair.target_geo());
  }
  std::map<std::string, absl::StatusOr<std::string>> host_of;  // by geo
  std::map<std::string, absl::StatusOr<std::string>> target_host_of;
  auto look_up = [this](const std::set<std::string>& geos, std::map<std::string, absl::StatusOr<std::string>>* out) {
    for (const std::string& geo : geos) {
      if (!out->emplace(geo, tenant_->GetCrossTenantHostUrl(geo)).first->second.ok()) return;
    }
  };
  OnBothTenants([&] { look_up(source_geos, &host_of); }, [&] { look_up(target_geos, &target_host_of); });
  host_of.merge(target_host_of);
  for (const auto& [geo, host] : host_of) {
    if (!host.ok()) return WaitForUpstream(migration, "cannot read the cross-tenant host URLs", host.status());
  }
  std::vector<v1::SetCrossTenantRelationshipRequest> on_source, on_target;
  for (v1::GeoPair& pair : *migration.mutable_geo_pairs()) {
    pair.set_source_host_url(*host_of.at(pair.source_geo()));
    pair.set_target_host_url(*host_of.at(pair.target_geo()));
    v1::SetCrossTenantRelationshipRequest& source = on_source.emplace_back();
    source.set_geo(pair.source_geo());
    source.mutable_relationship()->set_scenario(v1::RELATIONSHIP_SCENARIO_MNA);
    source.mutable_relationship()->set_partner_role(v1::CONNECTION_ROLE_TARGET);
    source.mutable_relationship()->set_partner_host_url(pair.target_host_url());
    source.set_request_id(absl::StrCat(migration.name(), "/trust/", pair.source_geo()));
    v1::SetCrossTenantRelationshipRequest& target = on_target.emplace_back();
    target.set_geo(pair.target_geo());
    target.mutable_relationship()->set_scenario(v1::RELATIONSHIP_SCENARIO_MNA);
    target.mutable_relationship()->set_partner_role(v1::CONNECTION_ROLE_SOURCE);
    target.mutable_relationship()->set_partner_host_url(pair.source_host_url());
    target.set_request_id(absl::StrCat(migration.name(), "/trust/", pair.target_geo(), "/", pair.source_geo()));
  }
  // The first failure of each side, with the geo it named.
  struct Failure {
    std::string geo;
    absl::Status status;
  };
  auto set_all = [this](const std::vector<v1::SetCrossTenantRelationshipRequest>& requests, Failure* failure) {
    for (const v1::SetCrossTenantRelationshipRequest& request : requests) {
      absl::Status status = tenant_->SetCrossTenantRelationship(request);
      if (!status.ok()) {
        *failure = {request.geo(), std::move(status)};
        return;
      }
    }
  };
  Failure failures[2];
  OnBothTenants([&] { set_all(on_source, &failures[0]); }, [&] { set_all(on_target, &failures[1]); });
  // A refusal does not pass by waiting: it fails the migration even when the other side only has to wait.
  for (const Failure& failure : failures) {
    if (!failure.status.ok() && !IsTransient(failure.status)) {
      return Fail(migration, "TRUST_REFUSED",
                  absl::StrCat("trust on ", failure.geo, " refused: ", Describe(failure.status)));
    }
  }
  for (const Failure& failure : failures) {
    if (!failure.status.ok()) return WaitForUpstream(migration, "setting trust", failure.status);
  }
  return Advanced(migration, v1::MIGRATION_PHASE_TRUST_VERIFICATION);
}

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::VerifyTrust(v1::Migration& migration) {
  const int pairs = migration.geo_pairs_size();
  // Each pair's trust as the source sees it and as the target does, the two sides at once; a side
  // stops at its first error, and the pairs after it stay unasked.
  std::vector<absl::StatusOr<v1::TrustStatus>> seen[2] = {
      std::vector<absl::StatusOr<v1::TrustStatus>>(pairs, absl::CancelledError("not asked")),
      std::vector<absl::StatusOr<v1::TrustStatus>>(pairs, absl::CancelledError("not asked"))};
  auto verify_side = [&](bool source_side) {
    for (int i = 0; i < pairs; ++i) {
      const v1::GeoPair& pair = migration.geo_pairs(i);
      v1::VerifyCrossTenantRelationshipRequest request;
      request.set_geo(source_side ? pair.source_geo() : pair.target_geo());
      request.mutable_relationship()->set_scenario(v1::RELATIONSHIP_SCENARIO_MNA);
      request.mutable_relationship()->set_partner_role(source_side ? v1::CONNECTION_ROLE_TARGET
                                                                   : v1::CONNECTION_ROLE_SOURCE);
      request.mutable_relationship()->set_partner_host_url(source_side ? pair.target_host_url()
                                                                       : pair.source_host_url());
      absl::StatusOr<v1::TrustStatus>& status = seen[source_side ? 0 : 1][i];
      status = tenant_->VerifyCrossTenantRelationship(request);
      if (!status.ok()) return;
    }
  };
  OnBothTenants([&] { verify_side(true); }, [&] { verify_side(false); });
  for (const std::vector<absl::StatusOr<v1::TrustStatus>>& side : seen) {
    for (const absl::StatusOr<v1::TrustStatus>& status : side) {
      if (!status.ok()) return WaitForUpstream(migration, "verifying trust", status.status());
    }
  }
  std::vector<std::string> pending;
  for (int i = 0; i < pairs; ++i) {
    v1::GeoPair& pair = *migration.mutable_geo_pairs(i);
    pair.set_source_trust(*seen[0][i]);
    pair.set_target_trust(*seen[1][i]);
    for (const bool source_side : {true, false}) {
      const v1::TrustStatus status = source_side ? pair.source_trust() : pair.target_trust();
      if (status != v1::TRUST_STATUS_GOOD_TO_PROCEED) {
        pending.push_back(
            absl::StrCat(source_side ? pair.source_geo() : pair.target_geo(), " ", v1::TrustStatus_Name(status)));
      }
    }
    SetTimestamp(options_.now(), pair.mutable_last_check_time());
  }
  if (!pending.empty()) {
    return Wait(migration, absl::StrCat("trust is not GoodToProceed yet (", absl::StrJoin(pending, ", "),
                                        "); DormantByPartner can last up to 7 days"));
  }
  return Advanced(migration, v1::MIGRATION_PHASE_TARGET_USERS);
}

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::CheckTargetUsers(v1::Migration& migration) {
  std::map<std::string, std::string> geo_by_location;  // "EUR" -> connections/c/geos/eur
  for (const v1::GeoPair& pair : migration.geo_pairs()) {
    geo_by_location[absl::AsciiStrToUpper(pair.source_geo().substr(pair.source_geo().rfind('/') + 1))] =
        pair.source_geo();
  }
  const std::string home_geo = migration.geo_pairs().empty() ? "" : migration.geo_pairs(0).source_geo();
  const std::string target_geo = migration.geo_pairs().empty() ? "" : migration.geo_pairs(0).target_geo();
  // Users whose checks Microsoft did not answer (throttled, unavailable) stay PENDING and are checked
  // again, alone, once the tenants' Retry-After has passed; the others are decided now.
  int unanswered = 0;
  std::string first_unanswered;
  UserMoveQuery query(migration.name());
  query.states = {v1::USER_MOVE_STATE_PENDING};
  query.page_size = options_.check_batch;
  while (true) {
    ASSIGN_OR_RETURN(UserMovePage page, store_->ListUserMoves(query));
    if (page.user_moves.empty()) break;
    std::vector<std::string> sources, targets;
    for (const v1::UserMove& user : page.user_moves) {
      sources.push_back(user.source_user_principal_name());
      targets.push_back(user.target_user_principal_name());
    }
    // Both tenants at once: each has its own throttling.
    absl::StatusOr<std::vector<v1::UserCheck>> source_checks, target_checks;
    OnBothTenants([&] { source_checks = tenant_->BatchCheckUsers(migration.plan().source_connection(), sources); },
                  [&] { target_checks = tenant_->BatchCheckUsers(migration.plan().target_connection(), targets); });
    if (!source_checks.ok()) return WaitForUpstream(migration, "checking users", source_checks.status());
    if (!target_checks.ok()) return WaitForUpstream(migration, "checking users", target_checks.status());
    if (source_checks->size() != sources.size() || target_checks->size() != targets.size()) {
      return absl::InternalError("the connector answered a user check with another number of users");
    }
    MigrationChange change;
    const absl::Time now = options_.now();
    for (size_t i = 0; i < page.user_moves.size(); ++i) {
      v1::UserMove user = page.user_moves[i];
      const v1::UserCheck& source = (*source_checks)[i];
      const v1::UserCheck& target = (*target_checks)[i];
      // A check Microsoft did not answer says nothing about the user: never blocked on it.
      if (source.has_error() || target.has_error()) {
        const v1::UserCheck& failed = source.has_error() ? source : target;
        if (unanswered++ == 0) {
          first_unanswered =
              absl::StrCat(failed.user_principal_name(), ": ", failed.error().code(), " ", failed.error().message());
        }
        continue;
      }
      std::string code, blocker;
      if (!source.found()) {
        code = "SOURCE_USER_NOT_FOUND", blocker = "the source user does not exist";
      } else if (!source.onedrive().exists()) {
        code = "NO_SOURCE_ONEDRIVE", blocker = "the source user has no OneDrive to move";
      } else if (source.onedrive().read_only()) {
        code = "SOURCE_READ_ONLY",
        blocker =
            "the source OneDrive is locked (its LockState is not Unlock): Microsoft moves only a read/write "
            "OneDrive";
      } else if (source.onedrive().legal_hold()) {
        code = "SOURCE_LEGAL_HOLD", blocker = "the source OneDrive is on legal hold";
      } else if (!target.found()) {
        code = "TARGET_USER_NOT_FOUND", blocker = "the target user does not exist: create it first (step 4)";
      } else if (!target.onedrive_licensed()) {
        code = "TARGET_USER_UNLICENSED", blocker = "the target user has no OneDrive licence";
      } else if (target.onedrive().exists()) {
        code = "TARGET_ONEDRIVE_EXISTS", blocker = "the target user already has a OneDrive: Microsoft refuses it";
      }
      for (const v1::UserCheck* check : {&source, &target}) {
        for (const v1::Finding& finding : check->findings()) {
          if (finding.severity() == v1::SEVERITY_ERROR && blocker.empty()) {
            code = finding.code(), blocker = finding.message();
          }
        }
      }
      const v1::UserMoveState before = user.state();
      auto location = geo_by_location.find(absl::AsciiStrToUpper(source.onedrive().location_code()));
      user.set_source_geo(location != geo_by_location.end() ? location->second : home_geo);
      user.set_target_geo(target_geo);
      user.set_source_site_url(source.onedrive().site_url());
      if (blocker.empty()) {
        user.set_state(v1::USER_MOVE_STATE_QUEUED);
        SetTimestamp(now, user.mutable_queue_time());
      } else {
        user.set_state(v1::USER_MOVE_STATE_BLOCKED);
        user.mutable_error()->set_code(code);
        user.mutable_error()->set_message(blocker);
        SetTimestamp(now, user.mutable_end_time());
      }
      SetTimestamp(now, user.mutable_update_time());
      v1::MigrationEvent event = NewEvent(migration, blocker.empty() ? "user queued" : blocker);
      SetUserTransition(user, before, &event);
      change.events.push_back(std::move(event));
      change.user_moves.push_back(std::move(user));
    }
    if (!change.user_moves.empty()) {
      ASSIGN_OR_RETURN(bool committed, Commit(migration, std::move(change)));
      if (!committed) return StepResult{false};
    }
    if (page.next_page_token.empty()) break;
    query.page_token = page.next_page_token;
  }
  if (unanswered > 0) {
    // The connector sends nothing to a tenant before its Retry-After; asking again then, not after a
    // growing back-off, is what Microsoft named.
    const absl::Duration retry_after = MicrosoftRetryAfter(
        tenant_, {migration.plan().source_connection(), migration.plan().target_connection()}, options_.now());
    return Wait(migration,
                absl::StrCat("checking users: Microsoft did not answer the checks of ", unanswered,
                             " user(s) yet (first ", first_unanswered, "); checking those again after its Retry-After"),
                retry_after);
  }
  return Advanced(migration, v1::MIGRATION_PHASE_IDENTITY_MAP);
}

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::UploadIdentityMap(v1::Migration& migration) {
  const int page_rows = std::max(1, options_.identity_map_page);
  // A map staged with UploadIdentityMap stays in the store, and is read from there a page at a time;
  // an inline one (at most 10,000 rows) is read whole and cut into pages.
  ASSIGN_OR_RETURN(std::optional<std::string> upload, store_->IdentityMapUploadOf(migration.name()));
  std::string csv;
  std::vector<IdentityMapPage> inline_pages;
  if (!upload) {
    ASSIGN_OR_RETURN(csv, store_->GetIdentityMap(migration.name()));
    inline_pages = SplitIdentityMap(csv, page_rows);
  }
  // Calls `send` with each page in turn, stopping at the first that returns false.
  auto for_each_page = [&](const std::function<bool(const IdentityMapPage&)>& send) -> absl::Status {
    if (!upload) {
      for (const IdentityMapPage& page : inline_pages) {
        if (!send(page)) return absl::OkStatus();
      }
      return absl::OkStatus();
    }
    int after_line = 0;
    while (true) {
      ASSIGN_OR_RETURN(std::vector<StagedIdentityMapRow> rows,
                       store_->ListStagedRows(*upload, StagedRows::kAll, after_line, page_rows));
      if (rows.empty()) return absl::OkStatus();
      std::string text;
      for (const StagedIdentityMapRow& row : rows) text += row.csv;
      if (!send({text, rows.front().line})) return absl::OkStatus();
      after_line = rows.back().line;
    }
  };
  std::set<std::string> uploaded;
  for (v1::GeoPair& pair : *migration.mutable_geo_pairs()) {
    if (uploaded.insert(pair.target_geo()).second) {
      // The connector adds or updates each call's rows, so the map goes in pages: neither side ever
      // builds one message, nor one parsed copy, of every row. A page sent again after a wait is harmless.
      std::optional<absl::StatusOr<StepResult>> stopped;
      RETURN_IF_ERROR(for_each_page([&](const IdentityMapPage& page) {
        v1::UploadIdentityMapRequest request;
        request.set_geo(pair.target_geo());
        request.mutable_identity_map()->set_csv(page.csv.data(), page.csv.size());
        request.set_request_id(
            absl::StrCat(migration.name(), "/identity-map/", pair.target_geo(), "/line-", page.first_line));
        absl::Status status = tenant_->UploadIdentityMap(request);
        if (IsTransient(status)) {
          stopped = WaitForUpstream(migration, "uploading the identity map", status);
        } else if (!status.ok()) {
          stopped = Fail(migration, "IDENTITY_MAP_REFUSED",
                         absl::StrCat("the identity map was refused on ", pair.target_geo(), " (the page from line ",
                                      page.first_line, "; lines in the error count from there): ", Describe(status)));
        }
        return !stopped.has_value();
      }));
      if (stopped) return *std::move(stopped);
    }
    pair.set_identity_map_uploaded(true);
  }
  csv.clear();
  csv.shrink_to_fit();
  inline_pages.clear();
  return Advanced(migration, v1::MIGRATION_PHASE_COMPATIBILITY);
}

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::CheckCompatibility(v1::Migration& migration) {
  std::vector<std::string> incompatible;
  for (v1::GeoPair& pair : *migration.mutable_geo_pairs()) {
    v1::GetCompatibilityStatusRequest request;
    request.set_geo(pair.source_geo());
    request.set_partner_host_url(pair.target_host_url());
    absl::StatusOr<v1::CompatibilityStatus> status = tenant_->GetCompatibilityStatus(request);
    if (!status.ok()) return WaitForUpstream(migration, "checking compatibility", status.status());
    pair.set_compatibility(*status);
    if (*status != v1::COMPATIBILITY_STATUS_COMPATIBLE && *status != v1::COMPATIBILITY_STATUS_WARNING) {
      incompatible.push_back(absl::StrCat(pair.source_geo(), " ", v1::CompatibilityStatus_Name(*status)));
    }
  }
  if (!incompatible.empty()) {
    return Wait(migration, absl::StrCat("the tenants are not compatible yet (", absl::StrJoin(incompatible, ", "),
                                        "); Microsoft says to wait up to 48 hours"));
  }
  return Advanced(migration, v1::MIGRATION_PHASE_MOVES);
}

absl::StatusOr<std::map<std::string, PhaseDriver::ConnectionWait>> PhaseDriver::UsersWaitingOnConnections(
    const v1::Migration& migration) {
  std::map<std::string, ConnectionWait> waits;
  UserMoveQuery at_microsoft(migration.name());
  // Moves at Microsoft are in doubt; their number is bounded by the queue limits.
  at_microsoft.states = {v1::USER_MOVE_STATE_NOT_STARTED, v1::USER_MOVE_STATE_SCHEDULED,
                         v1::USER_MOVE_STATE_READY_TO_TRIGGER, v1::USER_MOVE_STATE_IN_PROGRESS,
                         v1::USER_MOVE_STATE_RESCHEDULED};
  // Queued users whose start was refused: a refused first start leaves nothing in doubt, but the
  // migration waits for the connection all the same. A refused start is retried under the same task,
  // leased before, so only users with a leased task are read: at most the leases in flight and the
  // retries, where every queued user with a start task would be thousands of reads a round.
  UserMoveQuery starting(migration.name());
  starting.states = {v1::USER_MOVE_STATE_QUEUED};
  starting.with_leased_task = true;
  for (UserMoveQuery* query : {&at_microsoft, &starting}) {
    query->page_size = 1000;
    do {
      ASSIGN_OR_RETURN(UserMovePage page, store_->ListUserMoves(*query));
      for (const v1::UserMove& user : page.user_moves) {
        if (!IsConnectionWait(user.error().code())) continue;
        // Every call for a user goes through its source geo, connections/{c}/geos/{g}.
        const std::string& geo = user.source_geo();
        const size_t cut = geo.find("/geos/");
        ConnectionWait& wait = waits[geo.empty() ? migration.plan().source_connection() : geo.substr(0, cut)];
        ++(query == &starting ? wait.starts : wait.users);
        if (TimeOf(user.update_time()) >= wait.latest) {
          wait.latest = TimeOf(user.update_time());
          wait.message = user.error().message();
        }
      }
      query->page_token = page.next_page_token;
    } while (!query->page_token.empty());
  }
  return waits;
}

namespace {

// The finding ReconcileMigration leaves on a migration while it asks Microsoft again about users it
// had closed: no new move is started, and MOVES ends once those users are settled.
bool Reconciling(const v1::Migration& migration, bool* was_cancelled) {
  for (const v1::Finding& finding : migration.findings()) {
    if (finding.code() == kReconcilingFinding || finding.code() == kReconcilingCancelledFinding) {
      *was_cancelled = finding.code() == kReconcilingCancelledFinding;
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::RunMoves(v1::Migration& migration) {
  const absl::Time now = options_.now();
  const v1::MoveWindow& window = migration.plan().options().window();
  bool was_cancelled = false;
  const bool reconciling = Reconciling(migration, &was_cancelled);
  if (!reconciling && window.has_preferred_begin_time() && TimeOf(window.preferred_begin_time()) > now) {
    return Wait(migration, "waiting for the window to open");
  }
  // Users whose poll (or stop, or retried start) was refused because of a connection: their moves may
  // be running at Microsoft, so they stay in flight, and nothing new is started through a connection
  // the mesh cannot use until they are reconciled.
  ASSIGN_OR_RETURN(const auto waits, UsersWaitingOnConnections(migration));
  const bool window_over = window.has_preferred_end_time() && TimeOf(window.preferred_end_time()) <= now;
  const int limit = migration.plan().options().max_queued_per_source_geo();
  MigrationChange change;
  // Each source geo's queue is filled up to its own limit, whatever the number of target geos.
  std::set<std::string> source_geos;
  for (const v1::GeoPair& pair : migration.geo_pairs()) {
    if (window_over || reconciling || !waits.empty()) break;
    if (!source_geos.insert(pair.source_geo()).second) continue;
    ASSIGN_OR_RETURN(const int active, store_->CountActiveMoves(migration.name(), pair.source_geo()));
    if (active >= limit) continue;
    ASSIGN_OR_RETURN(std::vector<v1::UserMove> users,
                     store_->NextQueuedUsers(migration.name(), pair.source_geo(), limit - active));
    for (const v1::UserMove& user : users) {
      v1::Task task;
      task.set_name(UserTaskName(migration.name(), "start", user.name()));
      task.set_kind(v1::TASK_KIND_START_MOVE);
      task.set_user_move(user.name());
      v1::StartUserContentMoveRequest* start = task.mutable_start_move();
      start->set_geo(pair.source_geo());
      start->set_source_user_principal_name(user.source_user_principal_name());
      start->set_target_user_principal_name(user.target_user_principal_name());
      start->set_target_host_url(pair.target_host_url());
      start->set_target_location_code(pair.target_geo().substr(pair.target_geo().rfind('/') + 1));
      *start->mutable_window() = window;
      start->set_validate_only(migration.plan().options().validate_only());
      start->set_request_id(task.name());
      change.new_tasks.push_back({task, now});
    }
  }
  ASSIGN_OR_RETURN(auto counts, store_->CountUserMoves(migration.name()));
  int unfinished = 0;
  for (const auto& [state, count] : counts) {
    // While reconciling, users never started stay as they are: only moves at Microsoft are awaited.
    const bool not_started = state == v1::USER_MOVE_STATE_PENDING || state == v1::USER_MOVE_STATE_QUEUED;
    if ((not_started && !reconciling) || ActiveAtMicrosoft(state)) unfinished += count;
  }
  if (unfinished == 0) {
    if (reconciling) {
      auto* findings = migration.mutable_findings();
      findings->erase(std::remove_if(findings->begin(), findings->end(),
                                     [](const v1::Finding& f) {
                                       return f.code() == kReconcilingFinding ||
                                              f.code() == kReconcilingCancelledFinding;
                                     }),
                      findings->end());
    }
    if (was_cancelled) {
      // A cancelled migration ends cancelled again, its users' states now Microsoft's.
      change.events.push_back(ChangeState(migration, v1::MIGRATION_STATE_CANCELLED,
                                          "cancelled: every user in doubt reconciled with Microsoft"));
      migration.clear_next_check_time();
      SetTimestamp(now, migration.mutable_end_time());
      RETURN_IF_ERROR(Commit(migration, std::move(change)).status());
      return StepResult{false};
    }
    return Advanced(migration, v1::MIGRATION_PHASE_POST_MIGRATION);
  }
  if (!reconciling && waits.empty() && window_over && counts[v1::USER_MOVE_STATE_QUEUED] > 0) {
    // Users not started inside the window wait for the operator's new window (ResumeMigration).
    ASSIGN_OR_RETURN(v1::Migration paused, migrations_->PauseMigration([&] {
      v1::PauseMigrationRequest pause;
      pause.set_name(migration.name());
      pause.set_reason("the window ended with users still queued: resume with a new window");
      return pause;
    }()));
    migration = paused;
    return StepResult{false};
  }
  if (!waits.empty()) {
    std::vector<std::string> parts;
    int in_flight = 0;
    int refused_starts = 0;
    for (const auto& [connection, wait] : waits) {
      in_flight += wait.users;
      refused_starts += wait.starts;
      std::string message = wait.message.substr(0, 300);
      parts.push_back(absl::StrCat(connection, " (", message, ")"));
    }
    std::vector<std::string> who;
    if (in_flight > 0) {
      who.push_back(absl::StrCat(in_flight, " user(s) in flight are reconciled with Microsoft once it is back"));
    }
    if (refused_starts > 0) {
      who.push_back(absl::StrCat(refused_starts, " start(s) it refused are sent again once it is back"));
    }
    const std::string reason = absl::StrCat("waiting for ", absl::StrJoin(parts, ", "), ": ", absl::StrJoin(who, "; "),
                                            "; no new move is started meanwhile");
    if (migration.state() != v1::MIGRATION_STATE_WAITING) {
      change.events.push_back(ChangeState(migration, v1::MIGRATION_STATE_WAITING, reason));
    }
    migration.set_state_reason(reason);
    // The users' own tasks are retried by the workers; this only refreshes what the migration says.
    SetTimestamp(now + options_.first_recheck, migration.mutable_next_check_time());
    RETURN_IF_ERROR(Commit(migration, std::move(change)).status());
    return StepResult{false};
  }
  if (migration.state() == v1::MIGRATION_STATE_WAITING) {
    change.events.push_back(ChangeState(migration, v1::MIGRATION_STATE_RUNNING, "running again"));
  }
  SetTimestamp(now + options_.moves_tick, migration.mutable_next_check_time());
  migration.set_state_reason(reconciling
                                 ? absl::StrCat("reconciling: ", unfinished, " user(s) being asked of Microsoft again")
                                 : absl::StrCat("moving: ", unfinished, " user(s) not finished"));
  RETURN_IF_ERROR(Commit(migration, std::move(change)).status());
  return StepResult{false};
}

absl::StatusOr<bool> PhaseDriver::RemoveRedirects(v1::Migration& migration) {
  const v1::RedirectCleanup cleanup = migration.plan().options().redirect_cleanup();
  if (cleanup != v1::REDIRECT_CLEANUP_REMOVE && cleanup != v1::REDIRECT_CLEANUP_REMOVE_PERMANENTLY) return true;
  auto done = [](const v1::UserMove& user) {
    for (const v1::Finding& finding : user.findings()) {
      if (absl::StartsWith(finding.code(), "REDIRECT_")) return true;
    }
    return false;
  };
  UserMoveQuery query(migration.name());
  query.states = {v1::USER_MOVE_STATE_SUCCESS};
  query.page_size = 200;
  do {
    ASSIGN_OR_RETURN(UserMovePage page, store_->ListUserMoves(query));
    MigrationChange change;
    absl::Status transient;
    for (v1::UserMove& user : page.user_moves) {
      if (done(user) || user.source_site_url().empty()) continue;
      v1::RemoveRedirectSiteRequest request;
      request.set_geo(user.source_geo());
      request.set_url(PersonalSiteOf(user.source_site_url()));
      request.set_permanent(cleanup == v1::REDIRECT_CLEANUP_REMOVE_PERMANENTLY);
      request.set_request_id(absl::StrCat(user.name(), "/redirect"));
      const absl::Status removed = tenant_->RemoveRedirectSite(request);
      if (IsTransient(removed)) {
        transient = removed;
        break;
      }
      v1::Finding* finding = user.add_findings();
      finding->set_subject(request.url());
      if (removed.ok()) {
        finding->set_code("REDIRECT_REMOVED");
        finding->set_severity(v1::SEVERITY_INFO);
        finding->set_message(
            absl::StrCat("redirect site removed", request.permanent() ? " and purged from the recycle bin" : ""));
      } else if (absl::IsNotFound(removed)) {
        finding->set_code("REDIRECT_NOT_FOUND");
        finding->set_severity(v1::SEVERITY_INFO);
        finding->set_message("no redirect site to remove");
      } else {
        finding->set_code("REDIRECT_NOT_REMOVED");
        finding->set_severity(v1::SEVERITY_WARNING);
        finding->set_message(Describe(removed));
        finding->set_remedy("Remove it by hand: migratectl redirects remove (Remove-SPOSite)");
      }
      change.user_moves.push_back(std::move(user));
    }
    if (!change.user_moves.empty()) {
      migration.set_state_reason(absl::StrCat("removing redirect sites"));
      ASSIGN_OR_RETURN(bool committed, Commit(migration, std::move(change)));
      if (!committed) return false;
    }
    if (!transient.ok()) {
      RETURN_IF_ERROR(WaitForUpstream(migration, "removing redirect sites", transient).status());
      return false;
    }
    query.page_token = page.next_page_token;
  } while (!query.page_token.empty());
  return true;
}

absl::StatusOr<PhaseDriver::StepResult> PhaseDriver::FinishMigration(v1::Migration& migration) {
  ASSIGN_OR_RETURN(const bool redirects_done, RemoveRedirects(migration));
  if (!redirects_done) return StepResult{false};
  if (migration.plan().options().remove_trust_when_done()) {
    for (const v1::GeoPair& pair : migration.geo_pairs()) {
      for (const bool source_side : {true, false}) {
        v1::RemoveCrossTenantRelationshipRequest request;
        request.set_geo(source_side ? pair.source_geo() : pair.target_geo());
        request.mutable_relationship()->set_scenario(v1::RELATIONSHIP_SCENARIO_MNA);
        request.mutable_relationship()->set_partner_role(source_side ? v1::CONNECTION_ROLE_TARGET
                                                                     : v1::CONNECTION_ROLE_SOURCE);
        request.mutable_relationship()->set_partner_host_url(source_side ? pair.target_host_url()
                                                                         : pair.source_host_url());
        request.set_request_id(absl::StrCat(migration.name(), "/untrust/", request.geo()));
        absl::Status removed = tenant_->RemoveCrossTenantRelationship(request);
        if (!removed.ok()) return WaitForUpstream(migration, "removing trust", removed);
        v1::VerifyCrossTenantRelationshipRequest verify;
        verify.set_geo(request.geo());
        *verify.mutable_relationship() = request.relationship();
        absl::StatusOr<v1::TrustStatus> status = tenant_->VerifyCrossTenantRelationship(verify);
        if (!status.ok() || *status != v1::TRUST_STATUS_NOT_ESTABLISHED) {
          return Wait(migration, absl::StrCat("trust removal on ", request.geo(), " is not verified yet"));
        }
      }
    }
  }
  ASSIGN_OR_RETURN(auto counts, store_->CountUserMoves(migration.name()));
  const int total = [&] {
    int sum = 0;
    for (const auto& [state, count] : counts) sum += count;
    return sum;
  }();
  const int good = counts[v1::USER_MOVE_STATE_SUCCESS] + counts[v1::USER_MOVE_STATE_VALIDATED];
  const v1::MigrationState end =
      good == total ? v1::MIGRATION_STATE_COMPLETED : v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS;
  const std::string reason = absl::StrCat(good, " of ", total, " user(s) moved");
  MigrationChange change;
  v1::MigrationEvent phase = NewEvent(migration, "done");
  phase.mutable_phase_change()->set_from_phase(migration.phase());
  phase.mutable_phase_change()->set_to_phase(v1::MIGRATION_PHASE_DONE);
  change.events.push_back(phase);
  v1::MigrationEvent state = NewEvent(migration, reason);
  state.mutable_state_change()->set_from_state(migration.state());
  state.mutable_state_change()->set_to_state(end);
  state.mutable_state_change()->set_reason(reason);
  change.events.push_back(state);
  migration.set_phase(v1::MIGRATION_PHASE_DONE);
  migration.set_state(end);
  migration.set_state_reason(reason);
  migration.clear_next_check_time();
  SetTimestamp(options_.now(), migration.mutable_end_time());
  ASSIGN_OR_RETURN(const bool committed, Commit(migration, std::move(change)));
  if (committed) ReleaseConnections(migration);
  return StepResult{false};
}

absl::Status PhaseDriver::FinishCancellation(v1::Migration& migration) {
  const absl::Time now = options_.now();
  MigrationChange change;
  int active = 0;
  UserMoveQuery query(migration.name());
  query.states = {v1::USER_MOVE_STATE_PENDING,    v1::USER_MOVE_STATE_QUEUED,           v1::USER_MOVE_STATE_NOT_STARTED,
                  v1::USER_MOVE_STATE_SCHEDULED,  v1::USER_MOVE_STATE_READY_TO_TRIGGER, v1::USER_MOVE_STATE_IN_PROGRESS,
                  v1::USER_MOVE_STATE_RESCHEDULED};
  query.page_size = 1000;
  do {
    ASSIGN_OR_RETURN(UserMovePage page, store_->ListUserMoves(query));
    for (v1::UserMove& user : page.user_moves) {
      if (user.state() == v1::USER_MOVE_STATE_PENDING || user.state() == v1::USER_MOVE_STATE_QUEUED) {
        // A start task never leased is not leased any more (the store skips it while cancelling): the
        // user never reached Microsoft. One that was leased may have: it runs, and the user is followed.
        absl::StatusOr<v1::Task> start = store_->GetTask(UserTaskName(migration.name(), "start", user.name()));
        if (start.ok() && start->attempt() > 0) {
          ++active;
          continue;
        }
        if (!start.ok() && !absl::IsNotFound(start.status())) return start.status();
        v1::MigrationEvent event = NewEvent(migration, "user stopped by cancellation");
        const v1::UserMoveState before = user.state();
        user.set_state(v1::USER_MOVE_STATE_STOPPED);
        SetUserTransition(user, before, &event);
        SetTimestamp(now, user.mutable_update_time());
        SetTimestamp(now, user.mutable_end_time());
        change.user_moves.push_back(user);
        change.events.push_back(std::move(event));
        continue;
      }
      ++active;
      const bool stoppable = user.state() == v1::USER_MOVE_STATE_NOT_STARTED ||
                             user.state() == v1::USER_MOVE_STATE_SCHEDULED ||
                             user.state() == v1::USER_MOVE_STATE_READY_TO_TRIGGER;
      const std::string stop_name = UserTaskName(migration.name(), "stop", user.name());
      if (!stoppable || store_->GetTask(stop_name).ok()) continue;
      v1::Task stop;
      stop.set_name(stop_name);
      stop.set_kind(v1::TASK_KIND_STOP_MOVE);
      stop.set_user_move(user.name());
      stop.mutable_stop_move()->set_geo(user.source_geo());
      stop.mutable_stop_move()->set_source_user_principal_name(user.source_user_principal_name());
      stop.mutable_stop_move()->set_request_id(stop_name);
      change.new_tasks.push_back({stop, now});
    }
    query.page_token = page.next_page_token;
  } while (!query.page_token.empty());
  if (active == 0) {
    change.events.push_back(
        ChangeState(migration, v1::MIGRATION_STATE_CANCELLED, "cancelled: no move is active at Microsoft any more"));
    migration.clear_next_check_time();
    SetTimestamp(now, migration.mutable_end_time());
  } else {
    migration.set_state_reason(
        absl::StrCat("cancelling: ", active, " move(s) at Microsoft being stopped or finishing"));
    SetTimestamp(now + options_.moves_tick, migration.mutable_next_check_time());
  }
  ASSIGN_OR_RETURN(const bool committed, Commit(migration, std::move(change), v1::MIGRATION_STATE_CANCELLING));
  if (committed && active == 0) ReleaseConnections(migration);
  return absl::OkStatus();
}

absl::Status PhaseDriver::Advance(const std::string& name) {
  ASSIGN_OR_RETURN(v1::Migration migration, store_->GetMigration(name));
  // The phases' calls for this migration carry the trace of the operator call behind it.
  ScopedTrace trace(ContinueTrace(migration.trace_id()));
  if (Live(migration.state())) {
    HoldConnections(migration);
  } else if (MigrationHasEnded(migration.state())) {
    bool held;
    {
      absl::MutexLock lock(&held_mu_);
      held = held_.count(name) > 0;
    }
    // Ended by something other than this driver (an operator's cancellation before the moves).
    if (held) ReleaseConnections(migration);
    return absl::OkStatus();
  }
  if (migration.state() == v1::MIGRATION_STATE_CANCELLING) return FinishCancellation(migration);
  for (int steps = 0; steps < 16 && Driven(migration.state()); ++steps) {
    absl::StatusOr<StepResult> result;
    switch (migration.phase()) {
      case v1::MIGRATION_PHASE_CONNECTIONS_CHECK:
        result = CheckConnections(migration);
        break;
      case v1::MIGRATION_PHASE_TRUST:
        result = EstablishTrust(migration);
        break;
      case v1::MIGRATION_PHASE_TRUST_VERIFICATION:
        result = VerifyTrust(migration);
        break;
      case v1::MIGRATION_PHASE_TARGET_USERS:
        result = CheckTargetUsers(migration);
        break;
      case v1::MIGRATION_PHASE_IDENTITY_MAP:
        result = UploadIdentityMap(migration);
        break;
      case v1::MIGRATION_PHASE_COMPATIBILITY:
        result = CheckCompatibility(migration);
        break;
      case v1::MIGRATION_PHASE_MOVES:
        result = RunMoves(migration);
        break;
      case v1::MIGRATION_PHASE_POST_MIGRATION:
        result = FinishMigration(migration);
        break;
      default:
        return absl::OkStatus();
    }
    RETURN_IF_ERROR(result.status());
    if (!result->advanced) break;
  }
  return absl::OkStatus();
}

void PhaseDriver::HoldConnections(const v1::Migration& migration) {
  {
    absl::MutexLock lock(&held_mu_);
    if (held_.count(migration.name())) return;
  }
  for (const std::string* connection : {&migration.plan().source_connection(), &migration.plan().target_connection()}) {
    if (absl::Status held = tenant_->HoldConnection(*connection, migration.name()); !held.ok()) {
      // The step that needs the connection reports a missing one; the hold is tried again next time.
      log::Warning("cannot hold a migration's connection",
                   {{"migration", migration.name()}, {"connection", *connection}, {"error", Describe(held)}});
      return;
    }
  }
  absl::MutexLock lock(&held_mu_);
  held_.insert(migration.name());
}

void PhaseDriver::ReleaseConnections(const v1::Migration& migration) {
  {
    absl::MutexLock lock(&held_mu_);
    held_.erase(migration.name());
  }
  for (const std::string* connection : {&migration.plan().source_connection(), &migration.plan().target_connection()}) {
    if (absl::Status released = tenant_->ReleaseConnection(*connection, migration.name()); !released.ok()) {
      // Best effort: the migration has ended either way; the operator can still delete with force.
      log::Warning("cannot release a migration's connection",
                   {{"migration", migration.name()}, {"connection", *connection}, {"error", Describe(released)}});
    }
  }
}

absl::Status PhaseDriver::SweepHeld(const std::set<std::string>& listed) {
  std::vector<std::string> unlisted;
  {
    absl::MutexLock lock(&held_mu_);
    for (const std::string& name : held_) {
      if (!listed.count(name)) unlisted.push_back(name);
    }
  }
  for (const std::string& name : unlisted) {
    absl::Status advanced = Advance(name);
    if (absl::IsNotFound(advanced)) {
      absl::MutexLock lock(&held_mu_);
      held_.erase(name);
      continue;
    }
    RETURN_IF_ERROR(advanced);
  }
  return absl::OkStatus();
}

absl::Status PhaseDriver::Tick() {
  const absl::Time now = options_.now();
  if (now >= next_upload_sweep_) {
    // Staged identity maps no migration was created from: deleted after their lifetime, looked for
    // once a minute rather than on every tick.
    next_upload_sweep_ = now + absl::Minutes(1);
    absl::StatusOr<int> deleted =
        store_->DeleteUnusedIdentityMapUploads(now - IdentityMapUploadStream::kUnusedLifetime);
    if (!deleted.ok()) {
      log::Warning("cannot delete unused identity-map uploads", {{"error", deleted.status().ToString()}});
    }
  }
  std::set<std::string> listed;
  std::string token;
  do {
    ASSIGN_OR_RETURN(
        MigrationPage page,
        store_->ListMigrations(
            {v1::MIGRATION_STATE_RUNNING, v1::MIGRATION_STATE_WAITING, v1::MIGRATION_STATE_CANCELLING}, 100, token));
    for (const v1::Migration& migration : page.migrations) {
      listed.insert(migration.name());
      // Also while it waits out a long recheck: a replica that has just taken over knows its holds at once.
      HoldConnections(migration);
      if (migration.has_next_check_time() && TimeOf(migration.next_check_time()) > now) continue;
      RETURN_IF_ERROR(Advance(migration.name()));
    }
    token = page.next_page_token;
  } while (!token.empty());
  return SweepHeld(listed);
}

}  // namespace crosstenant::orchestrator
