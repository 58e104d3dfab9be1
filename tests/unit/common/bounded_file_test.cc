#include "services/common/bounded_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "tests/support/server_process.h"

namespace crosstenant {
namespace {

using ::testing::HasSubstr;

BoundedFileOptions Secret(const std::vector<std::string>& dirs) {
  BoundedFileOptions options;
  options.what = "secret";
  options.max_bytes = 64 * 1024;
  options.timeout = absl::Seconds(5);
  options.restrict_to_dirs = true;
  options.allowed_dirs = dirs;
  options.dirs_setting = "credential_file_dirs";
  return options;
}

TEST(BoundedFileTest, ReadsARegularFileInsideAnAllowedDirectory) {
  testing::TempDir dir;
  const std::string path = dir.WriteFile("secret", "s3cret\n");
  absl::StatusOr<std::string> read = ReadBoundedFile(path, Secret({dir.path()}));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "s3cret\n");
  // Unrestricted, on the calling thread.
  BoundedFileOptions inline_read;
  inline_read.timeout = absl::InfiniteDuration();
  EXPECT_EQ(ReadBoundedFile(path, inline_read).value(), "s3cret\n");
}

TEST(BoundedFileTest, RefusesAFifoWithoutBlocking) {
  testing::TempDir dir;
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> read = ReadBoundedFile(fifo, Secret({dir.path()}));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(read.status().message(),
              HasSubstr("the secret file " + fifo + " is a FIFO (named pipe), not a regular file"));
}

TEST(BoundedFileTest, RefusesDevicesAndDirectories) {
  BoundedFileOptions any;
  any.what = "plan";
  absl::StatusOr<std::string> zero = ReadBoundedFile("/dev/zero", any);
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(zero.status().message(), HasSubstr("the plan file /dev/zero is a character device, not a regular file"));
  testing::TempDir dir;
  absl::StatusOr<std::string> directory = ReadBoundedFile(dir.path(), any);
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(directory.status().message(), HasSubstr("is a directory, not a regular file"));
}

TEST(BoundedFileTest, RefusesAFileOverTheLimitBeforeReadingIt) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/big";
  { std::ofstream out(path); }
  // A sparse 5.2 GiB file: refused from its size, never read.
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(5.2 * 1024 * 1024 * 1024)), 0);
  absl::StatusOr<std::string> read = ReadBoundedFile(path, Secret({dir.path()}));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(read.status().message(), HasSubstr("is 5.2 GiB, over the 64 KiB limit for a secret file"));
  // One byte over.
  const std::string just_over = dir.WriteFile("over", std::string(64 * 1024 + 1, 'x'));
  EXPECT_EQ(ReadBoundedFile(just_over, Secret({dir.path()})).status().code(), absl::StatusCode::kInvalidArgument);
  const std::string at_limit = dir.WriteFile("at", std::string(64 * 1024, 'x'));
  EXPECT_TRUE(ReadBoundedFile(at_limit, Secret({dir.path()})).ok());
}

TEST(BoundedFileTest, FollowsLinksInsideTheAllowedDirectoryOnly) {
  testing::TempDir allowed;
  testing::TempDir outside;
  // As a Kubernetes secret volume: key -> ..data/key, ..data -> ..2024_01_01/.
  std::filesystem::create_directory(allowed.path() + "/..2024_01_01");
  allowed.WriteFile("..2024_01_01/key", "inside");
  std::filesystem::create_directory_symlink("..2024_01_01", allowed.path() + "/..data");
  std::filesystem::create_symlink("..data/key", allowed.path() + "/key");
  EXPECT_EQ(ReadBoundedFile(allowed.path() + "/key", Secret({allowed.path()})).value(), "inside");

  const std::string target = outside.WriteFile("secret", "outside");
  std::filesystem::create_symlink(target, allowed.path() + "/escape");
  absl::StatusOr<std::string> escaped = ReadBoundedFile(allowed.path() + "/escape", Secret({allowed.path()}));
  EXPECT_EQ(escaped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(escaped.status().message(), HasSubstr("is outside the directories allowed by credential_file_dirs"));
  // A sibling whose name starts like the allowed directory is outside too.
  std::filesystem::create_directory(outside.path() + "/a");
  const std::string sibling = outside.WriteFile("ab", "sibling");
  EXPECT_FALSE(ReadBoundedFile(sibling, Secret({outside.path() + "/a"})).ok());
  absl::StatusOr<std::string> dotdot = ReadBoundedFile(
      allowed.path() + "/../" + std::filesystem::path(target).parent_path().filename().string() + "/secret",
      Secret({allowed.path()}));
  EXPECT_EQ(dotdot.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BoundedFileTest, NoAllowedDirectoryRefusesEveryFileNamingTheSetting) {
  testing::TempDir dir;
  const std::string path = dir.WriteFile("secret", "x");
  absl::StatusOr<std::string> read = ReadBoundedFile(path, Secret({}));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(read.status().message(),
              HasSubstr("no directory is allowed for secret files (setting credential_file_dirs)"));
}

TEST(BoundedFileTest, AMissingFileIsAFailedPreconditionWithTheErrnoText) {
  testing::TempDir dir;
  absl::StatusOr<std::string> read = ReadBoundedFile(dir.path() + "/missing", Secret({dir.path()}));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(read.status().message(), HasSubstr("/missing: No such file or directory"));
}

TEST(BoundedFileTest, ApproximateSizes) {
  EXPECT_EQ(ApproximateByteSize(812), "812 B");
  EXPECT_EQ(ApproximateByteSize(64 * 1024), "64 KiB");
  EXPECT_EQ(ApproximateByteSize(1536 * 1024), "1.5 MiB");
  EXPECT_EQ(ApproximateByteSize(int64_t{50} << 20), "50 MiB");
}

}  // namespace
}  // namespace crosstenant
