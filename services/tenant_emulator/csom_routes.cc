#include "services/tenant_emulator/csom_routes.h"

#include <algorithm>
#include <functional>
#include <memory>

#include <openssl/rand.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "services/tenant_emulator/bearer_auth.h"
#include "services/tenant_emulator/csom_request.h"
#include "services/tenant_emulator/jwt.h"
#include "services/tenant_emulator/seed.h"

namespace crosstenant::emulator {
namespace {

using Json = nlohmann::ordered_json;

const AccessRule kSharePointAdmin{{"Sites.FullControl.All"}, {}, false, SharePointAdminRoles(), "", ""};
constexpr absl::string_view kNotEnabled = "The Cross-Tenant content move feature is not enabled for this tenant.";
constexpr absl::string_view kTenantTypeId = "268004ae-ef6b-4e9b-8425-127220d84719";
constexpr absl::string_view kSiteFilterTypeId = "b92aeee2-c92c-4b67-abcc-024e471bc140";
constexpr char kSchemaVersion[] = "15.0.0.0";
constexpr char kLibraryVersion[] = "16.0.24106.12002";
constexpr char kTypePrefix[] = "Microsoft.Online.SharePoint.TenantAdministration.";
// The identity prefix SharePoint gives tenant-administration objects (the farm id of SPO).
constexpr char kIdentityFarm[] = "908bed80-a04a-4433-b4a0-883d9847d110";
// Emulated time a RemoveSite / RemoveDeletedSite operation takes, and the poll interval it suggests.
constexpr absl::Duration kOperationDuration = absl::Seconds(2);
constexpr int kPollingIntervalMs = 1000;
// Bounds on what the routes remember for clients (digests, operations, page tokens).
constexpr std::size_t kMaxRemembered = 10000;
constexpr absl::Duration kDigestLifetime = absl::Seconds(1800);

constexpr int64_t kArgumentCode = -2147024809;  // E_INVALIDARG
constexpr char kArgumentException[] = "System.ArgumentException";
constexpr char kInvalidQuery[] = "Microsoft.SharePoint.Client.InvalidClientQueryException";
constexpr char kNoSite[] = "Microsoft.Online.SharePoint.Common.SpoNoSiteException";
constexpr char kSpoException[] = "Microsoft.Online.SharePoint.Common.SpoException";

const std::vector<std::string>& SupportedApiVersions() {
  static const std::vector<std::string>* versions = new std::vector<std::string>{
      "1.0",   "1.1",   "1.2-beta", "1.2.1-beta", "1.2.2", "1.3.0", "1.3.1", "1.3.2", "1.3.3", "1.3.4",
      "1.3.5", "1.4.0", "1.4.1",    "1.4.2",      "1.4.3", "1.4.4", "1.4.5", "1.4.6", "1.4.7"};
  return *versions;
}

// The CSOM methods this emulator knows, for the accounting label (bounded: the rest are "unknown").
const std::vector<std::string>& KnownMethods() {
  static const std::vector<std::string>* methods =
      new std::vector<std::string>{"GetMySiteHostUrl",
                                   "GetTenantInstances",
                                   "NewSPOTenantOrgRelation",
                                   "VerifySPOTenantOrgRelation",
                                   "RemoveSPOTenantOrgRelation",
                                   "GetTenantUserIdentityMappingItem",
                                   "GetSPOCrossTenantContentMoveState",
                                   "GetSitePropertiesFromSharePointByFilters",
                                   "GetSitePropertiesByUrl",
                                   "RemoveSite",
                                   "RemoveDeletedSite"};
  return *methods;
}

void SendOrdered(httplib::Response& response, int status, const Json& body) {
  response.status = status;
  response.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json; charset=utf-8");
}

// "{268004AE-...}" → "268004ae-..."
std::string BareGuid(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  absl::ConsumePrefix(&text, "{");
  absl::ConsumeSuffix(&text, "}");
  return absl::AsciiStrToLower(text);
}

// GetTenantInstances prints every URL with a trailing slash.
std::string WithSlash(const std::string& url) { return absl::EndsWith(url, "/") ? url : url + "/"; }

// SharePoint's JavaScript-style date: "/Date(2026,11,5,2,28,0,0)/" (month from 0).
std::string CsomDate(absl::Time time) {
  const absl::CivilSecond civil = absl::ToCivilSecond(time, absl::UTCTimeZone());
  const int64_t ms = absl::ToInt64Milliseconds(time - absl::FromCivil(civil, absl::UTCTimeZone()));
  return absl::StrCat("/Date(", civil.year(), ",", civil.month() - 1, ",", civil.day(), ",", civil.hour(), ",",
                      civil.minute(), ",", civil.second(), ",", ms, ")/");
}

std::string HexToken(int bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), bytes);
  return absl::AsciiStrToUpper(absl::BytesToHexString(raw));
}

// Forgets the oldest entries (by key order, which is random for random keys) once there are too many.
template <typename Map>
void Bound(Map& map) {
  while (map.size() >= kMaxRemembered) map.erase(map.begin());
}

struct CsomError {
  std::string type;
  std::string message;
  int64_t code = kArgumentCode;
};

CsomError ArgumentError(std::string message) { return {kArgumentException, std::move(message), kArgumentCode}; }
CsomError QueryError(std::string message) { return {kInvalidQuery, std::move(message), kArgumentCode}; }

// What an object path stands for: the Tenant, or an object a method returned.
struct ClientObject {
  bool is_tenant = false;
  std::string type;
  std::string identity;
  Json properties = Json::object();
  bool collection = false;
  std::vector<Json> children;  // each starts with _ObjectType_
};

// The result of calling a method: nothing, a value, an object, or an error.
struct Outcome {
  enum class Kind { kVoid, kScalar, kObject, kError } kind = Kind::kVoid;
  Json scalar;
  std::shared_ptr<ClientObject> object;
  CsomError error;

