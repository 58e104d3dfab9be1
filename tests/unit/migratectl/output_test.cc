// Output formats of migratectl (table, CSV, JSON) and the progress lines and bars, pinned by golden files.

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "clients/migratectl/output.h"
#include "clients/migratectl/progress.h"
#include "clients/migratectl/views.h"
#include "tests/unit/migratectl/golden.h"

namespace crosstenant::migratectl {
namespace {
namespace v1 = crosstenant::v1;
using testing::ExpectGolden;

google::protobuf::Timestamp At(int64_t seconds) {
  google::protobuf::Timestamp time;
  time.set_seconds(seconds);
  return time;
}

constexpr int64_t kNoon = 1795867200;  // 2026-11-28T12:00:00Z

std::vector<v1::MigrationReportRow> ReportRows() {
  std::vector<v1::MigrationReportRow> rows(3);
  rows[0].set_user_move("migrations/merger/users/alice@contoso.onmicrosoft.com");
  rows[0].set_source_user_principal_name("alice@contoso.onmicrosoft.com");
  rows[0].set_target_user_principal_name("alice@fabrikam.onmicrosoft.com");
  rows[0].set_source_location_code("connections/contoso/geos/nam");
  rows[0].set_target_location_code("connections/fabrikam/geos/nam");
  rows[0].set_state(v1::USER_MOVE_STATE_SUCCESS);
  *rows[0].mutable_queue_time() = At(kNoon + 30);
  *rows[0].mutable_start_time() = At(kNoon + 60);
  *rows[0].mutable_end_time() = At(kNoon + 960);
  // Microsoft's clock disagrees with the mesh's: a report shows one of them, never both in a row.
  *rows[0].mutable_microsoft_start_time() = At(kNoon + 3 * 3600 + 120);
  *rows[0].mutable_microsoft_end_time() = At(kNoon + 40);
  rows[0].set_attempts(1);
  rows[0].set_source_site_url("https://contoso-my.sharepoint.com/personal/alice_contoso_onmicrosoft_com");
  rows[0].set_target_site_url("https://fabrikam-my.sharepoint.com/personal/alice_fabrikam_onmicrosoft_com");
  rows[1].set_user_move("migrations/merger/users/taken@contoso.onmicrosoft.com");
  rows[1].set_source_user_principal_name("taken@contoso.onmicrosoft.com");
  rows[1].set_target_user_principal_name("taken@fabrikam.onmicrosoft.com");
  rows[1].set_source_location_code("NAM");
  rows[1].set_target_location_code("NAM");
  rows[1].set_state(v1::USER_MOVE_STATE_BLOCKED);
  *rows[1].mutable_end_time() = At(kNoon + 5);
  rows[1].set_error_code("TARGET_ONEDRIVE_EXISTS");
  rows[1].set_error_message("the target user already has a OneDrive, \"taken\": Microsoft refuses it");
  rows[2].set_user_move("migrations/merger/users/zoë@contoso.onmicrosoft.com");
  rows[2].set_source_user_principal_name("zoë@contoso.onmicrosoft.com");
  rows[2].set_target_user_principal_name("zoe@fabrikam.onmicrosoft.com");
  rows[2].set_source_location_code("EUR");
  rows[2].set_target_location_code("NAM");
  rows[2].set_state(v1::USER_MOVE_STATE_IN_PROGRESS);
  *rows[2].mutable_queue_time() = At(kNoon + 90);
  *rows[2].mutable_start_time() = At(kNoon + 120);
  *rows[2].mutable_microsoft_start_time() = At(kNoon + 125);
  rows[2].set_attempts(2);
  return rows;
}

v1::GetMigrationReportResponse ReportSummary() {
  v1::GetMigrationReportResponse summary;
  summary.set_phase(v1::MIGRATION_PHASE_MOVES);
  summary.set_state(v1::MIGRATION_STATE_RUNNING);
  *summary.mutable_report_time() = At(kNoon + 1000);
  summary.mutable_counts()->set_total(3);
  for (auto state : {v1::USER_MOVE_STATE_BLOCKED, v1::USER_MOVE_STATE_IN_PROGRESS, v1::USER_MOVE_STATE_SUCCESS}) {
    auto* count = summary.mutable_counts()->add_by_state();
    count->set_state(state);
    count->set_count(1);
  }
  return summary;
}

TEST(MigratectlOutputTest, ReportAsAlignedTable) {
  ExpectGolden("report.table.txt", RenderTable(ReportTable(ReportRows())));
}

TEST(MigratectlOutputTest, ReportAsCsvWithEveryColumnAndQuoting) {
  ExpectGolden("report.csv", RenderCsv(ReportCsvTable(ReportRows())));
}

TEST(MigratectlOutputTest, ReportAsJson) {
  ExpectGolden("report.json", RenderJson(ReportJson("migrations/merger", ReportSummary(), ReportRows())));
}

TEST(MigratectlOutputTest, EachReportTimeColumnSaysItsClockAndARowShowsOneClock) {
  const std::string mesh = RenderTable(ReportTable(ReportRows()));
  EXPECT_THAT(mesh, ::testing::AllOf(::testing::HasSubstr("STARTED (mesh)"), ::testing::HasSubstr("ENDED (mesh)"),
                                     ::testing::HasSubstr("2026-11-28T12:01:00Z"),
                                     ::testing::Not(::testing::HasSubstr("2026-11-28T15:02:00Z")),
                                     ::testing::Not(::testing::HasSubstr("(Microsoft)"))));
  const std::string microsoft = RenderTable(ReportTable(ReportRows(), ReportClock::kMicrosoft));
  EXPECT_THAT(microsoft,
              ::testing::AllOf(::testing::HasSubstr("STARTED (Microsoft)"), ::testing::HasSubstr("ENDED (Microsoft)"),
                               ::testing::HasSubstr("2026-11-28T15:02:00Z"),
                               ::testing::Not(::testing::HasSubstr("2026-11-28T12:01:00Z")),
                               ::testing::Not(::testing::HasSubstr("mesh"))));
  ExpectGolden("report.microsoft.table.txt", microsoft);
  ExpectGolden("report.microsoft.csv", RenderCsv(ReportCsvTable(ReportRows(), ReportClock::kMicrosoft)));
  const nlohmann::json json = ReportJson("migrations/merger", ReportSummary(), ReportRows(), ReportClock::kMicrosoft);
  EXPECT_EQ(json["clock"], "microsoft");
  EXPECT_EQ(json["rows"][0]["microsoft_start_time"], "2026-11-28T15:02:00Z");
  EXPECT_FALSE(json["rows"][0].contains("mesh_start_time"));
  EXPECT_FALSE(json["rows"][0].contains("start_time"));
  EXPECT_EQ(*ParseReportClock("mesh"), ReportClock::kMesh);
  EXPECT_EQ(*ParseReportClock("microsoft"), ReportClock::kMicrosoft);
  EXPECT_FALSE(ParseReportClock("emulator").ok());
}

TEST(MigratectlOutputTest, ConnectionsTable) {
  v1::Connection source;
  source.set_name("connections/contoso");
  source.set_role(v1::CONNECTION_ROLE_SOURCE);
  source.set_state(v1::CONNECTION_STATE_CONNECTED);
  source.set_initial_domain("contoso.onmicrosoft.com");
  source.mutable_credential()->set_kind(v1::CREDENTIAL_KIND_CLIENT_SECRET);
  source.mutable_principal()->set_client_id("11111111-1111-4111-8111-111111111111");
  source.add_geos()->set_location_code("NAM");
  source.add_geos()->set_location_code("EUR");
  source.add_holders("migrations/merger");
  source.add_holders("migrations/pilot");
  v1::Connection target;
  target.set_name("connections/fabrikam");
  target.set_role(v1::CONNECTION_ROLE_TARGET);
  target.set_state(v1::CONNECTION_STATE_PENDING_SIGN_IN);
  target.set_admin_url("https://fabrikam-admin.sharepoint.com");
  target.mutable_credential()->set_kind(v1::CREDENTIAL_KIND_DEVICE_CODE);
  const Table table = ConnectionsTable({source, target});
  ExpectGolden("connections.table.txt", RenderTable(table));
  ExpectGolden("connections.csv", RenderCsv(table));
  ExpectGolden("connections.json", RenderJson(TableToJson(table)));
}

TEST(MigratectlOutputTest, CsvQuotesCommasQuotesAndLineBreaks) {
  Table table({"A", "B"});
  table.AddRow({"plain", "with, comma"});
  table.AddRow({"say \"hi\"", "two\nlines"});
  EXPECT_EQ(RenderCsv(table), "a,b\nplain,\"with, comma\"\n\"say \"\"hi\"\"\",\"two\nlines\"\n");
}

TEST(MigratectlOutputTest, TableAlignsByCharactersNotBytes) {
  Table table({"NAME", "N"});
  table.AddRow({"zoë", "1"});
  table.AddRow({"zoe", "2"});
  EXPECT_EQ(RenderTable(table), "NAME  N\nzoë   1\nzoe   2\n");
}

TEST(MigratectlOutputTest, FormatChoices) {
  EXPECT_EQ(*ParseOutputFormat("csv"), OutputFormat::kCsv);
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_FALSE(ParseOutputFormat("yaml").ok());
  EXPECT_EQ(FormatDurationShort(absl::Seconds(42)), "42s");
  EXPECT_EQ(FormatDurationShort(absl::Seconds(185)), "3m05s");
  EXPECT_EQ(FormatDurationShort(absl::Seconds(3720)), "1h02m");
  EXPECT_EQ(GeoCode("connections/contoso/geos/eur"), "EUR");
}

v1::Migration MigrationAt(v1::MigrationPhase phase, std::vector<std::pair<v1::UserMoveState, int>> counts) {
  v1::Migration m;
  m.set_name("migrations/merger");
  m.set_phase(phase);
  m.set_state(v1::MIGRATION_STATE_RUNNING);
  int total = 0;
  for (auto [state, n] : counts) {
    auto* count = m.mutable_counts()->add_by_state();
    count->set_state(state);
    count->set_count(n);
    total += n;
  }
  m.mutable_counts()->set_total(total);
  return m;
}

// A fake clock the test moves by hand.
struct FakeClock {
  absl::Time now = absl::FromUnixSeconds(kNoon);
  std::function<absl::Time()> Fn() {
    return [this] { return now; };
  }
};

TEST(MigratectlProgressTest, PipedOutputIsTimestampedLinesWithEta) {
  FakeClock clock;
  std::ostringstream out;
  ProgressPrinter progress(out, ProgressPrinter::Mode::kLines, clock.Fn());
  progress.Update(MigrationAt(v1::MIGRATION_PHASE_TARGET_USERS, {{v1::USER_MOVE_STATE_PENDING, 100}}));
  clock.now += absl::Seconds(2);
  progress.Update(
      MigrationAt(v1::MIGRATION_PHASE_MOVES, {{v1::USER_MOVE_STATE_BLOCKED, 4}, {v1::USER_MOVE_STATE_QUEUED, 96}}));
  clock.now += absl::Milliseconds(300);  // counts-only change within a second: no line
  progress.Update(MigrationAt(
      v1::MIGRATION_PHASE_MOVES,
      {{v1::USER_MOVE_STATE_BLOCKED, 4}, {v1::USER_MOVE_STATE_QUEUED, 90}, {v1::USER_MOVE_STATE_NOT_STARTED, 6}}));
  clock.now += absl::Seconds(10);
  progress.Update(MigrationAt(
      v1::MIGRATION_PHASE_MOVES,
      {{v1::USER_MOVE_STATE_BLOCKED, 4}, {v1::USER_MOVE_STATE_IN_PROGRESS, 48}, {v1::USER_MOVE_STATE_SUCCESS, 48}}));
  progress.Note("taken@contoso.onmicrosoft.com BLOCKED: TARGET_ONEDRIVE_EXISTS");
  v1::Migration done =
      MigrationAt(v1::MIGRATION_PHASE_DONE, {{v1::USER_MOVE_STATE_BLOCKED, 4}, {v1::USER_MOVE_STATE_SUCCESS, 96}});
  done.set_state(v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS);
  done.set_state_reason("96 of 100 user(s) moved");
  clock.now += absl::Seconds(5);
  progress.Update(done);
  progress.Finish();
  ExpectGolden("progress.lines.txt", out.str());
}

TEST(MigratectlProgressTest, TerminalOutputRedrawsBarsInPlace) {
  FakeClock clock;
  std::ostringstream out;
  ProgressPrinter progress(out, ProgressPrinter::Mode::kBars, clock.Fn());
  progress.Update(
      MigrationAt(v1::MIGRATION_PHASE_MOVES, {{v1::USER_MOVE_STATE_BLOCKED, 4}, {v1::USER_MOVE_STATE_QUEUED, 96}}));
  clock.now += absl::Seconds(20);
  progress.Update(MigrationAt(v1::MIGRATION_PHASE_MOVES, {{v1::USER_MOVE_STATE_BLOCKED, 4},
                                                          {v1::USER_MOVE_STATE_QUEUED, 40},
                                                          {v1::USER_MOVE_STATE_IN_PROGRESS, 20},
                                                          {v1::USER_MOVE_STATE_SUCCESS, 36}}));
  progress.Finish();
  const std::string text = out.str();
  // The second block starts by moving the cursor up over the first one (4 lines) and clearing.
  EXPECT_NE(text.find("\033[4F\033[J"), std::string::npos) << text;
  ExpectGolden("progress.bars.txt", text);
}

}  // namespace
}  // namespace crosstenant::migratectl

namespace crosstenant::migratectl {
namespace {
namespace v1 = crosstenant::v1;

TEST(MigratectlProgressTest, CountsFollowEachUserTransition) {
  v1::UserMoveCounts counts;
  counts.set_total(3);
  auto* pending = counts.add_by_state();
  pending->set_state(v1::USER_MOVE_STATE_PENDING);
  pending->set_count(3);
  ApplyUserTransition(&counts, v1::USER_MOVE_STATE_PENDING, v1::USER_MOVE_STATE_QUEUED);
  ApplyUserTransition(&counts, v1::USER_MOVE_STATE_PENDING, v1::USER_MOVE_STATE_BLOCKED);
  ApplyUserTransition(&counts, v1::USER_MOVE_STATE_QUEUED, v1::USER_MOVE_STATE_SUCCESS);
  ApplyUserTransition(&counts, v1::USER_MOVE_STATE_PENDING, v1::USER_MOVE_STATE_QUEUED);
  // In enum order, without the states nobody is in any more.
  EXPECT_EQ(CountsSummary(counts), "blocked 1, queued 1, success 1");
  EXPECT_EQ(DoneCount(counts), 2);
}

}  // namespace
}  // namespace crosstenant::migratectl
