// The real tenant-connector binary misused: credential files that are FIFOs, devices, directories,
// too large or outside credential_file_dirs are refused at once, naming the field; a flood of one RPC
// cannot take every executor thread; and SIGTERM stops the process within its grace even while calls
// hang upstream. No emulator: the "upstream" is a socket that accepts and never answers.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "crosstenant/v1/tenant_connector.grpc.pb.h"
#include "tests/support/server_process.h"

namespace crosstenant::testing {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::HasSubstr;

constexpr char kClientId[] = "11111111-1111-4111-8111-111111111111";

// A TCP port that completes connections (the kernel's backlog) but never says anything.
class SilentUpstream {
 public:
  SilentUpstream() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(fd_, 128);
    socklen_t length = sizeof address;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~SilentUpstream() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class CredentialFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string config = dir_.WriteFile("connector.yaml", "executor_threads: 4\n");
    process_ = std::make_unique<ServerProcess>(
        BinaryPath("tenant-connector"),
        std::vector<std::string>{"--config=" + config, "--grpc-address=127.0.0.1:0", "--metrics-address=",
                                 "--ready-file=" + dir_.path() + "/ready", "--log-format=json", "--shutdown-grace=1s",
                                 "--upstream-connect-to=*:443:127.0.0.1:" + std::to_string(upstream_.port()),
                                 "--credential-file-dirs=" + allowed_.path() + ",/dev"},
        dir_.path());
    auto ready = process_->WaitForReadyFile(dir_.path() + "/ready");
    ASSERT_TRUE(ready) << process_->Stderr();
    stub_ = v1::TenantConnector::NewStub(
        grpc::CreateChannel((*ready)["grpc_address"].get<std::string>(), grpc::InsecureChannelCredentials()));
  }

  grpc::Status CreateWithSecret(const std::string& id, const std::string& path, std::chrono::seconds deadline) {
    v1::CreateConnectionRequest request;
    request.set_connection_id(id);
    request.set_role(v1::CONNECTION_ROLE_SOURCE);
    request.set_admin_url("https://contoso-admin.sharepoint.com");
    request.mutable_credential()->mutable_client_secret()->set_client_id(kClientId);
    if (path.empty()) {
      request.mutable_credential()->mutable_client_secret()->mutable_secret()->set_value("inline-secret");
    } else {
      request.mutable_credential()->mutable_client_secret()->mutable_secret()->set_file_path(path);
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    v1::CreateConnectionResponse response;
    return stub_->CreateConnection(&context, request, &response);
  }

  // Refused at once, INVALID_ARGUMENT, naming the field and saying why.
  void ExpectRefused(const std::string& path, const std::string& why) {
    const absl::Time start = absl::Now();
    grpc::Status status = CreateWithSecret("misuse", path, std::chrono::seconds(20));
    EXPECT_LT(absl::Now() - start, absl::Seconds(3)) << path;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << path << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("credential.client_secret.secret.file_path")) << path;
    EXPECT_THAT(status.error_message(), HasSubstr(why)) << path;
  }

  TempDir dir_;
  TempDir allowed_;
  TempDir outside_;
  SilentUpstream upstream_;
  std::unique_ptr<ServerProcess> process_;
  std::unique_ptr<v1::TenantConnector::Stub> stub_;
};

TEST_F(CredentialFilesTest, FilesThatAreNotSecretsAreRefusedAtOnceNamingTheField) {
  const std::string fifo = allowed_.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ExpectRefused(fifo, "is a FIFO (named pipe), not a regular file");
  ExpectRefused("/dev/zero", "is a character device, not a regular file");
  ExpectRefused("/dev/urandom", "is a character device, not a regular file");
  std::filesystem::create_directory(allowed_.path() + "/dir");
  ExpectRefused(allowed_.path() + "/dir", "is a directory, not a regular file");
  ExpectRefused(allowed_.WriteFile("big", std::string(100 * 1024, 'x')), "is 100 KiB, over the 64 KiB limit");
  ExpectRefused(outside_.WriteFile("secret", "s3cret"), "is outside the directories allowed by credential_file_dirs");
  std::filesystem::create_symlink(outside_.path() + "/secret", allowed_.path() + "/link-out");
  ExpectRefused(allowed_.path() + "/link-out", "is outside the directories allowed by credential_file_dirs");
  // The connector still answers.
  grpc::ClientContext context;
  v1::ListConnectionsResponse list;
  EXPECT_TRUE(stub_->ListConnections(&context, v1::ListConnectionsRequest(), &list).ok());
  EXPECT_THAT(process_->Stderr(), ::testing::Not(HasSubstr("s3cret")));
}

TEST_F(CredentialFilesTest, OneKindOfCallCannotTakeEveryThreadAndSigtermStillStops) {
  // Four threads: at most three CreateConnection at once, each hanging on the silent upstream.
  constexpr int kCalls = 8;
  std::atomic<int> exhausted{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < kCalls; ++i) {
    callers.emplace_back([this, i, &exhausted] {
      grpc::Status status = CreateWithSecret("hang-" + std::to_string(i), "", std::chrono::seconds(60));
      if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        EXPECT_THAT(status.error_message(), HasSubstr("CreateConnection"));
        ++exhausted;
      }
    });
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (exhausted.load() < kCalls - 3 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(exhausted.load(), kCalls - 3);

  // Another kind of call still gets a thread, and answers at once.
  {
    const absl::Time start = absl::Now();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::CheckConnectionRequest request;
    request.set_name("connections/absent");
    v1::CheckConnectionResponse response;
    grpc::Status status = stub_->CheckConnection(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
    EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  }

  // SIGTERM with three calls hanging upstream: out within the 1 s grace and the 2 s after it.
  const absl::Time stop = absl::Now();
  process_->Signal(SIGTERM);
  std::optional<int> exit_code = process_->WaitForExit(std::chrono::seconds(8));
  ASSERT_TRUE(exit_code.has_value()) << process_->Stderr();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(5));
  for (std::thread& caller : callers) caller.join();
}

}  // namespace
}  // namespace crosstenant::testing