  static Outcome Void() { return {}; }
  static Outcome Scalar(Json value) {
    Outcome o;
    o.kind = Kind::kScalar;
    o.scalar = std::move(value);
    return o;
  }
  static Outcome Object(std::shared_ptr<ClientObject> object) {
    Outcome o;
    o.kind = Kind::kObject;
    o.object = std::move(object);
    return o;
  }
  static Outcome Error(CsomError error) {
    Outcome o;
    o.kind = Kind::kError;
    o.error = std::move(error);
    return o;
  }
};

// What a method parameter accepts.
enum class Param { kString, kBoolean, kInteger, kGuid, kDateTime, kObject };

bool Accepts(Param param, CsomValue::Kind kind) {
  using K = CsomValue::Kind;
  switch (param) {
    case Param::kString:
      return kind == K::kString || kind == K::kNull;
    case Param::kBoolean:
      return kind == K::kBoolean;
    case Param::kInteger:
      return kind == K::kEnum || kind == K::kInt32 || kind == K::kUInt32 || kind == K::kInt64;
    case Param::kGuid:
      return kind == K::kGuid || kind == K::kNull;
    case Param::kDateTime:
      return kind == K::kDateTime || kind == K::kNull;
    case Param::kObject:
      return kind == K::kObject;
  }
  return false;
}

const char* ParamName(Param param) {
  switch (param) {
    case Param::kString:
      return "String";
    case Param::kBoolean:
      return "Boolean";
    case Param::kInteger:
      return "Enum or Int32";
    case Param::kGuid:
      return "Guid";
    case Param::kDateTime:
      return "DateTime";
    case Param::kObject:
      return "value object";
  }
  return "";
}

// Runs the actions of one ProcessQuery request, in order, against one geo of one tenant.
class Execution {
 public:
  Execution(CsomRoutes& routes, RequestContext& ctx, const CsomRequest& request)
      : routes_(routes), c_(routes.context()), ctx_(ctx), request_(request) {}

  // The answer's elements after the header; ErrorInfo in `error` if an action failed (then the
  // elements are dropped, as SharePoint answers only the header).
  std::optional<CsomError> Run(Json* results);

 private:
  Outcome Resolve(int path_id, int depth);
  Outcome CallTenant(const std::string& name, const std::vector<CsomValue>& parameters);
  std::optional<CsomError> CheckParameters(const std::string& name, const std::vector<CsomValue>& parameters,
                                           const std::vector<Param>& expected);
  Json QueryAnswer(const ClientObject& object, const CsomAction& action) const;
  bool FeatureEnabled() const { return c_.directory.tenant(ctx_.host.tenant).seed.features.cross_tenant_move_enabled; }

  // The methods.
  Outcome MySiteHostUrl();
  Outcome TenantInstances();
  Outcome OrgRelation(const std::string& name, const std::vector<CsomValue>& p);
  Outcome IdentityMapping(const std::vector<CsomValue>& p);
  Outcome MoveStates(const std::vector<CsomValue>& p);
  Outcome SiteProperties(const std::vector<CsomValue>& p);
  Outcome SitePropertiesByUrl(const std::vector<CsomValue>& p);
  Outcome RemoveSite(const std::vector<CsomValue>& p, bool deleted);

  CsomRoutes& routes_;
  EmulatorContext& c_;
  RequestContext& ctx_;
  const CsomRequest& request_;
  std::map<int, Outcome> resolved_;
};

std::optional<CsomError> Execution::Run(Json* results) {
  for (const CsomAction& action : request_.actions) {
    if (action.kind == CsomAction::Kind::kStaticMethod) {
      return QueryError(
          absl::StrCat("Type ", action.type_id, " has no static method ", action.name, " in this emulator."));
    }
    const Outcome target = Resolve(action.object_path_id, 0);
    if (target.kind == Outcome::Kind::kError) return target.error;
    switch (action.kind) {
      case CsomAction::Kind::kObjectPath:
        results->push_back(action.id);
        results->push_back(Json{{"IsNull", false}});
        break;
      case CsomAction::Kind::kObjectIdentityQuery:
      case CsomAction::Kind::kQuery: {
        if (target.kind != Outcome::Kind::kObject) {
          return QueryError(absl::StrCat("The object path ", action.object_path_id, " is not a client object."));
        }
        results->push_back(action.id);
        results->push_back(QueryAnswer(*target.object, action));
        break;
      }
      case CsomAction::Kind::kMethod: {
        if (target.kind != Outcome::Kind::kObject || !target.object->is_tenant) {
          return QueryError(absl::StrCat("Method \"", action.name, "\" does not exist."));
        }
        const Outcome outcome = CallTenant(action.name, action.parameters);
        if (outcome.kind == Outcome::Kind::kError) return outcome.error;
        if (outcome.kind == Outcome::Kind::kScalar) {
          results->push_back(action.id);
          results->push_back(outcome.scalar);
        } else if (outcome.kind == Outcome::Kind::kObject) {
          CsomAction all = action;
          all.query.select_all = true;
          results->push_back(action.id);
          results->push_back(QueryAnswer(*outcome.object, all));
        }
        break;
      }
      case CsomAction::Kind::kSetProperty:
        return QueryError(absl::StrCat("The property \"", action.name, "\" cannot be set in this emulator."));
      case CsomAction::Kind::kStaticMethod:
        break;
    }
  }
  return std::nullopt;
}

