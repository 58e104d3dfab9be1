#ifndef CROSSTENANT_CLIENTS_MIGRATECTL_CLI_H_
#define CROSSTENANT_CLIENTS_MIGRATECTL_CLI_H_

// migratectl: the operator's tool for Microsoft's cross-tenant OneDrive migration on the crosstenant
// mesh. One command per step of Microsoft's procedure, each replacing the cmdlets it names:
//
//   migratectl [global flags] COMMAND [SUBCOMMAND] [flags] [arguments]
//   migratectl connect --role=source https://contoso-admin.sharepoint.com --client-id=... --client-secret-file=...
//   migratectl migrate start --plan=plan.yaml --watch
//
// `migratectl --help` lists the commands with the cmdlets they replace, the global flags and the exit
// codes (exit_codes.h); `migratectl COMMAND --help` describes one command.

#include <ostream>

namespace crosstenant::migratectl {

// Runs the command line; returns the process exit code. `out_is_terminal` chooses the progress style
// (bars on a terminal, timestamped lines otherwise).
int Main(int argc, char** argv, std::ostream& out, std::ostream& err, bool out_is_terminal);

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_CLIENTS_MIGRATECTL_CLI_H_
