// migratectl: the operator's command-line tool (see cli.h).

#include <unistd.h>

#include <iostream>

#include "clients/migratectl/cli.h"

int main(int argc, char** argv) {
  return crosstenant::migratectl::Main(argc, argv, std::cout, std::cerr, isatty(STDOUT_FILENO) == 1);
}
