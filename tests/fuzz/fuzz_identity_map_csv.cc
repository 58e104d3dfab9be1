// Fuzzes identity_map::ParseCsv, the parser of the identity-map CSV admins upload (step 5).
//
// Besides crashes and sanitizer reports it checks what the parser promises:
//  - every problem has a line >= 1, a column in 0..6 and a code;
//  - a map with no problems passes Validate() too, and survives ToCsv() -> ParseCsv() unchanged
//    (the orchestrator and the connector hand maps on in exactly that way).
// The first input byte, when it is '!', makes the rest of the first line the expected source tenant.

#include <cstddef>
#include <cstdint>
#include <string>

#include "services/identity_map/identity_map.h"
#include "tests/fuzz/fuzz_check.h"

namespace crosstenant::identity_map {
namespace {

bool SameUser(const UserMapping& a, const UserMapping& b) {
  return a.source_tenant_id == b.source_tenant_id && a.source_upn == b.source_upn && a.target_upn == b.target_upn &&
         a.target_email == b.target_email && a.user_type == b.user_type;
}

bool SameGroup(const GroupMapping& a, const GroupMapping& b) {
  return a.source_tenant_id == b.source_tenant_id && a.source_group_id == b.source_group_id &&
         a.target_group_id == b.target_group_id && a.group_name == b.group_name && a.group_type == b.group_type;
}

void CheckProblems(const std::vector<Problem>& problems) {
  for (const Problem& problem : problems) {
    FUZZ_CHECK(problem.line >= 1, "problem " << problem.code << " has line " << problem.line);
    FUZZ_CHECK(problem.column >= 0 && problem.column <= 6,
               "problem " << problem.code << " has column " << problem.column);
    FUZZ_CHECK(!problem.code.empty() && !problem.message.empty(), "a problem without code or message");
    FUZZ_CHECK(problem.column == 0 || !problem.field.empty(), "problem " << problem.code << " names no field");
  }
}

}  // namespace
}  // namespace crosstenant::identity_map

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace crosstenant::identity_map;
  std::string csv(reinterpret_cast<const char*>(data), size);
  ValidationOptions options;
  if (!csv.empty() && csv[0] == '!') {
    size_t end = csv.find('\n');
    options.expected_source_tenant_id = csv.substr(1, end == std::string::npos ? std::string::npos : end - 1);
    csv = end == std::string::npos ? "" : csv.substr(end + 1);
  }
  ParseResult result = ParseCsv(csv, options);
  CheckProblems(result.problems);
  if (!result.problems.empty()) return 0;

  std::vector<Problem> revalidated = Validate(result.map, options);
  FUZZ_CHECK(revalidated.empty(), "ParseCsv found no problem but Validate found "
                                      << revalidated.size() << ", the first " << revalidated[0].code << ": "
                                      << revalidated[0].message);
  const std::string written = ToCsv(result.map);
  ParseResult again = ParseCsv(written, options);
  FUZZ_CHECK(again.problems.empty(), "ToCsv wrote a map that ParseCsv refuses: line " << again.problems[0].line << " "
                                                                                      << again.problems[0].code << ": "
                                                                                      << again.problems[0].message);
  FUZZ_CHECK(again.map.users.size() == result.map.users.size() && again.map.groups.size() == result.map.groups.size(),
             "ToCsv -> ParseCsv changed the number of rows");
  for (size_t i = 0; i < again.map.users.size(); ++i) {
    FUZZ_CHECK(SameUser(again.map.users[i], result.map.users[i]), "ToCsv -> ParseCsv changed user row " << i);
  }
  for (size_t i = 0; i < again.map.groups.size(); ++i) {
    FUZZ_CHECK(SameGroup(again.map.groups[i], result.map.groups[i]), "ToCsv -> ParseCsv changed group row " << i);
  }
  return 0;
}
