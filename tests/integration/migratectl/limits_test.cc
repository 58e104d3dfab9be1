// migratectl given files that are not what it expects: devices, FIFOs, directories, files over their
// limit, 50 MB of garbage as an identity map. Each is refused or validated promptly, exit 3, with the
// reason, and the garbage costs bounded memory (measured on the real binary) and bounded output.

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "clients/migratectl/cli.h"
#include "tests/unit/migratectl/run_cli.h"
#include "tests/support/server_process.h"

namespace crosstenant::migratectl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Runs migratectl with `args` in `limit`: exit 3, the reason on stderr, and not a moment's blocking.
void ExpectInvalidInput(const std::vector<std::string>& args, const std::string& why) {
  const absl::Time start = absl::Now();
  CliResult r = RunCli(args);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << args[0];
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr(why)) << args[0];
}

TEST(MigratectlLimitsTest, DevicesFifosAndDirectoriesAreRefusedWithTheReason) {
  testing::TempDir dir;
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ExpectInvalidInput({"identity-map", "validate", "/dev/zero"},
                     "the identity map file /dev/zero is a character device");
  ExpectInvalidInput({"identity-map", "validate", fifo}, "is a FIFO (named pipe), not a regular file");
  ExpectInvalidInput({"identity-map", "validate", dir.path()}, "is a directory, not a regular file");
  CliResult directory = RunCli({"identity-map", "validate", dir.path()});
  EXPECT_THAT(directory.out + directory.err, Not(HasSubstr("no rows")));
  ExpectInvalidInput({"migrate", "start", "--plan=" + fifo, "--orchestrator=127.0.0.1:1"}, "the plan file " + fifo);
  ExpectInvalidInput({"migrate", "start", "--plan=/dev/urandom", "--orchestrator=127.0.0.1:1"}, "character device");
  ExpectInvalidInput({"connect", "--role=source", "https://contoso-admin.sharepoint.com", "--connector=127.0.0.1:1",
                      "--client-id=11111111-1111-4111-8111-111111111111", "--client-secret-file=/dev/zero"},
                     "--client-secret-file: the secret file /dev/zero is a character device");
  ExpectInvalidInput({"connect", "--role=source", "https://contoso-admin.sharepoint.com", "--connector=127.0.0.1:1",
                      "--client-id=11111111-1111-4111-8111-111111111111", "--client-secret-file=" + fifo},
                     "is a FIFO");
  const std::string big_plan = dir.WriteFile("big.yaml", std::string(2 << 20, '#'));
  ExpectInvalidInput({"migrate", "start", "--plan=" + big_plan, "--orchestrator=127.0.0.1:1"},
                     "is 2 MiB, over the 1 MiB limit for a plan file");
}

TEST(MigratectlLimitsTest, ValidateListsAtMostMaxProblemsAndCountsTheRest) {
  testing::TempDir dir;
  std::string csv;
  for (int i = 0; i < 500; ++i) csv += "Nobody,x\n";
  const std::string path = dir.WriteFile("bad.csv", csv);
  CliResult r = RunCli({"identity-map", "validate", path, "--max-problems=5"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("TOO_MANY_PROBLEMS"));
  EXPECT_THAT(r.out, HasSubstr("and 495 more problems"));
  EXPECT_LE(std::count(r.out.begin(), r.out.end(), '\n'), 8);
  EXPECT_THAT(r.err, HasSubstr("500 problem(s)"));
}

// The real binary on 50 MB of random bytes: its peak resident memory (wait4's ru_maxrss) and output.
TEST(MigratectlLimitsTest, FiftyMegabytesOfGarbageStayUnder200MiB) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/garbage.csv";
  {
    std::ofstream out(path, std::ios::binary);
    std::string chunk(1 << 20, '\0');
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (int mb = 0; mb < 50; ++mb) {
      for (char& c : chunk) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        c = static_cast<char>(state);
      }
      out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    }
  }
  const std::string output = dir.path() + "/out.txt";
  const std::string binary = testing::BinaryPath("migratectl");
  const absl::Time start = absl::Now();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(binary.c_str(), "migratectl", "identity-map", "validate", path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  ASSERT_EQ(wait4(pid, &status, 0, &usage), pid);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  const int64_t peak_kib = usage.ru_maxrss;
  const uintmax_t printed = std::filesystem::file_size(output);
  std::printf("identity-map validate on 50 MiB of random bytes: peak RSS %lld KiB, %ju bytes printed, %.2f s\n",
              static_cast<long long>(peak_kib), printed, seconds);
  EXPECT_LT(peak_kib, 200 * 1024);
  EXPECT_LT(printed, 200u * 1024);
  std::ifstream in(output);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("TOO_MANY_PROBLEMS"));
}

}  // namespace
}  // namespace crosstenant::migratectl
