#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_CSOM_REQUEST_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_CSOM_REQUEST_H_

// The body of a CSOM ProcessQuery call (POST /_vti_bin/client.svc/ProcessQuery), read into plain
// structs. The XML looks like this (namespace http://schemas.microsoft.com/sharepoint/clientquery/2009):
//
//   <Request xmlns="..." SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" ApplicationName="x">
//     <Actions>
//       <ObjectPath Id="2" ObjectPathId="1"/>
//       <Method Name="VerifySPOTenantOrgRelation" Id="3" ObjectPathId="1">
//         <Parameters><Parameter Type="Enum">1</Parameter>...</Parameters></Method>
//       <Query Id="5" ObjectPathId="4">
//         <Query SelectAllProperties="true"><Properties><Property Name="IsComplete" ScalarProperty="true"/>
//         </Properties></Query>
//         <ChildItemQuery SelectAllProperties="true"><Properties/></ChildItemQuery></Query>
//       <SetProperty Id="6" ObjectPathId="1" Name="X"><Parameter Type="String">v</Parameter></SetProperty>
//     </Actions>
//     <ObjectPaths>
//       <Constructor Id="1" TypeId="{268004ae-ef6b-4e9b-8425-127220d84719}"/>
//       <Method Id="4" ParentId="1" Name="RemoveSite"><Parameters>...</Parameters></Method>
//       <Property Id="7" ParentId="1" Name="RootSite"/>
//       <Identity Id="8" Name="...opaque, may hold &#xA;..."/>
//       <StaticProperty Id="9" TypeId="{...}" Name="Current"/>
//       <StaticMethod Id="10" TypeId="{...}" Name="GetX"><Parameters>...</Parameters></StaticMethod>
//     </ObjectPaths>
//   </Request>
//
// Parameters are typed: Type="String" | "Boolean" | "Int32" | "UInt32" | "Int64" | "Double" | "Enum"
// (a number) | "Guid" | "DateTime" | "Null" | "Array" (children <Object Type="..">, typed the same way);
// a value object is <Parameter TypeId="{guid}"> with <Property Name="X" Type="..">..</Property> children;
// <Parameter ObjectPathId="n"/> names an object path. Element names are compared without a namespace
// prefix; the root must declare the CSOM namespace.
//
// Every number and reference is checked here: Ids are integers, an action's ObjectPathId and a path's
// ParentId name a declared path, parent chains end, typed values parse (Int32 within range, Boolean
// true/false, Guid 32 hex digits, DateTime ISO 8601 or /Date(ms)/ or /Date(y,m,d,h,mi,s,ms)/).
// Malformed input gives INVALID_ARGUMENT with a reason; nothing throws. The work is bounded: bodies
// over kMaxCsomBodyBytes, more than kMaxCsomActions actions or kMaxCsomObjectPaths paths, and values
// nested deeper than kMaxCsomValueDepth are refused.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace crosstenant::emulator {

inline constexpr absl::string_view kCsomNamespace = "http://schemas.microsoft.com/sharepoint/clientquery/2009";
inline constexpr std::size_t kMaxCsomBodyBytes = 2 * 1024 * 1024;
inline constexpr std::size_t kMaxCsomActions = 1000;
inline constexpr std::size_t kMaxCsomObjectPaths = 1000;
inline constexpr int kMaxCsomValueDepth = 16;

// One typed value: a parameter, an array element or a value object's property.
struct CsomValue {
  enum class Kind {
    kNull,
    kString,
    kBoolean,
    kInt32,
    kUInt32,
    kInt64,
    kDouble,
    kEnum,
    kGuid,
    kDateTime,
    kArray,
    kObject,
    kObjectPath
  };
  Kind kind = Kind::kNull;
  std::string text;              // String, Guid (as sent), DateTime (as sent), numbers (as sent)
  bool boolean = false;          // Boolean
  int64_t integer = 0;           // Int32, UInt32, Int64, Enum; ObjectPath: the path id
  double number = 0;             // Double (and every integer kind)
  absl::Time time;               // DateTime (absl::InfinitePast() for an empty one)
  std::vector<CsomValue> items;  // Array
  std::string type_id;           // Object: the TypeId, as sent
  std::vector<std::pair<std::string, CsomValue>> properties;  // Object: name → value, in order

  // The value object's property of that name, or nullptr.
  const CsomValue* Property(absl::string_view name) const;
};

// "String", "Int32", ... ("Object" for a value object).
const char* CsomKindName(CsomValue::Kind kind);

struct CsomObjectPath {
  enum class Kind { kConstructor, kMethod, kProperty, kIdentity, kStaticProperty, kStaticMethod };
  Kind kind = Kind::kConstructor;
  int id = 0;
  int parent_id = -1;                 // Method, Property
  std::string type_id;                // Constructor, StaticProperty, StaticMethod
  std::string name;                   // Method, Property, Identity (the identity string), StaticProperty, StaticMethod
  std::vector<CsomValue> parameters;  // Constructor, Method, StaticMethod
};

// Which properties a Query asks for (of the object, or of each child item).
struct CsomQuerySelection {
  bool present = false;  // the element was there
  bool select_all = false;
  std::vector<std::string> properties;
};

struct CsomAction {
  enum class Kind { kObjectPath, kObjectIdentityQuery, kQuery, kMethod, kSetProperty, kStaticMethod };
  Kind kind = Kind::kObjectPath;
  int id = 0;
  int object_path_id = -1;              // all but StaticMethod
  std::string name;                     // Method, SetProperty, StaticMethod
  std::string type_id;                  // StaticMethod
  std::vector<CsomValue> parameters;    // Method, StaticMethod; SetProperty: its one value
  CsomQuerySelection query;             // Query
  CsomQuerySelection child_item_query;  // Query
};

struct CsomRequest {
  std::string schema_version;
  std::string library_version;
  std::string application_name;
  std::vector<CsomAction> actions;             // in document order
  std::map<int, CsomObjectPath> object_paths;  // by id
};

absl::StatusOr<CsomRequest> ParseCsomRequest(absl::string_view xml);

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_CSOM_REQUEST_H_
