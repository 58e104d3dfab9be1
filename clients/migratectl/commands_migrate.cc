// Step 6 (and the orchestrated steps 2-7): a migration from a plan file, its progress, pause, resume,
// cancel, reconcile and report.

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "clients/migratectl/commands.h"
#include "clients/migratectl/exit_codes.h"
#include "clients/migratectl/input_file.h"
#include "clients/migratectl/plan_file.h"
#include "clients/migratectl/progress.h"
#include "clients/migratectl/views.h"
#include "services/common/atomic_file.h"
#include "services/common/migration_state.h"
#include "services/common/status_macros.h"
#include "services/identity_map/identity_map.h"

namespace crosstenant::migratectl {
namespace v1 = crosstenant::v1;
namespace {

absl::StatusOr<v1::Migration> GetMigration(Invocation& in, const std::string& name) {
  v1::GetMigrationRequest request;
  request.set_name(MigrationName(name));
  ASSIGN_OR_RETURN(
      v1::GetMigrationResponse response,
      in.Call<v1::GetMigrationResponse>(in.orchestrator(), &v1::Orchestrator::Stub::GetMigration, request));
  return response.migration();
}

void PrintMigration(Invocation& in, const v1::Migration& migration) {
  if (in.format() == OutputFormat::kJson) {
    in.out() << RenderJson(MessageToJson(migration));
  } else if (in.format() == OutputFormat::kCsv) {
    in.out() << RenderCsv(MigrationsTable({migration}));
  } else {
    in.out() << MigrationDetails(migration);
  }
}

// How a migration's end maps to migratectl's exit status.
absl::Status FinalStatus(const v1::Migration& migration) {
  if (migration.state() == v1::MIGRATION_STATE_COMPLETED) return absl::OkStatus();
  std::string why = migration.error().code().empty() && migration.error().message().empty()
                        ? ""
                        : absl::StrCat(": ", migration.error().code(), " ", migration.error().message());
  return NotReadyError(absl::StrCat(migration.name(), " ended ", StateName(migration.state()), why, " (",
                                    CountsSummary(migration.counts()), ")"));
}

// Follows WatchMigration to the migration's end, drawing progress; resumes the stream after an
// interruption from the last event seen. Returns the migration as it ended (re-read at the end, since
// counts are streamed at most once a second).
absl::StatusOr<v1::Migration> Watch(Invocation& in, const std::string& name, absl::Duration timeout) {
  ProgressPrinter progress(in.format() == OutputFormat::kJson ? in.err() : in.out(), in.progress_mode());
  const absl::Time deadline = timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  v1::Migration migration;
  int64_t after_sequence = 0;
  int failures = 0;
  while (true) {
    std::unique_ptr<grpc::ClientContext> context = in.StreamContext(deadline);
    v1::WatchMigrationRequest request;
    request.set_name(MigrationName(name));
    request.set_after_sequence(after_sequence);
    std::unique_ptr<grpc::ClientReader<v1::WatchMigrationResponse>> reader =
        in.orchestrator().WatchMigration(context.get(), request);
    v1::WatchMigrationResponse response;
    bool progressed = false;  // this stream delivered something
    while (reader->Read(&response)) {
      failures = 0;
      progressed = true;
      const v1::MigrationEvent& event = response.event();
      after_sequence = std::max(after_sequence, event.sequence());
      switch (event.kind_case()) {
        case v1::MigrationEvent::kSnapshot:
          migration = event.snapshot();
          break;
        case v1::MigrationEvent::kPhaseChange:
          migration.set_phase(event.phase_change().to_phase());
          break;
        case v1::MigrationEvent::kStateChange:
          migration.set_state(event.state_change().to_state());
          migration.set_state_reason(event.state_change().reason());
          break;
        case v1::MigrationEvent::kProgress:
          *migration.mutable_counts() = event.progress().counts();
          *migration.mutable_queues() = event.progress().queues();
          break;
        case v1::MigrationEvent::kUserTransition: {
          const v1::UserMoveTransition& t = event.user_transition();
          ApplyUserTransition(migration.mutable_counts(), t.from_state(), t.to_state());
          if (t.to_state() == v1::USER_MOVE_STATE_BLOCKED || t.to_state() == v1::USER_MOVE_STATE_FAILED ||
              t.to_state() == v1::USER_MOVE_STATE_STOPPED) {
            progress.Note(
                absl::StrCat(t.source_user_principal_name(), " ", StateName(t.to_state()),
                             t.has_error() ? absl::StrCat(": ", t.error().code(), " ", t.error().message()) : ""));
          }
          break;
        }
        default:
          break;
      }
      progress.Update(migration);
    }
    grpc::Status status = reader->Finish();
    if (status.ok() && MigrationHasEnded(migration.state())) break;
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED || absl::Now() >= deadline) {
      progress.Finish();
      return TimeoutError(absl::StrCat(migration.name(), " is still ", StateName(migration.state()), " after ",
                                       absl::FormatDuration(timeout), " (--timeout)"));
    }
    // A watch that ended early (orchestrator restarting, network; or cut off for reading too slowly,
    // RESOURCE_EXHAUSTED): resume from the last event seen.
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && progressed) continue;
    if (!status.ok() && status.error_code() != grpc::StatusCode::UNAVAILABLE) return FromGrpcStatus(status);
    if (++failures > 30) return FromGrpcStatus(status);
    absl::SleepFor(absl::Seconds(1));
  }
  ASSIGN_OR_RETURN(v1::Migration final_migration, GetMigration(in, name));
  progress.Update(final_migration);
  progress.Finish();
  return final_migration;
}

