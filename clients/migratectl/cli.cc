#include "clients/migratectl/cli.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/migratectl/commands.h"
#include "clients/migratectl/exit_codes.h"
#include "clients/migratectl/invocation.h"
#include "services/common/build_info.h"

namespace crosstenant::migratectl {
namespace {

struct Command {
  const char* path;      // "trust establish"
  const char* step;      // Microsoft's step, for the overview
  const char* replaces;  // the cmdlet, for the overview
  absl::Status (*run)(Invocation&);
};

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"connect", "1", "Connect-SPOService -Url https://<tenant>-admin.sharepoint.com", RunConnect},
      {"connections", "1", "(one connection per PowerShell session; here all, with --watch)", RunConnections},
      {"connections show", "1", "", RunConnectionsShow},
      {"connections check", "1", "", RunConnectionsCheck},
      {"connections delete", "1", "Disconnect-SPOService", RunConnectionsDelete},
      {"preflight", "1-5", "the prerequisites, checked by hand", RunPreflight},
      {"trust establish", "2", "Get-SPOCrossTenantHostUrl + Set-SPOCrossTenantRelationship, both sides",
       RunTrustEstablish},
      {"trust verify", "3", "Verify-SPOCrossTenantRelationship, both sides (--wait for GoodToProceed)", RunTrustVerify},
      {"identity-map generate", "4", "the identity-map CSV written by hand", RunIdentityMapGenerate},
      {"identity-map validate", "5", "(checks Add-SPOTenantIdentityMap does not make)", RunIdentityMapValidate},
      {"identity-map upload", "5", "Add-SPOTenantIdentityMap -IdentityMapPath <file>, every target geo",
       RunIdentityMapUpload},
      {"compatibility", "5", "Get-SPOCrossTenantCompatibilityStatus -PartnerCrossTenantHostUrl <target>",
       RunCompatibility},
      {"migrate start", "2-7", "Start-SPOCrossTenantUserContentMove per user, in batches of 4,000", RunMigrateStart},
      {"migrate status", "6", "Get-SPOCrossTenantUserContentMoveState (--watch: live)", RunMigrateStatus},
      {"migrate pause", "6", "(stop queueing by hand)", RunMigratePause},
      {"migrate resume", "6", "-PreferredMoveBeginDate/-PreferredMoveEndDate of the next batch", RunMigrateResume},
      {"migrate cancel", "6", "Stop-SPOCrossTenantUserContentMove per user", RunMigrateCancel},
      {"migrate reconcile", "6", "Get-SPOCrossTenantUserContentMoveState per user in doubt", RunMigrateReconcile},
      {"migrate report", "6", "(a status script of your own); --format table|csv|json", RunMigrateReport},
      {"redirects list", "7", "Get-SPOSite -Template RedirectSite#0 -IncludePersonalSite $true", RunRedirectsList},
      {"redirects remove", "7", "Remove-SPOSite -Identity <url> (+ Remove-SPODeletedSite)", RunRedirectsRemove},
      {"trust remove", "7", "Remove-SPOCrossTenantRelationship, both sides", RunTrustRemove},
      {"audit list", "-", "(who changed what: the services' audit trails; -o table|jsonl)", RunAuditList},
      {"audit verify", "-", "(the audit trails' hash chains, checked)", RunAuditVerify},
  };
  return commands;
}

// Edit distance with adjacent transpositions counted as one edit ("mirgate" is one from "migrate").
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitution = d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, substitution});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// The command (or command group) closest to `typed`, compared word for word with as many words as
// were typed; "" when nothing is close enough to be a likely typo.
std::string ClosestCommand(absl::string_view typed) {
  const size_t typed_words = std::count(typed.begin(), typed.end(), ' ') + 1;
  std::string best;
  size_t best_distance = std::max<size_t>(2, typed.size() / 3) + 1;
  for (const Command& candidate : Commands()) {
    std::vector<absl::string_view> words = absl::StrSplit(candidate.path, ' ');
    if (words.size() < typed_words) continue;
    words.resize(typed_words);
    const std::string prefix = absl::StrJoin(words, " ");
    const size_t distance = EditDistance(typed, prefix);
    if (distance < best_distance) {
      best = prefix;
      best_distance = distance;
    }
  }
  return best;
}

