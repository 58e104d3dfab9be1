#include "services/tenant_emulator/csom_request.h"

#include <cmath>
#include <limits>
#include <new>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pugixml.hpp"

namespace crosstenant::emulator {
namespace {

// Element names without their namespace prefix ("c:Request" → "Request").
absl::string_view LocalName(const pugi::xml_node& node) {
  absl::string_view name = node.name();
  const std::size_t colon = name.find(':');
  return colon == absl::string_view::npos ? name : name.substr(colon + 1);
}

bool Is(const pugi::xml_node& node, absl::string_view name) {
  return node.type() == pugi::node_element && LocalName(node) == name;
}

// All character data of an element (text and CDATA; comments in between are skipped).
std::string Text(const pugi::xml_node& node) {
  std::string out;
  for (const pugi::xml_node& child : node.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) out += child.value();
  }
  return out;
}

absl::Status Invalid(absl::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

// An attribute holding a whole number of at least 0.
absl::StatusOr<int> IntAttribute(const pugi::xml_node& node, const char* attribute) {
  const pugi::xml_attribute a = node.attribute(attribute);
  int value = 0;
  if (!a) return Invalid(absl::StrCat("<", LocalName(node), "> has no ", attribute, " attribute"));
  if (!absl::SimpleAtoi(a.value(), &value) || value < 0) {
    return Invalid(absl::StrCat("<", LocalName(node), "> ", attribute, "=\"", a.value(), "\" is not a whole number"));
  }
  return value;
}

bool TrueFalse(absl::string_view text, bool* out) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (lower == "true" || lower == "1") {
    *out = true;
    return true;
  }
  if (lower == "false" || lower == "0") {
    *out = false;
    return true;
  }
  return false;
}

bool IsGuid(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (absl::ConsumePrefix(&text, "{") && !absl::ConsumeSuffix(&text, "}")) return false;
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !absl::ascii_isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

// "/Date(1764901680000)/", "/Date(2026,11,5,2,28,0,0)/" (month from 0) or ISO 8601.
bool ParseCsomTime(absl::string_view text, absl::Time* out) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) {
    *out = absl::InfinitePast();
    return true;
  }
  absl::string_view inner = text;
  if (absl::ConsumePrefix(&inner, "/Date(") && absl::ConsumeSuffix(&inner, ")/")) {
    std::vector<absl::string_view> parts = absl::StrSplit(inner, ',');
    std::vector<int64_t> numbers;
    for (absl::string_view part : parts) {
      int64_t n = 0;
      if (!absl::SimpleAtoi(part, &n)) return false;
      numbers.push_back(n);
    }
    if (numbers.size() == 1) {
      if (numbers[0] < -62135596800000 || numbers[0] > 253402300799999) return false;
      *out = absl::FromUnixMillis(numbers[0]);
      return true;
    }
    if (numbers.size() < 3 || numbers.size() > 7) return false;
    numbers.resize(7, 0);
    if (numbers[0] < 1 || numbers[0] > 9999 || numbers[1] < 0 || numbers[1] > 11 || numbers[2] < 1 || numbers[2] > 31 ||
        numbers[3] < 0 || numbers[3] > 23 || numbers[4] < 0 || numbers[4] > 59 || numbers[5] < 0 || numbers[5] > 60 ||
        numbers[6] < 0 || numbers[6] > 999) {
      return false;
    }
    const absl::CivilSecond civil(numbers[0], numbers[1] + 1, numbers[2], numbers[3], numbers[4], numbers[5]);
    *out = absl::FromCivil(civil, absl::UTCTimeZone()) + absl::Milliseconds(numbers[6]);
    return true;
  }
  std::string error;
  // .NET writes seven fractional digits and may leave out the zone (then UTC).
  return absl::ParseTime(absl::RFC3339_full, text, out, &error) ||
         absl::ParseTime("%Y-%m-%dT%H:%M:%E*S", text, absl::UTCTimeZone(), out, &error) ||
         absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), out, &error);
}

class Parser {
 public:
  absl::StatusOr<CsomRequest> Parse(absl::string_view xml);

 private:
  absl::Status ParseObjectPaths(const pugi::xml_node& paths);
  absl::Status ParseActions(const pugi::xml_node& actions);
  absl::StatusOr<CsomAction> ParseAction(const pugi::xml_node& node);
  absl::StatusOr<CsomQuerySelection> ParseSelection(const pugi::xml_node& node);
  // The <Parameter> children of the node's <Parameters> (none without one).
  absl::StatusOr<std::vector<CsomValue>> ParseParameters(const pugi::xml_node& node);
  absl::StatusOr<CsomValue> ParseValue(const pugi::xml_node& node, int depth);
  absl::Status CheckReferences();

