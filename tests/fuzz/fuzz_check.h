#ifndef CROSSTENANT_TESTS_FUZZ_FUZZ_CHECK_H_
#define CROSSTENANT_TESTS_FUZZ_FUZZ_CHECK_H_

// FUZZ_CHECK(condition, message): the property every fuzz target asserts besides "no crash and no
// sanitizer report". On failure it prints the condition and the message and aborts, so that libFuzzer
// saves the input as a crash, like any other finding.
//
//   FUZZ_CHECK(again.ok(), "the canonical URL " << url << " does not parse again");

#include <cstdlib>
#include <iostream>

#define FUZZ_CHECK(condition, message)                                                                             \
  do {                                                                                                             \
    if (!(condition)) {                                                                                            \
      std::cerr << __FILE__ << ":" << __LINE__ << ": FUZZ_CHECK(" #condition ") failed: " << message << std::endl; \
      std::abort();                                                                                                \
    }                                                                                                              \
  } while (false)

#endif  // CROSSTENANT_TESTS_FUZZ_FUZZ_CHECK_H_
