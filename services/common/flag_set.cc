#include "services/common/flag_set.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/common/byte_size.h"

namespace crosstenant {

FlagSet::Setter FlagSet::StoreText(std::string* out) {
  return [out](absl::string_view value) {
    *out = std::string(value);
    return absl::OkStatus();
  };
}

FlagSet::Setter FlagSet::StoreDuration(absl::Duration* out) {
  return [out](absl::string_view value) {
    if (!absl::ParseDuration(value, out)) return absl::InvalidArgumentError("expected a duration such as 30s or 250ms");
    return absl::OkStatus();
  };
}

FlagSet::Setter FlagSet::StoreInt(int* out, int min, int max) {
  return [out, min, max](absl::string_view value) {
    int parsed = 0;
    if (!absl::SimpleAtoi(value, &parsed) || parsed < min || parsed > max) {
      return absl::InvalidArgumentError(absl::StrCat("expected a whole number from ", min, " to ", max));
    }
    *out = parsed;
    return absl::OkStatus();
  };
}

FlagSet::Setter FlagSet::StoreByteSize(int64_t* out) {
  return [out](absl::string_view value) -> absl::Status {
    absl::StatusOr<int64_t> parsed = ParseByteSize(value);
    if (!parsed.ok()) return parsed.status();
    *out = *parsed;
    return absl::OkStatus();
  };
}

FlagSet::FlagSet(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void FlagSet::Add(std::string name, std::string value_name, std::string help, Setter setter) {
  flags_.push_back({std::move(name), std::move(value_name), std::move(help), std::move(setter), false});
}

void FlagSet::AddEarlyString(std::string name, std::string value_name, std::string help, std::string* out) {
  flags_.push_back({std::move(name), std::move(value_name), std::move(help),
                    [out](absl::string_view value) {
                      *out = std::string(value);
                      return absl::OkStatus();
                    },
                    true});
}

const FlagSet::Flag* FlagSet::Find(absl::string_view name) const {
  auto it = std::find_if(flags_.begin(), flags_.end(), [name](const Flag& flag) { return flag.name == name; });
  return it == flags_.end() ? nullptr : &*it;
}

absl::Status FlagSet::Parse(int argc, char** argv) {
  parsed_.clear();
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return absl::OkStatus();
    }
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "': ", program_, " takes only --flags (see --help)"));
    }
    arg.remove_prefix(2);
    absl::string_view name = arg;
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
      has_value = true;
    }
    const Flag* flag = Find(name);
    if (flag == nullptr) {
      std::string known;
      for (const Flag& candidate : flags_) absl::StrAppend(&known, known.empty() ? "" : " ", "--", candidate.name);
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, "; the flags of ", program_,
                                                     " are: ", known, " (see ", program_, " --help)"));
    }
    if (!has_value) {
      if (i + 1 >= argc)
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " needs a value: --", name, "=", flag->value_name));
      value = argv[++i];
    }
    if (flag->early) {
      absl::Status status = flag->setter(value);
      if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat("flag --", name, ": ", status.message()));
    } else {
      parsed_.emplace_back(flag, std::move(value));
    }
  }
  return absl::OkStatus();
}

absl::Status FlagSet::Apply() const {
  for (const auto& [flag, value] : parsed_) {
    absl::Status status = flag->setter(value);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", flag->name, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

std::string FlagSet::Usage() const {
  std::string usage =
      absl::StrCat(program_, ": ", summary_, "\n\nUsage: ", program_, " [--flag=value ...]\n\nFlags:\n");
  for (const Flag& flag : flags_) {
    std::string left = absl::StrCat("  --", flag.name, "=", flag.value_name);
    if (left.size() < 34) left.resize(34, ' ');
    absl::StrAppend(&usage, left, " ", flag.help, "\n");
  }
  absl::StrAppend(&usage, "  --help                           this text\n");
  return usage;
}

}  // namespace crosstenant