absl::Status ParseWindowTime(const std::string& flag, const std::string& text, google::protobuf::Timestamp* out) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag,
                                                   ": expected an RFC 3339 UTC time such as "
                                                   "2026-12-05T20:00:00Z, got '",
                                                   text, "'"));
  }
  out->set_seconds(absl::ToUnixSeconds(time));
  return absl::OkStatus();
}

// Pieces of the identity map file sent per UploadIdentityMap message (the orchestrator takes up to 1 MiB).
constexpr size_t kIdentityMapPieceBytes = size_t{256} << 10;
// The longest row the orchestrator takes.
constexpr size_t kMaxRowBytes = size_t{64} << 10;
// One call streams the whole map: a large one takes longer than --deadline allows a call.
constexpr absl::Duration kMinUploadDeadline = absl::Minutes(30);

// Streams the identity map file to the orchestrator (UploadIdentityMap), reading it a piece at a time,
// and returns the staged upload; the map's problems, as found by the orchestrator, are INVALID_ARGUMENT
// naming FILE:LINE:COLUMN as local validation names them.
absl::StatusOr<v1::OrchestratorUploadIdentityMapResponse> StageIdentityMap(Invocation& in, const std::string& path) {
  // First, locally and before any call, every problem a row shows on its own (one pass over the file in
  // pieces, a piece's rows at a time); duplicates across the whole map are found by the orchestrator,
  // which keeps the rows.
  identity_map::CsvStream local;
  identity_map::IdentityMap rows;
  RETURN_IF_ERROR(ReadInputFileInPieces(path, "identity map", kMaxStagedIdentityMapFileBytes, kIdentityMapPieceBytes,
                                        [&](absl::string_view piece) -> absl::Status {
                                          local.Add(piece, &rows);
                                          rows = {};
                                          if (local.open_row_bytes() > kMaxRowBytes) {
                                            return absl::InvalidArgumentError(absl::StrCat(
                                                path, ": a row longer than 64 KiB: is a quoted field never closed?"));
                                          }
                                          return absl::OkStatus();
                                        }));
  local.Finish(&rows);
  if (local.problem_count() > 0) return IdentityMapError(path, local.TakeProblems());

  std::unique_ptr<grpc::ClientContext> context = in.Context();
  if (context->deadline() < std::chrono::system_clock::now() + absl::ToChronoSeconds(kMinUploadDeadline)) {
    context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoSeconds(kMinUploadDeadline));
  }
  v1::OrchestratorUploadIdentityMapResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::OrchestratorUploadIdentityMapRequest>> writer =
      in.orchestrator().UploadIdentityMap(context.get(), &response);
  bool ended_by_server = false;
  absl::Status read = ReadInputFileInPieces(path, "identity map", kMaxStagedIdentityMapFileBytes,
                                            kIdentityMapPieceBytes, [&](absl::string_view piece) -> absl::Status {
                                              v1::OrchestratorUploadIdentityMapRequest request;
                                              request.set_csv_chunk(std::string(piece));
                                              if (writer->Write(request)) return absl::OkStatus();
                                              ended_by_server = true;  // Finish says why
                                              return absl::CancelledError("the orchestrator ended the upload");
                                            });
  if (!read.ok() && !ended_by_server) {
    context->TryCancel();
    writer->Finish();
    return read;
  }
  if (!ended_by_server) writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return in.ExplainConnectionFailure(FromGrpcStatus(status));
  if (!response.valid()) {
    std::vector<identity_map::Problem> problems;
    for (const v1::IdentityMapProblem& problem : response.problems()) {
      problems.push_back({problem.line(), problem.column(), problem.field(), problem.code(), problem.message()});
    }
    return IdentityMapError(path, problems);
  }
  return response;
}

}  // namespace