Outcome Execution::Resolve(int path_id, int depth) {
  auto cached = resolved_.find(path_id);
  if (cached != resolved_.end()) return cached->second;
  // The parser checked that every chain ends; depth only guards the recursion against its own bugs.
  if (depth > static_cast<int>(kMaxCsomObjectPaths)) return Outcome::Error(QueryError("Object paths nest too deeply."));
  const CsomObjectPath& path = request_.object_paths.at(path_id);
  Outcome outcome;
  switch (path.kind) {
    case CsomObjectPath::Kind::kConstructor: {
      if (BareGuid(path.type_id) != kTenantTypeId) {
        outcome =
            Outcome::Error(QueryError(absl::StrCat("Type ", path.type_id, " does not exist or is not supported.")));
        break;
      }
      auto tenant = std::make_shared<ClientObject>();
      tenant->is_tenant = true;
      tenant->type = absl::StrCat(kTypePrefix, "Tenant");
      tenant->identity = absl::StrCat(kIdentityFarm, ":", c_.directory.tenant(ctx_.host.tenant).seed.id, "\nTenant");
      tenant->properties["RootSiteUrl"] = NormalizeUrl(c_.directory.RootUrl(ctx_.host.tenant, 0));
      outcome = Outcome::Object(std::move(tenant));
      break;
    }
    case CsomObjectPath::Kind::kMethod: {
      const Outcome parent = Resolve(path.parent_id, depth + 1);
      if (parent.kind == Outcome::Kind::kError) {
        outcome = parent;
      } else if (parent.kind != Outcome::Kind::kObject || !parent.object->is_tenant) {
        outcome = Outcome::Error(QueryError(absl::StrCat("Method \"", path.name, "\" does not exist.")));
      } else {
        outcome = CallTenant(path.name, path.parameters);
        if (outcome.kind == Outcome::Kind::kVoid || outcome.kind == Outcome::Kind::kScalar) {
          outcome = Outcome::Error(
              QueryError(absl::StrCat("Method \"", path.name, "\" returns no client object; call it as an action.")));
        }
      }
      break;
    }
    case CsomObjectPath::Kind::kIdentity: {
      const std::optional<CsomRoutes::Operation> operation = routes_.FindOperation(path.name);
      if (!operation || operation->tenant != ctx_.host.tenant || operation->geo != ctx_.host.geo) {
        outcome = Outcome::Error(ArgumentError("The object identity is not valid or the object no longer exists."));
        break;
      }
      auto object = std::make_shared<ClientObject>();
      object->type = absl::StrCat(kTypePrefix, "SpoOperation");
      object->identity = path.name;
      object->properties["IsComplete"] = c_.clock.Now() >= operation->complete_at;
      object->properties["PollingInterval"] = kPollingIntervalMs;
      object->properties["HasTimedout"] = false;
      outcome = Outcome::Object(std::move(object));
      break;
    }
    case CsomObjectPath::Kind::kProperty:
    case CsomObjectPath::Kind::kStaticProperty:
    case CsomObjectPath::Kind::kStaticMethod:
      outcome = Outcome::Error(
          QueryError(absl::StrCat("The property or method \"", path.name, "\" is not supported by this emulator.")));
      break;
  }
  resolved_[path_id] = outcome;
  return outcome;
}

std::optional<CsomError> Execution::CheckParameters(const std::string& name, const std::vector<CsomValue>& parameters,
                                                    const std::vector<Param>& expected) {
  if (parameters.size() != expected.size()) {
    return ArgumentError(absl::StrCat("Method \"", name, "\" takes ", expected.size(), " parameters, not ",
                                      parameters.size(), ".\r\nParameter name: parameters"));
  }
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (!Accepts(expected[i], parameters[i].kind)) {
      return ArgumentError(absl::StrCat("Parameter ", i + 1, " of method \"", name, "\" must be a ",
                                        ParamName(expected[i]), ", not ", CsomKindName(parameters[i].kind), "."));
    }
  }
  return std::nullopt;
}

Outcome Execution::CallTenant(const std::string& name, const std::vector<CsomValue>& p) {
  using P = Param;
  static const std::map<std::string, std::vector<Param>>* signatures = new std::map<std::string, std::vector<Param>>{
      {"GetMySiteHostUrl", {}},
      {"GetTenantInstances", {}},
      {"NewSPOTenantOrgRelation", {P::kInteger, P::kInteger, P::kString}},
      {"VerifySPOTenantOrgRelation", {P::kInteger, P::kInteger, P::kString}},
      {"RemoveSPOTenantOrgRelation", {P::kInteger, P::kInteger, P::kString}},
      {"GetTenantUserIdentityMappingItem", {P::kInteger, P::kString}},
      {"GetSPOCrossTenantContentMoveState",
       {P::kInteger, P::kString, P::kString, P::kGuid, P::kInteger, P::kInteger, P::kInteger, P::kDateTime,
        P::kDateTime, P::kInteger}},
      {"GetSitePropertiesFromSharePointByFilters", {P::kObject}},
      {"GetSitePropertiesByUrl", {P::kString, P::kBoolean}},
      {"RemoveSite", {P::kString}},
      {"RemoveDeletedSite", {P::kString}}};
  auto signature = signatures->find(name);
  if (signature == signatures->end())
    return Outcome::Error(QueryError(absl::StrCat("Method \"", name, "\" does not exist.")));
  if (std::optional<CsomError> error = CheckParameters(name, p, signature->second)) return Outcome::Error(*error);
  if (name == "GetMySiteHostUrl") return MySiteHostUrl();
  if (name == "GetTenantInstances") return TenantInstances();
  if (absl::EndsWith(name, "SPOTenantOrgRelation")) return OrgRelation(name, p);
  if (name == "GetTenantUserIdentityMappingItem") return IdentityMapping(p);
  if (name == "GetSPOCrossTenantContentMoveState") return MoveStates(p);
  if (name == "GetSitePropertiesFromSharePointByFilters") return SiteProperties(p);
  if (name == "GetSitePropertiesByUrl") return SitePropertiesByUrl(p);
  return RemoveSite(p, name == "RemoveDeletedSite");
}

