// Validates a generated identity map of N rows (default 100,000) and compares the time with a plain
// read of the same file (read it, count its lines). Prints one table.
//
//   build/bin/identity_map_bench [rows]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "services/identity_map/identity_map.h"

namespace {

double Seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  const int rows = argc > 1 ? std::atoi(argv[1]) : 100000;
  const std::string path = "/tmp/crosstenant-identity-map-bench.csv";
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < rows; ++i) {
      out << "User,7f1d1c1e-0000-4000-8000-000000000001,user" << i << "@contoso.onmicrosoft.com,user" << i
          << "@fabrikam.onmicrosoft.com,user" << i << "@fabrikam.com,RegularUser\n";
    }
  }
  constexpr int kRuns = 5;
  double best_read = 1e9, best_validate = 1e9;
  size_t lines = 0, problems = 0, users = 0;
  for (int run = 0; run < kRuns; ++run) {
    auto start = std::chrono::steady_clock::now();
    std::string text = ReadFile(path);
    lines = 0;
    for (char c : text) lines += c == '\n';
    best_read = std::min(best_read, Seconds(std::chrono::steady_clock::now() - start));

    start = std::chrono::steady_clock::now();
    std::string again = ReadFile(path);
    crosstenant::identity_map::ParseResult result = crosstenant::identity_map::ParseCsv(again);
    best_validate = std::min(best_validate, Seconds(std::chrono::steady_clock::now() - start));
    problems = result.problems.size();
    users = result.map.users.size();
  }
  std::printf("identity map validation, %d rows (best of %d runs)\n", rows, kRuns);
  std::printf("%-34s %12s %14s\n", "case", "seconds", "rows/s");
  std::printf("%-34s %12.4f %14.0f\n", "plain read + line count", best_read, lines / best_read);
  std::printf("%-34s %12.4f %14.0f\n", "read + parse + validate", best_validate, users / best_validate);
  std::printf("ratio validate/read: %.1fx   users parsed: %zu   problems: %zu\n", best_validate / best_read, users,
              problems);
  std::remove(path.c_str());
  return problems == 0 && static_cast<int>(users) == rows ? 0 : 1;
}
