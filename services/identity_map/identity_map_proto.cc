#include "services/identity_map/identity_map_proto.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"

namespace crosstenant::identity_map {
namespace {

namespace v1 = ::crosstenant::v1;

UserType FromProto(v1::IdentityUserType type) {
  switch (type) {
    case v1::IDENTITY_USER_TYPE_ADMIN_USER:
      return UserType::kAdminUser;
    case v1::IDENTITY_USER_TYPE_GUEST_USER:
      return UserType::kGuestUser;
    default:
      return UserType::kRegularUser;
  }
}

v1::IdentityUserType ToProto(UserType type) {
  switch (type) {
    case UserType::kAdminUser:
      return v1::IDENTITY_USER_TYPE_ADMIN_USER;
    case UserType::kGuestUser:
      return v1::IDENTITY_USER_TYPE_GUEST_USER;
    case UserType::kRegularUser:
      break;
  }
  return v1::IDENTITY_USER_TYPE_REGULAR_USER;
}

}  // namespace

IdentityMap FromRows(const v1::IdentityMapRows& rows, std::vector<Problem>* problems) {
  IdentityMap map;
  int line = 0;
  for (const v1::IdentityMapEntry& entry : rows.entries()) {
    ++line;
    if (entry.has_user()) {
      const v1::UserIdentityMapping& user = entry.user();
      map.users.push_back({line, user.source_tenant_id(), user.source_user_principal_name(),
                           user.target_user_principal_name(), user.target_user_email(), FromProto(user.user_type())});
    } else if (entry.has_group()) {
      const v1::GroupIdentityMapping& group = entry.group();
      map.groups.push_back({line, group.source_tenant_id(), group.source_group_object_id(),
                            group.target_group_object_id(), group.group_name(),
                            group.group_type() == v1::IDENTITY_GROUP_TYPE_M365_GROUP ? GroupType::kM365Group
                                                                                     : GroupType::kRegularGroup});
    } else {
      problems->push_back({line, 0, "", "BAD_ROW_KIND", "the row has neither a user nor a group mapping"});
    }
  }
  return map;
}

std::vector<v1::IdentityMapEntry> ToEntries(const IdentityMap& map) {
  std::vector<v1::IdentityMapEntry> entries;
  entries.reserve(map.users.size() + map.groups.size());
  for (const UserMapping& user : map.users) {
    v1::UserIdentityMapping* out = entries.emplace_back().mutable_user();
    out->set_source_tenant_id(user.source_tenant_id);
    out->set_source_user_principal_name(user.source_upn);
    out->set_target_user_principal_name(user.target_upn);
    out->set_target_user_email(user.target_email);
    out->set_user_type(ToProto(user.user_type));
  }
  for (const GroupMapping& group : map.groups) {
    v1::GroupIdentityMapping* out = entries.emplace_back().mutable_group();
    out->set_source_tenant_id(group.source_tenant_id);
    out->set_source_group_object_id(group.source_group_id);
    out->set_target_group_object_id(group.target_group_id);
    out->set_group_name(group.group_name);
    out->set_group_type(group.group_type == GroupType::kM365Group ? v1::IDENTITY_GROUP_TYPE_M365_GROUP
                                                                  : v1::IDENTITY_GROUP_TYPE_REGULAR_GROUP);
  }
  return entries;
}

v1::IdentityMapSummary Summarize(const IdentityMap& map) {
  const std::string csv = ToCsv(map);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(csv.data()), csv.size(), digest);
  v1::IdentityMapSummary summary;
  summary.set_user_rows(static_cast<int32_t>(map.users.size()));
  summary.set_group_rows(static_cast<int32_t>(map.groups.size()));
  summary.set_sha256(absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest))));
  return summary;
}

}  // namespace crosstenant::identity_map