Json Execution::QueryAnswer(const ClientObject& object, const CsomAction& action) const {
  auto select = [](const Json& properties, const CsomQuerySelection& selection, Json* out) {
    if (!selection.present || selection.select_all) {
      for (const auto& [key, value] : properties.items()) (*out)[key] = value;
      return;
    }
    for (const std::string& name : selection.properties) {
      if (properties.contains(name)) (*out)[name] = properties[name];
    }
  };
  Json out = Json::object();
  out["_ObjectType_"] = object.type;
  if (!object.identity.empty()) out["_ObjectIdentity_"] = object.identity;
  select(object.properties, action.query, &out);
  if (object.collection) {
    Json children = Json::array();
    for (const Json& child : object.children) {
      Json item = Json::object();
      item["_ObjectType_"] = child["_ObjectType_"];
      select(child, action.child_item_query, &item);
      children.push_back(std::move(item));
    }
    out["_Child_Items_"] = std::move(children);
  }
  return out;
}

Outcome Execution::MySiteHostUrl() {
  if (!FeatureEnabled()) return Outcome::Error({kSpoException, std::string(kNotEnabled), -1});
  return Outcome::Scalar(c_.directory.MySiteHostUrl(ctx_.host.tenant, ctx_.host.geo));
}

Outcome Execution::TenantInstances() {
  const int tenant = ctx_.host.tenant;
  auto list = std::make_shared<ClientObject>();
  list->type = "SP.ClientObjectList";
  list->collection = true;
  const std::vector<SeedGeo>& geos = c_.directory.tenant(tenant).seed.geos;
  for (std::size_t g = 0; g < geos.size(); ++g) {
    const int geo = static_cast<int>(g);
    Json instance = Json::object();
    instance["_ObjectType_"] = absl::StrCat(kTypePrefix, "SPOTenantInstance");
    instance["DataLocation"] = geos[g].location;
    instance["IsDefaultDataLocation"] = g == 0;
    instance["MySiteHostUrl"] = c_.directory.MySiteHostUrl(tenant, geo);
    instance["PortalUrl"] = nullptr;
    instance["RootSiteUrl"] = WithSlash(c_.directory.RootUrl(tenant, geo));
    instance["TenantAdminUrl"] = WithSlash(c_.directory.AdminUrl(tenant, geo));
    list->children.push_back(std::move(instance));
  }
  return Outcome::Object(std::move(list));
}

Outcome Execution::OrgRelation(const std::string& name, const std::vector<CsomValue>& p) {
  if (!FeatureEnabled()) return Outcome::Error({kSpoException, std::string(kNotEnabled), -1});
  // OrgRelationScenario: None 0, MnA 1. OrgRelationRole: None 0, Source 1, Target 2.
  if (p[0].integer != 1)
    return Outcome::Error(ArgumentError("The scenario must be MnA (1).\r\nParameter name: scenario"));
  if (p[1].integer != 1 && p[1].integer != 2) {
    return Outcome::Error(
        ArgumentError("The partner role must be Source (1) or Target (2).\r\nParameter name: partnerRole"));
  }
  const std::string role = p[1].integer == 1 ? "Source" : "Target";
  const std::string& partner_url = p[2].text;
  if (partner_url.empty()) {
    return Outcome::Error(
        ArgumentError("The partner cross-tenant host URL is required.\r\nParameter name: partnerCrossTenantHostUrl"));
  }
  const int tenant = ctx_.host.tenant, geo = ctx_.host.geo;
  int partner_tenant = -1, partner_geo = -1;
  const bool known = c_.directory.FindGeoByUrl(partner_url, &partner_tenant, &partner_geo);
  if (name == "VerifySPOTenantOrgRelation") {
    const std::set<int> unreachable = c_.UnreachableTenants();
    const absl::Time now = c_.clock.Now();
    absl::MutexLock lock(&c_.cloud.mu);
    const TrustStatus status = VerifyTrust(c_.directory, c_.cloud, tenant, geo, role, partner_url, now,
                                           c_.settings.dormant_period, unreachable);
    // OrgRelationVerificationStatus: NotEstablished 0, NotEstablishedByPartner 1, Dormant 2,
    // DormantByPartner 3, GoodToProceed 4, CouldNotContactPartner 5.
    switch (status) {
      case TrustStatus::kNotEstablished:
        return Outcome::Scalar(0);
      case TrustStatus::kNotEstablishedByPartner:
        return Outcome::Scalar(1);
      case TrustStatus::kDormantByPartner:
        return Outcome::Scalar(3);
      case TrustStatus::kGoodToProceed:
        return Outcome::Scalar(4);
      case TrustStatus::kCouldNotContactPartner:
        return Outcome::Scalar(5);
    }
    return Outcome::Scalar(0);
  }
  if (!known) {
    return Outcome::Error(ArgumentError(absl::StrCat("The partner cross-tenant host URL ", partner_url,
                                                     " is not valid.\r\nParameter name: partnerCrossTenantHostUrl")));
  }
  if (partner_tenant == tenant) {
    return Outcome::Error(ArgumentError("A tenant cannot have a cross-tenant relationship with itself."));
  }
  const std::string normalized = NormalizeUrl(c_.directory.MySiteHostUrl(partner_tenant, partner_geo));
  const absl::Time now = c_.clock.Now();
  absl::MutexLock lock(&c_.cloud.mu);
  std::vector<Relationship>& relationships = c_.cloud.geos[tenant][geo].relationships;
  if (name == "RemoveSPOTenantOrgRelation") {
    relationships.erase(
        std::remove_if(relationships.begin(), relationships.end(),
                       [&](const Relationship& r) { return r.partner_url == normalized && r.partner_role == role; }),
        relationships.end());
    return Outcome::Void();
  }
  auto existing = std::find_if(relationships.begin(), relationships.end(),
                               [&](const Relationship& r) { return r.partner_url == normalized; });
  if (existing == relationships.end()) {
    relationships.push_back({normalized, role, now});
  } else if (existing->partner_role != role) {
    // Setting the other role replaces the relationship, and its dormant period starts again.
    existing->partner_role = role;
    existing->created = now;
  }
  return Outcome::Void();
}

