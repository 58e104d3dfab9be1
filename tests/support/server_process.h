#ifndef CROSSTENANT_TESTS_SUPPORT_SERVER_PROCESS_H_
#define CROSSTENANT_TESTS_SUPPORT_SERVER_PROCESS_H_

// Starts a real crosstenant binary for an integration test and stops it afterwards, whatever
// happens to the test. The binary binds port 0 on loopback; the test learns the real addresses
// from the ready file instead of sleeping.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace crosstenant::testing {

// A scratch directory removed with its contents when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string WriteFile(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// Path of a binary built into build/bin (CROSSTENANT_BIN_DIR, set by CMake).
std::string BinaryPath(const std::string& name);

class ServerProcess {
 public:
  // Starts `binary` with `args` in `work_dir` (its current directory); stderr goes to a log file there.
  ServerProcess(const std::string& binary, std::vector<std::string> args, const std::string& work_dir);
  ~ServerProcess();  // SIGKILL if still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Waits until `ready_file` exists and parses it; nullopt if the process exited or time ran out.
  std::optional<nlohmann::json> WaitForReadyFile(const std::string& ready_file,
                                                 std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits for the process to exit; its exit code (128+signal if killed), or nullopt on timeout.
  std::optional<int> WaitForExit(std::chrono::milliseconds timeout);
  void Signal(int signal_number) const;
  std::string Stderr() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string stderr_path_;
};

// HTTP GET of a plain http:// URL; the body, or nullopt on failure.
std::optional<std::string> HttpGet(const std::string& url);

}  // namespace crosstenant::testing

#endif  // CROSSTENANT_TESTS_SUPPORT_SERVER_PROCESS_H_
