// Fuzzes emulator::LoadSeedText, the tenant emulator's seed loader (deploy/local/emulator-seed.yaml is
// a real seed and seeds the corpus). Relative certificate paths resolve against an empty temporary
// directory, so a fuzzed seed reads no file of the machine's.
//
// Besides crashes and sanitizer reports it checks that a refusal is INVALID_ARGUMENT naming the file,
// and that an accepted seed has what the emulator relies on: tenants with names and GUID-shaped ids,
// users with a UPN and an id.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include "absl/strings/match.h"
#include "services/tenant_emulator/seed.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

const std::string& EmptyBaseDir() {
  static const std::string* dir = [] {
    char pattern[] = "/tmp/crosstenant-fuzz-seed-XXXXXX";
    const char* made = mkdtemp(pattern);
    FUZZ_CHECK(made != nullptr, "mkdtemp failed");
    static std::string path = made;
    std::atexit([] { rmdir(path.c_str()); });  // empty: nothing is ever written there
    return new std::string(made);
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace crosstenant::emulator;
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Seed> seed = LoadSeedText(text, "fuzz-seed.yaml", EmptyBaseDir());
  if (!seed.ok()) {
    FUZZ_CHECK(seed.status().code() == absl::StatusCode::kInvalidArgument, seed.status());
    FUZZ_CHECK(absl::StrContains(seed.status().message(), "fuzz-seed.yaml"), "names no file: " << seed.status());
    return 0;
  }
  for (const SeedTenant& tenant : seed->tenants) {
    FUZZ_CHECK(!tenant.name.empty(), "an accepted tenant has no name");
    FUZZ_CHECK(tenant.id.size() == 36, "tenant " << tenant.name << " has id '" << tenant.id << "'");
    for (const SeedUser& user : tenant.users) {
      FUZZ_CHECK(!user.upn.empty() && !user.id.empty(), "tenant " << tenant.name << " has a user without upn or id");
    }
  }
  return 0;
}