// A PUID-like id (16 hex digits) for a target user, derived from the UPN so that it is stable.
std::string TargetPuid(absl::string_view upn) {
  std::string guid = DerivedGuid("puid", absl::AsciiStrToLower(upn));
  guid.erase(std::remove(guid.begin(), guid.end(), '-'), guid.end());
  return absl::AsciiStrToUpper(absl::StrCat("1003", guid.substr(0, 12)));
}

int UserTypeNumber(const std::string& type) {
  // TenantIdentityMappingUserType: None 0, RegularUser 1, AdminUser 2, GuestUser 3.
  const std::string lower = absl::AsciiStrToLower(type);
  if (absl::StrContains(lower, "admin")) return 2;
  if (absl::StrContains(lower, "guest")) return 3;
  if (lower.empty() || absl::StrContains(lower, "regular")) return 1;
  return 0;
}

Outcome Execution::IdentityMapping(const std::vector<CsomValue>& p) {
  if (!FeatureEnabled()) return Outcome::Error({kSpoException, std::string(kNotEnabled), -1});
  // TenantIdentityMappingUserField: SourceUserKey 0, TargetUserPuid 1, TargetUserUpn 2, TargetUserEmail 3.
  const int64_t field = p[0].integer;
  if (field < 0 || field > 3) {
    return Outcome::Error(ArgumentError(absl::StrCat("The field ", field, " is not valid.\r\nParameter name: field")));
  }
  const std::string wanted = absl::AsciiStrToLower(p[1].text);
  auto text = [](const nlohmann::json& mapping, const char* object, const char* key) {
    const nlohmann::json* value = &mapping;
    for (const char* step : {object, key}) {
      if (!value->is_object() || !value->contains(step)) return std::string();
      value = &(*value)[step];
    }
    return value->is_string() ? value->get<std::string>() : std::string();
  };
  auto list = std::make_shared<ClientObject>();
  list->type = "SP.ClientObjectList";
  list->collection = true;
  absl::MutexLock lock(&c_.cloud.mu);
  for (const auto& [source_key, mapping] : c_.cloud.user_mappings[ctx_.host.tenant]) {
    const std::string target_upn = text(mapping, "targetUserIdentity", "userPrincipalName");
    std::string email = text(mapping, "targetUserMigrationData", "email");
    if (email.empty()) email = target_upn;
    const std::string puid = TargetPuid(target_upn);
    const std::string candidate = field == 0 ? source_key : field == 1 ? puid : field == 2 ? target_upn : email;
    if (absl::AsciiStrToLower(candidate) != wanted) continue;
    Json item = Json::object();
    item["_ObjectType_"] = absl::StrCat(kTypePrefix, "SPOTenantUserIdentityMapping");
    item["SourceTenantCompanyId"] =
        mapping.contains("sourceOrganizationId") && mapping["sourceOrganizationId"].is_string()
            ? mapping["sourceOrganizationId"].get<std::string>()
            : std::string();
    std::string source_upn = text(mapping, "sourceUserIdentity", "userPrincipalName");
    item["SourceUserKey"] = source_upn.empty() ? source_key : source_upn;
    item["TargetUserUpn"] = target_upn;
    item["TargetUserEmail"] = email;
    item["TargetUserPuid"] = puid;
    item["UserType"] = UserTypeNumber(mapping.contains("userType") && mapping["userType"].is_string()
                                          ? mapping["userType"].get<std::string>()
                                          : std::string());
    list->children.push_back(std::move(item));
  }
  return Outcome::Object(std::move(list));
}

Outcome Execution::MoveStates(const std::vector<CsomValue>& p) {
  if (!FeatureEnabled()) return Outcome::Error({kSpoException, std::string(kNotEnabled), -1});
  // MnAWorkManagerContentType: Odb 0, Group 1, RegSite 2. Only OneDrive moves are emulated.
  if (p[0].integer < 0 || p[0].integer > 2) {
    return Outcome::Error(ArgumentError("The content type is not valid.\r\nParameter name: contentType"));
  }
  if (p[1].text.empty()) {
    return Outcome::Error(
        ArgumentError("The partner cross-tenant host URL is required.\r\nParameter name: partnerHostUrl"));
  }
  if (p[0].integer != 0) return Outcome::Scalar("[]");
  std::string move_id = p[3].kind == CsomValue::Kind::kGuid ? BareGuid(p[3].text) : "";
  if (move_id == "00000000-0000-0000-0000-000000000000") move_id.clear();
  const Json rows = c_.moves.MoveStates(ctx_.host.tenant, ctx_.host.geo, p[1].text, p[2].text, move_id);
  return Outcome::Scalar(rows.dump(-1, ' ', false, Json::error_handler_t::replace));
}

