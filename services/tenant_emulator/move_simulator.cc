#include "services/tenant_emulator/move_simulator.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/tenant_emulator/http_util.h"
#include "services/tenant_emulator/jwt.h"

namespace crosstenant::emulator {
namespace {

constexpr absl::string_view kTaskContext =
    "https://graph.microsoft.com/beta/$metadata#solutions/sharePoint/migrations/crossOrganizationMigrationTasks/$entity";

MoveAnswer Error(int status, std::string code, std::string message) {
  MoveAnswer answer;
  answer.status = status;
  answer.error_code = std::move(code);
  answer.message = std::move(message);
  return answer;
}

std::string UpnOf(const nlohmann::json& parameters, const char* identity) {
  if (!parameters.contains(identity) || !parameters[identity].is_object()) return "";
  const nlohmann::json& value = parameters[identity];
  if (value.contains("userPrincipalName") && value["userPrincipalName"].is_string()) {
    return absl::AsciiStrToLower(value["userPrincipalName"].get<std::string>());
  }
  if (value.contains("id") && value["id"].is_string()) return absl::AsciiStrToLower(value["id"].get<std::string>());
  return "";
}

std::string GraphStatus(const MoveTask& task) {
  switch (task.state) {
    case MoveState::kNotStarted:
    case MoveState::kScheduled:
    case MoveState::kReadyToTrigger:
      return "notStarted";
    case MoveState::kInProgress:
    case MoveState::kRescheduled:
      return "inProgress";
    case MoveState::kSuccess:
      return "completed";
    case MoveState::kFailed:
      return "failed";
    case MoveState::kStopped:
      return "cancelled";
  }
  return "notStarted";
}

}  // namespace

const char* MoveStateName(MoveState state) {
  switch (state) {
    case MoveState::kNotStarted:
      return "NotStarted";
    case MoveState::kScheduled:
      return "Scheduled";
    case MoveState::kReadyToTrigger:
      return "ReadytoTrigger";
    case MoveState::kInProgress:
      return "InProgress";
    case MoveState::kSuccess:
      return "Success";
    case MoveState::kFailed:
      return "Failed";
    case MoveState::kRescheduled:
      return "Rescheduled";
    case MoveState::kStopped:
      return "Stopped";
  }
  return "NotStarted";
}

const char* MoveStageName(MoveStage stage) {
  switch (stage) {
    case MoveStage::kNone:
      return "";
    case MoveStage::kValidation:
      return "Validation";
    case MoveStage::kBackup:
      return "Backup";
    case MoveStage::kRestore:
      return "Restore";
    case MoveStage::kCleanup:
      return "Cleanup";
  }
  return "";
}

bool IsTerminal(MoveState state) {
  return state == MoveState::kSuccess || state == MoveState::kFailed || state == MoveState::kStopped;
}

MoveSimulator::MoveSimulator(const Directory& directory, const SeedSettings& settings, const ScaledClock& clock,
                             CloudState& state, Accounting& accounting, TransitionListener on_transition)
    : directory_(directory),
      settings_(settings),
      clock_(clock),
      state_(state),
      accounting_(accounting),
      on_transition_(std::move(on_transition)) {}

void MoveSimulator::Tick() {
  absl::MutexLock lock(&state_.mu);
  TickLocked(clock_.Now());
}

void MoveSimulator::TickLocked(absl::Time now) {
  while (!due_.empty() && due_.top().first <= now) {
    const auto [at, index] = due_.top();
    due_.pop();
    MoveTask& task = tasks_[index];
    // Advance enters the next state, which queues the task again for when that one ends.
    if (!IsTerminal(task.state) && task.next_at == at) Advance(task);
  }
}

void MoveSimulator::Enter(MoveTask& task, MoveState state, MoveStage stage, absl::Time at, absl::Duration stay) {
  const bool changed_state = task.state != state;
  if (!IsTerminal(task.state) && IsTerminal(state)) --queued_in_geo_[{task.source_tenant, task.source_geo}];
  task.state = state;
  task.stage = stage;
  task.updated = at;
  task.next_at = IsTerminal(state) ? absl::InfiniteFuture() : at + stay;
  if (state == MoveState::kInProgress && !task.started) task.started = at;
  if (IsTerminal(state)) task.finished = at;
  if (!IsTerminal(state)) due_.push({task.next_at, static_cast<std::size_t>(&task - tasks_.data())});
  if (changed_state && on_transition_) on_transition_(state);
}

void MoveSimulator::Advance(MoveTask& task) {
  const absl::Time at = task.next_at;
  const bool not_yet_running = task.state == MoveState::kNotStarted || task.state == MoveState::kScheduled ||
                               task.state == MoveState::kReadyToTrigger;
  if (not_yet_running && task.latest_start && at >= *task.latest_start) {
    task.error_code = "preferredLatestStartDateTimePassed";
    task.error_message = "The task did not start before preferredLatestStartDateTime and was cancelled.";
    return Enter(task, MoveState::kStopped, MoveStage::kNone, *task.latest_start, absl::ZeroDuration());
  }
  switch (task.state) {
    case MoveState::kNotStarted:
    case MoveState::kRescheduled:
      return Enter(task, MoveState::kScheduled, MoveStage::kNone, at, settings_.scheduled_duration);
    case MoveState::kScheduled:
      return Enter(task, MoveState::kReadyToTrigger, MoveStage::kNone, at, settings_.ready_duration);
    case MoveState::kReadyToTrigger:
      return Enter(task, MoveState::kInProgress, MoveStage::kValidation, at, settings_.validation_duration);
    case MoveState::kInProgress:
      break;
    default:
      return;
  }
  switch (task.stage) {
    case MoveStage::kValidation: {
      auto [code, message] = ContentBlocker(task);
      if (!code.empty()) {
        task.error_code = code;
        task.error_message = message;
        return Enter(task, MoveState::kFailed, MoveStage::kValidation, at, absl::ZeroDuration());
      }
      return Enter(task, MoveState::kInProgress, MoveStage::kBackup, at, settings_.backup_duration);
    }
    case MoveStage::kBackup:
      return Enter(task, MoveState::kInProgress, MoveStage::kRestore, at, settings_.restore_duration);
    case MoveStage::kRestore:
      if (task.reschedules_left > 0) {
        --task.reschedules_left;
        return Enter(task, MoveState::kRescheduled, MoveStage::kNone, at, settings_.reschedule_delay);
      }
      return Enter(task, MoveState::kInProgress, MoveStage::kCleanup, at, settings_.cleanup_duration);
    case MoveStage::kCleanup: {
      OneDriveFacts& source = state_.drives[task.source_tenant][task.source_user];
      OneDriveFacts& target = state_.drives[task.target_tenant][task.target_user];
      target = source;
      target.exists = true;
      source.exists = false;
      const std::string& source_upn = directory_.tenant(task.source_tenant).users[task.source_user].upn;
      const std::string& target_upn = directory_.tenant(task.target_tenant).users[task.target_user].upn;
      state_.geos[task.source_tenant][task.source_geo].redirects.push_back(
          {directory_.PersonalSiteUrl(task.source_tenant, task.source_geo, source_upn),
           directory_.PersonalSiteUrl(task.target_tenant, task.target_geo, target_upn), at});
      return Enter(task, MoveState::kSuccess, MoveStage::kNone, at, absl::ZeroDuration());
    }
    case MoveStage::kNone:
      return;
  }
}

std::pair<std::string, std::string> MoveSimulator::ContentBlocker(const MoveTask& task) const {
  const DirectoryTenant& source_tenant = directory_.tenant(task.source_tenant);
  const DirectoryTenant& target_tenant = directory_.tenant(task.target_tenant);
  const DirectoryUser& source_user = source_tenant.users[task.source_user];
  const DirectoryUser& target_user = target_tenant.users[task.target_user];
  const OneDriveFacts& drive = state_.drives[task.source_tenant][task.source_user];
  if (source_tenant.seed.features.customer_key) {
    return {"customerKeyNotSupported",
            "The source tenant uses Service encryption with Microsoft Purview Customer Key, which cross-tenant "
            "OneDrive migration does not support."};
  }
  const absl::Duration elapsed = clock_.Elapsed();
  if (source_tenant.seed.features.CompatibilityAt(elapsed) == "Incompatible" ||
      target_tenant.seed.features.CompatibilityAt(elapsed) == "Incompatible") {
    return {"tenantsIncompatible",
            "The source and target tenants are Incompatible. Wait for them to be updated (up to 48 hours) and check "
            "the compatibility status again before starting."};
  }
  if (drive.read_only) {
    return {"sourceReadOnly", "The source OneDrive is read-only; it must be Read/Write to be moved."};
  }
  if (drive.legal_hold) {
    return {"sourceOnHold",
            "The source OneDrive is under a hold policy (legal hold). Remove the hold, migrate, then apply it again "
            "on the target."};
  }
  if (!source_user.licensed && !target_user.licensed) {
    return {"userNotLicensed", absl::StrCat("Neither ", source_user.upn, " nor ", target_user.upn,
                                            " has a Cross Tenant User Data Migration licence.")};
  }
  if (drive.size_bytes > settings_.max_onedrive_bytes) {
    return {"sizeLimitExceeded", absl::StrCat("The OneDrive holds ", drive.size_bytes, " bytes, over the limit of ",
                                              settings_.max_onedrive_bytes, " bytes.")};
  }
  if (drive.items > settings_.max_onedrive_items) {
    return {"itemLimitExceeded", absl::StrCat("The OneDrive holds ", drive.items, " items, over the limit of ",
                                              settings_.max_onedrive_items, " items.")};
  }
  const std::string target_url = directory_.PersonalSiteUrl(task.target_tenant, task.target_geo, target_user.upn);
  const int64_t path_length = static_cast<int64_t>(target_url.size()) + 1 + drive.longest_path;
  if (path_length > settings_.max_path_length) {
    return {"pathTooLong", absl::StrCat("A path would be ", path_length, " characters long on the target, over the ",
                                        settings_.max_path_length, "-character limit. Shorten it before the move.")};
  }
  return {"", ""};
}

std::optional<MoveAnswer> MoveSimulator::FindTargetGeo(const nlohmann::json& parameters, const std::string& target_upn,
                                                       int* tenant, int* geo) const {
  // The host if given, else the organization id (+ data location), else the UPN's domain.
  const std::string host = parameters.value("targetOrganizationHost", "");
  const std::string organization = parameters.value("targetOrganizationId", "");
  const std::string location = absl::AsciiStrToUpper(parameters.value("targetDataLocationCode", ""));
  if (!host.empty()) {
    if (!directory_.FindGeoByUrl(host, tenant, geo)) {
      return Error(
          422, "unprocessableEntity",
          absl::StrCat("There is no Cross-Tenant relationship established for partner ", host, " and role target."));
    }
    return std::nullopt;
  }
  *tenant = !organization.empty() ? directory_.FindTenant(organization) : directory_.FindTenantOfUpn(target_upn);
  if (*tenant < 0) {
    return Error(400, "invalidRequest",
                 "Cannot process the request because the required parameter targetOrganizationHost is missing.");
  }
  *geo = 0;
  const auto& geos = directory_.tenant(*tenant).seed.geos;
  for (std::size_t g = 0; g < geos.size(); ++g) {
    if (geos[g].location == location) *geo = static_cast<int>(g);
  }
  return std::nullopt;
}

std::optional<MoveAnswer> MoveSimulator::ReadStartRequest(int source_tenant, const nlohmann::json& body, MoveTask* task,
                                                          absl::Time* preferred_start) const {
  if (!body.is_object() || !body.contains("parameters") || !body["parameters"].is_object()) {
    return Error(400, "invalidRequest",
                 "Cannot process the request because the required parameter parameters is missing.");
  }
  const nlohmann::json& parameters = body["parameters"];
  const std::string source_upn = UpnOf(parameters, "sourceUserIdentity");
  const std::string target_upn = UpnOf(parameters, "targetUserIdentity");
  if (source_upn.empty()) {
    return Error(400, "invalidRequest",
                 "Cannot process the request because the required parameter sourceUserIdentity is missing.");
  }
  if (target_upn.empty()) {
    return Error(400, "invalidRequest",
                 "Cannot process the request because the required parameter targetUserIdentity is missing.");
  }
  for (const std::string* upn : {&source_upn, &target_upn}) {
    if (upn->find('\'') != std::string::npos) {
      return Error(400, "invalidRequest",
                   absl::StrCat("The user principal name '", *upn, "' contains an invalid character: '''."));
    }
  }
  const DirectoryTenant& source = directory_.tenant(source_tenant);
  if (!source.seed.features.cross_tenant_move_enabled) {
    return Error(403, "accessDenied", "The Cross-Tenant content move feature is not enabled for this tenant.");
  }
  task->source_tenant = source_tenant;
  task->source_user = source.FindUserIndex(source_upn);
  if (task->source_user < 0) {
    return Error(404, "itemNotFound", absl::StrCat("The user ", source_upn, " could not be found."));
  }
  task->source_geo = source.users[task->source_user].geo;
  if (auto refused = FindTargetGeo(parameters, target_upn, &task->target_tenant, &task->target_geo)) return refused;
  task->target_user = directory_.tenant(task->target_tenant).FindUserIndex(target_upn);
  if (task->target_user < 0) {
    return Error(400, "invalidRequest",
                 absl::StrCat("The target user ", target_upn, " does not exist in the target tenant."));
  }
  task->parameters = parameters;
  task->validate_only = parameters.value("validateOnly", false);
  absl::Time latest_start = absl::InfiniteFuture();
  *preferred_start = absl::InfinitePast();
  for (auto [field, out] : {std::pair{"preferredStartDateTime", preferred_start},
                            std::pair{"preferredLatestStartDateTime", &latest_start}}) {
    if (parameters.contains(field) && !parameters[field].is_null()) {
      if (!parameters[field].is_string() || !ParseIsoTime(parameters[field].get<std::string>(), out)) {
        return Error(400, "invalidRequest", absl::StrCat(field, " must be an ISO 8601 date and time in UTC."));
      }
      // The client means its own, real clock; the moves run on the emulated one.
      *out = clock_.EmulatedTimeOf(*out);
    }
  }
  if (latest_start != absl::InfiniteFuture() && *preferred_start != absl::InfinitePast() &&
      latest_start <= *preferred_start) {
    return Error(400, "invalidRequest", "preferredLatestStartDateTime must be later than preferredStartDateTime.");
  }
  if (latest_start != absl::InfiniteFuture()) task->latest_start = latest_start;
  return std::nullopt;
}

std::optional<MoveAnswer> MoveSimulator::TargetRefusal(const MoveTask& task, absl::Time now,
                                                       const std::set<int>& unreachable) const {
  if (!state_.drives[task.source_tenant][task.source_user].exists) {
    return Error(400, "invalidRequest",
                 absl::StrCat("The user ", UpnOf(task.parameters, "sourceUserIdentity"), " has no OneDrive to move."));
  }
  const std::string target_host = directory_.MySiteHostUrl(task.target_tenant, task.target_geo);
  const TrustStatus trust = VerifyTrust(directory_, state_, task.source_tenant, task.source_geo, "Target", target_host,
                                        now, settings_.dormant_period, unreachable);
  if (trust != TrustStatus::kGoodToProceed) {
    return Error(422, "unprocessableEntity",
                 absl::StrCat("There is no Cross-Tenant relationship established for partner ", target_host,
                              " and role target."));
  }
  if (state_.drives[task.target_tenant][task.target_user].exists) {
    return Error(409, "conflict",
                 absl::StrCat("The target tenant has a conflict: a OneDrive already exists for ",
                              UpnOf(task.parameters, "targetUserIdentity"), "."));
  }
  // Moving a user back: the redirect the first move left occupies the URL the OneDrive needs.
  const std::string target_url = directory_.PersonalSiteUrl(
      task.target_tenant, task.target_geo, directory_.tenant(task.target_tenant).users[task.target_user].upn);
  for (const RedirectSite& redirect : state_.geos[task.target_tenant][task.target_geo].redirects) {
    if (redirect.url == target_url) {
      return Error(409, "conflict",
                   absl::StrCat("The target tenant has a conflict: the redirect site ", target_url,
                                " occupies the OneDrive URL; remove it before moving the user back."));
    }
  }
  return std::nullopt;
}

MoveAnswer MoveSimulator::Start(int source_tenant, const nlohmann::json& body, const std::set<int>& unreachable) {
  MoveTask task;
  absl::Time preferred_start;
  if (auto refused = ReadStartRequest(source_tenant, body, &task, &preferred_start)) return *refused;
  const std::string source_upn = UpnOf(task.parameters, "sourceUserIdentity");

  absl::MutexLock lock(&state_.mu);
  const absl::Time now = clock_.Now();
  TickLocked(now);
  task.id = RandomGuid();
  task.created = task.updated = now;
  task.reschedules_left = state_.drives[source_tenant][task.source_user].reschedules;
  if (!task.validate_only) {
    auto latest = latest_by_user_.find({source_tenant, task.source_user});
    if (latest != latest_by_user_.end()) {
      const MoveTask& previous = tasks_[latest->second];
      if (previous.state != MoveState::kFailed && previous.state != MoveState::kStopped) {
        accounting_.RecordMoveStart(source_upn, true);
        return Error(409, "conflict",
                     absl::StrCat("A migration task already exists for ", source_upn, " (status ",
                                  MoveStateName(previous.state), ")."));
      }
    }
  }
  if (auto refused = TargetRefusal(task, now, unreachable)) return *refused;
  if (task.validate_only) {
    auto [code, message] = ContentBlocker(task);
    task.state = code.empty() ? MoveState::kSuccess : MoveState::kFailed;
    task.error_code = code;
    task.error_message = message;
    task.finished = now;
    MoveAnswer answer;
    answer.body = TaskJson(task);
    return answer;
  }
  int& queued = queued_in_geo_[{source_tenant, task.source_geo}];
  if (queued >= settings_.max_queued_per_geo) {
    return Error(409, "conflict",
                 absl::StrCat("The source instance already has ", settings_.max_queued_per_geo,
                              " queued OneDrive moves; start more when the current batch is near completion."));
  }
  accounting_.RecordMoveStart(source_upn, false);
  task.next_at = std::max(now, preferred_start);
  const std::size_t index = tasks_.size();
  tasks_.push_back(task);
  task_by_id_[task.id] = index;
  latest_by_user_[{source_tenant, task.source_user}] = index;
  ++queued;
  due_.push({task.next_at, index});
  if (on_transition_) on_transition_(MoveState::kNotStarted);
  MoveAnswer answer;
  answer.body = TaskJson(tasks_[index]);
  return answer;
}

MoveAnswer MoveSimulator::Get(int tenant, const std::string& id) {
  absl::MutexLock lock(&state_.mu);
  TickLocked(clock_.Now());
  auto it = task_by_id_.find(absl::AsciiStrToLower(id));
  if (it == task_by_id_.end() || tasks_[it->second].source_tenant != tenant) {
    return Error(404, "itemNotFound", absl::StrCat("The migration task ", id, " could not be found."));
  }
  MoveAnswer answer;
  answer.body = TaskJson(tasks_[it->second]);
  return answer;
}

MoveAnswer MoveSimulator::GetBySourceUpn(int tenant, const std::string& upn) {
  absl::MutexLock lock(&state_.mu);
  TickLocked(clock_.Now());
  const int user = directory_.tenant(tenant).FindUserIndex(upn);
  auto it = latest_by_user_.find({tenant, user});
  if (user < 0 || it == latest_by_user_.end()) {
    return Error(404, "itemNotFound", absl::StrCat("No migration task was found for ", upn, "."));
  }
  MoveAnswer answer;
  answer.body = TaskJson(tasks_[it->second]);
  return answer;
}

MoveAnswer MoveSimulator::Cancel(int tenant, const std::string& id) {
  absl::MutexLock lock(&state_.mu);
  const absl::Time now = clock_.Now();
  TickLocked(now);
  auto it = task_by_id_.find(absl::AsciiStrToLower(id));
  if (it == task_by_id_.end() || tasks_[it->second].source_tenant != tenant) {
    return Error(404, "itemNotFound", absl::StrCat("The migration task ", id, " could not be found."));
  }
  MoveTask& task = tasks_[it->second];
  if (task.state == MoveState::kInProgress || task.state == MoveState::kRescheduled || IsTerminal(task.state)) {
    return Error(409, "conflict",
                 IsTerminal(task.state)
                     ? absl::StrCat("Cannot process the cancel request because the task is ", MoveStateName(task.state))
                     : std::string("Cannot process the cancel request because the task is in progress"));
  }
  Enter(task, MoveState::kStopped, MoveStage::kNone, now, absl::ZeroDuration());
  MoveAnswer answer;
  answer.status = 204;
  return answer;
}

nlohmann::ordered_json MoveSimulator::MoveStates(int tenant, int geo, const std::string& partner_url,
                                                 const std::string& upn, const std::string& move_id) {
  absl::MutexLock lock(&state_.mu);
  TickLocked(clock_.Now());
  int partner_tenant = -1, partner_geo = -1;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  if (!directory_.FindGeoByUrl(partner_url, &partner_tenant, &partner_geo)) return rows;
  const std::string wanted = absl::AsciiStrToLower(upn);
  const std::string wanted_id = absl::AsciiStrToLower(absl::StripSuffix(absl::StripPrefix(move_id, "{"), "}"));
  for (const MoveTask& task : tasks_) {
    const bool outgoing = task.source_tenant == tenant && task.source_geo == geo &&
                          task.target_tenant == partner_tenant && task.target_geo == partner_geo;
    const bool incoming = task.target_tenant == tenant && task.target_geo == geo &&
                          task.source_tenant == partner_tenant && task.source_geo == partner_geo;
    if (!outgoing && !incoming) continue;
    if (!wanted.empty() && directory_.tenant(task.source_tenant).users[task.source_user].upn != wanted) continue;
    if (!wanted_id.empty() && absl::AsciiStrToLower(task.id) != wanted_id) continue;
    rows.push_back(StateRow(task));
  }
  return rows;
}

nlohmann::json MoveSimulator::AllTasks() {
  absl::MutexLock lock(&state_.mu);
  TickLocked(clock_.Now());
  nlohmann::json value = nlohmann::json::array();
  for (const MoveTask& task : tasks_) {
    nlohmann::json item = StateJson(task);
    item["graphStatus"] = GraphStatus(task);
    item["id"] = task.id;
    value.push_back(item);
  }
  return {{"value", value}};
}

std::string MoveSimulator::WallIsoTime(absl::Time emulated) const { return IsoTime(clock_.WallTimeOf(emulated)); }

nlohmann::json MoveSimulator::TaskJson(const MoveTask& task) const {
  auto time_or_null = [this](const std::optional<absl::Time>& t) -> nlohmann::json {
    return t ? nlohmann::json(WallIsoTime(*t)) : nlohmann::json(nullptr);
  };
  std::string status = GraphStatus(task);
  if (task.validate_only) status = task.error_code.empty() ? "completed" : "failed";
  nlohmann::json error = nullptr;
  if (!task.error_code.empty()) error = {{"code", task.error_code}, {"message", task.error_message}};
  return {{"@odata.context", kTaskContext},
          {"id", task.id},
          {"status", status},
          {"startedDateTime", time_or_null(task.started)},
          {"lastUpdatedDateTime", WallIsoTime(task.updated)},
          {"finishedDateTime", time_or_null(task.finished)},
          {"parameters", task.parameters},
          {"error", error}};
}

nlohmann::json MoveSimulator::StateJson(const MoveTask& task) const {
  const DirectoryTenant& source = directory_.tenant(task.source_tenant);
  const DirectoryTenant& target = directory_.tenant(task.target_tenant);
  const std::string& source_upn = source.users[task.source_user].upn;
  const std::string& target_upn = target.users[task.target_user].upn;
  return {{"moveJobId", task.id},
          {"sourceUserPrincipalName", source_upn},
          {"targetUserPrincipalName", target_upn},
          {"sourceSiteUrl", directory_.PersonalSiteUrl(task.source_tenant, task.source_geo, source_upn)},
          {"targetSiteUrl", directory_.PersonalSiteUrl(task.target_tenant, task.target_geo, target_upn)},
          {"moveState", MoveStateName(task.state)},
          {"moveStage", MoveStageName(task.stage)},
          {"sourceDataLocation", source.seed.geos[task.source_geo].location},
          {"destinationDataLocation", target.seed.geos[task.target_geo].location},
          {"timeStamp", WallIsoTime(task.updated)},
          {"errorMessage", task.error_message}};
}

nlohmann::ordered_json MoveSimulator::StateRow(const MoveTask& task) const {
  const DirectoryTenant& source = directory_.tenant(task.source_tenant);
  const DirectoryTenant& target = directory_.tenant(task.target_tenant);
  const std::string& source_upn = source.users[task.source_user].upn;
  const std::string& target_upn = target.users[task.target_user].upn;
  // Microsoft's step-6 documentation spells the state ReadyToTrigger (Graph's and ours: ReadytoTrigger).
  const std::string state = task.state == MoveState::kReadyToTrigger ? "ReadyToTrigger" : MoveStateName(task.state);
  nlohmann::ordered_json row;
  row["SourceUserPrincipalName"] = source_upn;
  row["TargetUserPrincipalName"] = target_upn;
  row["MoveState"] = state;
  row["MoveStage"] = MoveStageName(task.stage);
  row["MoveJobId"] = task.id;
  row["SourceSiteUrl"] = directory_.PersonalSiteUrl(task.source_tenant, task.source_geo, source_upn);
  row["TargetSiteUrl"] = directory_.PersonalSiteUrl(task.target_tenant, task.target_geo, target_upn);
  row["SourceDataLocation"] = source.seed.geos[task.source_geo].location;
  row["DestinationDataLocation"] = target.seed.geos[task.target_geo].location;
  row["LastModified"] = absl::StrCat("/Date(", absl::ToUnixMillis(clock_.WallTimeOf(task.updated)), ")/");
  row["ErrorMessage"] = task.error_message;
  return row;
}

}  // namespace crosstenant::emulator
