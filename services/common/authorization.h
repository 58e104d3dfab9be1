#ifndef CROSSTENANT_SERVICES_COMMON_AUTHORIZATION_H_
#define CROSSTENANT_SERVICES_COMMON_AUTHORIZATION_H_

// Authorization per call: roles granted to client identities in a server's config, and one table per
// gRPC service naming the role each method needs. The check runs once at the edge for every call
// (tls.cc's AuthMetadataProcessor, before any handler), so no handler can forget it.
//
// Roles nest: administer includes operate, which includes read.
//   read        look at the state of the mesh (Get, List, Watch, reports, diagnostics, health)
//   operate     do the work of a migration (the mesh's own services: tasks, moves, trust, holds)
//   administer  change what the mesh is asked to do (connections, migrations; the operator)
//
// Config (the top level of every server's YAML), identities being certificate names (DNS or URI SAN,
// or CN) as PeerIdentity has them:
//
//   authorization:
//     read: [dashboard]
//     operate: [worker, orchestrator]
//     administer: [migratectl]
//     allow_plaintext: false   # plaintext on a non-loopback address; see below
//
// With mTLS and no role configured, every certificate the CA (and tls.allowed_peers) admits may read
// and nothing else; once any role is configured, an identity that is in no list may call nothing.
// Without TLS there is no caller identity and every call is allowed: fine on loopback (local
// development, the tests); on any other address the server refuses to start unless
// `authorization.allow_plaintext: true` says so explicitly.

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/common/config_reader.h"

namespace crosstenant {

enum class Role { kRead = 1, kOperate = 2, kAdminister = 3 };

// "read", "operate", "administer".
absl::string_view RoleName(Role role);

struct AuthorizationConfig {
  std::vector<std::string> read;
  std::vector<std::string> operate;
  std::vector<std::string> administer;
  // Serve plaintext (no caller identity, every call allowed) on a non-loopback address.
  bool allow_plaintext = false;

  // True when at least one identity has a role.
  bool configured() const { return !read.empty() || !operate.empty() || !administer.empty(); }
};

// Reads the `authorization` section of a server config. An unknown role is an unknown key; an empty
// identity, or one listed twice (in one role or in two), is an error naming its key.
void ReadAuthorizationConfig(ConfigReader& reader, AuthorizationConfig* config);

// Method name ("CreateMigration") -> the role it needs, for one gRPC service.
using MethodRoles = absl::flat_hash_map<std::string, Role>;

// The role table of the services every server hosts: grpc.health.v1.Health,
// grpc.reflection.v1 and v1alpha ServerReflection, and
// crosstenant.v1.Diagnostics, all read. Keyed by the service's full name.
const absl::flat_hash_map<std::string, MethodRoles>& CommonServiceRoles();

// The methods of gRPC service `service_full_name` (from the generated descriptor pool) that `roles`
// does not name, and the names in `roles` that are not methods of it; empty when they agree.
std::vector<std::string> RoleTableMismatches(absl::string_view service_full_name, const MethodRoles& roles);

// Decides whether a caller may call a method.
class Authorizer {
 public:
  // `server` names the program in messages ("orchestrator").
  Authorizer(AuthorizationConfig config, std::string server);

  // Adds the table of one service; its methods are then known as "/<service_full_name>/<method>".
  void AddService(absl::string_view service_full_name, const MethodRoles& roles);

  // The role `full_method` needs; nullopt for a method in no table.
  std::optional<Role> RoleFor(absl::string_view full_method) const;

  // The strongest role any of `identity`'s names has (0 for none).
  int RoleOf(const std::vector<std::string>& identity) const;

  // OK if `identity` (the caller's certificate names) has the role `full_method`
  // ("/crosstenant.v1.Orchestrator/CancelMigration") needs. Otherwise PERMISSION_DENIED naming the
  // identity, the method, the role it needs and the config key that grants it. A method in no table
  // is not served here: UNIMPLEMENTED, as gRPC answers an unknown method.
  absl::Status Check(const std::vector<std::string>& identity, absl::string_view full_method) const;

 private:
  AuthorizationConfig config_;
  std::string server_;
  absl::flat_hash_map<std::string, Role> method_roles_;  // full method -> role
  absl::flat_hash_map<std::string, Role> identity_roles_;
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_AUTHORIZATION_H_
