#include "services/tenant_connector/core/sharepoint/wire_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace crosstenant::tenant_connector::sharepoint {

absl::StatusOr<std::unique_ptr<WireLog>> WireLog::Open(const std::string& path) {
  // O_NONBLOCK: a FIFO or device named by mistake must not hang the connector's start.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sharepoint_wire_log: cannot open ", path, ": ", std::strerror(errno)));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("sharepoint_wire_log: ", path, " is not a regular file"));
  }
  ::fchmod(fd, 0600);
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  std::FILE* file = ::fdopen(fd, "a");
  if (file == nullptr) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("sharepoint_wire_log: cannot open ", path));
  }
  return std::unique_ptr<WireLog>(new WireLog(file));
}

WireLog::~WireLog() {
  absl::MutexLock lock(&mu_);
  std::fclose(file_);
}

void WireLog::Write(absl::Time time, absl::string_view connection, absl::string_view method, absl::string_view url,
                    int status, absl::string_view request_body, absl::string_view response_body) {
  nlohmann::json line = {{"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone())},
                         {"connection", std::string(connection)},
                         {"method", std::string(method)},
                         {"url", RedactSecrets(url)},
                         {"status", status},
                         {"request", RedactSecrets(request_body)},
                         {"response", RedactSecrets(response_body)}};
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  absl::MutexLock lock(&mu_);
  std::fwrite(text.data(), 1, text.size(), file_);
  std::fflush(file_);
}

std::string RedactSecrets(absl::string_view text) {
  // JWTs (every Entra token and client assertion), bearer values, form digests, and the OAuth form
  // fields that carry secrets.
  static const auto* patterns = new std::vector<std::pair<std::regex, std::string>>{
      {std::regex("eyJ[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*"), "[REDACTED]"},
      {std::regex("([Bb]earer\\s+)[A-Za-z0-9._~+/=-]+"), "$1[REDACTED]"},
      {std::regex("(\"FormDigestValue\"\\s*:\\s*\")[^\"]*"), "$1[REDACTED]"},
      {std::regex("0x[0-9A-Fa-f]{32,},[^\"<\\s]*"), "[REDACTED]"},
      {std::regex("((client_secret|password|refresh_token|client_assertion|access_token|code)=)[^&\\s\"]*"),
       "$1[REDACTED]"},
      {std::regex("(\"(access_token|refresh_token|id_token|client_secret|password)\"\\s*:\\s*\")[^\"]*"),
       "$1[REDACTED]"},
  };
  std::string out(text);
  for (const auto& [pattern, replacement] : *patterns) out = std::regex_replace(out, pattern, replacement);
  return out;
}

}  // namespace crosstenant::tenant_connector::sharepoint
