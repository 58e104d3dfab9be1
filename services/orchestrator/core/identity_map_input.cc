#include "services/orchestrator/core/identity_map_input.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"

namespace crosstenant::orchestrator {
namespace {

namespace im = ::crosstenant::identity_map;

im::UserType FromProto(crosstenant::v1::IdentityUserType type) {
  switch (type) {
    case crosstenant::v1::IDENTITY_USER_TYPE_ADMIN_USER: return im::UserType::kAdminUser;
    case crosstenant::v1::IDENTITY_USER_TYPE_GUEST_USER: return im::UserType::kGuestUser;
    default: return im::UserType::kRegularUser;
  }
}

im::GroupType FromProto(crosstenant::v1::IdentityGroupType type) {
  return type == crosstenant::v1::IDENTITY_GROUP_TYPE_M365_GROUP ? im::GroupType::kM365Group
                                                                  : im::GroupType::kRegularGroup;
}

std::string Sha256Hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

}  // namespace

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
      int line = 0;
      for (const auto& entry : input.rows().entries()) {
        ++line;
        if (entry.has_user()) {
          const auto& user = entry.user();
          parsed.map.users.push_back({line, user.source_tenant_id(), user.source_user_principal_name(),
                                      user.target_user_principal_name(), user.target_user_email(),
                                      FromProto(user.user_type())});
        } else if (entry.has_group()) {
          const auto& group = entry.group();
          parsed.map.groups.push_back({line, group.source_tenant_id(), group.source_group_object_id(),
                                       group.target_group_object_id(), group.group_name(),
                                       FromProto(group.group_type())});
        } else {
          problems.push_back({line, 0, "", "BAD_ROW_KIND", "the row has neither a user nor a group mapping"});
        }
      }
      std::vector<im::Problem> found = im::Validate(parsed.map, options);
      problems.insert(problems.end(), found.begin(), found.end());
      parsed.given = true;
      break;
    }
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
  parsed.summary.set_user_rows(static_cast<int32_t>(parsed.map.users.size()));
  parsed.summary.set_group_rows(static_cast<int32_t>(parsed.map.groups.size()));
  parsed.summary.set_sha256(Sha256Hex(im::ToCsv(parsed.map)));
  return parsed;
}

}  // namespace crosstenant::orchestrator
