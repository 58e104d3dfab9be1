#include "services/tenant_connector/core/identity_map.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/identity_map/identity_map.h"
#include "services/tenant_connector/core/crypto.h"

namespace crosstenant::tenant_connector {
namespace {

namespace v1 = ::crosstenant::v1;
namespace im = ::crosstenant::identity_map;

im::IdentityMap FromRows(const v1::IdentityMapRows& rows) {
  im::IdentityMap map;
  int line = 0;
  for (const v1::IdentityMapEntry& entry : rows.entries()) {
    ++line;
    if (entry.has_user()) {
      const v1::UserIdentityMapping& u = entry.user();
      im::UserMapping out;
      out.line = line;
      out.source_tenant_id = u.source_tenant_id();
      out.source_upn = u.source_user_principal_name();
      out.target_upn = u.target_user_principal_name();
      out.target_email = u.target_user_email();
      out.user_type = u.user_type() == v1::IDENTITY_USER_TYPE_ADMIN_USER   ? im::UserType::kAdminUser
                      : u.user_type() == v1::IDENTITY_USER_TYPE_GUEST_USER ? im::UserType::kGuestUser
                                                                           : im::UserType::kRegularUser;
      map.users.push_back(std::move(out));
    } else if (entry.has_group()) {
      const v1::GroupIdentityMapping& g = entry.group();
      im::GroupMapping out;
      out.line = line;
      out.source_tenant_id = g.source_tenant_id();
      out.source_group_id = g.source_group_object_id();
      out.target_group_id = g.target_group_object_id();
      out.group_name = g.group_name();
      out.group_type = g.group_type() == v1::IDENTITY_GROUP_TYPE_M365_GROUP ? im::GroupType::kM365Group
                                                                            : im::GroupType::kRegularGroup;
      map.groups.push_back(std::move(out));
    }
  }
  return map;
}

}  // namespace

absl::StatusOr<ParsedIdentityMap> ParseIdentityMap(const v1::IdentityMapInput& input, bool allow_empty) {
  const bool csv = input.content_case() == v1::IdentityMapInput::kCsv;
  im::IdentityMap map;
  std::vector<im::Problem> problems;
  if (csv) {
    im::ParseResult result = im::ParseCsv(input.csv());
    map = std::move(result.map);
    problems = std::move(result.problems);
  } else if (input.content_case() == v1::IdentityMapInput::kRows) {
    map = FromRows(input.rows());
    problems = im::Validate(map);
  }
  if (map.users.empty() && map.groups.empty()) {
    if (allow_empty) {
      problems.erase(std::remove_if(problems.begin(), problems.end(),
                                    [](const im::Problem& p) { return p.code == "EMPTY_MAP"; }),
                     problems.end());
    } else if (problems.empty()) {
      return InvalidArgumentWithViolations("the identity map is invalid",
                                           {{"identity_map", "is required: give `csv` or `rows` with at least one row"}});
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
  for (const im::UserMapping& u : map.users) {
    v1::UserIdentityMapping* out = parsed.entries.emplace_back().mutable_user();
    out->set_source_tenant_id(u.source_tenant_id);
    out->set_source_user_principal_name(u.source_upn);
    out->set_target_user_principal_name(u.target_upn);
    out->set_target_user_email(u.target_email);
    out->set_user_type(u.user_type == im::UserType::kAdminUser   ? v1::IDENTITY_USER_TYPE_ADMIN_USER
                       : u.user_type == im::UserType::kGuestUser ? v1::IDENTITY_USER_TYPE_GUEST_USER
                                                                 : v1::IDENTITY_USER_TYPE_REGULAR_USER);
  }
  for (const im::GroupMapping& g : map.groups) {
    v1::GroupIdentityMapping* out = parsed.entries.emplace_back().mutable_group();
    out->set_source_tenant_id(g.source_tenant_id);
    out->set_source_group_object_id(g.source_group_id);
    out->set_target_group_object_id(g.target_group_id);
    out->set_group_name(g.group_name);
    out->set_group_type(g.group_type == im::GroupType::kM365Group ? v1::IDENTITY_GROUP_TYPE_M365_GROUP
                                                                  : v1::IDENTITY_GROUP_TYPE_REGULAR_GROUP);
  }
  parsed.summary.set_user_rows(static_cast<int32_t>(map.users.size()));
  parsed.summary.set_group_rows(static_cast<int32_t>(map.groups.size()));
  parsed.summary.set_sha256(HexLower(Sha256(im::ToCsv(map))));
  return parsed;
}

}  // namespace crosstenant::tenant_connector
