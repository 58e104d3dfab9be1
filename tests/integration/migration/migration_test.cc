// Whole migrations through the real mesh: tenant-emulator, tenant-connector, orchestrator and workers
// as processes on loopback. Each test compares the orchestrator's report with the emulator's own record
// of every move, and checks the emulator's accounting: no user started twice, no request sent before a
// Retry-After had elapsed.

#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "tests/integration/migration/migration_fixture.h"

namespace crosstenant::testing {
namespace {

using google::protobuf::util::TimeUtil;

TEST_F(MigrationTest, TwoHundredUsersWithBlockersAllReachTheirRightFinalState) {
  MeshSeed seed;
  seed.nam_users = 180;
  seed.eur_users = 13;
  seed.blocked_users = true;
  seed.max_queued_per_geo = "25";  // the emulator refuses a 26th active move per source geo
  ASSERT_TRUE(StartMesh(seed, 600, 2));
  v1::MigrationOptions options;
  options.set_max_queued_per_source_geo(25);
  ASSERT_TRUE(Create("two-hundred", options));

  int most_active = 0;
  const v1::Migration migration = WaitUntil(
      "migrations/two-hundred",
      [&](const v1::Migration& m) {
        for (const v1::SourceGeoQueue& queue : m.queues()) most_active = std::max(most_active, queue.active());
        return Ended(m);
      },
      absl::Seconds(90));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS) << migration.DebugString();
  EXPECT_LE(most_active, 25);
  EXPECT_GT(most_active, 0);
  ExpectFinalStatesMatchEmulator("migrations/two-hundred");
}

// A connector with the fewest threads it accepts has room for one call of a kind at a time, and the
// orchestrator checks the source's and the target's users at once: the one it refuses as busy is sent
// again, not the whole check started over (which, refused the same way each time, never ended).
TEST_F(MigrationTest, AConnectorWithRoomForOneCallOfAKindStillFinishesTheMigration) {
  MeshSeed seed;
  seed.nam_users = 40;
  connector_flags_ = {"--executor-threads=2"};
  ASSERT_TRUE(StartMesh(seed, 600, 1));
  ASSERT_TRUE(Create("narrow", v1::MigrationOptions()));
  const v1::Migration migration = WaitUntil("migrations/narrow", Ended, absl::Seconds(90));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  ExpectFinalStatesMatchEmulator("migrations/narrow");
}

// kill -9 of the orchestrator and of a worker at random moments, five times, each restarted: the
// migration carries on, no user is lost and none is started twice.
TEST_F(MigrationTest, SurvivesKillNineOfOrchestratorAndWorkersFiveTimes) {
  const char* fixed_seed = std::getenv("CROSSTENANT_CRASH_SEED");
  const unsigned random_seed = fixed_seed ? std::strtoul(fixed_seed, nullptr, 10) : std::random_device{}();
  std::cout << "crash schedule seed " << random_seed << " (CROSSTENANT_CRASH_SEED reruns it)\n";
  std::mt19937 random(random_seed);

  MeshSeed seed;
  seed.nam_users = 240;
  seed.eur_users = 20;
  seed.blocked_users = true;
  seed.move_step = "2m";
  ASSERT_TRUE(StartMesh(seed, 600, 2));
  v1::MigrationOptions options;
  options.set_max_queued_per_source_geo(30);
  ASSERT_TRUE(Create("crashes", options));

  for (int round = 1; round <= 5; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<>(500, 2500)(random)));
    const int worker = std::uniform_int_distribution<>(0, 1)(random);
    const int order = std::uniform_int_distribution<>(0, 2)(random);  // orchestrator first, worker first, both
    std::cout << "round " << round << ": SIGKILL "
              << (order == 0   ? "orchestrator, then worker-"
                  : order == 1 ? "worker-"
                               : "orchestrator and worker-")
              << worker + 1 << "\n";
    if (order != 1) orchestrator_.Kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<>(0, 700)(random)));
    workers_[worker]->Kill();
    if (order != 1) {
      ASSERT_TRUE(StartOrchestrator());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<>(0, 700)(random)));
    ASSERT_TRUE(StartWorker(worker));
  }

  const v1::Migration migration = WaitUntil("migrations/crashes", Ended, absl::Seconds(90));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS) << migration.DebugString();
  ExpectFinalStatesMatchEmulator("migrations/crashes");
}

