#include "clients/migratectl/invocation.h"

#include <unistd.h>

#include <cstdlib>
#include <random>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "clients/migratectl/exit_codes.h"
#include "services/common/tls.h"

namespace crosstenant::migratectl {
namespace {

// Same as the servers accept: a 100,000-row identity map is about 10 MB.
constexpr int kMaxMessageBytes = 64 * 1024 * 1024;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

GlobalOptions OptionsFromEnvironment() {
  GlobalOptions options;
  if (std::string v = Env("MIGRATECTL_CONNECTOR"); !v.empty()) options.connector_address = v;
  if (std::string v = Env("MIGRATECTL_ORCHESTRATOR"); !v.empty()) options.orchestrator_address = v;
  options.tls_ca = Env("MIGRATECTL_TLS_CA");
  options.tls_cert = Env("MIGRATECTL_TLS_CERT");
  options.tls_key = Env("MIGRATECTL_TLS_KEY");
  options.tls_server_name = Env("MIGRATECTL_TLS_SERVER_NAME");
  if (std::string v = Env("MIGRATECTL_DEADLINE"); !v.empty()) {
    absl::Duration deadline;
    if (absl::ParseDuration(v, &deadline) && deadline > absl::ZeroDuration()) options.deadline = deadline;
  }
  if (std::string v = Env("MIGRATECTL_FORMAT"); !v.empty()) {
    if (auto format = ParseOutputFormat(v); format.ok()) options.format = *format;
  }
  return options;
}

FlagSet::Setter Text(std::string* out) {
  return [out](absl::string_view value) {
    *out = std::string(value);
    return absl::OkStatus();
  };
}

FlagSet::Setter Switch(bool* out) {
  return [out](absl::string_view value) {
    if (value == "true" || value == "1" || value == "yes") {
      *out = true;
    } else if (value == "false" || value == "0" || value == "no") {
      *out = false;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("expected true or false, got '", value, "'"));
    }
    return absl::OkStatus();
  };
}

FlagSet::Setter DurationFlag(absl::Duration* out) {
  return [out](absl::string_view value) {
    absl::Duration parsed;
    if (!absl::ParseDuration(value, &parsed) || parsed <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat("expected a duration such as 30s or 5m, got '", value, "'"));
    }
    *out = parsed;
    return absl::OkStatus();
  };
}

FlagSet::Setter IntFlag(int* out, int min, int max) {
  return [out, min, max](absl::string_view value) {
    int parsed = 0;
    if (!absl::SimpleAtoi(value, &parsed) || parsed < min || parsed > max) {
      return absl::InvalidArgumentError(absl::StrCat("expected a whole number from ", min, " to ", max, ", got '",
                                                     value, "'"));
    }
    *out = parsed;
    return absl::OkStatus();
  };
}

bool IsSwitch(absl::string_view name) {
  static const char* const kSwitches[] = {"watch",          "wait",     "permanent", "device-code",
                                          "no-wait",        "include-guests", "workload-identity",
                                          "connector-reads-files", "validate-only", "force"};
  for (const char* candidate : kSwitches) {
    if (name == candidate) return true;
  }
  return false;
}

Invocation::Invocation(std::string command, std::vector<std::string> flag_args, std::vector<std::string> positionals,
                       GlobalOptions options, std::ostream& out, std::ostream& err, bool out_is_terminal)
    : command_(std::move(command)),
      flag_args_(std::move(flag_args)),
      positionals_(std::move(positionals)),
      options_(std::move(options)),
      out_(out),
      err_(err),
      out_is_terminal_(out_is_terminal),
      flags_("migratectl " + command_, "") {}