Outcome Execution::SiteProperties(const std::vector<CsomValue>& p) {
  const CsomValue& filter = p[0];
  if (BareGuid(filter.type_id) != kSiteFilterTypeId) {
    return Outcome::Error(
        ArgumentError(absl::StrCat("The filter must be a SPOSitePropertiesEnumerableFilter ({", kSiteFilterTypeId,
                                   "}), not ", filter.type_id, ".\r\nParameter name: speFilter")));
  }
  const CsomValue* template_name = filter.Property("Template");
  const CsomValue* personal = filter.Property("IncludePersonalSite");
  const CsomValue* start = filter.Property("StartIndex");
  // PersonalSiteFilter: UseServerDefault 0, Include 1, Exclude 2.
  int64_t include_personal = 0;
  if (personal != nullptr && personal->kind != CsomValue::Kind::kNull) {
    if (!Accepts(Param::kInteger, personal->kind) || personal->integer < 0 || personal->integer > 2) {
      return Outcome::Error(
          ArgumentError("IncludePersonalSite must be 0, 1 or 2.\r\nParameter name: IncludePersonalSite"));
    }
    include_personal = personal->integer;
  }
  std::string after_url;
  const std::string start_index = start != nullptr ? start->text : "";
  // Clients start with no index, or with "0" as CLI for Microsoft 365 does.
  if (!start_index.empty() && start_index != "0") {
    const std::optional<CsomRoutes::SitePage> page = routes_.FindSitePage(start_index);
    if (!page || page->tenant != ctx_.host.tenant || page->geo != ctx_.host.geo) {
      return Outcome::Error(ArgumentError("The StartIndex is not valid.\r\nParameter name: StartIndex"));
    }
    after_url = page->after_url;
  }
  auto list = std::make_shared<ClientObject>();
  list->type = absl::StrCat(kTypePrefix, "SPOSitePropertiesEnumerable");
  list->collection = true;
  list->properties["NextStartIndex"] = -1;
  list->properties["NextStartIndexFromSharePoint"] = nullptr;
  // Only redirect sites are emulated, and the redirect sites of OneDrives are personal sites.
  const bool wanted = template_name != nullptr && absl::EqualsIgnoreCase(template_name->text, "RedirectSite#0") &&
                      include_personal == 1;
  if (!wanted) return Outcome::Object(std::move(list));
  c_.moves.Tick();
  std::vector<RedirectSite> sites;
  {
    absl::MutexLock lock(&c_.cloud.mu);
    sites = c_.cloud.geos[ctx_.host.tenant][ctx_.host.geo].redirects;
  }
  // Paged by URL, so that removing the sites of one page does not shift the next.
  std::sort(sites.begin(), sites.end(), [](const RedirectSite& a, const RedirectSite& b) { return a.url < b.url; });
  const std::size_t page_size = static_cast<std::size_t>(std::max(1, c_.faults.Get().site_page_size));
  std::size_t taken = 0;
  std::string last_url;
  bool more = false;
  for (const RedirectSite& site : sites) {
    if (!after_url.empty() && site.url <= after_url) continue;
    if (taken == page_size) {
      more = true;
      break;
    }
    Json item = Json::object();
    item["_ObjectType_"] = absl::StrCat(kTypePrefix, "SiteProperties");
    item["Url"] = site.url;
    item["Template"] = "RedirectSite#0";
    item["Title"] = "";
    item["Status"] = "Active";
    item["LastContentModifiedDate"] = CsomDate(c_.clock.WallTimeOf(site.created));  // real, never ahead
    list->children.push_back(std::move(item));
    last_url = site.url;
    ++taken;
  }
  if (more) {
    list->properties["NextStartIndexFromSharePoint"] = routes_.NewSitePage(ctx_.host.tenant, ctx_.host.geo, last_url);
  }
  return Outcome::Object(std::move(list));
}

Outcome Execution::SitePropertiesByUrl(const std::vector<CsomValue>& p) {
  const std::string& url = p[0].text;
  // Only OneDrives (personal sites of this geo) and the redirect sites moves leave are emulated.
  const int owner = c_.directory.FindPersonalSiteOwner(ctx_.host.tenant, ctx_.host.geo, url);
  auto site = std::make_shared<ClientObject>();
  site->type = absl::StrCat(kTypePrefix, "SiteProperties");
  const std::string wanted = NormalizeUrl(url);
  site->properties["Url"] = wanted;
  site->properties["Status"] = "Active";
  c_.moves.Tick();
  absl::MutexLock lock(&c_.cloud.mu);
  if (owner >= 0 && c_.cloud.drives[ctx_.host.tenant][owner].exists) {
    const OneDriveFacts& drive = c_.cloud.drives[ctx_.host.tenant][owner];
    site->properties["Template"] = "SPSPERS#10";
    site->properties["LockState"] = drive.read_only ? "ReadOnly" : "Unlock";
    site->properties["StorageUsage"] = drive.size_bytes >> 20;  // MB
    return Outcome::Object(std::move(site));
  }
  for (const RedirectSite& redirect : c_.cloud.geos[ctx_.host.tenant][ctx_.host.geo].redirects) {
    if (NormalizeUrl(redirect.url) != wanted) continue;
    site->properties["Template"] = "RedirectSite#0";
    site->properties["LockState"] = "Unlock";
    site->properties["StorageUsage"] = 0;
    return Outcome::Object(std::move(site));
  }
  return Outcome::Error({kNoSite, absl::StrCat("Cannot get site ", url, "."), -1});
}

Outcome Execution::RemoveSite(const std::vector<CsomValue>& p, bool deleted) {
  const std::string& url = p[0].text;
  const std::string wanted = NormalizeUrl(url);
  c_.moves.Tick();
  {
    absl::MutexLock lock(&c_.cloud.mu);
    GeoState& geo = c_.cloud.geos[ctx_.host.tenant][ctx_.host.geo];
    std::vector<RedirectSite>& from = deleted ? geo.recycle_bin : geo.redirects;
    auto it = std::find_if(from.begin(), from.end(),
                           [&](const RedirectSite& site) { return NormalizeUrl(site.url) == wanted; });
    if (url.empty() || it == from.end()) {
      return Outcome::Error({kNoSite, absl::StrCat("Cannot get site ", url, "."), -1});
    }
    if (!deleted) geo.recycle_bin.push_back(*it);
    from.erase(it);
  }
  auto operation = std::make_shared<ClientObject>();
  operation->type = absl::StrCat(kTypePrefix, "SpoOperation");
  operation->identity =
      routes_.NewOperation(ctx_.host.tenant, ctx_.host.geo, deleted ? "RemoveDeletedSite" : "RemoveSite", url);
  operation->properties["IsComplete"] = false;
  operation->properties["PollingInterval"] = kPollingIntervalMs;
  operation->properties["HasTimedout"] = false;
  return Outcome::Object(std::move(operation));
}