// A new trust shows DormantByPartner for the dormant period (up to seven days at Microsoft): the
// migration waits in TRUST_VERIFICATION, starts nothing, and goes on by itself once it has passed.
TEST_F(MigrationTest, TrustDormantByPartnerWaitsUntilThePeriodHasPassed) {
  MeshSeed seed;
  seed.nam_users = 8;
  seed.eur_users = 2;
  seed.dormant_period = "48h";
  seed.move_step = "1s";
  ASSERT_TRUE(StartMesh(seed, 1, 1));
  ASSERT_TRUE(Create("dormant"));

  v1::Migration migration = WaitUntil(
      "migrations/dormant",
      [](const v1::Migration& m) {
        return m.phase() == v1::MIGRATION_PHASE_TRUST_VERIFICATION && m.state() == v1::MIGRATION_STATE_WAITING;
      },
      absl::Seconds(30));
  ASSERT_EQ(migration.phase(), v1::MIGRATION_PHASE_TRUST_VERIFICATION) << migration.DebugString();
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_WAITING);
  // Three rechecks later it still waits, and nothing has been started.
  const std::string verify = "sharepoint.csom.VerifySPOTenantOrgRelation";
  ASSERT_TRUE(WaitForCount([&] { return EmulatorRequests(verify); }, EmulatorRequests(verify) + 3, absl::Seconds(30)))
      << "the trust was not checked again";
  migration = Get("migrations/dormant");
  EXPECT_EQ(migration.phase(), v1::MIGRATION_PHASE_TRUST_VERIFICATION);
  EXPECT_EQ(EmulatorMoveStarts(), 0);

  emulator_.Admin("POST", "/_emulator/time", {{"advance_seconds", 48 * 3600}});
  migration = WaitUntil("migrations/dormant", Ended, absl::Seconds(60));
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  ExpectFinalStatesMatchEmulator("migrations/dormant");
}

// Get-SPOCrossTenantCompatibilityStatus says Incompatible: the migration waits in COMPATIBILITY
// without starting a move, and carries on once the tenants have been updated.
TEST_F(MigrationTest, IncompatibleTenantWaitsAndGoesOnOnceCompatible) {
  MeshSeed seed;
  seed.nam_users = 8;
  seed.eur_users = 2;
  seed.move_step = "1s";
  seed.contoso_compatibility = "Incompatible";
  seed.contoso_compatible_after = "24h";
  ASSERT_TRUE(StartMesh(seed, 1, 1));
  ASSERT_TRUE(Create("incompatible"));

  v1::Migration migration = WaitUntil(
      "migrations/incompatible",
      [](const v1::Migration& m) {
        return m.phase() == v1::MIGRATION_PHASE_COMPATIBILITY && m.state() == v1::MIGRATION_STATE_WAITING;
      },
      absl::Seconds(30));
  ASSERT_EQ(migration.phase(), v1::MIGRATION_PHASE_COMPATIBILITY) << migration.DebugString();
  // Three rechecks later it still waits, and nothing has been started.
  const std::string check = "sharepoint.multigeo.compatibility";
  ASSERT_TRUE(WaitForCount([&] { return EmulatorRequests(check); }, EmulatorRequests(check) + 3, absl::Seconds(30)))
      << "compatibility was not checked again";
  migration = Get("migrations/incompatible");
  EXPECT_EQ(migration.phase(), v1::MIGRATION_PHASE_COMPATIBILITY);
  EXPECT_EQ(EmulatorMoveStarts(), 0);

  emulator_.Admin("POST", "/_emulator/time", {{"advance_seconds", 24 * 3600}});
  migration = WaitUntil("migrations/incompatible", Ended, absl::Seconds(60));
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  ExpectFinalStatesMatchEmulator("migrations/incompatible");
}

