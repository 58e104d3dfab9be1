#include "services/orchestrator/core/identity_map_input.h"

#include "services/identity_map/identity_map_proto.h"

namespace crosstenant::orchestrator {

namespace im = ::crosstenant::identity_map;

ParsedIdentityMap ParseIdentityMapInput(const crosstenant::v1::IdentityMapInput& input,
                                        const std::string& expected_source_tenant_id) {
  ParsedIdentityMap parsed;
  im::ValidationOptions options;
  options.expected_source_tenant_id = expected_source_tenant_id;
  std::vector<im::Problem> problems;
  switch (input.content_case()) {
    case crosstenant::v1::IdentityMapInput::kCsv: {
      im::ParseResult result = im::ParseCsv(input.csv(), options);
      parsed.map = std::move(result.map);
      problems = std::move(result.problems);
      parsed.given = true;
      break;
    }
    case crosstenant::v1::IdentityMapInput::kRows: {
      parsed.map = im::FromRows(input.rows(), &problems);
      std::vector<im::Problem> found = im::Validate(parsed.map, options);
      problems.insert(problems.end(), found.begin(), found.end());
      parsed.given = true;
      break;
    }
    case crosstenant::v1::IdentityMapInput::kUpload:  // staged: checked as it was uploaded
    case crosstenant::v1::IdentityMapInput::CONTENT_NOT_SET:
      break;
  }
  for (const im::Problem& problem : problems) {
    auto& out = parsed.problems.emplace_back();
    out.set_line(problem.line);
    out.set_column(problem.column);
    out.set_field(problem.field);
    out.set_code(problem.code);
    out.set_message(problem.message);
  }
  parsed.summary = im::Summarize(parsed.map);
  return parsed;
}

}  // namespace crosstenant::orchestrator
