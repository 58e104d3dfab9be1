#include "clients/migratectl/input_file.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "services/common/bounded_file.h"

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

absl::StatusOr<std::string> ReadStandardInput(const std::string& what, int64_t max_bytes) {
  std::string text;
  char buffer[4096];
  while (std::cin.read(buffer, sizeof buffer) || std::cin.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(std::cin.gcount()));
    if (static_cast<int64_t>(text.size()) > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("the ", what, " on standard input is over the ",
                                                     ApproximateByteSize(max_bytes), " limit"));
    }
  }
  return text;
}

}  // namespace crosstenant::migratectl