// A preferred window that begins in the future: every phase before the moves runs at once, and no
// move starts before the window opens.
TEST_F(MigrationTest, WindowInTheFutureHoldsEveryMoveUntilItOpens) {
  MeshSeed seed;
  seed.nam_users = 8;
  seed.eur_users = 2;
  seed.move_step = "1s";
  ASSERT_TRUE(StartMesh(seed, 1, 1));
  const absl::Time begin = absl::Now() + absl::Seconds(15);
  v1::MigrationOptions options;
  *options.mutable_window()->mutable_preferred_begin_time() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(begin));
  ASSERT_TRUE(Create("window", options));

  v1::Migration migration = WaitUntil(
      "migrations/window", [](const v1::Migration& m) { return m.phase() == v1::MIGRATION_PHASE_MOVES; },
      absl::Seconds(30));
  ASSERT_EQ(migration.phase(), v1::MIGRATION_PHASE_MOVES) << migration.DebugString();
  ASSERT_LT(absl::Now() + absl::Seconds(1), begin) << "the phases before the moves took too long to test the window";
  absl::SleepFor(begin - absl::Seconds(1) - absl::Now());
  EXPECT_EQ(EmulatorMoveStarts(), 0);

  migration = WaitUntil("migrations/window", Ended, absl::Seconds(60));
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  for (const v1::MigrationReportRow& row : Report("migrations/window")) {
    EXPECT_GE(absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(row.start_time())), begin)
        << row.source_user_principal_name();
  }
  ExpectFinalStatesMatchEmulator("migrations/window");
}

// The emulator at 3000x, its clock advanced by a day mid-run: durations shrink, but every time the report
// shows is ordered on the mesh's clock (queued <= started <= ended <= report time), and none of
// Microsoft's times (the moves' and the redirect sites') is later than the report, so none is in the future.
TEST_F(MigrationTest, AtAScaledEmulatorClockEveryReportRowIsOrderedAndNothingIsInTheFuture) {
  MeshSeed seed;
  seed.nam_users = 20;
  seed.eur_users = 4;
  seed.blocked_users = true;
  ASSERT_TRUE(StartMesh(seed, 3000, 2));
  const absl::Time created = absl::Now();
  ASSERT_TRUE(Create("clocks"));
  WaitUntil(
      "migrations/clocks", [](const v1::Migration& m) { return m.phase() == v1::MIGRATION_PHASE_MOVES || Ended(m); },
      absl::Seconds(30));
  emulator_.Admin("POST", "/_emulator/time", {{"advance_seconds", 86400}});
  const v1::Migration migration = WaitUntil("migrations/clocks", Ended, absl::Seconds(90));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS) << migration.DebugString();

  grpc::ClientContext context;
  v1::GetMigrationReportRequest request;
  request.set_name("migrations/clocks");
  request.set_page_size(1000);
  v1::GetMigrationReportResponse report;
  ASSERT_TRUE(orchestrator_.stub().GetMigrationReport(&context, request, &report).ok());
  auto at = [](const google::protobuf::Timestamp& t) {
    return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
  };
  const absl::Time report_time = at(report.report_time());
  int started = 0, microsoft_times = 0;
  for (const v1::MigrationReportRow& row : report.rows()) {
    const std::string who = row.source_user_principal_name() + " " + row.DebugString();
    ASSERT_TRUE(row.has_end_time()) << who;
    EXPECT_LE(at(row.end_time()), report_time) << who;
    EXPECT_GE(at(row.end_time()), created) << who;
    if (row.has_start_time()) {
      ++started;
      ASSERT_TRUE(row.has_queue_time()) << who;
      EXPECT_LE(at(row.queue_time()), at(row.start_time())) << who;
      EXPECT_LE(at(row.start_time()), at(row.end_time())) << who;
    }
    for (const google::protobuf::Timestamp* microsoft : {&row.microsoft_start_time(), &row.microsoft_end_time()}) {
      if (microsoft->seconds() == 0) continue;
      ++microsoft_times;
      EXPECT_LE(at(*microsoft), report_time) << "Microsoft's time in the future: " << who;
      EXPECT_GE(at(*microsoft), created - absl::Seconds(1)) << who;
    }
    if (row.has_microsoft_start_time() && row.has_microsoft_end_time()) {
      EXPECT_LE(at(row.microsoft_start_time()), at(row.microsoft_end_time())) << who;
    }
  }
  EXPECT_GE(started, seed.nam_users + seed.eur_users) << "every user without a blocker was started";
  EXPECT_GT(microsoft_times, 0) << "Microsoft's times were kept beside the mesh's";
  for (const char* geo : {"connections/contoso/geos/nam", "connections/contoso/geos/eur"}) {
    grpc::ClientContext list_context;
    v1::ListRedirectSitesRequest redirects;
    redirects.set_geo(geo);
    redirects.set_page_size(100);
    v1::ListRedirectSitesResponse sites;
    ASSERT_TRUE(connector_.stub().ListRedirectSites(&list_context, redirects, &sites).ok()) << geo;
    EXPECT_GT(sites.redirect_sites_size(), 0) << geo;
    for (const v1::RedirectSite& site : sites.redirect_sites()) {
      EXPECT_LE(at(site.create_time()), report_time + absl::Seconds(1)) << "in the future: " << site.DebugString();
      EXPECT_GE(at(site.create_time()), created - absl::Seconds(1)) << site.DebugString();
    }
  }
  ExpectFinalStatesMatchEmulator("migrations/clocks");
}

