#ifndef CROSSTENANT_SERVICES_COMMON_CONFIG_READER_H_
#define CROSSTENANT_SERVICES_COMMON_CONFIG_READER_H_

// Reads a service's YAML config file into typed fields, and rejects what it does not know.
//
//   ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::FromFile(path));
//   reader.Read("grpc_address", &config.grpc_address);
//   ConfigReader tls = reader.Section("tls");
//   tls.Read("cert", &config.tls.cert_file);
//   RETURN_IF_ERROR(reader.Finish());   // unknown keys, wrong types: every problem at once
//
// Each problem names the file, the line and column, and the dotted key path, e.g.
//   "orchestrator.yaml:4:3: tls.reload_interval: expected a duration such as 30s or 5m, got 'soon'".
// A key that is absent leaves its field untouched, so defaults live in the config structs.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "yaml-cpp/yaml.h"

namespace crosstenant {

class ConfigReader {
 public:
  // Parses `path`; a missing file or a YAML syntax error is an INVALID_ARGUMENT naming the file. A
  // quoted value that is never closed and a key given twice in one mapping are syntax errors too, named
  // with their line and column (and, for a duplicate, both lines).
  static absl::StatusOr<ConfigReader> FromFile(const std::string& path);
  // Parses `text`, reporting problems as coming from `source_name`.
  static absl::StatusOr<ConfigReader> FromString(absl::string_view text, absl::string_view source_name);

  void Read(absl::string_view key, std::string* out);
  // The text of a scalar (a string, number or boolean as written), or nullopt when the key is absent
  // or not a scalar (then an error is recorded).
  std::optional<std::string> ReadScalar(absl::string_view key);
  void Read(absl::string_view key, bool* out);
  // Integers must lie in [min, max].
  void Read(absl::string_view key, int* out, int min, int max);
  // Durations are written as Go-style strings: "250ms", "30s", "5m", "1h30m".
  void Read(absl::string_view key, absl::Duration* out);
  // A YAML sequence of strings.
  void Read(absl::string_view key, std::vector<std::string>* out);
  // 64-bit integers must lie in [min, max] (sizes in bytes, item counts).
  void Read(absl::string_view key, int64_t* out, int64_t min, int64_t max);
  // A size in bytes: a plain integer, or byte_size.h's syntax ("512MiB", "2GiB"); must lie in [min, max].
  void ReadByteSize(absl::string_view key, int64_t* out, int64_t min, int64_t max);
  // Numbers (integer or decimal) must lie in [min, max] (ratios, scales).
  void Read(absl::string_view key, double* out, double min, double max);

  // The items of a YAML sequence of mappings under `key`, each a reader whose problems are reported
  // with the path "key[i].field". Empty if the key is absent; an error if it is not such a sequence.
  std::vector<ConfigReader> Items(absl::string_view key);

  // The nested mapping under `key`; reading from it records problems in this reader. If the key is
  // absent the section is empty.
  ConfigReader Section(absl::string_view key);

  // Records a problem with `key` (for checks the caller makes on a value it read).
  void AddError(absl::string_view key, absl::string_view message);

  // OK, or INVALID_ARGUMENT listing every problem found so far, including keys nobody read in this
  // reader and all its sections. Call once, on the top-level reader, after every section was read.
  absl::Status Finish();

 private:
  struct State;
  ConfigReader(std::shared_ptr<State> state, YAML::Node node, std::string path_prefix);

  // The node under `key`, marked as known; nullopt if absent or null.
  std::optional<YAML::Node> Lookup(absl::string_view key);
  std::string PathOf(absl::string_view key) const;
  void ErrorAt(const YAML::Mark& mark, absl::string_view key, absl::string_view message);

  std::shared_ptr<State> state_;
  YAML::Node node_;
  std::string path_prefix_;
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_CONFIG_READER_H_
