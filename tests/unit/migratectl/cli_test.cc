// migratectl's command line without a server: help, usage errors, local validation and exit codes.

#include <sstream>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "clients/migratectl/cli.h"
#include "tests/unit/migratectl/run_cli.h"
#include "tests/support/server_process.h"

namespace crosstenant::migratectl {
namespace {

TEST(MigratectlCliTest, HelpNamesEveryStepAndTheCmdletItReplaces) {
  CliResult r = RunCli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* text :
       {"Connect-SPOService", "Set-SPOCrossTenantRelationship", "Verify-SPOCrossTenantRelationship",
        "Add-SPOTenantIdentityMap", "Get-SPOCrossTenantCompatibilityStatus", "Start-SPOCrossTenantUserContentMove",
        "Stop-SPOCrossTenantUserContentMove", "Get-SPOCrossTenantUserContentMoveState", "RedirectSite#0",
        "Remove-SPOSite", "Remove-SPOCrossTenantRelationship", "Exit codes:", "MIGRATECTL_ORCHESTRATOR"}) {
    EXPECT_TRUE(absl::StrContains(r.out, text)) << text;
  }
}

TEST(MigratectlCliTest, EveryCommandHasHelp) {
  for (std::vector<std::string> command : {std::vector<std::string>{"connect"},
                                           {"connections"},
                                           {"connections", "show"},
                                           {"connections", "delete"},
                                           {"preflight"},
                                           {"trust", "establish"},
                                           {"trust", "verify"},
                                           {"trust", "remove"},
                                           {"compatibility"},
                                           {"identity-map", "validate"},
                                           {"identity-map", "upload"},
                                           {"identity-map", "generate"},
                                           {"migrate", "start"},
                                           {"migrate", "status"},
                                           {"migrate", "pause"},
                                           {"migrate", "resume"},
                                           {"migrate", "cancel"},
                                           {"migrate", "report"},
                                           {"redirects", "list"},
                                           {"redirects", "remove"}}) {
    command.push_back("--help");
    CliResult r = RunCli(command);
    EXPECT_EQ(r.exit_code, 0) << command[0];
    EXPECT_TRUE(absl::StartsWith(r.out, "migratectl " + command[0])) << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "--orchestrator=HOST:PORT")) << command[0];
    EXPECT_TRUE(absl::StrContains(r.out, "Exit codes:")) << command[0];
  }
}