absl::Status RunMigrateStart(Invocation& in) {
  std::string plan_path, identity_map_override, id_override;
  bool watch = false, validate_only = false;
  absl::Duration timeout = absl::InfiniteDuration();
  in.flags().Text("plan", &plan_path, "FILE", "the plan file (YAML; see deploy/local/demo-plan.yaml) (required)");
  in.flags().Text("identity-map", &identity_map_override, "FILE", "use this identity map instead of the plan's");
  in.flags().Text("id", &id_override, "NAME", "use this migration id instead of the plan's");
  in.flags().Switch("validate-only", &validate_only,
                    "a rehearsal whatever the plan says: every phase runs, Microsoft validates "
                    "each user (-ValidationOnly) and nothing moves");
  in.flags().Switch("watch", &watch, "then follow the migration to its end, like `migrate status --watch`");
  in.flags().Duration("timeout", &timeout, absl::Milliseconds(1), "with --watch: stop watching after this long");
  ASSIGN_OR_RETURN(bool run,
                   in.Parse({"Creates a migration from a plan file and starts it: the orchestrator runs trust, "
                             "verification, user checks, identity map, compatibility, the moves (at most 4,000 "
                             "queued per source geo, inside the window) and the post-migration, unattended.",
                             "Start-SPOCrossTenantUserContentMove, once per user, queued by hand in batches of "
                             "4,000 (and steps 2-5 and 7 in order)",
                             "",
                             "The plan and each row of the identity map are validated here first; the map is then "
                             "streamed to the orchestrator (UploadIdentityMap), which also checks it is one-to-one. "
                             "Every problem is named with its file, line and column."}));
  if (!run) return absl::OkStatus();
  if (plan_path.empty()) return UsageError("--plan=FILE is required");
  ASSIGN_OR_RETURN(PlanFile plan, LoadPlanFile(plan_path));
  if (!identity_map_override.empty()) plan.identity_map_path = identity_map_override;
  if (!id_override.empty()) plan.migration_id = id_override;
  if (validate_only) plan.options.set_validate_only(true);
  ASSIGN_OR_RETURN(v1::OrchestratorUploadIdentityMapResponse staged, StageIdentityMap(in, plan.identity_map_path));

  v1::CreateMigrationRequest request;
  request.set_migration_id(plan.migration_id);
  request.set_display_name(plan.display_name);
  request.set_request_id(NewRequestId());
  v1::MigrationPlan* p = request.mutable_plan();
  p->set_source_connection(plan.source_connection);
  p->set_target_connection(plan.target_connection);
  p->mutable_identity_map()->set_upload(staged.name());
  *p->mutable_options() = plan.options;
  ASSIGN_OR_RETURN(
      v1::CreateMigrationResponse response,
      in.Call<v1::CreateMigrationResponse>(in.orchestrator(), &v1::Orchestrator::Stub::CreateMigration, request));
  if (!watch) {
    PrintMigration(in, response.migration());
    return absl::OkStatus();
  }
  if (in.format() == OutputFormat::kTable) {
    in.out() << "created " << response.migration().name() << ": " << staged.summary().user_rows() << " users, "
             << plan.source_connection << " -> " << plan.target_connection << "\n";
  }
  ASSIGN_OR_RETURN(v1::Migration ended, Watch(in, response.migration().name(), timeout));
  if (in.format() == OutputFormat::kJson) in.out() << RenderJson(MessageToJson(ended));
  return FinalStatus(ended);
}