absl::StatusOr<bool> Invocation::Parse(const CommandHelp& help, size_t min_positionals, size_t max_positionals) {
  GlobalOptions& o = options_;
  flags_.Add("connector", "HOST:PORT", "tenant-connector address (env MIGRATECTL_CONNECTOR; default 127.0.0.1:50051)",
             Text(&o.connector_address));
  flags_.Add("orchestrator", "HOST:PORT",
             "orchestrator address (env MIGRATECTL_ORCHESTRATOR; default 127.0.0.1:50052)",
             Text(&o.orchestrator_address));
  flags_.Add("tls-ca", "FILE", "CA to verify the servers with; turns TLS on (env MIGRATECTL_TLS_CA)", Text(&o.tls_ca));
  flags_.Add("tls-cert", "FILE", "client certificate for mTLS (env MIGRATECTL_TLS_CERT)", Text(&o.tls_cert));
  flags_.Add("tls-key", "FILE", "its private key (env MIGRATECTL_TLS_KEY)", Text(&o.tls_key));
  flags_.Add("tls-server-name", "NAME", "name to verify on the server certificate (env MIGRATECTL_TLS_SERVER_NAME)",
             Text(&o.tls_server_name));
  flags_.Add("deadline", "DURATION", "deadline of each call (env MIGRATECTL_DEADLINE; default 30s)",
             DurationFlag(&o.deadline));
  flags_.Add("format", "table|csv|json", "output format (env MIGRATECTL_FORMAT; default table)",
             [&o](absl::string_view value) -> absl::Status {
               absl::StatusOr<OutputFormat> format = ParseOutputFormat(value);
               if (!format.ok()) return format.status();
               o.format = *format;
               return absl::OkStatus();
             });
  flags_.Add("progress", "auto|bars|lines",
             "live progress: bars on a terminal, timestamped lines otherwise (default auto)",
             [&o](absl::string_view value) -> absl::Status {
               if (value != "auto" && value != "bars" && value != "lines") {
                 return absl::InvalidArgumentError(absl::StrCat("expected auto, bars or lines, got '", value, "'"));
               }
               o.progress = std::string(value);
               return absl::OkStatus();
             });

  std::vector<std::string> argv_storage = {"migratectl"};
  argv_storage.insert(argv_storage.end(), flag_args_.begin(), flag_args_.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  absl::Status parsed = flags_.Parse(static_cast<int>(argv.size()), argv.data());
  if (!parsed.ok()) return UsageError(absl::StrCat(parsed.message()));
  if (flags_.help_requested()) {
    std::string usage = flags_.Usage();
    // "migratectl x: \n\nUsage: migratectl x [--flag=value ...]" -> our own head and usage line.
    size_t flags_at = usage.find("Flags:\n");
    std::string text = absl::StrCat("migratectl ", command_, ": ", help.summary, "\n");
    if (!help.replaces.empty()) absl::StrAppend(&text, "Replaces: ", help.replaces, "\n");
    absl::StrAppend(&text, "\nUsage: migratectl ", command_, " [flags]",
                    help.arguments.empty() ? "" : " " + help.arguments, "\n\n");
    for (absl::string_view line : absl::StrSplit(usage.substr(flags_at == std::string::npos ? 0 : flags_at), '\n')) {
      std::string shown(line);
      if (absl::StartsWith(shown, "  --")) {
        size_t eq = shown.find('=');
        size_t space = shown.find(' ', 4);
        if (eq != std::string::npos && eq < space && IsSwitch(shown.substr(4, eq - 4))) shown[eq] = ' ';
      }
      absl::StrAppend(&text, shown, "\n");
    }
    while (absl::EndsWith(text, "\n\n")) text.pop_back();
    if (!help.details.empty()) absl::StrAppend(&text, "\n", help.details, "\n");
    absl::StrAppend(&text, "\n", ExitCodeHelp());
    out_ << text;
    return false;
  }
  absl::Status applied = flags_.Apply();
  if (!applied.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(applied.message()));
  }
  if (positionals_.size() < min_positionals || positionals_.size() > max_positionals) {
    if (positionals_.size() > max_positionals) {
      return UsageError(absl::StrCat("unexpected argument '",
                                     positionals_[max_positionals], "' (usage: migratectl ", command_, " [flags] ",
                                     help.arguments, ")"));
    }
    return UsageError(absl::StrCat("missing ", help.arguments, " (usage: migratectl ",
                                   command_, " [flags] ", help.arguments, ")"));
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return UsageError("--tls-cert and --tls-key go together");
  }
  if (!o.tls_cert.empty() && o.tls_ca.empty()) {
    return UsageError("--tls-cert needs --tls-ca (the CA of the servers)");
  }
  return true;
}

ProgressPrinter::Mode Invocation::progress_mode() const {
  if (options_.progress == "bars") return ProgressPrinter::Mode::kBars;
  if (options_.progress == "lines") return ProgressPrinter::Mode::kLines;
  return out_is_terminal_ ? ProgressPrinter::Mode::kBars : ProgressPrinter::Mode::kLines;
}

std::shared_ptr<grpc::Channel> Invocation::Channel(const std::string& address) const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  if (!options_.tls_server_name.empty()) args.SetSslTargetNameOverride(options_.tls_server_name);
  ClientTlsConfig tls{options_.tls_ca, options_.tls_cert, options_.tls_key};
  return grpc::CreateCustomChannel(address, MakeChannelCredentials(tls), args);
}

crosstenant::v1::TenantConnector::Stub& Invocation::connector() {
  if (!connector_) connector_ = crosstenant::v1::TenantConnector::NewStub(Channel(options_.connector_address));
  return *connector_;
}

crosstenant::v1::Orchestrator::Stub& Invocation::orchestrator() {
  if (!orchestrator_) orchestrator_ = crosstenant::v1::Orchestrator::NewStub(Channel(options_.orchestrator_address));
  return *orchestrator_;
}

std::unique_ptr<grpc::ClientContext> Invocation::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(absl::ToInt64Milliseconds(options_.deadline)));
  return context;
}

void Invocation::Print(const Table& table, const nlohmann::json& json) {
  switch (options_.format) {
    case OutputFormat::kTable:
      out_ << RenderTable(table);
      break;
    case OutputFormat::kCsv:
      out_ << RenderCsv(table);
      break;
    case OutputFormat::kJson:
      out_ << RenderJson(json.is_null() ? TableToJson(table) : json);
      break;
  }
}

std::string NewRequestId() {
  std::random_device random;
  std::uniform_int_distribution<uint32_t> word;
  uint32_t a = word(random), b = word(random), c = word(random), d = word(random);
  b = (b & 0xFFFF0FFFu) | 0x00004000u;  // version 4
  c = (c & 0x3FFFFFFFu) | 0x80000000u;  // variant 10
  return absl::StrFormat("%08x-%04x-%04x-%04x-%04x%08x", a, b >> 16, b & 0xFFFF, c >> 16, c & 0xFFFF, d);
}

}  // namespace crosstenant::migratectl