// PauseMigration stops releasing users (moves already at Microsoft go on); ResumeMigration carries on.
TEST_F(MigrationTest, PauseHoldsNewMovesAndResumeFinishesTheMigration) {
  MeshSeed seed;
  seed.nam_users = 60;
  seed.eur_users = 0;
  seed.move_step = "1m";
  ASSERT_TRUE(StartMesh(seed, 600, 1));
  v1::MigrationOptions options;
  options.set_max_queued_per_source_geo(5);
  ASSERT_TRUE(Create("pause", options));
  WaitUntil(
      "migrations/pause", [this](const v1::Migration&) { return EmulatorMoveStarts() >= 5; }, absl::Seconds(30));

  grpc::ClientContext pause_context;
  v1::PauseMigrationRequest pause;
  pause.set_name("migrations/pause");
  pause.set_reason("change freeze");
  v1::PauseMigrationResponse paused;
  ASSERT_TRUE(orchestrator_.stub().PauseMigration(&pause_context, pause, &paused).ok());
  EXPECT_EQ(paused.migration().state(), v1::MIGRATION_STATE_PAUSED);
  // Starts already in the workers' hands may still land; after that, none. The worker's 8 slots each
  // hold at most one lease call, so once the orchestrator has answered 16 more, it answered lease calls
  // made after the pause: it had the chance to hand out starts, and must not have. Every start that
  // reached Microsoft is reported by then.
  auto leases_answered = [this] {
    return static_cast<int>(
        OrchestratorSeries("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"LeaseTasks\","
                           "grpc_service=\"crosstenant.v1.Orchestrator\",grpc_type=\"unary\"}"));
  };
  auto starts_reported = [this] {
    return static_cast<int>(
        OrchestratorSeries("orchestrator_tasks_completed_total{kind=\"start_move\",outcome=\"succeeded\"}"));
  };
  const int answered_at_pause = leases_answered();
  ASSERT_GE(answered_at_pause, 0) << "no LeaseTasks series on the orchestrator's /metrics";
  ASSERT_TRUE(WaitForCount(leases_answered, answered_at_pause + 16, absl::Seconds(30)));
  ASSERT_TRUE(WaitForCount([&] { return starts_reported() >= EmulatorMoveStarts() ? 1 : 0; }, 1, absl::Seconds(30)))
      << "starts reported " << starts_reported() << ", at Microsoft " << EmulatorMoveStarts();
  const int starts_when_paused = EmulatorMoveStarts();
  // Another lease call from every slot, each made after the pause, and still no start.
  ASSERT_TRUE(WaitForCount(leases_answered, leases_answered() + 8, absl::Seconds(30)));
  EXPECT_EQ(EmulatorMoveStarts(), starts_when_paused);
  EXPECT_LT(starts_when_paused, 60);
  EXPECT_EQ(Get("migrations/pause").state(), v1::MIGRATION_STATE_PAUSED);

  grpc::ClientContext resume_context;
  v1::ResumeMigrationRequest resume;
  resume.set_name("migrations/pause");
  v1::ResumeMigrationResponse resumed;
  ASSERT_TRUE(orchestrator_.stub().ResumeMigration(&resume_context, resume, &resumed).ok());
  const v1::Migration migration = WaitUntil("migrations/pause", Ended, absl::Seconds(60));
  EXPECT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  ExpectFinalStatesMatchEmulator("migrations/pause");
}

