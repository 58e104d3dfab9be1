// The real tenant-connector behind an HTTP CONNECT proxy (tests/support/connect_proxy.py, which sends
// every tunnel to the real tenant-emulator): with upstream.proxy set, connecting a tenant goes through the
// proxy for the token endpoint, Graph and SharePoint, each CONNECT naming Microsoft's host (the proxy's
// log shows them, so a connector that bypassed the proxy fails here); no_proxy sends a host direct; a
// proxy that refuses (403), wants credentials (407) or does not listen fails the connection with
// UNAVAILABLE naming the proxy; proxy credentials come from a file and never appear in an error; a proxy
// URL with user info is refused at startup without echoing it; HTTPS_PROXY in the environment is ignored;
// an https:// proxy is verified against upstream.proxy_ca_file.

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/mesh_processes.h"

namespace crosstenant::testing {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The test proxy as a process: its address and the CONNECT targets it logged.
class Proxy {
 public:
  // Starts connect_proxy.py with `extra` flags, every tunnel going to `emulator`.
  bool Start(const Emulator& emulator, const std::vector<std::string>& extra = {}) {
    const std::string ready = dir_.path() + "/proxy.ready";
    std::vector<std::string> args = {std::string(CROSSTENANT_SOURCE_DIR) + "/tests/support/connect_proxy.py",
                                     "--ready-file=" + ready, "--log=" + LogPath(),
                                     "--forward-to=127.0.0.1:" + emulator.port()};
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<ServerProcess>("/usr/bin/python3", args, dir_.path());
    std::optional<nlohmann::json> ready_json = process_->WaitForReadyFile(ready);
    if (!ready_json) {
      error_ = "connect_proxy.py did not start: " + process_->Stderr();
      return false;
    }
    address_ = (*ready_json)["address"].get<std::string>();
    return true;
  }
  const std::string& address() const { return address_; }
  const std::string& error() const { return error_; }
  std::string Url() const { return "http://" + address_; }
  // The CONNECT targets so far, in order.
  std::vector<std::string> Targets() const {
    std::ifstream in(LogPath());
    std::stringstream content;
    content << in.rdbuf();
    return absl::StrSplit(content.str(), '\n', absl::SkipEmpty());
  }

 private:
  std::string LogPath() const { return dir_.path() + "/connects.log"; }

  TempDir dir_;
  std::string error_;
  std::string address_;
  std::unique_ptr<ServerProcess> process_;
};

class UpstreamProxyTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(emulator_.Start()) << emulator_.error(); }

  // Starts the connector with `extra` flags (besides the emulator's connect-to rule and CA), failing fast
  // upstream so that refused connections end within seconds.
  void StartConnector(const std::vector<std::string>& extra) {
    std::vector<std::string> flags = {"--upstream-backoff-base=100ms", "--upstream-max-attempts=2",
                                      "--probe-interval=1h"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    ASSERT_TRUE(connector_.Start(emulator_, "", flags)) << connector_.error();
  }

  // CreateConnection of contoso as the source with the seed's app certificate.
  grpc::Status ConnectContoso() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::CreateConnectionResponse response;
    return connector_.stub().CreateConnection(
        &context,
        ConnectRequest("contoso", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                       MigrationAppCredential(emulator_, kContosoApp)),
        &response);
  }

  Emulator emulator_;
  Connector connector_;
};

TEST_F(UpstreamProxyTest, EveryUpstreamRequestTunnelsThroughTheProxyToMicrosoftsHostNames) {
  Proxy proxy;
  ASSERT_TRUE(proxy.Start(emulator_)) << proxy.error();
  StartConnector({"--upstream-proxy=" + proxy.Url()});

  ASSERT_TRUE(connector_.ConnectSourceAndTarget()) << connector_.error() << connector_.Stderr();

  const std::vector<std::string> targets = proxy.Targets();
  EXPECT_THAT(targets, Contains("login.microsoftonline.com:443"));
  EXPECT_THAT(targets, Contains("graph.microsoft.com:443"));
  EXPECT_THAT(targets, Contains("contoso-admin.sharepoint.com:443"));
  EXPECT_THAT(targets, Contains("fabrikam-admin.sharepoint.com:443"));
  // The connect-to rule (127.0.0.1:<emulator>) is where a direct request goes; a CONNECT names the host.
  EXPECT_THAT(targets, Not(Contains(HasSubstr("127.0.0.1"))));
  EXPECT_THAT(connector_.Stderr(), HasSubstr(proxy.address()));
}

