#ifndef CROSSTENANT_TESTS_UNIT_MIGRATECTL_GOLDEN_H_
#define CROSSTENANT_TESTS_UNIT_MIGRATECTL_GOLDEN_H_

// Golden files for migratectl's output formats: tests/unit/migratectl/golden/<name>. A test compares
// what it printed with the file; run with UPDATE_GOLDEN=1 to rewrite the files after a deliberate
// change, then review the diff.

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace crosstenant::migratectl::testing {

inline std::string GoldenPath(const std::string& name) {
  return std::string(CROSSTENANT_SOURCE_DIR) + "/tests/unit/migratectl/golden/" + name;
}

inline void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path = GoldenPath(name);
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing golden file " << path << " (run the test with UPDATE_GOLDEN=1 to create it)";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(expected.str(), actual) << "output differs from " << path << " (UPDATE_GOLDEN=1 rewrites it)";
}

}  // namespace crosstenant::migratectl::testing

#endif  // CROSSTENANT_TESTS_UNIT_MIGRATECTL_GOLDEN_H_
