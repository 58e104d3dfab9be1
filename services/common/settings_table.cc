#include "services/common/settings_table.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <set>

#include <CLI/CLI.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "services/common/byte_size.h"
#include "services/common/config_reader.h"

namespace crosstenant {
namespace {

std::string DashedFlag(absl::string_view key) { return absl::StrReplaceAll(key, {{".", "-"}, {"_", "-"}}); }

// Edit distance, to suggest the flag that was meant.
size_t Distance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// `text` in lines of at most kHelpWidth columns, the later ones indented by `indent`.
constexpr size_t kHelpWidth = 110;
std::string Wrapped(absl::string_view text, size_t indent) {
  std::string wrapped;
  size_t column = indent;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (column > indent && column + 1 + word.size() > kHelpWidth) {
      absl::StrAppend(&wrapped, "\n", std::string(indent, ' '));
      column = indent;
    } else if (column > indent) {
      wrapped += ' ';
      ++column;
    }
    absl::StrAppend(&wrapped, word);
    column += word.size();
  }
  return wrapped;
}

absl::Status ParseBool(absl::string_view text, bool* out) {
  const std::string value = absl::AsciiStrToLower(text);
  if (value == "true" || value == "1" || value == "yes") {
    *out = true;
  } else if (value == "false" || value == "0" || value == "no") {
    *out = false;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("expected true or false, got '", text, "'"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ParseWhole(absl::string_view text, T min, T max, T* out) {
  T parsed = 0;
  if (!absl::SimpleAtoi(text, &parsed) || parsed < min || parsed > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a whole number from ", min, " to ", max, ", got '", text, "'"));
  }
  *out = parsed;
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> SplitCommaList(absl::string_view text) {
  std::vector<std::string> items;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) items.emplace_back(item);
  }
  return items;
}

SettingsTable::Setting& SettingsTable::Setting::FlagName(std::string name) {
  flag = std::move(name);
  return *this;
}

SettingsTable::Setting& SettingsTable::Setting::NoFlag() {
  flag.clear();
  return *this;
}

SettingsTable::Setting& SettingsTable::Setting::NoConfigKey() {
  config_key = false;
  return *this;
}

SettingsTable::SettingsTable(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

SettingsTable::~SettingsTable() = default;

SettingsTable::Setting& SettingsTable::Declare(std::string key, std::string value_name, std::string help,
                                               std::string default_text, Parser parse, bool needs_value) {
  auto setting = std::make_unique<Setting>();
  setting->flag = DashedFlag(key);
  setting->key = std::move(key);
  setting->value_name = std::move(value_name);
  setting->help = std::move(help);
  setting->default_text = std::move(default_text);
  setting->parse = std::move(parse);
  setting->needs_value = needs_value;
  settings_.push_back(std::move(setting));
  return *settings_.back();
}

SettingsTable::Setting& SettingsTable::ConfigFile(std::string* path) {
  config_path_ = path;
  return Text("config", path, "FILE", "YAML config file; flags override its values").NoConfigKey();
}

SettingsTable::Setting& SettingsTable::Text(std::string key, std::string* field, std::string value_name,
                                            std::string help) {
  return Declare(std::move(key), std::move(value_name), std::move(help), *field, [field](absl::string_view text) {
    *field = std::string(text);
    return absl::OkStatus();
  });
}

SettingsTable::Setting& SettingsTable::Switch(std::string key, bool* field, std::string help) {
  return Declare(std::move(key), "", std::move(help), *field ? "true" : "",
                 [field](absl::string_view text) { return ParseBool(text, field); });
}

SettingsTable::Setting& SettingsTable::Int(std::string key, int* field, int min, int max, std::string help) {
  // A default outside the range means "not set" (the help says what then happens).
  return Declare(
      std::move(key), "N", absl::StrCat(help, " (", min, "-", max, ")"),
      *field >= min && *field <= max ? absl::StrCat(*field) : "",
      [field, min, max](absl::string_view text) { return ParseWhole(text, min, max, field); }, true);
}

SettingsTable::Setting& SettingsTable::Int64(std::string key, int64_t* field, int64_t min, int64_t max,
                                             std::string value_name, std::string help) {
  return Declare(
      std::move(key), std::move(value_name), std::move(help),
      *field >= min && *field <= max ? absl::StrCat(*field) : "",
      [field, min, max](absl::string_view text) { return ParseWhole(text, min, max, field); }, true);
}

SettingsTable::Setting& SettingsTable::ByteSize(std::string key, int64_t* field, int64_t min, int64_t max,
                                                std::string help) {
  auto parse = [field, min, max](absl::string_view text) -> absl::Status {
    absl::StatusOr<int64_t> parsed = ParseByteSize(text);
    if (!parsed.ok()) return parsed.status();
    if (*parsed < min || *parsed > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("must lie between ", min, " and ", max, " bytes, got '", text, "'"));
    }
    *field = *parsed;
    return absl::OkStatus();
  };
  return Declare(std::move(key), "SIZE", std::move(help), absl::StrCat(*field), parse, true);
}

SettingsTable::Setting& SettingsTable::Number(std::string key, double* field, double min, double max,
                                              std::string value_name, std::string help) {
  auto parse = [field, min, max](absl::string_view text) {
    double parsed = 0;
    if (!absl::SimpleAtod(text, &parsed) || !(parsed >= min && parsed <= max)) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected a number from ", min, " to ", max, ", got '", text, "'"));
    }
    *field = parsed;
    return absl::OkStatus();
  };
  return Declare(std::move(key), std::move(value_name), std::move(help), absl::StrCat(*field), parse, true);
}

SettingsTable::Setting& SettingsTable::Duration(std::string key, absl::Duration* field, absl::Duration min,
                                                std::string help) {
  auto parse = [field, min](absl::string_view text) {
    absl::Duration parsed;
    if (!absl::ParseDuration(text, &parsed)) {
      return absl::InvalidArgumentError(absl::StrCat("expected a duration such as 30s or 250ms, got '", text, "'"));
    }
    if (parsed < min) {
      return absl::InvalidArgumentError(
          absl::StrCat("must be at least ", absl::FormatDuration(min), ", got '", text, "'"));
    }
    *field = parsed;
    return absl::OkStatus();
  };
  return Declare(std::move(key), "DURATION", std::move(help),
                 *field == absl::InfiniteDuration() ? "none" : absl::FormatDuration(*field), parse, true);
}

SettingsTable::Setting& SettingsTable::TextList(std::string key, std::vector<std::string>* field,
                                                std::string value_name, std::string help) {
  Setting& setting = Declare(std::move(key), std::move(value_name),
                             absl::StrCat(help, " (comma-separated or repeated; replaces the config file's list)"),
                             absl::StrJoin(*field, ","), [field](absl::string_view text) {
                               for (std::string& item : SplitCommaList(text)) field->push_back(std::move(item));
                               return absl::OkStatus();
                             });
  setting.list = field;
  return setting;
}

SettingsTable::Setting& SettingsTable::Custom(std::string key, std::string value_name, std::string default_text,
                                              std::string help, Parser parse) {
  return Declare(std::move(key), std::move(value_name), std::move(help), std::move(default_text), std::move(parse));
}

void SettingsTable::Section(std::string key, std::string help, std::function<void(ConfigReader&)> read) {
  sections_.push_back({std::move(key), std::move(help), std::move(read)});
}

const SettingsTable::Setting* SettingsTable::FindFlag(absl::string_view flag) const {
  for (const auto& setting : settings_) {
    if (setting->flag == flag) return setting.get();
  }
  return nullptr;
}

absl::Status SettingsTable::ParseCommandLine(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return ParseCommandLine(args);
}

std::optional<bool> SettingsTable::FlagTakesValue(absl::string_view name) const {
  const Setting* setting = FindFlag(name);
  if (setting == nullptr) return std::nullopt;
  return !setting->value_name.empty();
}

absl::Status SettingsTable::ParseCommandLine(const std::vector<std::string>& args) {
  return ParseCommandLine(args, nullptr);
}

absl::Status SettingsTable::ParseCommandLine(const std::vector<std::string>& args,
                                             std::vector<std::string>* positionals) {
  given_.clear();
  help_requested_ = false;
  CLI::App app(summary_, program_);
  app.set_help_flag();
  app.allow_extras(true);
  CLI::Option* help = app.add_flag("-h,--help");
  std::map<const CLI::Option*, const Setting*> setting_of;
  for (const auto& setting : settings_) {
    if (setting->flag.empty()) continue;
    CLI::Option* option = nullptr;
    if (setting->value_name.empty()) {
      option = app.add_flag("--" + setting->flag);
    } else {
      option = app.add_option("--" + setting->flag);
      // Text may be empty (`--metrics-address=` turns metrics off); numbers and durations need a value.
      option->expected(setting->needs_value ? 1 : 0, 1)->allow_extra_args(false);
    }
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    setting_of[option] = setting.get();
  }
  // CLI11 reads a bare `--name` before another flag, or at the end, as `--name=`; only the explicit
  // form may give a text setting an empty value.
  for (size_t i = 0; i < args.size() && args[i] != "--"; ++i) {
    if (!absl::StartsWith(args[i], "--") || absl::StrContains(args[i], '=')) continue;
    const Setting* setting = FindFlag(absl::string_view(args[i]).substr(2));
    if (setting == nullptr || setting->value_name.empty()) continue;
    if (i + 1 == args.size() || absl::StartsWith(args[i + 1], "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag ", args[i], " needs a value: ", args[i], "=", setting->value_name));
    }
  }
  // After `--` every argument is positional; CLI11 is given only what comes before it.
  const auto end_of_flags = std::find(args.begin(), args.end(), "--");
  std::vector<std::string> reversed(std::make_reverse_iterator(end_of_flags), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ArgumentMismatch& e) {
    // CLI11 names the option ("--concurrency: 1 required N missing"): say it as the mesh does.
    const std::string name = e.what();
    const std::string flag = name.substr(0, name.find(':'));
    const Setting* setting = FindFlag(absl::StripPrefix(flag, "--"));
    return absl::InvalidArgumentError(
        absl::StrCat("flag ", flag, " needs a value: ", flag, "=", setting == nullptr ? "VALUE" : setting->value_name));
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(absl::StrCat(program_, ": ", e.what()));
  }
  if (help->count() > 0) {
    help_requested_ = true;
    return absl::OkStatus();
  }
  // CLI11 leaves what it did not take, in order: words are arguments, dashed ones unknown flags.
  const std::vector<std::string> remaining = app.remaining();
  for (const std::string& extra : remaining) {
    if (!absl::StartsWith(extra, "-")) {
      if (positionals != nullptr) continue;
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", extra, "': ", program_, " takes only --flags (see --help)"));
    }
    const std::string name(absl::StripPrefix(absl::StripPrefix(extra.substr(0, extra.find('=')), "-"), "-"));
    std::string message = absl::StrCat("unknown flag --", name);
    const Setting* closest = nullptr;
    size_t best = name.size() / 3 + 2;
    for (const auto& setting : settings_) {
      if (setting->flag.empty()) continue;
      const size_t distance = Distance(name, setting->flag);
      if (distance < best) {
        best = distance;
        closest = setting.get();
      }
    }
    if (closest != nullptr) {
      absl::StrAppend(&message, "; did you mean --", closest->flag, "?");
    } else {
      std::string known;
      for (const auto& setting : settings_) {
        if (!setting->flag.empty()) absl::StrAppend(&known, known.empty() ? "" : " ", "--", setting->flag);
      }
      absl::StrAppend(&message, "; the flags of ", program_, " are: ", known);
    }
    return absl::InvalidArgumentError(absl::StrCat(message, " (see ", program_, " --help)"));
  }
  if (positionals != nullptr) {
    positionals->insert(positionals->end(), remaining.begin(), remaining.end());
    if (end_of_flags != args.end()) positionals->insert(positionals->end(), end_of_flags + 1, args.end());
  } else if (end_of_flags != args.end() && end_of_flags + 1 != args.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", end_of_flags[1], "': ", program_, " takes only --flags (see --help)"));
  }
  // parse_order() lists an option once per value, in command-line order.
  std::map<const CLI::Option*, size_t> next_result;
  for (const CLI::Option* option : app.parse_order()) {
    auto it = setting_of.find(option);
    if (it == setting_of.end()) continue;
    const std::vector<std::string>& results = option->results();
    size_t& index = next_result[option];
    const std::string value = index < results.size() ? results[index] : "";
    ++index;
    const Setting* setting = it->second;
    if (!setting->config_key) {
      if (absl::Status status = setting->parse(value); !status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", setting->flag, ": ", status.message()));
      }
    } else {
      given_.emplace_back(setting, value);
    }
  }
  return absl::OkStatus();
}

void SettingsTable::ReadConfig(ConfigReader& reader) const {
  // One reader per section, so that the keys read from it are known when it is finished.
  std::map<std::string, ConfigReader> sections;
  auto section_of = [&](const std::vector<std::string>& parts) -> ConfigReader& {
    std::string path;
    ConfigReader* current = &reader;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      path = absl::StrCat(path, parts[i], ".");
      auto it = sections.find(path);
      if (it == sections.end()) it = sections.emplace(path, current->Section(parts[i])).first;
      current = &it->second;
    }
    return *current;
  };
  for (const auto& setting : settings_) {
    if (!setting->config_key) continue;
    const std::vector<std::string> parts = absl::StrSplit(setting->key, '.');
    ConfigReader& section = section_of(parts);
    if (setting->list != nullptr) {
      section.Read(parts.back(), setting->list);
      continue;
    }
    std::optional<std::string> text = section.ReadScalar(parts.back());
    if (!text) continue;
    if (absl::Status status = setting->parse(*text); !status.ok()) section.AddError(parts.back(), status.message());
  }
  for (const SectionEntry& entry : sections_) entry.read(reader);
}