TEST(MigratectlCliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(RunCli({}).exit_code, 2);
  CliResult unknown = RunCli({"teleport"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(unknown.err, "unknown command 'teleport'")) << unknown.err;
  CliResult flag = RunCli({"migrate", "status", "--colour=blue"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(flag.err, "unknown flag --colour")) << flag.err;
  CliResult missing = RunCli({"migrate", "pause"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(missing.err, "missing NAME")) << missing.err;
  CliResult group = RunCli({"trust"});
  EXPECT_EQ(group.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(group.err, "migratectl trust verify")) << group.err;
  EXPECT_EQ(RunCli({"connect", "--role=source"}).exit_code, 2);  // no admin URL, no credential
  EXPECT_EQ(RunCli({"connect", "--role=source", "https://contoso-admin.sharepoint.com", "--device-code",
                    "--username=admin@contoso.onmicrosoft.com"})
                .exit_code,
            2);  // two credential kinds
}

TEST(MigratectlCliTest, TrailingUnknownFlagIsUnknownAndTheValidFlagsAreListed) {
  CliResult r = RunCli({"migrate", "status", "--x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "unknown flag --x")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "needs a value")) << r.err;
  for (const char* flag : {"--watch", "--timeout", "--orchestrator", "--format"}) {
    EXPECT_TRUE(absl::StrContains(r.err, flag)) << flag << " in " << r.err;
  }
  CliResult middle = RunCli({"migrate", "status", "--x", "merger"});
  EXPECT_EQ(middle.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(middle.err, "unknown flag --x")) << middle.err;
  // A known flag at the end without its value still says so.
  CliResult value = RunCli({"preflight", "--source"});
  EXPECT_EQ(value.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(value.err, "flag --source needs a value")) << value.err;
}

// Global flags may come before the command; a command's own flags after it, in any order with its
// arguments. The flags' declarations say which take a value: a switch leaves the next word an argument.
TEST(MigratectlCliTest, GlobalFlagsLeadAndTheCommandsFlagsFollowItsWords) {
  CliResult lead = RunCli({"--orchestrator", "127.0.0.1:1", "--deadline", "300ms", "migrate", "status", "wave1"});
  EXPECT_EQ(lead.exit_code, 8) << lead.err;
  EXPECT_TRUE(absl::StrContains(lead.err, "127.0.0.1:1")) << "the global flag's value was read: " << lead.err;

  CliResult switch_then_argument =
      RunCli({"migrate", "status", "--watch", "wave1", "--orchestrator", "127.0.0.1:1", "--deadline=300ms"});
  EXPECT_EQ(switch_then_argument.exit_code, 8) << switch_then_argument.err;
  EXPECT_FALSE(absl::StrContains(switch_then_argument.err, "missing NAME")) << switch_then_argument.err;

  CliResult two = RunCli({"migrate", "status", "wave1", "--watch", "wave2"});
  EXPECT_EQ(two.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(two.err, "unexpected argument 'wave2'")) << two.err;

  CliResult early = RunCli({"--watch", "migrate", "status", "wave1"});
  EXPECT_EQ(early.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(early.err, "--watch is not a global flag")) << early.err;
  EXPECT_TRUE(absl::StrContains(early.err, "COMMAND [flags]")) << early.err;
}

TEST(MigratectlCliTest, MisspeltCommandIsUnknownWithTheClosestSuggested) {
  CliResult group = RunCli({"mirgate", "start"});
  EXPECT_EQ(group.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(group.err, "unknown command 'mirgate'; did you mean 'migrate'?")) << group.err;
  CliResult command = RunCli({"migrate", "strat", "--plan=p.yaml"});
  EXPECT_EQ(command.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(command.err, "unknown command 'migrate strat'; did you mean 'migrate start'?"))
      << command.err;
  EXPECT_TRUE(absl::StrContains(command.err, "migratectl migrate report")) << command.err;
  CliResult trust = RunCli({"trust", "verfy"});
  EXPECT_TRUE(absl::StrContains(trust.err, "did you mean 'trust verify'?")) << trust.err;
  CliResult far = RunCli({"teleport"});
  EXPECT_TRUE(absl::StrContains(far.err, "unknown command 'teleport'")) << far.err;
  EXPECT_FALSE(absl::StrContains(far.err, "did you mean")) << far.err;
}

TEST(MigratectlCliTest, UnreadablePlanSaysWhy) {
  CliResult r = RunCli({"migrate", "start", "--plan=/nonexistent/wave1.yaml"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(r.err, "cannot read the plan file /nonexistent/wave1.yaml: No such file or directory"))
      << r.err;
}

TEST(MigratectlCliTest, BadFlagValuesAreInvalidInput) {
  CliResult r = RunCli({"migrate", "status", "--format=yaml"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(r.err, "'yaml' is not an output format")) << r.err;
  EXPECT_EQ(RunCli({"migrate", "status", "--deadline=soon"}).exit_code, 3);
}

TEST(MigratectlCliTest, PlanFileProblemsNameTheLine) {
  testing::TempDir dir;
  const std::string plan = dir.WriteFile("wave1.yaml",
                                         "source: contoso\ntarget: fabrikam\nidentity_map: m.csv\n"
                                         "options:\n  redirect_cleanup: shred\n");
  CliResult r = RunCli({"migrate", "start", "--plan=" + plan});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(r.err, plan + ":5:21: options.redirect_cleanup")) << r.err;
}

TEST(MigratectlCliTest, IdentityMapProblemsAreListedWithFileLineAndColumn) {
  testing::TempDir dir;
  const std::string map = dir.WriteFile(
      "map.csv",
      "User,7f1d1c1e-0000-4000-8000-000000000001,alice@contoso.onmicrosoft.com,alice@fabrikam.onmicrosoft.com,"
      "alice@fabrikam.com,RegularUser\n"
      "User,not-a-guid,bob@contoso.onmicrosoft.com,alice@fabrikam.onmicrosoft.com,bob@fabrikam.com,RegularUser\n"
      "User,7f1d1c1e-0000-4000-8000-000000000001,carol@contoso.onmicrosoft.com\n");
  CliResult r = RunCli({"identity-map", "validate", map});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, map + ":2:2")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "BAD_GUID")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "DUPLICATE_TARGET")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, map + ":3")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "WRONG_COLUMN_COUNT")) << r.out;

  // The same map given to `migrate start` stops before any call, each problem as `field: description`.
  const std::string plan = dir.WriteFile("plan.yaml", "source: contoso\ntarget: fabrikam\nidentity_map: map.csv\n");
  CliResult start = RunCli({"migrate", "start", "--plan=" + plan});
  EXPECT_EQ(start.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(start.err, "  " + map + ":2:2: BAD_GUID")) << start.err;

  const std::string good = dir.WriteFile("good.csv",
                                         "User,7f1d1c1e-0000-4000-8000-000000000001,alice@contoso.onmicrosoft.com,"
                                         "alice@fabrikam.onmicrosoft.com,alice@fabrikam.com,RegularUser\n");
  CliResult valid = RunCli({"identity-map", "validate", good});
  EXPECT_EQ(valid.exit_code, 0) << valid.err;
  EXPECT_TRUE(absl::StrContains(valid.out, "valid: 1 users, 0 groups")) << valid.out;
}

TEST(MigratectlCliTest, NoServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there.
  CliResult r = RunCli({"connections", "--connector=127.0.0.1:1", "--deadline=2s"});
  EXPECT_EQ(r.exit_code, 8) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "UNAVAILABLE")) << r.err;
}

TEST(MigratectlCliTest, Version) {
  CliResult r = RunCli({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(absl::StartsWith(r.out, "migratectl ")) << r.out;
}

}  // namespace
}  // namespace crosstenant::migratectl
