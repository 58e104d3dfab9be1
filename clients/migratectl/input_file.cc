#include "clients/migratectl/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "services/common/bounded_file.h"
#include "services/common/status_macros.h"

namespace crosstenant::migratectl {

absl::StatusOr<std::string> ReadInputFile(const std::string& path, const std::string& what, int64_t max_bytes) {
  BoundedFileOptions options;
  options.what = what;
  options.max_bytes = max_bytes;
  options.timeout = absl::Seconds(30);
  absl::StatusOr<std::string> text = ReadBoundedFile(path, options);
  // Whatever is wrong with a file named on the command line, the input is what to fix (exit 3).
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  return text;
}

absl::Status ReadInputFileInPieces(const std::string& path, const std::string& what, int64_t max_bytes,
                                   size_t piece_bytes, const std::function<absl::Status(absl::string_view)>& on_piece) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " file ", path, " cannot be opened: ", strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  // Checked on the open file, not the name: what is read is what was checked.
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("the ", what, " file ", path, " cannot be read: ", strerror(errno)));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("the ", what, " file ", path, " is not a regular file"));
  }
  if (info.st_size > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("the ", what, " file ", path, " is ",
                                                   ApproximateByteSize(info.st_size), ", over the ",
                                                   ApproximateByteSize(max_bytes), " limit"));
  }
  std::string piece(piece_bytes, '\0');
  int64_t total = 0;
  while (true) {
    const ssize_t got = read(fd, piece.data(), piece.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the ", what, " file ", path, " cannot be read: ", strerror(errno)));
    }
    if (got == 0) return absl::OkStatus();
    total += got;
    if (total > max_bytes) {  // it grew while being read
      return absl::InvalidArgumentError(
          absl::StrCat("the ", what, " file ", path, " is over the ", ApproximateByteSize(max_bytes), " limit"));
    }
    RETURN_IF_ERROR(on_piece(absl::string_view(piece.data(), static_cast<size_t>(got))));
  }
}

absl::StatusOr<std::string> ReadStandardInput(const std::string& what, int64_t max_bytes) {
  std::string text;
  char buffer[4096];
  while (std::cin.read(buffer, sizeof buffer) || std::cin.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(std::cin.gcount()));
    if (static_cast<int64_t>(text.size()) > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("the ", what, " on standard input is over the ", ApproximateByteSize(max_bytes), " limit"));
    }
  }
  return text;
}

}  // namespace crosstenant::migratectl
