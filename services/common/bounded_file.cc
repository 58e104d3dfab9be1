#include "services/common/bounded_file.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "services/common/user_text.h"

namespace crosstenant {
namespace {

// Reads abandoned after their time limit whose thread has not returned yet. Past this many, reads are
// refused at once rather than leaving more threads stuck in the kernel.
constexpr int kMaxStuckReads = 8;
std::atomic<int> stuck_reads{0};

std::string TypeOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

std::string Named(const std::string& path, const BoundedFileOptions& options) {
  return absl::StrCat("the ", options.what, " file ", QuoteForMessage(path));
}

// "a secret file", "an identity map file".
std::string AFileOf(const std::string& what) {
  const bool vowel = !what.empty() && std::string("aeiouAEIOU").find(what[0]) != std::string::npos;
  return absl::StrCat(vowel ? "an " : "a ", what, " file");
}

std::string Resolved(const std::string& path) {
  char buffer[PATH_MAX];
  if (realpath(path.c_str(), buffer) == nullptr) return "";
  return buffer;
}

absl::Status CheckRegular(const std::string& path, const struct stat& info, const BoundedFileOptions& options) {
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Named(path, options), " is ", TypeOf(info.st_mode), ", not a regular file"));
  }
  if (info.st_size > options.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(Named(path, options), " is ", ApproximateByteSize(info.st_size),
                                                   ", over the ", ApproximateByteSize(options.max_bytes), " limit for ",
                                                   AFileOf(options.what)));
  }
  return absl::OkStatus();
}

absl::Status CheckDirectory(const std::string& path, const std::string& resolved, const BoundedFileOptions& options) {
  if (!options.restrict_to_dirs) return absl::OkStatus();
  if (options.allowed_dirs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Named(path, options), " cannot be read: no directory is allowed for ", options.what, " files (setting ",
        options.dirs_setting, "); pass the value inline or configure ", options.dirs_setting));
  }
  for (const std::string& dir : options.allowed_dirs) {
    std::string allowed = Resolved(dir);
    if (allowed.empty()) continue;
    if (allowed.back() != '/') allowed += '/';
    if (resolved.compare(0, allowed.size(), allowed) == 0) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(Named(path, options), " is outside the directories allowed by ",
                                                 options.dirs_setting, " (", absl::StrJoin(options.allowed_dirs, ", "),
                                                 ")"));
}

absl::StatusOr<std::string> ReadNow(const std::string& path, const BoundedFileOptions& options) {
  const std::string resolved = Resolved(path);
  if (resolved.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", Named(path, options), ": ", strerror(errno)));
  }
  if (absl::Status allowed = CheckDirectory(path, resolved, options); !allowed.ok()) return allowed;
  // stat before open: opening some devices has effects of its own.
  struct stat info;
  if (stat(resolved.c_str(), &info) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", Named(path, options), ": ", strerror(errno)));
  }
  if (absl::Status regular = CheckRegular(path, info, options); !regular.ok()) return regular;
  // O_NONBLOCK: should the file be swapped for a FIFO after the stat, open does not wait for a writer.
  // O_NOFOLLOW: the resolved path has no links left; one appearing now is not followed.
  const int fd = open(resolved.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot open ", Named(path, options), ": ", strerror(errno)));
  }
  std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* f) {
    close(*f);
    delete f;
  });
  if (fstat(fd, &info) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", Named(path, options), ": ", strerror(errno)));
  }
  if (absl::Status regular = CheckRegular(path, info, options); !regular.ok()) return regular;
  std::string content;
  content.resize(static_cast<size_t>(info.st_size));
  size_t used = 0;
  for (;;) {
    // One byte more than the limit, so that a file growing while it is read is noticed.
    if (used == content.size()) {
      if (static_cast<int64_t>(used) > options.max_bytes) break;
      content.resize(std::min<size_t>(std::max<size_t>(used * 2, 4096), static_cast<size_t>(options.max_bytes) + 1));
    }
    const ssize_t n = read(fd, content.data() + used, content.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::FailedPreconditionError(absl::StrCat("cannot read ", Named(path, options), ": ", strerror(errno)));
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  if (static_cast<int64_t>(used) > options.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(Named(path, options), " grew past the ",
                                                   ApproximateByteSize(options.max_bytes), " limit for ",
                                                   AFileOf(options.what), " while it was read"));
  }
  content.resize(used);
  return content;
}

}  // namespace

std::string ApproximateByteSize(int64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0 || value >= 10 || value == static_cast<double>(static_cast<int64_t>(value))) {
    return absl::StrFormat("%d %s", static_cast<int64_t>(value), kUnits[unit]);
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, const BoundedFileOptions& options) {
  if (options.timeout == absl::InfiniteDuration()) return ReadNow(path, options);
  if (stuck_reads.load() >= kMaxStuckReads) {
    return absl::UnavailableError(absl::StrCat("cannot read ", Named(path, options), ": ", kMaxStuckReads,
                                               " earlier file reads are still stuck (an unresponsive file system?)"));
  }
  // The helper thread owns its copies; it may outlive this call when the file system hangs. `state`
  // decides once who is last: the reader finishing (kFinished) or this call giving up (kAbandoned).
  enum State { kRunning, kFinished, kAbandoned };
  struct Shared {
    absl::Notification done;
    absl::StatusOr<std::string> result;
    std::atomic<int> state{kRunning};
  };
  auto shared = std::make_shared<Shared>();
  std::thread reader([shared, path, options] {
    shared->result = ReadNow(path, options);
    int running = kRunning;
    if (!shared->state.compare_exchange_strong(running, kFinished)) stuck_reads.fetch_sub(1);
    shared->done.Notify();
  });
  shared->done.WaitForNotificationWithTimeout(options.timeout);
  stuck_reads.fetch_add(1);
  int running = kRunning;
  if (!shared->state.compare_exchange_strong(running, kAbandoned)) {
    stuck_reads.fetch_sub(1);
    reader.join();
    return std::move(shared->result);
  }
  reader.detach();
  return absl::UnavailableError(absl::StrCat("cannot read ", Named(path, options),
                                             ": no answer from the file system in ",
                                             absl::FormatDuration(options.timeout)));
}

}  // namespace crosstenant
