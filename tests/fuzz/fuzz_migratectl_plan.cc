// Fuzzes migratectl::ParsePlan, the migration plan file of `migratectl migrate start --plan FILE`
// (deploy/local/demo-plan.yaml is a real plan and seeds the corpus). It reads through ConfigReader,
// so this also fuzzes the config reader with the plan's own schema.
//
// Besides crashes and sanitizer reports it checks that a refusal is INVALID_ARGUMENT naming the file,
// and that an accepted plan holds what `migrate start` relies on: a valid migration id, two different
// `connections/...` names, an identity map path, and a window that ends after it begins.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "clients/migratectl/plan_file.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace crosstenant::migratectl;
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<PlanFile> plan = ParsePlan(text, "fuzz-plan.yaml", "/plans", "fuzz-plan");
  if (!plan.ok()) {
    FUZZ_CHECK(plan.status().code() == absl::StatusCode::kInvalidArgument, plan.status());
    FUZZ_CHECK(absl::StrContains(plan.status().message(), "fuzz-plan.yaml"), "names no file: " << plan.status());
    return 0;
  }
  const std::string& id = plan->migration_id;
  FUZZ_CHECK(!id.empty() && id.size() <= 63 && absl::ascii_islower(static_cast<unsigned char>(id[0])),
             "accepted migration id '" << id << "'");
  for (char c : id) {
    FUZZ_CHECK(absl::ascii_islower(static_cast<unsigned char>(c)) ||
                   absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-',
               "accepted migration id '" << id << "'");
  }
  FUZZ_CHECK(absl::StartsWith(plan->source_connection, "connections/") &&
                 absl::StartsWith(plan->target_connection, "connections/"),
             "connections " << plan->source_connection << ", " << plan->target_connection);
  FUZZ_CHECK(plan->source_connection != plan->target_connection,
             "source and target are both " << plan->source_connection);
  FUZZ_CHECK(!plan->identity_map_path.empty(), "an accepted plan without an identity map");
  if (plan->options.has_window() && plan->options.window().has_preferred_begin_time() &&
      plan->options.window().has_preferred_end_time()) {
    FUZZ_CHECK(
        plan->options.window().preferred_end_time().seconds() > plan->options.window().preferred_begin_time().seconds(),
        "an accepted window that ends before it begins");
  }
  return 0;
}
