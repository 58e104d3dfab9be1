#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_JSON_READ_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_JSON_READ_H_

// Typed reads of Microsoft's JSON that never throw: a missing key, a value of another type or a body
// that is not an object gives the fallback (Microsoft's answers are input like any other). Shared by
// the connector and its upstream clients.

#include <cstdint>
#include <string>

#include "nlohmann/json.hpp"

namespace crosstenant::tenant_connector::json_read {

inline std::string Str(const nlohmann::json& json, const char* key, const std::string& fallback = "") {
  if (!json.is_object()) return fallback;
  auto it = json.find(key);
  return it != json.end() && it->is_string() ? it->get<std::string>() : fallback;
}
inline bool Bool(const nlohmann::json& json, const char* key, bool fallback) {
  if (!json.is_object()) return fallback;
  auto it = json.find(key);
  return it != json.end() && it->is_boolean() ? it->get<bool>() : fallback;
}
inline int64_t Int(const nlohmann::json& json, const char* key, int64_t fallback) {
  if (!json.is_object()) return fallback;
  auto it = json.find(key);
  return it != json.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}
// The array under `key`, or an empty one.
inline const nlohmann::json& Array(const nlohmann::json& json, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  if (!json.is_object()) return kEmpty;
  auto it = json.find(key);
  return it != json.end() && it->is_array() ? *it : kEmpty;
}

}  // namespace crosstenant::tenant_connector::json_read

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_JSON_READ_H_