absl::Status SettingsTable::ApplyCommandLine() const {
  std::set<const Setting*> lists_replaced;
  for (const auto& [setting, value] : given_) {
    if (setting->list != nullptr && lists_replaced.insert(setting).second) setting->list->clear();
    if (absl::Status status = setting->parse(value); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", setting->flag, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

std::string SettingsTable::FlagLines() const {
  std::string text;
  for (const auto& setting : settings_) {
    if (setting->flag.empty()) continue;
    std::string left = absl::StrCat("  --", setting->flag, setting->value_name.empty() ? "" : "=", setting->value_name);
    left.resize(std::max<size_t>(left.size() + 1, 36), ' ');
    std::string notes;
    if (!setting->default_text.empty()) {
      notes = absl::StrCat("default ", setting->default_text);
    }
    if (config_path_ != nullptr && setting->config_key) {
      absl::StrAppend(&notes, notes.empty() ? "" : "; ", "config key ", setting->key);
    }
    absl::StrAppend(
        &text, left,
        Wrapped(absl::StrCat(setting->help, notes.empty() ? "" : absl::StrCat(" [", notes, "]")), left.size()), "\n");
  }
  std::string help = "  --help";
  help.resize(36, ' ');
  absl::StrAppend(&text, help, "this text\n");
  return text;
}

std::string SettingsTable::Usage() const {
  std::string usage =
      absl::StrCat(program_, ": ", summary_, "\n\nUsage: ", program_, " [--flag=value ...]\n\nFlags:\n", FlagLines());
  if (!sections_.empty()) {
    absl::StrAppend(&usage, "\nConfig file only:\n");
    for (const SectionEntry& entry : sections_) {
      std::string left = absl::StrCat("  ", entry.key, ":");
      left.resize(std::max<size_t>(left.size() + 1, 36), ' ');
      absl::StrAppend(&usage, left, entry.help, "\n");
    }
  }
  return usage;
}

}  // namespace crosstenant
