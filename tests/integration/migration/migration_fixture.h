#ifndef CROSSTENANT_TESTS_INTEGRATION_MIGRATION_MIGRATION_FIXTURE_H_
#define CROSSTENANT_TESTS_INTEGRATION_MIGRATION_MIGRATION_FIXTURE_H_

// A whole mesh per test (tenant-emulator, tenant-connector, orchestrator, workers as processes on
// loopback) and the checks every whole-migration test makes: the orchestrator's report against the
// emulator's own record of every move, and the emulator's accounting (no user started twice, no
// request sent before a Retry-After had elapsed). Every process keeps its address across a SIGKILL
// and a restart, as a crashed pod behind a Service would.

#include <signal.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "tests/support/mesh_processes.h"
#include "tests/support/server_process.h"

namespace crosstenant::testing {

namespace v1 = crosstenant::v1;

inline std::string LocalPart(const std::string& upn) { return upn.substr(0, upn.find('@')); }

inline std::string StateName(v1::UserMoveState state) {
  std::string name = v1::UserMoveState_Name(state);
  return name.substr(std::string("USER_MOVE_STATE_").size());
}

// How many of the migration's users are in `state`.
inline int Count(const v1::Migration& migration, v1::UserMoveState state) {
  for (const v1::UserMoveStateCount& count : migration.counts().by_state()) {
    if (count.state() == state) return count.count();
  }
  return 0;
}

// The value of one series (`name` or `name{label="value"}`, as exposed) in Prometheus text; -1 if absent.
inline double SeriesValue(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (absl::StartsWith(line, series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// How many times `what` occurs in `text` (log lines, say).
inline int Occurrences(const std::string& text, const std::string& what) {
  int count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

class MigrationTest : public ::testing::Test {
 protected:
  // Emulator with `seed` at `time_scale` and `faults` (the admin API's JSON, applied before anyone
  // signs in), a connector with both tenants connected, an orchestrator that rechecks trust and
  // compatibility at least every second, and `workers` workers.
  bool StartMesh(const MeshSeed& seed, double time_scale, int workers, const nlohmann::json& faults = nullptr) {
    seed_ = seed;
    if (!emulator_.Start({absl::StrCat("--time-scale=", time_scale)}, seed.Yaml())) {
      ADD_FAILURE() << emulator_.error();
      return false;
    }
    if (!faults.is_null()) emulator_.Admin("PUT", "/_emulator/faults", faults);
    if (!StartConnector() || !connector_.ConnectSourceAndTarget()) {
      ADD_FAILURE() << connector_.error();
      return false;
    }
    if (!StartOrchestrator()) return false;
    for (int n = 0; n < workers; ++n) {
      workers_.push_back(std::make_unique<Worker>());
      if (!StartWorker(n)) return false;
    }
    return true;
  }

  // Starts the connector (again, after a SIGKILL) at its one address, with its state directory.
  bool StartConnector() {
    std::vector<std::string> flags = {"--grpc-address=" + connector_address_};
    flags.insert(flags.end(), connector_flags_.begin(), connector_flags_.end());
    const bool started = connector_.Start(emulator_, connector_state_.path() + "/state", flags);
    EXPECT_TRUE(started) << connector_.error();
    return started;
  }
  void KillConnector() {
    connector_.process()->Signal(SIGKILL);
    connector_.process()->WaitForExit(std::chrono::seconds(10));
  }

  virtual ~MigrationTest() = default;

  virtual bool StartOrchestrator() {
    std::vector<std::string> flags = {"--poll-interval=300ms", "--recheck-max=1s"};
    flags.insert(flags.end(), orchestrator_flags_.begin(), orchestrator_flags_.end());
    const bool started = orchestrator_.Start(connector_.address(), flags);
    EXPECT_TRUE(started) << orchestrator_.error();
    return started;
  }
  virtual bool StartWorker(int n) {
    const bool started = workers_[n]->Start(absl::StrCat("worker-", n + 1), orchestrator_.address(),
                                            connector_.address(), {"--concurrency=8"});
    EXPECT_TRUE(started) << workers_[n]->error();
    return started;
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- orchestrator log (tail) ---\n" << Tail(orchestrator_.Stderr());
      for (const auto& worker : workers_) std::cerr << "--- worker log (tail) ---\n" << Tail(worker->Stderr());
    }
  }

  static std::string Tail(const std::string& log) { return log.size() > 4000 ? log.substr(log.size() - 4000) : log; }

  // CreateMigration of every user of the seed.
  bool Create(const std::string& id, const v1::MigrationOptions& options = {}) {
    v1::CreateMigrationRequest request;
    request.set_migration_id(id);
    request.mutable_plan()->set_source_connection("connections/contoso");
    request.mutable_plan()->set_target_connection("connections/fabrikam");
    request.mutable_plan()->mutable_identity_map()->set_csv(seed_.IdentityMapCsv());
    *request.mutable_plan()->mutable_options() = options;
    grpc::ClientContext context;
    v1::CreateMigrationResponse response;
    const grpc::Status status = orchestrator_.stub().CreateMigration(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return status.ok();
  }

  // CreateMigration `id` of users the seed does not have ("spare-user..."), so that it is refused for
  // no reason but the one a test provokes; the status as the orchestrator answered.
  grpc::Status CreateOfSpareUsers(const std::string& id) {
    v1::CreateMigrationRequest request;
    request.set_migration_id(id);
    request.mutable_plan()->set_source_connection("connections/contoso");
    request.mutable_plan()->set_target_connection("connections/fabrikam");
    request.mutable_plan()->mutable_identity_map()->set_csv(
        absl::StrReplaceAll(seed_.IdentityMapCsv(), {{",user", ",spare-user"}, {",euser", ",spare-euser"}}));
    grpc::ClientContext context;
    v1::CreateMigrationResponse response;
    return orchestrator_.stub().CreateMigration(&context, request, &response);
  }

  // The code of one GetMigration (NOT_FOUND: the migration does not exist), not retried.
  grpc::StatusCode GetCode(const std::string& name) {
    grpc::ClientContext context;
    v1::GetMigrationRequest request;
    request.set_name(name);
    v1::GetMigrationResponse response;
    return orchestrator_.stub().GetMigration(&context, request, &response).error_code();
  }

  // Lets migration `name` (created in waves) move 4 users, pauses it, and waits until no move is left
  // at Microsoft (a pause starts none, but those started are polled to their end): one state, to back up
  // and to compare a restore with. The migration as it then is.
  v1::Migration PauseHalfway(const std::string& name) {
    const v1::Migration moved = WaitUntil(
        name, [](const v1::Migration& m) { return Count(m, v1::USER_MOVE_STATE_SUCCESS) >= 4; }, absl::Seconds(90));
    EXPECT_GE(Count(moved, v1::USER_MOVE_STATE_SUCCESS), 4) << moved.DebugString();
    grpc::ClientContext context;
    v1::PauseMigrationRequest pause;
    pause.set_name(name);
    pause.set_reason("backup before the upgrade");
    v1::PauseMigrationResponse paused;
    const grpc::Status status = orchestrator_.stub().PauseMigration(&context, pause, &paused);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return WaitUntil(
        name,
        [](const v1::Migration& m) {
          int in_flight = 0;
          for (v1::UserMoveState state :
               {v1::USER_MOVE_STATE_NOT_STARTED, v1::USER_MOVE_STATE_SCHEDULED, v1::USER_MOVE_STATE_READY_TO_TRIGGER,
                v1::USER_MOVE_STATE_IN_PROGRESS, v1::USER_MOVE_STATE_RESCHEDULED}) {
            in_flight += Count(m, state);
          }
          return in_flight == 0;
        },
        absl::Seconds(90));
  }

  // A mesh with 20 users whose moves take a few seconds, migration "restore" created in waves (3 queued
  // per source geo) and paused halfway (PauseHalfway): what the backup tests back up. The migration as it
  // then is; its state is not PAUSED if anything failed on the way.
  v1::Migration StartAndPauseHalfway() {
    MeshSeed seed;
    seed.nam_users = 16;
    seed.eur_users = 4;
    seed.move_step = "10m";  // 1 s a state at 600x
    v1::MigrationOptions options;
    options.set_max_queued_per_source_geo(3);  // waves, so that the pause finds users done, moving and queued
    if (!StartMesh(seed, 600, 2) || !Create("restore", options)) return v1::Migration();
    return PauseHalfway("migrations/restore");
  }

  // Samples `progress` every 2 s until two samples agree (30 s at most), then once more 5 s later:
  // the settled sample, and whether the last one still agreed with it (nothing moved meanwhile).
  template <typename Progress>
  auto SettleAndHold(Progress progress) -> std::pair<decltype(progress()), bool> {
    auto settled = progress();
    for (const absl::Time give_up = absl::Now() + absl::Seconds(30); absl::Now() < give_up;) {
      absl::SleepFor(absl::Seconds(2));
      const auto now = progress();
      if (now == settled) break;
      settled = now;
    }
    absl::SleepFor(absl::Seconds(5));
    return {settled, progress() == settled};
  }

  // The state database's health as the orchestrator exports it: full, and writes refused for want of room.
  static inline const std::string kStoreFull = "orchestrator_store_full";
  static inline const std::string kStoreRefused =
      "orchestrator_store_write_failures_total{code=\"resource_exhausted\"}";

  // The value of `series` on the orchestrator's /metrics now; -1 if absent or unreadable.
  double OrchestratorSeries(const std::string& series) {
    const std::optional<std::string> text = HttpGet("http://" + orchestrator_.metrics_address() + "/metrics");
    return text ? SeriesValue(*text, series) : -1;
  }

  // Reads `series` every 200 ms until it is `value` or `timeout` has passed; the value last read.
  double WaitForOrchestratorSeries(const std::string& series, double value, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    double read = OrchestratorSeries(series);
    while (read != value && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(200));
      read = OrchestratorSeries(series);
    }
    return read;
  }

  // ResumeMigration of `name`; whether it was accepted.
  bool Resume(const std::string& name) {
    grpc::ClientContext context;
    v1::ResumeMigrationRequest resume;
    resume.set_name(name);
    v1::ResumeMigrationResponse resumed;
    const grpc::Status status = orchestrator_.stub().ResumeMigration(&context, resume, &resumed);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return status.ok();
  }

  // GetMigration, retried while the orchestrator is restarting.
  v1::Migration Get(const std::string& name) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::GetMigrationRequest request;
      request.set_name(name);
      v1::GetMigrationResponse response;
      if (orchestrator_.stub().GetMigration(&context, request, &response).ok()) return response.migration();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "GetMigration " << name << " kept failing";
    return {};
  }

  // Polls the migration until `done` holds or `timeout` passes; the last state seen.
  v1::Migration WaitUntil(const std::string& name, const std::function<bool(const v1::Migration&)>& done,
                          absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    v1::Migration migration = Get(name);
    while (!done(migration) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(200));
      migration = Get(name);
    }
    return migration;
  }

  static bool Ended(const v1::Migration& m) {
    return m.state() == v1::MIGRATION_STATE_COMPLETED || m.state() == v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS ||
           m.state() == v1::MIGRATION_STATE_FAILED || m.state() == v1::MIGRATION_STATE_CANCELLED;
  }

  std::vector<v1::MigrationReportRow> Report(const std::string& name) {
    std::vector<v1::MigrationReportRow> rows;
    v1::GetMigrationReportRequest request;
    request.set_name(name);
    request.set_page_size(100);
    do {
      grpc::ClientContext context;
      v1::GetMigrationReportResponse response;
      const grpc::Status status = orchestrator_.stub().GetMigrationReport(&context, request, &response);
      if (!status.ok()) {
        ADD_FAILURE() << "GetMigrationReport: " << status.error_message();
        break;
      }
      rows.insert(rows.end(), response.rows().begin(), response.rows().end());
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    return rows;
  }

  // The emulator's tasks by source UPN.
  std::map<std::string, std::vector<nlohmann::json>> EmulatorMoves() {
    std::map<std::string, std::vector<nlohmann::json>> by_user;
    const nlohmann::json tasks = emulator_.Admin("GET", "/_emulator/moves");
    for (const nlohmann::json& task : tasks["value"]) {
      by_user[task["sourceUserPrincipalName"].get<std::string>()].push_back(task);
    }
    return by_user;
  }
  int EmulatorMoveStarts() { return emulator_.Admin("GET", "/_emulator/accounting")["moves"]["starts"].get<int>(); }
  // Requests the emulator answered on `route`, its accounting label (e.g.
  // "sharepoint.csom.VerifySPOTenantOrgRelation"), Graph `$batch` items included; 0 if none yet.
  int EmulatorRequests(const std::string& route) {
    const nlohmann::json accounting = emulator_.Admin("GET", "/_emulator/accounting");
    int count = 0;
    for (const char* part : {"requests", "batched_requests"}) {
      const nlohmann::json& by_route = accounting[part]["by_route"];
      if (by_route.contains(route)) count += by_route[route].get<int>();
    }
    return count;
  }
  // Waits (`timeout` at most) until `count()` reaches `wanted`; whether it did. For a fault that must
  // land mid-run (so many moves started), and for "nothing happened" checks: instead of a fixed sleep,
  // wait until the mesh demonstrably did what could have made it happen (rechecked, retried), then look.
  static bool WaitForCount(const std::function<int()>& count, int wanted, absl::Duration timeout) {
    for (const absl::Time deadline = absl::Now() + timeout; count() < wanted;) {
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return true;
  }

  // Every user of the seed is in the report in its right final state, the same as the emulator's record,
  // and the emulator saw no duplicate start and no early retry.
  void ExpectFinalStatesMatchEmulator(const std::string& name) {
    std::map<std::string, std::string> expected;  // local part -> state
    for (const ExpectedBlocker& blocker : MeshBlockers()) {
      if (seed_.blocked_users) expected[blocker.local_part] = blocker.state;
    }
    const std::vector<v1::MigrationReportRow> rows = Report(name);
    EXPECT_EQ(rows.size(), static_cast<size_t>(seed_.nam_users + seed_.eur_users) + expected.size());
    std::map<std::string, std::vector<nlohmann::json>> moves = EmulatorMoves();
    int mismatches = 0;
    for (const v1::MigrationReportRow& row : rows) {
      const std::string upn = row.source_user_principal_name();
      const auto blocker = expected.find(LocalPart(upn));
      const std::string want = blocker == expected.end() ? "SUCCESS" : blocker->second;
      const std::vector<nlohmann::json>& tasks = moves[upn];
      std::string emulator_state = tasks.empty() ? "none" : tasks.back()["moveState"].get<std::string>();
      const bool ok =
          StateName(row.state()) == want &&
          (want == "BLOCKED" ? tasks.empty()
                             : tasks.size() == 1 && emulator_state == (want == "SUCCESS" ? "Success" : "Failed"));
      if (!ok && ++mismatches <= 10) {
        ADD_FAILURE() << upn << ": report " << StateName(row.state()) << " (" << row.error_code() << " "
                      << row.error_message() << "), expected " << want << "; emulator has " << tasks.size()
                      << " task(s), last " << emulator_state;
      }
    }
    EXPECT_EQ(mismatches, 0);
    const nlohmann::json accounting = emulator_.Admin("GET", "/_emulator/accounting");
    EXPECT_EQ(accounting["moves"]["duplicates"].get<int>(), 0) << accounting["moves"].dump();
    EXPECT_EQ(accounting["retry_after"]["early_retries"].get<int>(), 0);
  }

  MeshSeed seed_;
  std::vector<std::string> orchestrator_flags_;  // more flags for every start of the orchestrator
  std::vector<std::string> connector_flags_;     // more flags for every start of the connector
  Emulator emulator_;
  TempDir connector_state_;
  const std::string connector_address_ = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  Connector connector_;
  Orchestrator orchestrator_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace crosstenant::testing

#endif  // CROSSTENANT_TESTS_INTEGRATION_MIGRATION_MIGRATION_FIXTURE_H_
