#include "services/common/config_reader.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/byte_size.h"

namespace crosstenant {

struct ConfigReader::State {
  std::string source_name;
  std::vector<std::string> errors;
  // Every mapping handed out (the root and each section), with the keys read from it.
  struct Mapping {
    YAML::Node node;
    std::string path_prefix;
    std::set<std::string> known_keys;
  };
  std::vector<Mapping> mappings;
};

absl::StatusOr<ConfigReader> ConfigReader::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return absl::InvalidArgumentError(absl::StrCat("cannot read config file ", path, ": ", std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  return FromString(text.str(), path);
}

namespace {

// Whether the quoted scalar starting at `at` (its opening quote) is closed before the end of `text`.
bool QuoteIsClosed(absl::string_view text, size_t at) {
  const char quote = text[at];
  for (size_t i = at + 1; i < text.size(); ++i) {
    if (quote == '"' && text[i] == '\\') {
      ++i;  // an escape: the next character is never the closing quote
    } else if (text[i] == quote) {
      if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
        ++i;  // '' is a quote inside a single-quoted scalar
      } else {
        return true;
      }
    }
  }
  return false;
}

// What yaml-cpp accepts although YAML forbids it: a quoted scalar that is never closed (yaml-cpp runs it
// to the end of the file, so the keys after it vanish and are then reported as missing at 1:1), and a
// key given twice in one mapping (one of the two values would be dropped without a word). Appends one
// problem per finding, each at its line and column.
void CheckSyntax(const YAML::Node& node, absl::string_view text, absl::string_view source_name, int depth,
                 std::vector<std::string>* problems) {
  if (!node.IsDefined() || depth > 64) return;
  const YAML::Mark mark = node.Mark();
  if (node.IsScalar() && node.Tag() == "!" && !mark.is_null() && mark.pos >= 0 &&
      static_cast<size_t>(mark.pos) < text.size() && (text[mark.pos] == '"' || text[mark.pos] == '\'') &&
      !QuoteIsClosed(text, static_cast<size_t>(mark.pos))) {
    problems->push_back(absl::StrCat(source_name, ":", mark.line + 1, ":", mark.column + 1,
                                     ": not valid YAML: the quoted text that starts here is never closed (a ",
                                     text.substr(mark.pos, 1), " is missing)"));
  } else if (node.IsSequence()) {
    for (const YAML::Node& item : node) CheckSyntax(item, text, source_name, depth + 1, problems);
  } else if (node.IsMap()) {
    std::map<std::string, int> first_line;
    for (const auto& entry : node) {
      CheckSyntax(entry.first, text, source_name, depth + 1, problems);
      CheckSyntax(entry.second, text, source_name, depth + 1, problems);
      if (!entry.first.IsScalar()) continue;
      const YAML::Mark key_mark = entry.first.Mark();
      auto [it, inserted] = first_line.emplace(entry.first.Scalar(), key_mark.line + 1);
      if (!inserted) {
        problems->push_back(absl::StrCat(source_name, ":", key_mark.line + 1, ":", key_mark.column + 1, ": key '",
                                         entry.first.Scalar(), "' is given twice, on lines ", it->second, " and ",
                                         key_mark.line + 1, ": keep one"));
      }
    }
  }
}

}  // namespace

absl::StatusOr<ConfigReader> ConfigReader::FromString(absl::string_view text, absl::string_view source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ":", e.mark.line + 1, ":", e.mark.column + 1, ": not valid YAML: ", e.msg));
  }
  std::vector<std::string> problems;
  CheckSyntax(root, text, source_name, 0, &problems);
  if (!problems.empty()) return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
  if (!root.IsNull() && !root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": the top level must be a mapping of keys to values"));
  }
  auto state = std::make_shared<State>();
  state->source_name = std::string(source_name);
  return ConfigReader(std::move(state), root, "");
}

ConfigReader::ConfigReader(std::shared_ptr<State> state, YAML::Node node, std::string path_prefix)
    : state_(std::move(state)), node_(node), path_prefix_(std::move(path_prefix)) {
  state_->mappings.push_back({node_, path_prefix_, {}});
}

std::string ConfigReader::PathOf(absl::string_view key) const { return absl::StrCat(path_prefix_, key); }

