#ifndef CROSSTENANT_SERVICES_COMMON_FLAG_SET_H_
#define CROSSTENANT_SERVICES_COMMON_FLAG_SET_H_

// Command-line flags in the GNU long form the mesh documents (`--grpc-address=HOST:PORT` or
// `--grpc-address HOST:PORT`), which absl::flags cannot spell (its names are C identifiers).
//
// Parsing and applying are separate steps, so that a program can read `--config FILE` first and let
// the other flags override what the file said:
//
//   FlagSet flags("orchestrator", "Drives cross-tenant OneDrive migrations.");
//   flags.AddEarlyString("config", "FILE", "YAML config file", &config_path);
//   flags.Add("grpc-address", "HOST:PORT", "gRPC listen address", [&](absl::string_view v) { ... });
//   RETURN_IF_ERROR(flags.Parse(argc, argv));   // fills --config at once, keeps the rest
//   ... load the file ...
//   RETURN_IF_ERROR(flags.Apply());             // runs the other setters, in command-line order

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace crosstenant {

class FlagSet {
 public:
  // Receives a flag's value; an error names what is wrong with it (the flag name is added).
  using Setter = std::function<absl::Status(absl::string_view value)>;

  // Setters for the common kinds of value.
  static Setter StoreText(std::string* out);
  static Setter StoreDuration(absl::Duration* out);  // absl's syntax: 30s, 1h30m, 250ms
  static Setter StoreInt(int* out, int min, int max);
  static Setter StoreByteSize(int64_t* out);  // byte_size.h's syntax: 4096, 64KiB, 512MiB, 2GiB

  FlagSet(std::string program, std::string summary);

  // A flag that takes a value, shown in --help as `--name=VALUE_NAME  help`.
  void Add(std::string name, std::string value_name, std::string help, Setter setter);
  // A string flag applied during Parse itself (for --config and friends).
  void AddEarlyString(std::string name, std::string value_name, std::string help, std::string* out);

  // Parses argv. `--help` sets help_requested() and stops. Unknown flags, missing values and
  // positional arguments are INVALID_ARGUMENT naming the argument; an unknown flag's error also lists
  // the valid ones.
  absl::Status Parse(int argc, char** argv);
  // Runs the setters of the parsed flags in command-line order; stops at the first error.
  absl::Status Apply() const;

  bool help_requested() const { return help_requested_; }
  std::string Usage() const;

 private:
  struct Flag {
    std::string name;
    std::string value_name;
    std::string help;
    Setter setter;
    bool early = false;
  };
  const Flag* Find(absl::string_view name) const;

  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;
  std::vector<std::pair<const Flag*, std::string>> parsed_;
  bool help_requested_ = false;
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_FLAG_SET_H_