// CancelMigration during the moves: users not handed to Microsoft stop at once, moves Microsoft still
// lets stop are stopped (Stop-SPOCrossTenantUserContentMove), the others are followed to their end,
// and only then is the migration CANCELLED. The report agrees with the emulator for every user.
TEST_F(MigrationTest, CancelDuringMovesStopsWhatCanBeStoppedAndEndsCancelled) {
  MeshSeed seed;
  seed.nam_users = 40;
  seed.move_step = "10m";  // one second per state at x600: moves linger in Scheduled and ReadyToTrigger
  ASSERT_TRUE(StartMesh(seed, 600, 1));
  v1::MigrationOptions options;
  options.set_max_queued_per_source_geo(10);
  ASSERT_TRUE(Create("cancel", options));
  WaitUntil(
      "migrations/cancel", [this](const v1::Migration&) { return EmulatorMoveStarts() >= 5; }, absl::Seconds(30));

  grpc::ClientContext context;
  v1::CancelMigrationRequest cancel;
  cancel.set_name("migrations/cancel");
  v1::CancelMigrationResponse cancelled;
  ASSERT_TRUE(orchestrator_.stub().CancelMigration(&context, cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.migration().state(), v1::MIGRATION_STATE_CANCELLING);

  const v1::Migration migration = WaitUntil("migrations/cancel", Ended, absl::Seconds(60));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_CANCELLED) << migration.DebugString();
  std::map<std::string, std::vector<nlohmann::json>> moves = EmulatorMoves();
  int stopped_at_microsoft = 0, never_started = 0;
  for (const v1::MigrationReportRow& row : Report("migrations/cancel")) {
    const std::vector<nlohmann::json>& tasks = moves[row.source_user_principal_name()];
    ASSERT_LE(tasks.size(), 1u) << row.source_user_principal_name();
    const std::string at_microsoft = tasks.empty() ? "none" : tasks[0]["moveState"].get<std::string>();
    const std::string state = StateName(row.state());
    if (state == "STOPPED" && at_microsoft == "none") {
      ++never_started;
    } else if (state == "STOPPED" && at_microsoft == "Stopped") {
      ++stopped_at_microsoft;
    } else {
      EXPECT_TRUE(state == "SUCCESS" && at_microsoft == "Success")
          << row.source_user_principal_name() << ": report " << state << ", emulator " << at_microsoft;
    }
  }
  EXPECT_GT(never_started, 0);
  EXPECT_GT(stopped_at_microsoft, 0);
  EXPECT_EQ(emulator_.Admin("GET", "/_emulator/accounting")["moves"]["duplicates"].get<int>(), 0);
}