Json Header(const std::optional<CsomError>& error, const std::string& correlation) {
  Json header = Json::object();
  header["SchemaVersion"] = kSchemaVersion;
  header["LibraryVersion"] = kLibraryVersion;
  if (error) {
    Json info = Json::object();
    info["ErrorMessage"] = error->message;
    info["ErrorValue"] = nullptr;
    info["TraceCorrelationId"] = correlation;
    info["ErrorCode"] = error->code;
    info["ErrorTypeName"] = error->type;
    header["ErrorInfo"] = std::move(info);
  } else {
    header["ErrorInfo"] = nullptr;
  }
  header["TraceCorrelationId"] = correlation;
  return header;
}

// The accounting label of a request: its first Tenant method, known or not.
std::string RouteLabel(const CsomRequest& request) {
  auto label = [](const std::string& name) {
    const std::vector<std::string>& known = KnownMethods();
    return absl::StrCat("sharepoint.csom.",
                        std::find(known.begin(), known.end(), name) != known.end() ? name : "unknown");
  };
  for (const CsomAction& action : request.actions) {
    if (action.kind == CsomAction::Kind::kMethod) return label(action.name);
    if (action.kind == CsomAction::Kind::kStaticMethod) return label("");
    if (action.object_path_id < 0) continue;
    const CsomObjectPath& path = request.object_paths.at(action.object_path_id);
    if (path.kind == CsomObjectPath::Kind::kMethod) return label(path.name);
    if (path.kind == CsomObjectPath::Kind::kIdentity) return "sharepoint.csom.SpoOperation";
  }
  return "sharepoint.processquery";
}

}  // namespace

CsomRoutes::CsomRoutes(EmulatorContext& context) : c_(context) {}

void CsomRoutes::Register(Router& router) {
  auto bind = [this](void (CsomRoutes::*handler)(RequestContext&)) {
    return [this, handler](RequestContext& ctx, const std::vector<std::string>&) { (this->*handler)(ctx); };
  };
  router.Add("POST", "/_vti_bin/client.svc/ProcessQuery", "sharepoint.processquery", bind(&CsomRoutes::ProcessQuery));
  router.Add("GET", "/_vti_bin/client.svc/ProcessQuery", "sharepoint.client_svc", bind(&CsomRoutes::ClientService));
  router.Add("GET", "/_vti_bin/client.svc", "sharepoint.client_svc", bind(&CsomRoutes::ClientService));
  router.Add("POST", "/_vti_bin/client.svc", "sharepoint.client_svc", bind(&CsomRoutes::ClientService));
  router.Add("POST", "/_api/contextinfo", "sharepoint.contextinfo", bind(&CsomRoutes::ContextInfo));
  router.Add("GET", "/_api/MultiGeoApiVersions", "sharepoint.multigeo.versions", bind(&CsomRoutes::MultiGeoVersions));
  router.Add(
      "GET", "/_api/XTenantMoveCompatibilityCheck(*", "sharepoint.multigeo.compatibility",
      [this](RequestContext& ctx, const std::vector<std::string>& captures) { CompatibilityCheck(ctx, captures); });
}

bool CsomRoutes::Authorize(RequestContext& ctx) { return AuthorizeSharePoint(c_, ctx, kSharePointAdmin).has_value(); }

void CsomRoutes::ClientService(RequestContext& ctx) {
  // Without a token this is the tenant discovery challenge (AuthorizeSharePoint answers 401 with the
  // realm); with one, there is nothing here but ProcessQuery.
  if (!Authorize(ctx)) return;
  SendSharePointError(ctx.response, 405, "Use POST /_vti_bin/client.svc/ProcessQuery.");
}

void CsomRoutes::ProcessQuery(RequestContext& ctx) {
  if (!Authorize(ctx)) return;
  if (c_.faults.Get().require_form_digest && !KnownDigest(ctx.request.get_header_value("X-RequestDigest"))) {
    SendJson(ctx.response, 403,
             {{"error",
               {{"code", "-2130575252, Microsoft.SharePoint.SPException"},
                {"message",
                 {{"lang", "en-US"},
                  {"value",
                   "The security validation for this page is invalid and might be corrupted. Please use "
                   "your web browser's Back button to try your operation again."}}}}}});
    return;
  }
  const std::string correlation = RandomGuid();
  ctx.response.set_header("SPRequestGuid", correlation);
  absl::StatusOr<CsomRequest> request = ParseCsomRequest(ctx.request.body);
  if (!request.ok()) {
    return SendOrdered(ctx.response, 400,
                       Json::array({Header(QueryError(std::string(request.status().message())), correlation)}));
  }
  ctx.route_name = RouteLabel(*request);
  Json results = Json::array();
  Execution execution(*this, ctx, *request);
  const std::optional<CsomError> error = execution.Run(&results);
  Json answer = Json::array({Header(error, correlation)});
  if (!error) {
    for (Json& item : results) answer.push_back(std::move(item));
  }
  SendOrdered(ctx.response, 200, answer);
}

void CsomRoutes::ContextInfo(RequestContext& ctx) {
  if (!Authorize(ctx)) return;
  const absl::Time now = absl::Now();
  const std::string digest =
      absl::StrCat("0x", HexToken(64), ",", absl::FormatTime("%d %b %Y %H:%M:%S -0000", now, absl::UTCTimeZone()));
  {
    absl::MutexLock lock(&mu_);
    for (auto it = digests_.begin(); it != digests_.end();) it = it->second < now ? digests_.erase(it) : std::next(it);
    Bound(digests_);
    digests_[digest] = now + kDigestLifetime;
  }
  const std::string web = absl::StrCat("https://", ctx.host.host);
  Json info = Json::object();
  info["FormDigestTimeoutSeconds"] = absl::ToInt64Seconds(kDigestLifetime);
  info["FormDigestValue"] = digest;
  info["LibraryVersion"] = kLibraryVersion;
  info["SiteFullUrl"] = web;
  info["SupportedSchemaVersions"] = Json::array({"14.0.0.0", "15.0.0.0"});
  info["WebFullUrl"] = web;
  if (absl::StrContains(absl::AsciiStrToLower(ctx.request.get_header_value("Accept")), "odata=verbose")) {
    Json verbose = Json::object();
    verbose["__metadata"] = {{"type", "SP.ContextWebInformation"}};
    for (const auto& [key, value] : info.items()) verbose[key] = value;
    return SendOrdered(ctx.response, 200, Json{{"d", Json{{"GetContextWebInformation", verbose}}}});
  }
  SendOrdered(ctx.response, 200, info);
}