TEST_F(UpstreamProxyTest, NoProxyHostsGoDirect) {
  Proxy proxy;
  ASSERT_TRUE(proxy.Start(emulator_)) << proxy.error();
  StartConnector({"--upstream-proxy=" + proxy.Url(), "--upstream-no-proxy=.svc,Microsoft.com"});

  ASSERT_TRUE(connector_.ConnectSourceAndTarget()) << connector_.error() << connector_.Stderr();

  const std::vector<std::string> targets = proxy.Targets();
  // graph.microsoft.com matches the suffix microsoft.com (case-insensitive) and went direct, through the
  // connect-to rule; the others still tunnel.
  EXPECT_THAT(targets, Not(Contains(HasSubstr("microsoft.com"))));
  EXPECT_THAT(targets, Contains("login.microsoftonline.com:443"));
  EXPECT_THAT(targets, Contains("contoso-admin.sharepoint.com:443"));
}

TEST_F(UpstreamProxyTest, ARefusingProxyFailsTheConnectionNamingTheProxy) {
  Proxy proxy;
  ASSERT_TRUE(proxy.Start(emulator_, {"--refuse"})) << proxy.error();
  StartConnector({"--upstream-proxy=" + proxy.Url()});

  const grpc::Status status = ConnectContoso();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(),
              AllOf(HasSubstr("proxy " + proxy.address()), HasSubstr("refused the tunnel"), HasSubstr("403")));
  // The connection's first request (the tenant's id, discovered from SharePoint) asked the proxy.
  EXPECT_THAT(proxy.Targets(), Contains(EndsWith(".sharepoint.com:443")));
}

TEST_F(UpstreamProxyTest, AProxyThatIsDownFailsTheConnectionNamingTheProxy) {
  const std::string address = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  StartConnector({"--upstream-proxy=http://" + address});

  const grpc::Status status = ConnectContoso();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), AllOf(HasSubstr("proxy " + address), HasSubstr("does not accept connections")));
}

// An https:// proxy: TLS to the proxy itself, verified against upstream.proxy_ca_file (the emulator's
// test CA signed the proxy's certificate), and TLS to Microsoft inside the tunnel as always.
TEST_F(UpstreamProxyTest, AnHttpsProxyIsReachedOverTlsVerifiedAgainstItsCa) {
  Proxy proxy;
  ASSERT_TRUE(proxy.Start(
      emulator_, {"--tls-cert=" + emulator_.dir() + "/emulator.pem", "--tls-key=" + emulator_.dir() + "/emulator.key"}))
      << proxy.error();
  StartConnector({"--upstream-proxy=https://" + proxy.address(), "--upstream-proxy-ca-file=" + emulator_.CaFile()});

  ASSERT_TRUE(connector_.ConnectSourceAndTarget()) << connector_.error() << connector_.Stderr();
  EXPECT_THAT(proxy.Targets(), Contains("graph.microsoft.com:443"));
  EXPECT_THAT(proxy.Targets(), Contains("login.microsoftonline.com:443"));
}

// Without the proxy's CA the system store decides, and it does not know the test CA: the connection
// fails naming the proxy and the setting, and no CONNECT was sent before the proxy was verified.
TEST_F(UpstreamProxyTest, AnHttpsProxyWithAnUntrustedCertificateIsRefusedNamingTheSetting) {
  Proxy proxy;
  ASSERT_TRUE(proxy.Start(
      emulator_, {"--tls-cert=" + emulator_.dir() + "/emulator.pem", "--tls-key=" + emulator_.dir() + "/emulator.key"}))
      << proxy.error();
  StartConnector({"--upstream-proxy=https://" + proxy.address()});

  const grpc::Status status = ConnectContoso();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(),
              AllOf(HasSubstr("proxy " + proxy.address()), HasSubstr("TLS certificate is not trusted"),
                    HasSubstr("upstream.proxy_ca_file")));
  EXPECT_THAT(proxy.Targets(), IsEmpty());
}

