// Fuzzes the tenant emulator's CSOM reader (services/tenant_emulator/csom_request.h): the XML body of
// every ProcessQuery call that reaches the emulator's SharePoint admin hosts. The input is the body.
//
// Checks: refusals are INVALID_ARGUMENT (or RESOURCE_EXHAUSTED) with a reason; an accepted request
// keeps the limits (actions, object paths), every action names a declared object path, and every
// path's parent chain is declared and ends, so that the executor can walk it without further checks.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "services/tenant_emulator/csom_request.h"
#include "tests/fuzz/fuzz_check.h"

namespace em = crosstenant::emulator;

namespace {

void CheckValue(const em::CsomValue& value, int depth) {
  FUZZ_CHECK(depth < em::kMaxCsomValueDepth, "a value nested " << depth << " deep was accepted");
  for (const em::CsomValue& item : value.items) CheckValue(item, depth + 1);
  for (const auto& [name, item] : value.properties) {
    FUZZ_CHECK(!name.empty(), "a value object property without a name");
    CheckValue(item, depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view xml(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<em::CsomRequest> parsed = em::ParseCsomRequest(xml);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument ||
                   parsed.status().code() == absl::StatusCode::kResourceExhausted,
               parsed.status());
    FUZZ_CHECK(!parsed.status().message().empty(), "a refusal without a reason");
    return 0;
  }
  FUZZ_CHECK(size <= em::kMaxCsomBodyBytes, "a body of " << size << " bytes was accepted");
  FUZZ_CHECK(parsed->actions.size() <= em::kMaxCsomActions, parsed->actions.size() << " actions");
  FUZZ_CHECK(parsed->object_paths.size() <= em::kMaxCsomObjectPaths, parsed->object_paths.size() << " paths");
  for (const em::CsomAction& action : parsed->actions) {
    if (action.kind != em::CsomAction::Kind::kStaticMethod) {
      FUZZ_CHECK(parsed->object_paths.count(action.object_path_id), "action " << action.id << " names no path");
    }
    for (const em::CsomValue& value : action.parameters) CheckValue(value, 0);
  }
  for (const auto& [id, path] : parsed->object_paths) {
    FUZZ_CHECK(path.id == id, "path " << id << " is stored under another id");
    int current = id;
    for (std::size_t steps = 0; parsed->object_paths.at(current).parent_id >= 0; ++steps) {
      FUZZ_CHECK(steps <= parsed->object_paths.size(), "path " << id << " has a parent cycle");
      current = parsed->object_paths.at(current).parent_id;
      FUZZ_CHECK(parsed->object_paths.count(current), "path " << id << " names an undeclared parent");
    }
    for (const em::CsomValue& value : path.parameters) CheckValue(value, 0);
  }
  return 0;
}
