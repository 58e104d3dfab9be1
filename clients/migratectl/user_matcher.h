#ifndef CROSSTENANT_CLIENTS_MIGRATECTL_USER_MATCHER_H_
#define CROSSTENANT_CLIENTS_MIGRATECTL_USER_MATCHER_H_

// `migratectl identity-map generate`: matches the users of the source tenant to the users pre-created
// in the target (Microsoft's step 4) and writes the step-5 identity map.
//
// A source user matches the one target user whose
//   1. UPN local part equals the source UPN's local part (alice@contoso.onmicrosoft.com ->
//      alice@fabrikam.onmicrosoft.com), or else
//   2. mail, or mail local part, equals the source user's mail or its local part,
// compared case-insensitively. The map stays one-to-one: a target user already taken, or two target users
// that fit equally, leave the source user unmatched with the reason. Source users with an apostrophe in
// their UPN are left out (Microsoft refuses to move them), as are guests unless `include_guests`.

#include <string>
#include <vector>

#include "crosstenant/v1/tenant.pb.h"
#include "services/identity_map/identity_map.h"

namespace crosstenant::migratectl {

struct UnmatchedUser {
  std::string source_upn;
  std::string reason;
};

struct UserMatch {
  identity_map::IdentityMap map;         // one User row per matched user, in source order
  std::vector<std::string> matched_by;   // per row: "upn" or "mail"
  std::vector<UnmatchedUser> unmatched;  // in source order
};

struct MatchOptions {
  std::string source_tenant_id;  // column 2 of every row
  bool include_guests = false;
};

UserMatch MatchUsers(const std::vector<crosstenant::v1::TenantUser>& source,
                     const std::vector<crosstenant::v1::TenantUser>& target, const MatchOptions& options);

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_CLIENTS_MIGRATECTL_USER_MATCHER_H_
