#ifndef CROSSTENANT_TESTS_UNIT_MIGRATECTL_RUN_CLI_H_
#define CROSSTENANT_TESTS_UNIT_MIGRATECTL_RUN_CLI_H_

// Runs migratectl's Main in-process, as a user would type `migratectl ARGS...`, and keeps what it printed.

#include <sstream>
#include <string>
#include <vector>

#include "clients/migratectl/cli.h"

namespace crosstenant::migratectl {

struct CliResult {
  int exit_code;
  std::string out;
  std::string err;
};

inline CliResult RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), "migratectl");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  std::ostringstream out, err;
  const int code = Main(static_cast<int>(argv.size()), argv.data(), out, err, /*out_is_terminal=*/false);
  return {code, out.str(), err.str()};
}

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_TESTS_UNIT_MIGRATECTL_RUN_CLI_H_
