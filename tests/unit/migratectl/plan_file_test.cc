// The plan file of `migratectl migrate start --plan`: every problem named with file, line and column.

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "clients/migratectl/plan_file.h"

namespace crosstenant::migratectl {
namespace {
namespace v1 = crosstenant::v1;

absl::StatusOr<PlanFile> Parse(const std::string& text) { return ParsePlan(text, "plan.yaml", "/plans", "plan"); }

TEST(MigratectlPlanFileTest, ReadsEveryKey) {
  absl::StatusOr<PlanFile> plan = Parse(R"(migration: wave-1
display_name: Contoso to Fabrikam, wave 1
source: contoso
target: connections/fabrikam
identity_map: maps/wave1.csv
window:
  begin: 2026-12-05T20:00:00Z
  end: 2026-12-06T06:00:00Z
options:
  validate_only: true
  max_queued_per_source_geo: 2000
  remove_trust_when_done: true
  redirect_cleanup: remove_permanently
)");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->migration_id, "wave-1");
  EXPECT_EQ(plan->display_name, "Contoso to Fabrikam, wave 1");
  EXPECT_EQ(plan->source_connection, "connections/contoso");
  EXPECT_EQ(plan->target_connection, "connections/fabrikam");
  EXPECT_EQ(plan->identity_map_path, "/plans/maps/wave1.csv");
  EXPECT_TRUE(plan->options.validate_only());
  EXPECT_EQ(plan->options.max_queued_per_source_geo(), 2000);
  EXPECT_TRUE(plan->options.remove_trust_when_done());
  EXPECT_EQ(plan->options.redirect_cleanup(), v1::REDIRECT_CLEANUP_REMOVE_PERMANENTLY);
  EXPECT_EQ(plan->options.window().preferred_begin_time().seconds(), 1796500800);  // 2026-12-05T20:00:00Z
  EXPECT_EQ(plan->options.window().preferred_end_time().seconds(), 1796536800);
}

TEST(MigratectlPlanFileTest, DefaultsAndAbsolutePaths) {
  absl::StatusOr<PlanFile> plan = Parse("source: contoso\ntarget: fabrikam\nidentity_map: /srv/map.csv\n");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->migration_id, "plan");
  EXPECT_EQ(plan->identity_map_path, "/srv/map.csv");
  EXPECT_FALSE(plan->options.has_window());
  EXPECT_EQ(plan->options.max_queued_per_source_geo(), 0);  // the server's default, 4000
  EXPECT_EQ(plan->options.redirect_cleanup(), v1::REDIRECT_CLEANUP_KEEP);
}

TEST(MigratectlPlanFileTest, EveryProblemAtOnceWithItsLineAndColumn) {
  absl::StatusOr<PlanFile> plan = Parse(R"(migration: Wave_1
source: contoso
target: contoso
identity_map: map.csv
window:
  begin: tomorrow
options:
  max_queued_per_source_geo: 5000
  redirect_cleanup: delete
  retries: 3
colour: blue
)");
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(plan.status().message());
  for (const char* expected :
       {"plan.yaml:1:12: migration: 'Wave_1' is not a migration id", "plan.yaml:3:9: target: must differ from source",
        "plan.yaml:6:10: window.begin: expected an RFC 3339 UTC time such as 2026-12-05T20:00:00Z, got 'tomorrow'",
        "plan.yaml:8:30: options.max_queued_per_source_geo: must be between 1 and 4000, got 5000",
        "plan.yaml:9:21: options.redirect_cleanup: expected keep, remove or remove_permanently, got 'delete'",
        "options.retries", "colour"}) {
    EXPECT_TRUE(absl::StrContains(message, expected)) << "missing: " << expected << "\nin:\n" << message;
  }
}

TEST(MigratectlPlanFileTest, MissingRequiredKeysAreNamed) {
  absl::StatusOr<PlanFile> plan = Parse("display_name: nothing else\n");
  ASSERT_FALSE(plan.ok());
  const std::string message(plan.status().message());
  EXPECT_TRUE(absl::StrContains(message, "source: required")) << message;
  EXPECT_TRUE(absl::StrContains(message, "target: required")) << message;
  EXPECT_TRUE(absl::StrContains(message, "identity_map: required")) << message;
}

TEST(MigratectlPlanFileTest, WindowMustEndAfterItBegins) {
  absl::StatusOr<PlanFile> plan = Parse(R"(source: a
target: b
identity_map: m.csv
window: {begin: 2026-12-06T06:00:00Z, end: 2026-12-05T20:00:00Z}
)");
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "window.end: must be after window.begin")) << plan.status();
}

