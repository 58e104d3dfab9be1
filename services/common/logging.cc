#include "services/common/logging.h"

#include <cstdio>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/common/trace_context.h"

namespace crosstenant::log {
namespace {

struct Settings {
  Format format = Format::kText;
  std::string service = "crosstenant";
  Severity min_severity = Severity::kInfo;
};

Settings& GlobalSettings() {
  static Settings settings;
  return settings;
}

std::mutex& OutputMutex() {
  static std::mutex mutex;
  return mutex;
}

const char* SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kDebug:
      return "debug";
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void Configure(Format format, absl::string_view service, Severity min_severity) {
  GlobalSettings() = Settings{format, std::string(service), min_severity};
}

bool ParseFormat(absl::string_view text, Format* format) {
  if (text == "json") {
    *format = Format::kJson;
  } else if (text == "text") {
    *format = Format::kText;
  } else {
    return false;
  }
  return true;
}

bool ParseSeverity(absl::string_view text, Severity* severity) {
  for (Severity candidate : {Severity::kDebug, Severity::kInfo, Severity::kWarning, Severity::kError}) {
    if (text == SeverityName(candidate)) {
      *severity = candidate;
      return true;
    }
  }
  return false;
}

std::string FormatLine(Format format, absl::string_view service, Severity severity, absl::string_view message,
                       const Fields& fields) {
  const std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  if (format == Format::kJson) {
    nlohmann::ordered_json line;
    line["time"] = time;
    line["severity"] = SeverityName(severity);
    line["service"] = std::string(service);
    line["message"] = std::string(message);
    for (const auto& [key, value] : fields) line[key] = value;
    // Replace rather than throw on invalid UTF-8: a log line must never take the process down.
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string line = time + " " + SeverityName(severity) + " " + std::string(service) + ": " + std::string(message);
  for (const auto& [key, value] : fields) {
    line += " " + key + "=";
    line += value.find_first_of(" \"=") == std::string::npos && !value.empty()
                ? value
                : nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return line;
}

void Write(Severity severity, absl::string_view message, const Fields& fields) {
  const Settings& settings = GlobalSettings();
  if (severity < settings.min_severity) return;
  std::string line;
  if (const TraceContext* trace = CurrentTrace(); trace != nullptr) {
    // Every line written during a call names its trace, so that one user's move can be followed
    // across the services by one id.
    Fields traced = fields;
    traced.emplace_back("trace_id", trace->trace_id);
    line = FormatLine(settings.format, settings.service, severity, message, traced);
  } else {
    line = FormatLine(settings.format, settings.service, severity, message, fields);
  }
  line += '\n';
  std::lock_guard<std::mutex> lock(OutputMutex());
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace crosstenant::log