void ConfigReader::ErrorAt(const YAML::Mark& mark, absl::string_view key, absl::string_view message) {
  std::string where = state_->source_name;
  if (!mark.is_null()) absl::StrAppend(&where, ":", mark.line + 1, ":", mark.column + 1);
  state_->errors.push_back(absl::StrCat(where, ": ", PathOf(key), ": ", message));
}

void ConfigReader::AddError(absl::string_view key, absl::string_view message) {
  const YAML::Node& map = node_;
  YAML::Node value = map.IsMap() ? map[std::string(key)] : YAML::Node();
  ErrorAt(value.IsDefined() ? value.Mark() : node_.Mark(), key, message);
}

std::optional<YAML::Node> ConfigReader::Lookup(absl::string_view key) {
  for (State::Mapping& mapping : state_->mappings) {
    if (mapping.path_prefix == path_prefix_) mapping.known_keys.insert(std::string(key));
  }
  if (!node_.IsMap()) return std::nullopt;
  // Const access: yaml-cpp's non-const operator[] would insert the key.
  const YAML::Node& map = node_;
  YAML::Node value = map[std::string(key)];
  if (!value.IsDefined() || value.IsNull()) return std::nullopt;
  return value;
}

void ConfigReader::Read(absl::string_view key, std::string* out) {
  std::optional<YAML::Node> found = Lookup(key);
  if (!found) return;
  const YAML::Node& value = *found;
  if (!value.IsScalar()) return ErrorAt(value.Mark(), key, "expected a string");
  *out = value.Scalar();
}

std::optional<std::string> ConfigReader::ReadScalar(absl::string_view key) {
  std::optional<YAML::Node> found = Lookup(key);
  if (!found) return std::nullopt;
  if (!found->IsScalar()) {
    ErrorAt(found->Mark(), key, "expected a single value, not a list or a mapping");
    return std::nullopt;
  }
  return found->Scalar();
}

void ConfigReader::Read(absl::string_view key, bool* out) {
  std::optional<YAML::Node> found = Lookup(key);
  if (!found) return;
  const YAML::Node& value = *found;
  bool parsed = false;
  if (!value.IsScalar() || !YAML::convert<bool>::decode(value, parsed)) {
    return ErrorAt(value.Mark(), key, "expected true or false");
  }
  *out = parsed;
}

void ConfigReader::Read(absl::string_view key, int* out, int min, int max) {
  std::optional<YAML::Node> found = Lookup(key);
  if (!found) return;
  const YAML::Node& value = *found;
  long long parsed = 0;
  if (!value.IsScalar() || !YAML::convert<long long>::decode(value, parsed)) {
    return ErrorAt(value.Mark(), key,
                   absl::StrCat("expected an integer, got '", value.IsScalar() ? value.Scalar() : "", "'"));
  }
  if (parsed < min || parsed > max) {
    return ErrorAt(value.Mark(), key, absl::StrCat("must be between ", min, " and ", max, ", got ", parsed));
  }
  *out = static_cast<int>(parsed);
}

void ConfigReader::Read(absl::string_view key, absl::Duration* out) {
  std::optional<YAML::Node> found = Lookup(key);
  if (!found) return;
  const YAML::Node& value = *found;
  absl::Duration parsed;
  if (!value.IsScalar() || !absl::ParseDuration(value.Scalar(), &parsed) || parsed < absl::ZeroDuration()) {
    return ErrorAt(
        value.Mark(), key,
        absl::StrCat("expected a duration such as 30s or 5m, got '", value.IsScalar() ? value.Scalar() : "", "'"));
  }
  *out = parsed;
}

void ConfigReader::Read(absl::string_view key, std::vector<std::string>* out) {
  std::optional<YAML::Node> found = Lookup(key);
  if (!found) return;
  const YAML::Node& value = *found;
  if (!value.IsSequence()) return ErrorAt(value.Mark(), key, "expected a list of strings");
  std::vector<std::string> parsed;
  for (const YAML::Node& item : value) {
    if (!item.IsScalar()) return ErrorAt(item.Mark(), key, "expected a list of strings");
    parsed.push_back(item.Scalar());
  }
  *out = std::move(parsed);
}

