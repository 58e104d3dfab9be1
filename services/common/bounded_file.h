#ifndef CROSSTENANT_SERVICES_COMMON_BOUNDED_FILE_H_
#define CROSSTENANT_SERVICES_COMMON_BOUNDED_FILE_H_

// Reading a file whose path someone else chose (a connection's secret file, a plan, an identity map)
// without trusting it: only a regular file is read (a FIFO, a device such as /dev/zero or a terminal,
// a directory are refused without blocking), never more than a limit, within a time limit, and, when
// asked, only inside allowed directories (after resolving symbolic links, so that a Kubernetes secret
// volume's links work and a link out of the directory does not).
//
//   BoundedFileOptions options;
//   options.what = "secret";
//   options.max_bytes = 64 * 1024;
//   options.restrict_to_dirs = true;
//   options.allowed_dirs = {"/etc/crosstenant/credentials"};
//   options.dirs_setting = "credential_file_dirs";
//   ASSIGN_OR_RETURN(std::string secret, ReadBoundedFile(path, options));
//
// Errors name the path, what it is and why, e.g. "the secret file /dev/zero is a character device, not
// a regular file", "the plan file /x.yaml is 5.2 GiB, over the 1 MiB limit for a plan file":
//   INVALID_ARGUMENT     not a regular file, over the limit, outside the allowed directories
//   FAILED_PRECONDITION  the file cannot be found or opened or read (the errno text)
//   UNAVAILABLE          the file system did not answer within the time limit (the read is abandoned)

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crosstenant {

struct BoundedFileOptions {
  // What the file is, for messages: "secret", "plan", "identity map".
  std::string what = "input";
  // The largest file accepted, in bytes.
  int64_t max_bytes = 1 << 20;
  // Time allowed to open and read the file. A regular file on a stuck network file system blocks
  // in the kernel, so the read runs on a helper thread that is abandoned after this long.
  // absl::InfiniteDuration() reads on the calling thread.
  absl::Duration timeout = absl::Seconds(10);
  // When true, the resolved path must be inside one of `allowed_dirs` (none: every file is refused,
  // the message naming `dirs_setting`, the setting that lists them).
  bool restrict_to_dirs = false;
  std::vector<std::string> allowed_dirs;
  std::string dirs_setting;
};

// The whole content of the regular file at `path` (see the file comment for the checks and errors).
absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, const BoundedFileOptions& options);

// `bytes` as a short approximate size for messages: "812 B", "64 KiB", "5.2 GiB".
std::string ApproximateByteSize(int64_t bytes);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_BOUNDED_FILE_H_
