#ifndef CROSSTENANT_SERVICES_COMMON_SETTINGS_TABLE_H_
#define CROSSTENANT_SERVICES_COMMON_SETTINGS_TABLE_H_

// A program's settings, each declared once: its config-file key, its flag, its type, default, range
// and help. The one declaration serves the command line (parsed with CLI11), the YAML config file
// (read with ConfigReader), the range checks of both, and `--help`:
//
//   SettingsTable table("worker", "Leases per-user migration tasks ...");
//   table.ConfigFile(&config_path);                       // --config FILE
//   table.Int("concurrency", &settings.concurrency, 1, 256, "tasks worked on at once");
//   table.Duration("client_tls.reload_interval", &settings.reload, absl::Seconds(1), "...");
//   RETURN_IF_ERROR(table.ParseCommandLine(argc, argv));  // --config is known now
//   ... ConfigReader::FromFile(config_path), table.ReadConfig(reader), reader.Finish() ...
//   RETURN_IF_ERROR(table.ApplyCommandLine());            // flags override the file
//
// A key is the dotted path in the config file ("client_tls.server_name"); its flag is the key with
// dots and underscores as dashes (`--client-tls-server-name`), unless declared otherwise. A flag takes
// `--name=value` or `--name value`; a switch may stand bare (`--watch` is `--watch=true`). The field's
// value when the setting is declared is its default, shown in `--help`. A value that does not parse
// or lies out of range is an error naming the flag, or the file, line, column and key.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace crosstenant {

class ConfigReader;

class SettingsTable {
 public:
  // Turns the text of a flag or of a YAML scalar into the setting's field; an error says what was
  // expected (the flag or key is added to it).
  using Parser = std::function<absl::Status(absl::string_view text)>;

  // One declared setting, to refine its declaration.
  class Setting {
   public:
    // A flag name other than the key's dashed form.
    Setting& FlagName(std::string name);
    // Config file only: no flag.
    Setting& NoFlag();
    // Command line only: no config key (applied while the command line is parsed).
    Setting& NoConfigKey();

   private:
    friend class SettingsTable;
    std::string key;
    std::string flag;
    std::string value_name;  // empty for a switch
    std::string help;
    std::string default_text;
    Parser parse;
    // A list: a YAML sequence of strings; on the command line comma-separated and repeatable.
    std::vector<std::string>* list = nullptr;
    bool config_key = true;
    bool needs_value = false;  // numbers and durations; text and lists may be given empty
  };

  SettingsTable(std::string program, std::string summary);
  ~SettingsTable();
  SettingsTable(const SettingsTable&) = delete;
  SettingsTable& operator=(const SettingsTable&) = delete;

  // `--config FILE`: the YAML file ReadConfig is given; flags override what it says.
  Setting& ConfigFile(std::string* path);

  Setting& Text(std::string key, std::string* field, std::string value_name, std::string help);
  Setting& Switch(std::string key, bool* field, std::string help);
  Setting& Int(std::string key, int* field, int min, int max, std::string help);
  Setting& Int64(std::string key, int64_t* field, int64_t min, int64_t max, std::string value_name, std::string help);
  // A size in bytes: a plain number or byte_size.h's syntax (64KiB, 512MiB, 2GiB).
  Setting& ByteSize(std::string key, int64_t* field, int64_t min, int64_t max, std::string help);
  Setting& Number(std::string key, double* field, double min, double max, std::string value_name, std::string help);
  // absl's duration syntax (250ms, 30s, 1h30m), at least `min`.
  Setting& Duration(std::string key, absl::Duration* field, absl::Duration min, std::string help);
  // A list of strings, e.g. connect-to rules; a flag replaces the file's list.
  Setting& TextList(std::string key, std::vector<std::string>* field, std::string value_name, std::string help);
  // A value of another kind (an enum, a range "1-3"), parsed by `parse`.
  Setting& Custom(std::string key, std::string value_name, std::string default_text, std::string help, Parser parse);
  // A config-file section of structured entries, read by `read` (no flag), listed in --help by key.
  void Section(std::string key, std::string help, std::function<void(ConfigReader&)> read);

  // Parses the command line (argv[0] is the program). Unknown flags and stray arguments are
  // INVALID_ARGUMENT naming them; `--help` or `-h` sets help_requested() and stops. Settings without a
  // config key are applied now; the others wait for ApplyCommandLine.
  absl::Status ParseCommandLine(int argc, char** argv);
  absl::Status ParseCommandLine(const std::vector<std::string>& args);  // without the program
  // The same for a command that takes arguments besides its flags (migratectl's): they are appended
  // to `positionals` in command-line order instead of being refused. After `--` every argument is one.
  absl::Status ParseCommandLine(const std::vector<std::string>& args, std::vector<std::string>* positionals);
  bool help_requested() const { return help_requested_; }

  // Whether the flag `--name` takes a value (true) or stands alone (a switch: false); nullopt when no
  // setting has that flag.
  std::optional<bool> FlagTakesValue(absl::string_view name) const;

  // Reads every setting that has a config key, and every Section; problems are recorded in `reader`,
  // whose Finish() reports them together with the keys nobody declared.
  void ReadConfig(ConfigReader& reader) const;

  // Applies the flags given, in command-line order; stops at the first that is wrong.
  absl::Status ApplyCommandLine() const;

  // `--help`: the summary, then every setting with its value, help, default and config key.
  std::string Usage() const;
  // The flags alone, one per line, for callers that write their own head (migratectl's commands).
  std::string FlagLines() const;

 private:
  struct Parsed;
  Setting& Declare(std::string key, std::string value_name, std::string help, std::string default_text, Parser parse,
                   bool needs_value = false);
  const Setting* FindFlag(absl::string_view flag) const;

  std::string program_;
  std::string summary_;
  std::vector<std::unique_ptr<Setting>> settings_;
  struct SectionEntry {
    std::string key;
    std::string help;
    std::function<void(ConfigReader&)> read;
  };
  std::vector<SectionEntry> sections_;
  std::string* config_path_ = nullptr;
  std::vector<std::pair<const Setting*, std::string>> given_;  // flags to apply, in order
  bool help_requested_ = false;
};

// Splits a comma-separated flag value into its items, blanks trimmed and empty items dropped.
std::vector<std::string> SplitCommaList(absl::string_view text);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_SETTINGS_TABLE_H_