void ConfigReader::Read(absl::string_view key, int64_t* out, int64_t min, int64_t max) {
  std::optional<YAML::Node> found = Lookup(key);
  if (!found) return;
  const YAML::Node& value = *found;
  long long parsed = 0;
  if (!value.IsScalar() || !YAML::convert<long long>::decode(value, parsed)) {
    return ErrorAt(value.Mark(), key,
                   absl::StrCat("expected an integer, got '", value.IsScalar() ? value.Scalar() : "", "'"));
  }
  if (parsed < min || parsed > max) {
    return ErrorAt(value.Mark(), key, absl::StrCat("must be between ", min, " and ", max, ", got ", parsed));
  }
  *out = static_cast<int64_t>(parsed);
}

void ConfigReader::ReadByteSize(absl::string_view key, int64_t* out, int64_t min, int64_t max) {
  std::optional<YAML::Node> found = Lookup(key);
  if (!found) return;
  const YAML::Node& value = *found;
  if (!value.IsScalar()) return ErrorAt(value.Mark(), key, "expected a size such as 512MiB or 2GiB");
  absl::StatusOr<int64_t> parsed = ParseByteSize(value.Scalar());
  if (!parsed.ok()) return ErrorAt(value.Mark(), key, parsed.status().message());
  if (*parsed < min || *parsed > max) {
    return ErrorAt(value.Mark(), key,
                   absl::StrCat("must be between ", FormatByteSize(min), " and ", FormatByteSize(max), ", got ",
                                FormatByteSize(*parsed)));
  }
  *out = *parsed;
}

void ConfigReader::Read(absl::string_view key, double* out, double min, double max) {
  std::optional<YAML::Node> found = Lookup(key);
  if (!found) return;
  const YAML::Node& value = *found;
  double parsed = 0;
  if (!value.IsScalar() || !YAML::convert<double>::decode(value, parsed)) {
    return ErrorAt(value.Mark(), key,
                   absl::StrCat("expected a number, got '", value.IsScalar() ? value.Scalar() : "", "'"));
  }
  if (!(parsed >= min && parsed <= max)) {
    return ErrorAt(value.Mark(), key, absl::StrCat("must be between ", min, " and ", max, ", got ", parsed));
  }
  *out = parsed;
}

std::vector<ConfigReader> ConfigReader::Items(absl::string_view key) {
  std::vector<ConfigReader> items;
  std::optional<YAML::Node> found = Lookup(key);
  if (!found) return items;
  const YAML::Node& value = *found;
  if (!value.IsSequence()) {
    ErrorAt(value.Mark(), key, "expected a list of mappings");
    return items;
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    const YAML::Node item = value[i];
    const std::string item_path = absl::StrCat(PathOf(key), "[", i, "]");
    if (!item.IsMap()) {
      std::string where = state_->source_name;
      absl::StrAppend(&where, ":", item.Mark().line + 1, ":", item.Mark().column + 1);
      state_->errors.push_back(absl::StrCat(where, ": ", item_path, ": expected a mapping of keys to values"));
      continue;
    }
    items.push_back(ConfigReader(state_, item, absl::StrCat(item_path, ".")));
  }
  return items;
}

ConfigReader ConfigReader::Section(absl::string_view key) {
  std::optional<YAML::Node> value = Lookup(key);
  if (value && !value->IsMap()) {
    ErrorAt(value->Mark(), key, "expected a mapping of keys to values");
    value.reset();
  }
  return ConfigReader(state_, value ? *value : YAML::Node(YAML::NodeType::Map), absl::StrCat(PathOf(key), "."));
}

absl::Status ConfigReader::Finish() {
  std::vector<std::string> errors = state_->errors;
  for (const State::Mapping& mapping : state_->mappings) {
    if (!mapping.node.IsMap()) continue;
    for (const auto& entry : mapping.node) {
      const std::string key = entry.first.Scalar();
      if (mapping.known_keys.count(key)) continue;
      std::string known = absl::StrJoin(mapping.known_keys, ", ");
      errors.push_back(absl::StrCat(state_->source_name, ":", entry.first.Mark().line + 1, ":",
                                    entry.first.Mark().column + 1, ": ", mapping.path_prefix, key,
                                    ": unknown key (known keys here: ", known, ")"));
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("invalid config:\n  ", absl::StrJoin(errors, "\n  ")));
}

}  // namespace crosstenant