// Post-migration with redirect clean-up: every moved user's redirect site is removed (Remove-SPOSite)
// and the removal is noted on the user; the source geos list no redirect site afterwards.
TEST_F(MigrationTest, RedirectCleanupRemovesEveryMovedUsersRedirectSite) {
  MeshSeed seed;
  seed.nam_users = 12;
  seed.eur_users = 3;
  ASSERT_TRUE(StartMesh(seed, 3000, 1));
  v1::MigrationOptions options;
  options.set_redirect_cleanup(v1::REDIRECT_CLEANUP_REMOVE);
  ASSERT_TRUE(Create("redirects", options));
  const v1::Migration migration = WaitUntil("migrations/redirects", Ended, absl::Seconds(60));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();

  grpc::ClientContext context;
  v1::ListUserMovesRequest list;
  list.set_parent("migrations/redirects");
  list.set_page_size(100);
  v1::ListUserMovesResponse moves;
  ASSERT_TRUE(orchestrator_.stub().ListUserMoves(&context, list, &moves).ok());
  ASSERT_EQ(moves.user_moves_size(), 15);
  for (const v1::UserMove& user : moves.user_moves()) {
    ASSERT_EQ(user.findings_size(), 1) << user.DebugString();
    EXPECT_EQ(user.findings(0).code(), "REDIRECT_REMOVED") << user.DebugString();
  }
  for (const char* geo : {"connections/contoso/geos/nam", "connections/contoso/geos/eur"}) {
    grpc::ClientContext list_context;
    v1::ListRedirectSitesRequest redirects;
    redirects.set_geo(geo);
    v1::ListRedirectSitesResponse sites;
    ASSERT_TRUE(connector_.stub().ListRedirectSites(&list_context, redirects, &sites).ok());
    EXPECT_EQ(sites.redirect_sites_size(), 0) << geo << ": " << sites.DebugString();
  }
}

// Redirect sites kept by the migration, listed through the connector while SharePoint pages them in
// fours: pages of five are filled across SharePoint's pages (NextStartIndexFromSharePoint), nothing is
// listed twice or skipped, and removing every site (RemoveSite, its SpoOperation polled) empties the geo.
TEST_F(MigrationTest, RedirectSitesArePagedAcrossSharePointsPagesAndRemoved) {
  MeshSeed seed;
  seed.nam_users = 12;
  seed.eur_users = 0;
  ASSERT_TRUE(StartMesh(seed, 3000, 1));
  v1::MigrationOptions options;
  options.set_redirect_cleanup(v1::REDIRECT_CLEANUP_KEEP);
  ASSERT_TRUE(Create("kept", options));
  const v1::Migration migration = WaitUntil("migrations/kept", Ended, absl::Seconds(60));
  ASSERT_EQ(migration.state(), v1::MIGRATION_STATE_COMPLETED) << migration.DebugString();
  emulator_.Admin("PUT", "/_emulator/faults", {{"site_page_size", 4}});

  auto list_all = [this](std::vector<int>* page_sizes) {
    std::vector<std::string> urls;
    v1::ListRedirectSitesRequest request;
    request.set_geo("connections/contoso/geos/nam");
    request.set_page_size(5);
    do {
      grpc::ClientContext context;
      v1::ListRedirectSitesResponse page;
      grpc::Status status = connector_.stub().ListRedirectSites(&context, request, &page);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      if (page_sizes) page_sizes->push_back(page.redirect_sites_size());
      for (const v1::RedirectSite& site : page.redirect_sites()) {
        urls.push_back(site.url());
        EXPECT_TRUE(site.has_create_time()) << site.DebugString();
      }
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    return urls;
  };
  std::vector<int> page_sizes;
  std::vector<std::string> urls = list_all(&page_sizes);
  EXPECT_EQ(page_sizes, (std::vector<int>{5, 5, 2}));
  ASSERT_EQ(urls.size(), 12u);
  EXPECT_EQ(std::set<std::string>(urls.begin(), urls.end()).size(), 12u) << "a site listed twice";
  for (const std::string& url : urls) {
    grpc::ClientContext context;
    v1::RemoveRedirectSiteRequest remove;
    remove.set_geo("connections/contoso/geos/nam");
    remove.set_url(url);
    v1::RemoveRedirectSiteResponse removed;
    grpc::Status status = connector_.stub().RemoveRedirectSite(&context, remove, &removed);
    ASSERT_TRUE(status.ok()) << url << ": " << status.error_message();
  }
  EXPECT_TRUE(list_all(nullptr).empty());
}

}  // namespace
}  // namespace crosstenant::testing
