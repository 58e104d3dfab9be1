#include "services/tenant_connector/core/identity_map.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/identity_map/identity_map.h"
#include "services/identity_map/identity_map_proto.h"

namespace crosstenant::tenant_connector {

namespace v1 = ::crosstenant::v1;
namespace im = ::crosstenant::identity_map;

absl::StatusOr<ParsedIdentityMap> ParseIdentityMap(const v1::IdentityMapInput& input, bool allow_empty) {
  const bool csv = input.content_case() == v1::IdentityMapInput::kCsv;
  im::IdentityMap map;
  std::vector<im::Problem> problems;
  if (csv) {
    im::ParseResult result = im::ParseCsv(input.csv());
    map = std::move(result.map);
    problems = std::move(result.problems);
  } else if (input.content_case() == v1::IdentityMapInput::kRows) {
    map = im::FromRows(input.rows(), &problems);
    std::vector<im::Problem> found = im::Validate(map);
    problems.insert(problems.end(), found.begin(), found.end());
  }
  if (map.users.empty() && map.groups.empty()) {
    if (allow_empty) {
      problems.erase(
          std::remove_if(problems.begin(), problems.end(), [](const im::Problem& p) { return p.code == "EMPTY_MAP"; }),
          problems.end());
    } else if (problems.empty()) {
      return InvalidArgumentWithViolations(
          "the identity map is invalid", {{"identity_map", "is required: give `csv` or `rows` with at least one row"}});
    }
  }
  if (!problems.empty()) {
    std::vector<FieldViolation> violations;
    for (const im::Problem& problem : problems) {
      std::string field = csv ? absl::StrCat("identity_map.csv:", problem.line,
                                             problem.column > 0 ? absl::StrCat(":", problem.column) : "")
                              : absl::StrCat("identity_map.rows[", problem.line - 1, "]");
      violations.push_back({field, absl::StrCat(problem.code, ": ", problem.message)});
    }
    return InvalidArgumentWithViolations("the identity map is invalid", violations);
  }
  ParsedIdentityMap parsed;
  parsed.entries = im::ToEntries(map);
  parsed.summary = im::Summarize(map);
  return parsed;
}

}  // namespace crosstenant::tenant_connector