std::string Overview() {
  std::string text =
      "migratectl: the operator's tool for Microsoft's cross-tenant OneDrive migration, on the crosstenant mesh.\n"
      "Both tenants stay connected at once (the tenant-connector holds them); the orchestrator runs steps 2-7\n"
      "unattended, and every step can also be run and checked by hand.\n\n"
      "Usage: migratectl [global flags] COMMAND [SUBCOMMAND] [flags] [arguments]\n"
      "       migratectl COMMAND --help\n\n";
  absl::StrAppend(
      &text, absl::StrFormat("%-5s %-23s %s\n", "STEP", "COMMAND", "REPLACES (SharePoint Online Management Shell)"));
  for (const Command& command : Commands()) {
    absl::StrAppend(&text, absl::StrFormat("%-5s %-23s %s\n", command.step, command.path, command.replaces));
  }
  absl::StrAppend(
      &text,
      "\nGlobal flags (any command; environment variables in brackets):\n"
      "  --connector=HOST:PORT        tenant-connector [MIGRATECTL_CONNECTOR], default 127.0.0.1:50051\n"
      "  --orchestrator=HOST:PORT     orchestrator [MIGRATECTL_ORCHESTRATOR], default 127.0.0.1:50052\n"
      "  --tls-ca=FILE                verify the servers with this CA; turns TLS on [MIGRATECTL_TLS_CA]\n"
      "  --tls-cert=FILE --tls-key=FILE  client certificate for mTLS [MIGRATECTL_TLS_CERT, _KEY]\n"
      "  --tls-server-name=NAME       name expected on the server certificate [MIGRATECTL_TLS_SERVER_NAME]\n"
      "  --deadline=DURATION          deadline of each call, default 30s [MIGRATECTL_DEADLINE]\n"
      "  --format=table|csv|json      output format, default table [MIGRATECTL_FORMAT]\n"
      "  --progress=auto|bars|lines   live progress style, default auto (bars on a terminal)\n"
      "  --help                       help of a command; --version the build\n\n"
      "A typical migration:\n"
      "  migratectl connect --role=source https://contoso-admin.sharepoint.com --client-id=ID --client-secret-file=F\n"
      "  migratectl connect --role=target https://fabrikam-admin.sharepoint.com --device-code\n"
      "  migratectl preflight --source=contoso-source --target=fabrikam-target --ignore=trust,compatibility\n"
      "  migratectl trust establish --source=contoso-source --target=fabrikam-target\n"
      "  migratectl trust verify --source=contoso-source --target=fabrikam-target --wait\n"
      "  migratectl identity-map generate --source=contoso-source --target=fabrikam-target --output=map.csv\n"
      "  migratectl identity-map upload map.csv --target=fabrikam-target\n"
      "  migratectl migrate start --plan=plan.yaml --watch\n"
      "  migratectl migrate report wave1 --format=csv --output=wave1.csv\n"
      "  migratectl redirects list --source=contoso-source\n"
      "  migratectl trust remove --source=contoso-source --target=fabrikam-target\n\n",
      ExitCodeHelp());
  return text;
}

}  // namespace