bool CsomRoutes::KnownDigest(const std::string& digest) {
  absl::MutexLock lock(&mu_);
  auto it = digests_.find(digest);
  return it != digests_.end() && it->second >= absl::Now();
}

void CsomRoutes::MultiGeoVersions(RequestContext& ctx) {
  if (!Authorize(ctx)) return;
  SendOrdered(ctx.response, 200, Json{{"SupportedVersions", SupportedApiVersions()}});
}

void CsomRoutes::CompatibilityCheck(RequestContext& ctx, const std::vector<std::string>& captures) {
  if (!Authorize(ctx)) return;
  constexpr absl::string_view kQueryCode = "-1, Microsoft.SharePoint.Client.InvalidClientQueryException";
  const std::string version = ctx.request.get_param_value("api-version");
  const std::vector<std::string>& versions = SupportedApiVersions();
  if (version.empty() || std::find(versions.begin(), versions.end(), version) == versions.end()) {
    return SendSharePointError(ctx.response, 400,
                               absl::StrCat("The api-version '", version, "' is not supported. Supported versions: ",
                                            absl::StrJoin(versions, ", "), "."),
                               kQueryCode);
  }
  // The segment is XTenantMoveCompatibilityCheck(targetTenantHostUrl='<percent-encoded URL>'), taken
  // from the undecoded target (the dispatcher matches SharePoint paths before percent-decoding).
  const absl::string_view segment = captures.empty() ? absl::string_view() : absl::string_view(captures[0]);
  std::string url;
  const std::size_t open = segment.find('(');
  const std::size_t first_quote = segment.find('\'');
  const std::size_t last_quote = segment.rfind('\'');
  if (open != absl::string_view::npos &&
      absl::StartsWithIgnoreCase(segment.substr(open + 1), "targetTenantHostUrl='") && last_quote > first_quote &&
      absl::EndsWith(segment, "')")) {
    url =
        httplib::detail::decode_url(std::string(segment.substr(first_quote + 1, last_quote - first_quote - 1)), false);
  }
  int partner_tenant = -1, partner_geo = -1;
  if (url.empty() || !c_.directory.FindGeoByUrl(url, &partner_tenant, &partner_geo)) {
    return SendSharePointError(ctx.response, 400, absl::StrCat("The target tenant host URL '", url, "' is not valid."),
                               kQueryCode);
  }
  if (c_.UnreachableTenants().count(partner_tenant)) {
    return SendSharePointError(ctx.response, 503, "The partner tenant could not be contacted.");
  }
  // XTenantMoveCompatibilityResult: Compatible 0, Incompatible 1, Warning 2; the worse of the two tenants.
  auto rank = [](const std::string& status) { return status == "Incompatible" ? 2 : status == "Warning" ? 1 : 0; };
  const absl::Duration elapsed = c_.clock.Elapsed();
  const std::string& mine = c_.directory.tenant(ctx.host.tenant).seed.features.CompatibilityAt(elapsed);
  const std::string& theirs = c_.directory.tenant(partner_tenant).seed.features.CompatibilityAt(elapsed);
  const int worse = std::max(rank(mine), rank(theirs));
  Json answer = Json::object();
  answer["SourceTenantHostUrl"] = c_.directory.MySiteHostUrl(ctx.host.tenant, ctx.host.geo);
  answer["TargetTenantHostUrl"] = c_.directory.MySiteHostUrl(partner_tenant, partner_geo);
  answer["XTenantMoveCompatibilityResult"] = worse == 2 ? 1 : worse == 1 ? 2 : 0;
  SendOrdered(ctx.response, 200, answer);
}

std::string CsomRoutes::NewOperation(int tenant, int geo, const std::string& method, const std::string& url) {
  const absl::Time now = c_.clock.Now();
  // SharePoint's operation identities are opaque, several lines long; clients send them back verbatim.
  // The instant in it is real, as every instant that leaves the emulator.
  const std::string identity =
      absl::StrCat(RandomGuid(), "|", kIdentityFarm, ":", c_.directory.tenant(tenant).seed.id, "\nSpoOperation\n",
                   method, "\n", absl::ToUnixMillis(absl::Now()), "\n", url, "\n", RandomGuid());
  absl::MutexLock lock(&mu_);
  Bound(operations_);
  operations_[identity] = {tenant, geo, now + kOperationDuration, absl::Now()};
  return identity;
}

std::optional<CsomRoutes::Operation> CsomRoutes::FindOperation(const std::string& identity) {
  absl::MutexLock lock(&mu_);
  auto it = operations_.find(identity);
  if (it == operations_.end()) return std::nullopt;
  return it->second;
}

std::string CsomRoutes::NewSitePage(int tenant, int geo, const std::string& after_url) {
  const std::string token = absl::StrCat("2;", RandomToken(18));
  absl::MutexLock lock(&mu_);
  Bound(site_pages_);
  site_pages_[token] = {tenant, geo, after_url, absl::Now()};
  return token;
}

std::optional<CsomRoutes::SitePage> CsomRoutes::FindSitePage(const std::string& token) {
  absl::MutexLock lock(&mu_);
  auto it = site_pages_.find(token);
  if (it == site_pages_.end()) return std::nullopt;
  return it->second;
}

}  // namespace crosstenant::emulator
