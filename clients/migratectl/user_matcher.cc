#include "clients/migratectl/user_matcher.h"

#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace crosstenant::migratectl {
namespace v1 = crosstenant::v1;
namespace {

std::string LocalPart(const std::string& address) {
  return absl::AsciiStrToLower(address.substr(0, address.find('@')));
}

// Index from a key to the target users (by position) that have it.
using Index = absl::flat_hash_map<std::string, std::vector<size_t>>;

void AddTo(Index& index, const std::string& key, size_t position) {
  if (key.empty()) return;
  std::vector<size_t>& positions = index[key];
  if (positions.empty() || positions.back() != position) positions.push_back(position);
}

}  // namespace

UserMatch MatchUsers(const std::vector<v1::TenantUser>& source, const std::vector<v1::TenantUser>& target,
                     const MatchOptions& options) {
  Index by_upn_local, by_mail;
  for (size_t i = 0; i < target.size(); ++i) {
    AddTo(by_upn_local, LocalPart(target[i].user_principal_name()), i);
    if (!target[i].mail().empty()) {
      AddTo(by_mail, absl::AsciiStrToLower(target[i].mail()), i);
      AddTo(by_mail, LocalPart(target[i].mail()), i);
    }
  }
  absl::flat_hash_map<size_t, std::string> taken_by;  // target position -> source UPN
  UserMatch result;
  for (const v1::TenantUser& user : source) {
    const std::string& upn = user.user_principal_name();
    if (upn.find('\'') != std::string::npos) {
      result.unmatched.push_back({upn, "apostrophe in the UPN: Microsoft cannot move this OneDrive"});
      continue;
    }
    if (!options.include_guests && absl::AsciiStrToLower(user.user_type()) == "guest") {
      result.unmatched.push_back({upn, "guest user (use --include-guests to map guests)"});
      continue;
    }
    std::vector<size_t> candidates;
    std::string how;
    if (auto it = by_upn_local.find(LocalPart(upn)); it != by_upn_local.end()) {
      candidates = it->second;
      how = "upn";
    } else if (!user.mail().empty()) {
      for (const std::string& key : {absl::AsciiStrToLower(user.mail()), LocalPart(user.mail())}) {
        if (auto mail = by_mail.find(key); mail != by_mail.end()) {
          candidates = mail->second;
          how = "mail";
          break;
        }
      }
    }
    if (candidates.empty()) {
      result.unmatched.push_back({upn, "no target user with the same UPN local part or mail"});
      continue;
    }
    if (candidates.size() > 1) {
      std::vector<std::string> names;
      for (size_t i : candidates) names.push_back(target[i].user_principal_name());
      result.unmatched.push_back({upn, absl::StrCat("ambiguous: ", absl::StrJoin(names, ", "))});
      continue;
    }
    const size_t chosen = candidates.front();
    if (auto taken = taken_by.find(chosen); taken != taken_by.end()) {
      result.unmatched.push_back({upn, absl::StrCat("target ", target[chosen].user_principal_name(),
                                                    " is already mapped to ", taken->second)});
      continue;
    }
    taken_by[chosen] = upn;
    const v1::TenantUser& match = target[chosen];
    identity_map::UserMapping row;
    row.line = static_cast<int>(result.map.users.size()) + 1;
    row.source_tenant_id = options.source_tenant_id;
    row.source_upn = upn;
    row.target_upn = match.user_principal_name();
    row.target_email = match.mail().empty() ? match.user_principal_name() : match.mail();
    row.user_type = absl::AsciiStrToLower(user.user_type()) == "guest" ? identity_map::UserType::kGuestUser
                                                                       : identity_map::UserType::kRegularUser;
    result.map.users.push_back(std::move(row));
    result.matched_by.push_back(how);
  }
  return result;
}

}  // namespace crosstenant::migratectl