  CsomRequest request_;
};

absl::StatusOr<CsomRequest> Parser::Parse(absl::string_view xml) {
  if (xml.size() > kMaxCsomBodyBytes) {
    return Invalid(
        absl::StrCat("the request body has ", xml.size(), " bytes; at most ", kMaxCsomBodyBytes, " are accepted"));
  }
  pugi::xml_document document;
  // parse_ws_pcdata_single keeps a string parameter that is only blanks; pugixml expands no DTD
  // entities (only the five predefined ones and character references), so nothing can blow up.
  const pugi::xml_parse_result parsed = document.load_buffer(
      xml.data(), xml.size(), pugi::parse_default | pugi::parse_ws_pcdata_single, pugi::encoding_utf8);
  if (!parsed) {
    return Invalid(
        absl::StrCat("the request body is not well-formed XML: ", parsed.description(), " at offset ", parsed.offset));
  }
  const pugi::xml_node root = document.document_element();
  if (!Is(root, "Request")) {
    return Invalid(absl::StrCat("the root element must be <Request>, not <", root.name(), ">"));
  }
  const absl::string_view root_name = root.name();
  const std::size_t colon = root_name.find(':');
  const std::string ns_attribute =
      colon == absl::string_view::npos ? "xmlns" : absl::StrCat("xmlns:", root_name.substr(0, colon));
  if (absl::string_view(root.attribute(ns_attribute.c_str()).value()) != kCsomNamespace) {
    return Invalid(absl::StrCat("<Request> must be in the namespace ", kCsomNamespace));
  }
  request_.schema_version = root.attribute("SchemaVersion").value();
  request_.library_version = root.attribute("LibraryVersion").value();
  request_.application_name = root.attribute("ApplicationName").value();
  bool seen_actions = false, seen_paths = false;
  for (const pugi::xml_node& child : root.children()) {
    if (child.type() != pugi::node_element) continue;
    if (Is(child, "Actions") && !seen_actions) {
      seen_actions = true;
      if (absl::Status s = ParseActions(child); !s.ok()) return s;
    } else if (Is(child, "ObjectPaths") && !seen_paths) {
      seen_paths = true;
      if (absl::Status s = ParseObjectPaths(child); !s.ok()) return s;
    } else {
      return Invalid(absl::StrCat("unexpected element <", child.name(), "> in <Request>"));
    }
  }
  if (absl::Status s = CheckReferences(); !s.ok()) return s;
  return std::move(request_);
}