TEST(MigratectlPlanFileTest, YamlSyntaxErrorNamesTheFile) {
  absl::StatusOr<PlanFile> plan = Parse("source: [contoso\n");
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "plan.yaml")) << plan.status();
}

TEST(MigratectlPlanFileTest, UnclosedQuoteIsReportedWhereItOpens) {
  for (const std::string& text :
       {std::string("migration: wave1\nsource: \"contoso\ntarget: fabrikam\nidentity_map: m.csv\n"),
        std::string("migration: wave1\nsource: 'contoso\ntarget: fabrikam\nidentity_map: m.csv\n")}) {
    absl::StatusOr<PlanFile> plan = Parse(text);
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(plan.status().message(), "plan.yaml:2:9: not valid YAML: the quoted text"))
        << plan.status();
    EXPECT_TRUE(absl::StrContains(plan.status().message(), "never closed")) << plan.status();
    EXPECT_FALSE(absl::StrContains(plan.status().message(), "required")) << plan.status();
  }
  // Closed quotes, escaped quotes and doubled single quotes are fine.
  EXPECT_TRUE(Parse("source: \"con\\\"toso\"\ntarget: 'fab''rikam'\nidentity_map: \"m.csv\"\n").ok());
}

TEST(MigratectlPlanFileTest, DuplicatedKeyNamesBothLines) {
  absl::StatusOr<PlanFile> plan = Parse(
      "source: contoso\ntarget: fabrikam\nidentity_map: m.csv\noptions:\n  validate_only: true\n"
      "  validate_only: false\nsource: northwind\n");
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(
      absl::StrContains(plan.status().message(), "plan.yaml:6:3: key 'validate_only' is given twice, on lines 5 and 6"))
      << plan.status();
  EXPECT_TRUE(
      absl::StrContains(plan.status().message(), "plan.yaml:7:1: key 'source' is given twice, on lines 1 and 7"))
      << plan.status();
}

TEST(MigratectlPlanFileTest, TheDemoPlanIsValid) {
  const std::string path = std::string(CROSSTENANT_SOURCE_DIR) + "/deploy/local/demo-plan.yaml";
  absl::StatusOr<PlanFile> plan = LoadPlanFile(path);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->migration_id, "merger");
  EXPECT_EQ(plan->source_connection, "connections/contoso");
  EXPECT_EQ(plan->identity_map_path, std::string(CROSSTENANT_SOURCE_DIR) + "/deploy/local/identity-map.csv");
}

TEST(MigratectlPlanFileTest, UnreadableFileIsInvalidInputNamingIt) {
  absl::StatusOr<PlanFile> plan = LoadPlanFile("/nonexistent/wave-2.yaml");
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "/nonexistent/wave-2.yaml")) << plan.status();
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "No such file or directory")) << plan.status();
}

TEST(MigratectlPlanFileTest, NamesGetTheirCollectionPrefix) {
  EXPECT_EQ(ConnectionName("contoso"), "connections/contoso");
  EXPECT_EQ(ConnectionName("connections/contoso"), "connections/contoso");
  EXPECT_EQ(MigrationName("merger"), "migrations/merger");
}

}  // namespace
}  // namespace crosstenant::migratectl
