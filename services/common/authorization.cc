#include "services/common/authorization.h"

#include <algorithm>
#include <utility>

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/user_text.h"

namespace crosstenant {
namespace {

constexpr std::pair<Role, const char*> kRoleKeys[] = {
    {Role::kRead, "read"}, {Role::kOperate, "operate"}, {Role::kAdminister, "administer"}};

std::vector<std::string>* ListOf(AuthorizationConfig* config, Role role) {
  switch (role) {
    case Role::kRead:
      return &config->read;
    case Role::kOperate:
      return &config->operate;
    case Role::kAdminister:
      return &config->administer;
  }
  return &config->read;
}

}  // namespace

absl::string_view RoleName(Role role) {
  for (const auto& [known, name] : kRoleKeys) {
    if (known == role) return name;
  }
  return "none";
}

void ReadAuthorizationConfig(ConfigReader& reader, AuthorizationConfig* config) {
  ConfigReader section = reader.Section("authorization");
  section.Read("allow_plaintext", &config->allow_plaintext);
  // Where each identity was first listed, so that a second listing names both keys.
  absl::flat_hash_map<std::string, std::string> first_listed;
  for (const auto& [role, key] : kRoleKeys) {
    std::vector<std::string>* names = ListOf(config, role);
    section.Read(key, names);
    for (const std::string& name : *names) {
      const std::string where = absl::StrCat("authorization.", key);
      if (name.empty()) {
        section.AddError(key, "an identity is empty: give a certificate name (DNS SAN or CN)");
        continue;
      }
      auto [it, inserted] = first_listed.emplace(name, where);
      if (!inserted) {
        // Roles nest, so one listing says everything; two are a mistake about which one was meant.
        section.AddError(key, absl::StrCat("'", name, "' is listed twice (also under ", it->second,
                                           "); a role includes the ones below it, list it once"));
      }
    }
  }
}

const absl::flat_hash_map<std::string, MethodRoles>& CommonServiceRoles() {
  static const auto* const roles = new absl::flat_hash_map<std::string, MethodRoles>{
      {"grpc.health.v1.Health", {{"Check", Role::kRead}, {"Watch", Role::kRead}}},
      {"grpc.reflection.v1alpha.ServerReflection", {{"ServerReflectionInfo", Role::kRead}}},
      {"grpc.reflection.v1.ServerReflection", {{"ServerReflectionInfo", Role::kRead}}},
      {"crosstenant.v1.Diagnostics", {{"GetServerInfo", Role::kRead}, {"Echo", Role::kRead}}},
  };
  return *roles;
}

std::vector<std::string> RoleTableMismatches(absl::string_view service_full_name, const MethodRoles& roles) {
  std::vector<std::string> problems;
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(std::string(service_full_name));
  if (service == nullptr) return {absl::StrCat(service_full_name, " is not in the descriptor pool")};
  for (int i = 0; i < service->method_count(); ++i) {
    if (!roles.contains(service->method(i)->name())) {
      problems.push_back(absl::StrCat(service_full_name, "/", service->method(i)->name(), " has no role"));
    }
  }
  for (const auto& [method, role] : roles) {
    if (service->FindMethodByName(method) == nullptr) {
      problems.push_back(absl::StrCat(service_full_name, "/", method, " is not a method of the service"));
    }
  }
  std::sort(problems.begin(), problems.end());
  return problems;
}

Authorizer::Authorizer(AuthorizationConfig config, std::string server)
    : config_(std::move(config)), server_(std::move(server)) {
  for (const auto& [role, key] : kRoleKeys) {
    for (const std::string& name : *ListOf(&config_, role)) identity_roles_[name] = role;
  }
  for (const auto& [service, roles] : CommonServiceRoles()) AddService(service, roles);
}

void Authorizer::AddService(absl::string_view service_full_name, const MethodRoles& roles) {
  for (const auto& [method, role] : roles) method_roles_[absl::StrCat("/", service_full_name, "/", method)] = role;
}

int Authorizer::RoleOf(const std::vector<std::string>& identity) const {
  // Without any role configured, every certificate the CA admits may read (and do nothing else).
  int strongest = config_.configured() ? 0 : static_cast<int>(Role::kRead);
  for (const std::string& name : identity) {
    auto it = identity_roles_.find(name);
    if (it != identity_roles_.end()) strongest = std::max(strongest, static_cast<int>(it->second));
  }
  return strongest;
}

std::optional<Role> Authorizer::RoleFor(absl::string_view full_method) const {
  auto it = method_roles_.find(full_method);
  if (it == method_roles_.end()) return std::nullopt;
  return it->second;
}

absl::Status Authorizer::Check(const std::vector<std::string>& identity, absl::string_view full_method) const {
  const std::string caller = identity.empty() ? "(no certificate name)" : absl::StrJoin(identity, ", ");
  auto it = method_roles_.find(full_method);
  if (it == method_roles_.end()) {
    // Every method served has a role (RoleTableMismatches), so this one is not served here: the answer
    // gRPC gives for an unknown method, which lets a client tell an older server from a refusal. The
    // path is the caller's own text: echo a bounded, valid UTF-8 piece of it.
    return absl::UnimplementedError(
        absl::StrCat(server_, ": ", QuoteForMessage(full_method, 200), " is not a method this server serves"));
  }
  const Role needed = it->second;
  if (RoleOf(identity) >= static_cast<int>(needed)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(server_, ": caller ", caller, " may not call ", full_method, ": it needs role ", RoleName(needed),
                   "; grant it by listing the caller's certificate name under authorization.", RoleName(needed),
                   " (or a role above it) in the ", server_, "'s config"));
}

}  // namespace crosstenant