int Main(int argc, char** argv, std::ostream& out, std::ostream& err, bool out_is_terminal) {
  // The command line is [global flags] COMMAND WORDS [flags and arguments]. Only the global flags may
  // come before the command's words, so that their own declarations say which of them takes a value;
  // the command's flags are read by its own parse, which knows them.
  GlobalOptions global_defaults;
  SettingsTable global_flags("migratectl", "");
  AddGlobalFlags(global_flags, global_defaults);
  std::vector<std::string> leading_flags, positionals, rest;
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
    } else if (arg == "--version") {
      out << "migratectl " << kVersion << " (" << kRevision << ")\n";
      return 0;
    } else if (!rest.empty()) {
      rest.push_back(arg);
    } else if (!absl::StartsWith(arg, "-")) {
      positionals.push_back(arg);
    } else {
      // `--name` or `--name=value`; npos - 2 still reaches the end when there is no '='.
      const std::optional<bool> takes_value = absl::StartsWith(arg, "--") && arg.size() > 2
                                                  ? global_flags.FlagTakesValue(arg.substr(2, arg.find('=') - 2))
                                                  : std::nullopt;
      if (!takes_value.has_value()) {
        rest.push_back(arg);  // the command's own flags (or `--`) begin
        continue;
      }
      leading_flags.push_back(arg);
      if (*takes_value && arg.find('=') == std::string::npos && i + 1 < argc) leading_flags.push_back(argv[++i]);
    }
  }
  if (positionals.empty() && !rest.empty() && rest[0] != "--") {
    err << "migratectl: " << rest[0].substr(0, rest[0].find('='))
        << " is not a global flag, and a command's own flags come after the command: migratectl [global flags] "
           "COMMAND [flags] [arguments] (migratectl --help lists the global flags)\n";
    return static_cast<int>(ExitCode::kUsage);
  }
  if (positionals.empty() || positionals[0] == "help") {
    if (positionals.size() < 2) {
      (positionals.empty() && !help ? err : out) << Overview();
      return positionals.empty() && !help ? static_cast<int>(ExitCode::kUsage) : 0;
    }
    positionals.erase(positionals.begin());
    help = true;
  }
  const Command* command = nullptr;
  size_t words = 0;
  for (const Command& candidate : Commands()) {
    const std::vector<std::string> parts = absl::StrSplit(candidate.path, ' ');
    if (parts.size() > positionals.size() || parts.size() <= words) continue;
    if (std::equal(parts.begin(), parts.end(), positionals.begin())) {
      command = &candidate;
      words = parts.size();
    }
  }
  if (command == nullptr) {
    std::string group_commands;
    for (const Command& candidate : Commands()) {
      if (absl::StartsWith(candidate.path, positionals[0] + " "))
        absl::StrAppend(&group_commands, "  migratectl ", candidate.path, "\n");
    }
    if (!group_commands.empty() && positionals.size() == 1) {
      (help ? out : err) << "migratectl " << positionals[0] << " has these commands:\n" << group_commands;
      return help ? 0 : static_cast<int>(ExitCode::kUsage);
    }
    // A misspelt group ("mirgate start") or a misspelt command of a known group ("migrate strat").
    const std::string typed =
        group_commands.empty() ? positionals[0] : absl::StrCat(positionals[0], " ", positionals[1]);
    err << "migratectl: unknown command '" << typed << "'";
    if (std::string closest = ClosestCommand(typed); !closest.empty()) err << "; did you mean '" << closest << "'?";
    err << "\n";
    if (!group_commands.empty()) {
      err << "migratectl " << positionals[0] << " has these commands:\n" << group_commands;
    } else {
      err << "(see migratectl --help for the commands)\n";
    }
    return static_cast<int>(ExitCode::kUsage);
  }
  // The command's arguments: the global flags given before it, the words after its own, then the rest.
  std::vector<std::string> args = std::move(leading_flags);
  args.insert(args.end(), positionals.begin() + static_cast<long>(words), positionals.end());
  for (size_t i = 0; i < rest.size(); ++i) {
    // -o FORMAT, -oFORMAT, -o=FORMAT: --output-format of the commands that take it.
    if (absl::StartsWith(rest[i], "-o") && !absl::StartsWith(rest[i], "--")) {
      std::string value = rest[i].substr(2);
      if (absl::StartsWith(value, "=")) value.erase(0, 1);
      if (value.empty() && i + 1 < rest.size()) value = rest[++i];
      args.push_back("--output-format=" + value);
    } else {
      args.push_back(rest[i]);
    }
  }
  if (help) args.push_back("--help");
  Invocation invocation(command->path, std::move(args), OptionsFromEnvironment(), out, err, out_is_terminal);
  absl::Status status = invocation.ExplainConnectionFailure(command->run(invocation));
  out.flush();
  if (!status.ok()) {
    err << "migratectl " << command->path << ": " << DescribeError(status);
    // One line an admin can quote: the services' log lines about this command carry this id.
    if (invocation.called()) err << "migratectl: trace_id " << invocation.trace().trace_id << "\n";
  }
  return static_cast<int>(ExitCodeOf(status));
}

}  // namespace crosstenant::migratectl