absl::Status RunMigrateStatus(Invocation& in) {
  bool watch = false;
  absl::Duration timeout = absl::InfiniteDuration();
  in.flags().Switch("watch", &watch, "follow the migration live to its end (bars on a terminal, lines otherwise)");
  in.flags().Duration("timeout", &timeout, absl::Milliseconds(1),
                      "with --watch: stop watching after this long (exit 8)");
  ASSIGN_OR_RETURN(bool run,
                   in.Parse({"Shows a migration (phase, state and why, users by state, queues per source geo, trust "
                             "and compatibility per geo pair), or lists every migration without NAME. With --watch, "
                             "exit 0 when it COMPLETED and 10 when it ended otherwise.",
                             "Get-SPOCrossTenantUserContentMoveState -PartnerCrossTenantHostUrl <partner>, polled "
                             "by hand",
                             "[NAME]", ""},
                            0, 1));
  if (!run) return absl::OkStatus();
  if (in.positionals().empty()) {
    if (watch) return UsageError("--watch needs the migration NAME");
    std::vector<v1::Migration> migrations;
    v1::ListMigrationsRequest request;
    request.set_page_size(1000);
    do {
      ASSIGN_OR_RETURN(
          v1::ListMigrationsResponse response,
          in.Call<v1::ListMigrationsResponse>(in.orchestrator(), &v1::Orchestrator::Stub::ListMigrations, request));
      migrations.insert(migrations.end(), response.migrations().begin(), response.migrations().end());
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    nlohmann::json json = nlohmann::json::array();
    for (const v1::Migration& m : migrations) json.push_back(MessageToJson(m));
    in.Print(MigrationsTable(migrations), json);
    return absl::OkStatus();
  }
  const std::string& name = in.positionals()[0];
  if (!watch) {
    ASSIGN_OR_RETURN(v1::Migration migration, GetMigration(in, name));
    PrintMigration(in, migration);
    return absl::OkStatus();
  }
  // Fails fast with NOT_FOUND for a wrong name, before opening the stream.
  RETURN_IF_ERROR(GetMigration(in, name).status());
  ASSIGN_OR_RETURN(v1::Migration ended, Watch(in, name, timeout));
  if (in.format() == OutputFormat::kJson) in.out() << RenderJson(MessageToJson(ended));
  return FinalStatus(ended);
}

absl::Status RunMigratePause(Invocation& in) {
  std::string reason;
  in.flags().Text("reason", &reason, "TEXT", "why, recorded in the migration's events");
  ASSIGN_OR_RETURN(bool run,
                   in.Parse({"Pauses a migration: no new move is started; moves already started at "
                             "Microsoft carry on and are still followed.",
                             "(no cmdlet: stop queueing Start-SPOCrossTenantUserContentMove by hand)", "NAME", ""},
                            1, 1));
  if (!run) return absl::OkStatus();
  v1::PauseMigrationRequest request;
  request.set_name(MigrationName(in.positionals()[0]));
  request.set_reason(reason);
  request.set_request_id(NewRequestId());
  ASSIGN_OR_RETURN(
      v1::PauseMigrationResponse response,
      in.Call<v1::PauseMigrationResponse>(in.orchestrator(), &v1::Orchestrator::Stub::PauseMigration, request));
  PrintMigration(in, response.migration());
  return absl::OkStatus();
}

absl::Status RunMigrateResume(Invocation& in) {
  std::string begin, end;
  in.flags().Text("window-begin", &begin, "TIME", "new window start, RFC 3339 UTC (e.g. after the window ended)");
  in.flags().Text("window-end", &end, "TIME", "new window end, RFC 3339 UTC");
  ASSIGN_OR_RETURN(bool run, in.Parse({"Resumes a paused migration where it stopped, optionally with a new window.",
                                       "Start-SPOCrossTenantUserContentMove -PreferredMoveBeginDate/-EndDate for the "
                                       "next batch",
                                       "NAME", ""},
                                      1, 1));
  if (!run) return absl::OkStatus();
  v1::ResumeMigrationRequest request;
  request.set_name(MigrationName(in.positionals()[0]));
  request.set_request_id(NewRequestId());
  if (!begin.empty()) {
    RETURN_IF_ERROR(ParseWindowTime("window-begin", begin, request.mutable_window()->mutable_preferred_begin_time()));
  }
  if (!end.empty()) {
    RETURN_IF_ERROR(ParseWindowTime("window-end", end, request.mutable_window()->mutable_preferred_end_time()));
  }
  ASSIGN_OR_RETURN(
      v1::ResumeMigrationResponse response,
      in.Call<v1::ResumeMigrationResponse>(in.orchestrator(), &v1::Orchestrator::Stub::ResumeMigration, request));
  PrintMigration(in, response.migration());
  return absl::OkStatus();
}

absl::Status RunMigrateCancel(Invocation& in) {
  std::string reason;
  in.flags().Text("reason", &reason, "TEXT", "why, recorded in the migration's events");
  ASSIGN_OR_RETURN(bool run,
                   in.Parse({"Cancels a migration: users not yet started are STOPPED, moves Microsoft "
                             "can still stop are stopped, moves already in progress are followed to "
                             "their end. Trust is left in place.",
                             "Stop-SPOCrossTenantUserContentMove -SourceUserPrincipalName <upn>, per user", "NAME", ""},
                            1, 1));
  if (!run) return absl::OkStatus();
  v1::CancelMigrationRequest request;
  request.set_name(MigrationName(in.positionals()[0]));
  request.set_reason(reason);
  request.set_request_id(NewRequestId());
  ASSIGN_OR_RETURN(
      v1::CancelMigrationResponse response,
      in.Call<v1::CancelMigrationResponse>(in.orchestrator(), &v1::Orchestrator::Stub::CancelMigration, request));
  PrintMigration(in, response.migration());
  return absl::OkStatus();
}

absl::Status RunMigrateReconcile(Invocation& in) {
  bool watch = false;
  absl::Duration timeout = absl::InfiniteDuration();
  in.flags().Switch("watch", &watch, "then follow the migration to its end, like `migrate status --watch`");
  in.flags().Duration("timeout", &timeout, absl::Milliseconds(1),
                      "with --watch: stop watching after this long (exit 8)");
  ASSIGN_OR_RETURN(bool run,
                   in.Parse({"Asks Microsoft again about every user whose move may have started but whose final "
                             "state Microsoft has not confirmed (FAILED on the mesh's own error: a connection "
                             "deleted, expired or unreachable), and corrects their states from Microsoft's "
                             "answers. A migration that ended goes back to MOVES until they are settled, then "
                             "ends again with its counts recomputed; no new move is started.",
                             "Get-SPOCrossTenantUserContentMoveState -SourceUserPrincipalName <upn>, per user in "
                             "doubt",
                             "NAME", ""},
                            1, 1));
  if (!run) return absl::OkStatus();
  v1::ReconcileMigrationRequest request;
  request.set_name(MigrationName(in.positionals()[0]));
  ASSIGN_OR_RETURN(
      v1::ReconcileMigrationResponse response,
      in.Call<v1::ReconcileMigrationResponse>(in.orchestrator(), &v1::Orchestrator::Stub::ReconcileMigration, request));
  if (in.format() == OutputFormat::kTable) {
    in.out() << response.users_to_reconcile() << " user(s) to reconcile with Microsoft\n";
  }
  if (!watch || response.users_to_reconcile() == 0) {
    if (in.format() == OutputFormat::kJson) {
      in.out() << RenderJson(MessageToJson(response));
    } else {
      PrintMigration(in, response.migration());
    }
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(v1::Migration ended, Watch(in, request.name(), timeout));
  if (in.format() == OutputFormat::kJson) in.out() << RenderJson(MessageToJson(ended));
  return FinalStatus(ended);
}

absl::Status RunMigrateReport(Invocation& in) {
  std::string states, output, clock_name = "mesh";
  in.flags().Text("state", &states, "STATE,...", "only users in these states, e.g. failed,blocked");
  in.flags().Text("clock", &clock_name, "mesh|microsoft",
                  "whose times to show: the mesh's (when it queued, started and saw each move end; the default) "
                  "or Microsoft's (what Microsoft reported); never both in a row");
  in.flags().Text("output", &output, "FILE", "write the report to a file instead of standard output");
  ASSIGN_OR_RETURN(bool run,
                   in.Parse({"The migration report: one row per user (source, target, geos, state, attempts, times on "
                             "one clock, error code and text), as an aligned table, CSV (every column) or JSON.",
                             "Get-SPOCrossTenantUserContentMoveState output collected by a script of your own", "NAME",
                             "  migratectl migrate report merger --format=csv --output=report.csv"},
                            1, 1));
  if (!run) return absl::OkStatus();
  ASSIGN_OR_RETURN(const ReportClock clock, ParseReportClock(clock_name));
  v1::GetMigrationReportRequest request;
  request.set_name(MigrationName(in.positionals()[0]));
  request.set_page_size(10000);
  for (absl::string_view state : absl::StrSplit(states, ',', absl::SkipEmpty())) {
    std::string name = absl::StrCat("USER_MOVE_STATE_", absl::AsciiStrToUpper(absl::StripAsciiWhitespace(state)));
    for (char& c : name) c = c == '-' ? '_' : c;
    v1::UserMoveState parsed;
    if (!v1::UserMoveState_Parse(name, &parsed) || parsed == v1::USER_MOVE_STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat("--state: '", state,
                                                     "' is not a user state (pending, blocked, "
                                                     "queued, not_started, scheduled, ready_to_trigger, in_progress, "
                                                     "rescheduled, success, failed, stopped, validated)"));
    }
    request.add_states(parsed);
  }
  std::vector<v1::MigrationReportRow> rows;
  v1::GetMigrationReportResponse summary;
  do {
    ASSIGN_OR_RETURN(v1::GetMigrationReportResponse response,
                     in.Call<v1::GetMigrationReportResponse>(in.orchestrator(),
                                                             &v1::Orchestrator::Stub::GetMigrationReport, request));
    rows.insert(rows.end(), response.rows().begin(), response.rows().end());
    if (request.page_token().empty()) summary = response;
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  summary.clear_rows();
  std::string text;
  switch (in.format()) {
    case OutputFormat::kTable:
      text = absl::StrCat(RenderTable(ReportTable(rows, clock)), request.name(), "  ", PhaseName(summary.phase()), "  ",
                          StateName(summary.state()), "  ", summary.counts().total(),
                          " users: ", CountsSummary(summary.counts()), "\n");
      break;
    case OutputFormat::kCsv:
      text = RenderCsv(ReportCsvTable(rows, clock));
      break;
    case OutputFormat::kJson:
      text = RenderJson(ReportJson(request.name(), summary, rows, clock));
      break;
  }
  if (output.empty()) {
    in.out() << text;
  } else {
    RETURN_IF_ERROR(WriteFileAtomically(output, text));
    in.err() << "wrote " << rows.size() << " rows to " << output << "\n";
  }
  return absl::OkStatus();
}

}  // namespace crosstenant::migratectl