TEST_F(UpstreamProxyTest, ProxyCredentialsComeFromTheirFileAndNeverShow) {
  Proxy proxy;
  ASSERT_TRUE(proxy.Start(emulator_, {"--credentials=egress:Pr0xy-Secret-9a1"})) << proxy.error();
  TempDir dir;
  const std::string right = dir.WriteFile("right", "egress:Pr0xy-Secret-9a1\n");
  const std::string wrong = dir.WriteFile("wrong", "egress:Wr0ng-Secret-77b\n");

  StartConnector({"--upstream-proxy=" + proxy.Url(), "--upstream-proxy-credentials-file=" + wrong});
  const grpc::Status refused = ConnectContoso();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  EXPECT_THAT(refused.error_message(), AllOf(HasSubstr("proxy " + proxy.address()), HasSubstr("407")));
  EXPECT_THAT(refused.error_message() + connector_.Stderr(), Not(HasSubstr("Wr0ng-Secret")));
  connector_.Stop();

  StartConnector({"--upstream-proxy=" + proxy.Url(), "--upstream-proxy-credentials-file=" + right});
  const grpc::Status status = ConnectContoso();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(connector_.Stderr(), Not(HasSubstr("Pr0xy-Secret")));
}

TEST_F(UpstreamProxyTest, MalformedProxySettingsStopTheStartNamingTheKey) {
  struct Case {
    std::string flag;
    std::string message;
  };
  for (const Case& bad : std::vector<Case>{
           {"--upstream-proxy=socks5://proxy.example:1080", "must be http://HOST:PORT or https://HOST:PORT"},
           {"--upstream-proxy=http://:3128", "names no host"},
           {"--upstream-proxy=http://proxy.example:70000", "not 1-65535"},
           {"--upstream-proxy=http://proxy.example", "names no port"},
           {"--upstream-proxy=http://egress:S3cret-In-Url@proxy.example:3128", "must not hold credentials"},
           {"--upstream-no-proxy=bad/host", "must be a host name suffix"},
           {"--upstream-proxy-ca-file=/etc/ssl/certs/ca-certificates.crt", "is set but upstream.proxy is empty"},
       }) {
    TempDir dir;
    ServerProcess process(BinaryPath("tenant-connector"),
                          {"--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0", bad.flag}, dir.path());
    const std::optional<int> exit_code = process.WaitForExit(std::chrono::seconds(20));
    ASSERT_TRUE(exit_code.has_value()) << bad.flag << " did not stop the start";
    EXPECT_NE(*exit_code, 0) << bad.flag;
    const std::string key = absl::StrContains(bad.flag, "no-proxy")        ? "upstream.no_proxy"
                            : absl::StrContains(bad.flag, "proxy-ca-file") ? "upstream.proxy_ca_file"
                                                                           : "upstream.proxy";
    EXPECT_THAT(process.Stderr(), AllOf(HasSubstr(key), HasSubstr(bad.message))) << bad.flag;
    EXPECT_THAT(process.Stderr(), Not(HasSubstr("S3cret-In-Url"))) << bad.flag;
  }
}

TEST_F(UpstreamProxyTest, TheEnvironmentsProxyVariablesAreIgnored) {
  Proxy proxy;
  ASSERT_TRUE(proxy.Start(emulator_, {"--refuse"})) << proxy.error();
  // Inherited by the connector started next; libcurl would use them if the transport let it. gRPC reads
  // them too, for this test's own channel to the connector: no_grpc_proxy (gRPC's alone) keeps it direct.
  ::setenv("HTTPS_PROXY", proxy.Url().c_str(), 1);
  ::setenv("https_proxy", proxy.Url().c_str(), 1);
  ::setenv("no_grpc_proxy", "127.0.0.1", 1);
  StartConnector({});
  ::unsetenv("HTTPS_PROXY");
  ::unsetenv("https_proxy");
  ::unsetenv("no_grpc_proxy");

  const grpc::Status status = ConnectContoso();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(proxy.Targets(), IsEmpty());
  EXPECT_THAT(connector_.Stderr(), AllOf(HasSubstr("proxy environment variables are ignored"), HasSubstr("HTTPS_PROXY"),
                                         Not(HasSubstr(proxy.address()))));
}

}  // namespace
}  // namespace crosstenant::testing