absl::Status Parser::ParseObjectPaths(const pugi::xml_node& paths) {
  for (const pugi::xml_node& node : paths.children()) {
    if (node.type() != pugi::node_element) continue;
    if (request_.object_paths.size() >= kMaxCsomObjectPaths) {
      return Invalid(absl::StrCat("more than ", kMaxCsomObjectPaths, " object paths"));
    }
    CsomObjectPath path;
    const absl::string_view name = LocalName(node);
    if (name == "Constructor") {
      path.kind = CsomObjectPath::Kind::kConstructor;
    } else if (name == "Method") {
      path.kind = CsomObjectPath::Kind::kMethod;
    } else if (name == "Property") {
      path.kind = CsomObjectPath::Kind::kProperty;
    } else if (name == "Identity") {
      path.kind = CsomObjectPath::Kind::kIdentity;
    } else if (name == "StaticProperty") {
      path.kind = CsomObjectPath::Kind::kStaticProperty;
    } else if (name == "StaticMethod") {
      path.kind = CsomObjectPath::Kind::kStaticMethod;
    } else {
      return Invalid(absl::StrCat("unknown object path <", node.name(), ">"));
    }
    absl::StatusOr<int> id = IntAttribute(node, "Id");
    if (!id.ok()) return id.status();
    path.id = *id;
    const bool has_parent = path.kind == CsomObjectPath::Kind::kMethod || path.kind == CsomObjectPath::Kind::kProperty;
    const bool has_type = path.kind == CsomObjectPath::Kind::kConstructor ||
                          path.kind == CsomObjectPath::Kind::kStaticProperty ||
                          path.kind == CsomObjectPath::Kind::kStaticMethod;
    if (has_parent) {
      absl::StatusOr<int> parent = IntAttribute(node, "ParentId");
      if (!parent.ok()) return parent.status();
      path.parent_id = *parent;
    }
    if (has_type) {
      path.type_id = node.attribute("TypeId").value();
      if (path.type_id.empty()) return Invalid(absl::StrCat("<", name, " Id=\"", path.id, "\"> has no TypeId"));
    }
    if (path.kind != CsomObjectPath::Kind::kConstructor) {
      path.name = node.attribute("Name").value();
      if (path.name.empty()) return Invalid(absl::StrCat("<", name, " Id=\"", path.id, "\"> has no Name"));
    }
    if (path.kind == CsomObjectPath::Kind::kConstructor || path.kind == CsomObjectPath::Kind::kMethod ||
        path.kind == CsomObjectPath::Kind::kStaticMethod) {
      absl::StatusOr<std::vector<CsomValue>> parameters = ParseParameters(node);
      if (!parameters.ok()) return parameters.status();
      path.parameters = *std::move(parameters);
    }
    if (!request_.object_paths.emplace(path.id, std::move(path)).second) {
      return Invalid(absl::StrCat("two object paths have Id ", *id));
    }
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseActions(const pugi::xml_node& actions) {
  std::set<int> ids;
  for (const pugi::xml_node& node : actions.children()) {
    if (node.type() != pugi::node_element) continue;
    if (request_.actions.size() >= kMaxCsomActions)
      return Invalid(absl::StrCat("more than ", kMaxCsomActions, " actions"));
    absl::StatusOr<CsomAction> action = ParseAction(node);
    if (!action.ok()) return action.status();
    if (!ids.insert(action->id).second) return Invalid(absl::StrCat("two actions have Id ", action->id));
    request_.actions.push_back(*std::move(action));
  }
  return absl::OkStatus();
}

absl::StatusOr<CsomAction> Parser::ParseAction(const pugi::xml_node& node) {
  CsomAction action;
  const absl::string_view name = LocalName(node);
  if (name == "ObjectPath") {
    action.kind = CsomAction::Kind::kObjectPath;
  } else if (name == "ObjectIdentityQuery") {
    action.kind = CsomAction::Kind::kObjectIdentityQuery;
  } else if (name == "Query") {
    action.kind = CsomAction::Kind::kQuery;
  } else if (name == "Method") {
    action.kind = CsomAction::Kind::kMethod;
  } else if (name == "SetProperty") {
    action.kind = CsomAction::Kind::kSetProperty;
  } else if (name == "StaticMethod") {
    action.kind = CsomAction::Kind::kStaticMethod;
  } else {
    return Invalid(absl::StrCat("unknown action <", node.name(), ">"));
  }
  absl::StatusOr<int> id = IntAttribute(node, "Id");
  if (!id.ok()) return id.status();
  action.id = *id;
  if (action.kind == CsomAction::Kind::kStaticMethod) {
    action.type_id = node.attribute("TypeId").value();
    if (action.type_id.empty()) return Invalid(absl::StrCat("<StaticMethod Id=\"", action.id, "\"> has no TypeId"));
  } else {
    absl::StatusOr<int> path = IntAttribute(node, "ObjectPathId");
    if (!path.ok()) return path.status();
    action.object_path_id = *path;
  }
  if (action.kind == CsomAction::Kind::kMethod || action.kind == CsomAction::Kind::kSetProperty ||
      action.kind == CsomAction::Kind::kStaticMethod) {
    action.name = node.attribute("Name").value();
    if (action.name.empty()) return Invalid(absl::StrCat("<", name, " Id=\"", action.id, "\"> has no Name"));
  }
  if (action.kind == CsomAction::Kind::kMethod || action.kind == CsomAction::Kind::kStaticMethod) {
    absl::StatusOr<std::vector<CsomValue>> parameters = ParseParameters(node);
    if (!parameters.ok()) return parameters.status();
    action.parameters = *std::move(parameters);
  } else if (action.kind == CsomAction::Kind::kSetProperty) {
    pugi::xml_node parameter;
    for (const pugi::xml_node& child : node.children()) {
      if (Is(child, "Parameter") && !parameter) parameter = child;
    }
    if (!parameter) return Invalid(absl::StrCat("<SetProperty Id=\"", action.id, "\"> has no <Parameter>"));
    absl::StatusOr<CsomValue> value = ParseValue(parameter, 0);
    if (!value.ok()) return value.status();
    action.parameters.push_back(*std::move(value));
  } else if (action.kind == CsomAction::Kind::kQuery) {
    for (const pugi::xml_node& child : node.children()) {
      if (child.type() != pugi::node_element) continue;
      CsomQuerySelection* target = Is(child, "Query")            ? &action.query
                                   : Is(child, "ChildItemQuery") ? &action.child_item_query
                                                                 : nullptr;
      if (target == nullptr || target->present) {
        return Invalid(absl::StrCat("unexpected <", child.name(), "> in <Query Id=\"", action.id, "\">"));
      }
      absl::StatusOr<CsomQuerySelection> selection = ParseSelection(child);
      if (!selection.ok()) return selection.status();
      *target = *std::move(selection);
    }
  }
  return action;
}

absl::StatusOr<CsomQuerySelection> Parser::ParseSelection(const pugi::xml_node& node) {
  CsomQuerySelection selection;
  selection.present = true;
  const pugi::xml_attribute all = node.attribute("SelectAllProperties");
  if (all && !TrueFalse(all.value(), &selection.select_all)) {
    return Invalid(absl::StrCat("SelectAllProperties=\"", all.value(), "\" is not true or false"));
  }
  for (const pugi::xml_node& properties : node.children()) {
    if (properties.type() != pugi::node_element) continue;
    if (!Is(properties, "Properties")) {
      return Invalid(absl::StrCat("unexpected <", properties.name(), "> in <", node.name(), ">"));
    }
    for (const pugi::xml_node& property : properties.children()) {
      if (property.type() != pugi::node_element) continue;
      const std::string name = property.attribute("Name").value();
      if (!Is(property, "Property") || name.empty()) {
        return Invalid(absl::StrCat("<Properties> holds <Property Name=\"...\"> elements only"));
      }
      selection.properties.push_back(name);
    }
  }
  return selection;
}

absl::StatusOr<std::vector<CsomValue>> Parser::ParseParameters(const pugi::xml_node& node) {
  std::vector<CsomValue> out;
  bool seen = false;
  for (const pugi::xml_node& parameters : node.children()) {
    if (parameters.type() != pugi::node_element) continue;
    if (!Is(parameters, "Parameters") || seen) {
      return Invalid(absl::StrCat("unexpected <", parameters.name(), "> in <", node.name(), ">"));
    }
    seen = true;
    for (const pugi::xml_node& parameter : parameters.children()) {
      if (parameter.type() != pugi::node_element) continue;
      if (!Is(parameter, "Parameter"))
        return Invalid(absl::StrCat("unexpected <", parameter.name(), "> in <Parameters>"));
      absl::StatusOr<CsomValue> value = ParseValue(parameter, 0);
      if (!value.ok()) return value.status();
      out.push_back(*std::move(value));
    }
  }
  return out;
}

absl::StatusOr<CsomValue> Parser::ParseValue(const pugi::xml_node& node, int depth) {
  if (depth >= kMaxCsomValueDepth) return Invalid(absl::StrCat("values nested deeper than ", kMaxCsomValueDepth));
  CsomValue value;
  const std::string type = node.attribute("Type").value();
  const std::string type_id = node.attribute("TypeId").value();
  const pugi::xml_attribute path = node.attribute("ObjectPathId");
  const std::string text = Text(node);
  auto bad = [&](absl::string_view why) {
    return Invalid(
        absl::StrCat("<", node.name(), " Type=\"", type, "\">", text.substr(0, 100), "</", node.name(), ">: ", why));
  };
  if (path) {
    int id = 0;
    if (!absl::SimpleAtoi(path.value(), &id) || id < 0) return bad("ObjectPathId is not a whole number");
    value.kind = CsomValue::Kind::kObjectPath;
    value.integer = id;
    return value;
  }
  if (!type_id.empty()) {
    value.kind = CsomValue::Kind::kObject;
    value.type_id = type_id;
    for (const pugi::xml_node& property : node.children()) {
      if (property.type() != pugi::node_element) continue;
      const std::string name = property.attribute("Name").value();
      if (!Is(property, "Property") || name.empty()) {
        return Invalid(
            absl::StrCat("a value object (TypeId ", type_id, ") holds <Property Name=\"...\"> elements only"));
      }
      absl::StatusOr<CsomValue> item = ParseValue(property, depth + 1);
      if (!item.ok()) return item.status();
      value.properties.emplace_back(name, *std::move(item));
    }
    return value;
  }
  value.text = text;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  if (type == "String") {
    value.kind = CsomValue::Kind::kString;
  } else if (type == "Null" || type.empty()) {
    if (type.empty() && !trimmed.empty()) return bad("a value needs a Type");
    value.kind = CsomValue::Kind::kNull;
  } else if (type == "Boolean") {
    value.kind = CsomValue::Kind::kBoolean;
    if (!TrueFalse(trimmed, &value.boolean)) return bad("not true or false");
  } else if (type == "Int32" || type == "UInt32" || type == "Int64" || type == "Enum") {
    value.kind = type == "Int32"    ? CsomValue::Kind::kInt32
                 : type == "UInt32" ? CsomValue::Kind::kUInt32
                 : type == "Int64"  ? CsomValue::Kind::kInt64
                                    : CsomValue::Kind::kEnum;
    if (!absl::SimpleAtoi(trimmed, &value.integer)) return bad("not a whole number");
    if (type == "Int32" &&
        (value.integer < std::numeric_limits<int32_t>::min() || value.integer > std::numeric_limits<int32_t>::max())) {
      return bad("out of the Int32 range");
    }
    if (type == "UInt32" && (value.integer < 0 || value.integer > std::numeric_limits<uint32_t>::max())) {
      return bad("out of the UInt32 range");
    }
    value.number = static_cast<double>(value.integer);
  } else if (type == "Double" || type == "Single") {
    value.kind = CsomValue::Kind::kDouble;
    if (!absl::SimpleAtod(trimmed, &value.number) || !std::isfinite(value.number)) return bad("not a number");
  } else if (type == "Guid") {
    value.kind = CsomValue::Kind::kGuid;
    if (!IsGuid(trimmed)) return bad("not a GUID");
  } else if (type == "DateTime") {
    value.kind = CsomValue::Kind::kDateTime;
    if (!ParseCsomTime(trimmed, &value.time)) return bad("not a date and time");
  } else if (type == "Array") {
    value.kind = CsomValue::Kind::kArray;
    for (const pugi::xml_node& item : node.children()) {
      if (item.type() != pugi::node_element) continue;
      if (!Is(item, "Object")) return bad("an Array holds <Object> elements only");
      absl::StatusOr<CsomValue> element = ParseValue(item, depth + 1);
      if (!element.ok()) return element.status();
      value.items.push_back(*std::move(element));
    }
  } else {
    return bad("unknown Type");
  }
  return value;
}

absl::Status Parser::CheckReferences() {
  for (const CsomAction& action : request_.actions) {
    if (action.kind != CsomAction::Kind::kStaticMethod && !request_.object_paths.count(action.object_path_id)) {
      return Invalid(
          absl::StrCat("action ", action.id, " names object path ", action.object_path_id, ", which is not declared"));
    }
  }
  for (const auto& [id, path] : request_.object_paths) {
    // Walk up: every parent is declared and the chain ends within as many steps as there are paths.
    int current = id;
    for (std::size_t steps = 0;; ++steps) {
      const CsomObjectPath& at = request_.object_paths.at(current);
      if (at.parent_id < 0) break;
      if (!request_.object_paths.count(at.parent_id)) {
        return Invalid(absl::StrCat("object path ", at.id, " names parent ", at.parent_id, ", which is not declared"));
      }
      if (steps > request_.object_paths.size())
        return Invalid(absl::StrCat("object path ", id, " is its own ancestor"));
      current = at.parent_id;
    }
  }
  return absl::OkStatus();
}

}  // namespace

const CsomValue* CsomValue::Property(absl::string_view name) const {
  for (const auto& [key, value] : properties) {
    if (key == name) return &value;
  }
  return nullptr;
}

const char* CsomKindName(CsomValue::Kind kind) {
  switch (kind) {
    case CsomValue::Kind::kNull:
      return "Null";
    case CsomValue::Kind::kString:
      return "String";
    case CsomValue::Kind::kBoolean:
      return "Boolean";
    case CsomValue::Kind::kInt32:
      return "Int32";
    case CsomValue::Kind::kUInt32:
      return "UInt32";
    case CsomValue::Kind::kInt64:
      return "Int64";
    case CsomValue::Kind::kDouble:
      return "Double";
    case CsomValue::Kind::kEnum:
      return "Enum";
    case CsomValue::Kind::kGuid:
      return "Guid";
    case CsomValue::Kind::kDateTime:
      return "DateTime";
    case CsomValue::Kind::kArray:
      return "Array";
    case CsomValue::Kind::kObject:
      return "Object";
    case CsomValue::Kind::kObjectPath:
      return "ObjectPath";
  }
  return "Null";
}

absl::StatusOr<CsomRequest> ParseCsomRequest(absl::string_view xml) {
  try {
    return Parser().Parse(xml);
  } catch (const std::bad_alloc&) {
    // pugixml reports running out of memory through its result, but std::vector and std::string may throw.
    return absl::ResourceExhaustedError("out of memory while reading the request");
  }
}

}  // namespace crosstenant::emulator
