#include "clients/loadgen/loadgen_cli.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/loadgen/load_generator.h"
#include "crosstenant/v1/orchestrator.pb.h"
#include "crosstenant/v1/tenant_connector.pb.h"
#include "crosstenant/v1/worker.pb.h"
#include "nlohmann/json.hpp"
#include "services/common/atomic_file.h"
#include "services/common/diagnostics_service.h"
#include "services/common/settings_table.h"

namespace crosstenant::loadgen {
namespace {

constexpr const char* kEchoMethod = "/crosstenant.v1.Diagnostics/Echo";

// A duration setting kept in whole milliseconds.
SettingsTable::Setting& Millis(SettingsTable& table, std::string key, std::chrono::milliseconds* out,
                               std::string help) {
  return table.Custom(
      std::move(key), "DURATION", absl::FormatDuration(absl::FromChrono(*out)), std::move(help),
      [out](absl::string_view value) {
        absl::Duration duration;
        if (!absl::ParseDuration(value, &duration) || duration < absl::ZeroDuration()) {
          return absl::InvalidArgumentError(absl::StrCat("expected a duration such as 10s, got '", value, "'"));
        }
        *out = std::chrono::milliseconds(absl::ToInt64Milliseconds(duration));
        return absl::OkStatus();
      });
}

// A bare gRPC server with nothing but Diagnostics: the machine's limit for a unary call.
int ServeEcho(int argc, char** argv) {
  std::string address = "127.0.0.1:0", ready_file;
  SettingsTable table("loadgen serve-echo", "a bare gRPC echo server (crosstenant.v1.Diagnostics, no interceptors)");
  table.Text("address", &address, "HOST:PORT", "listen address");
  table.Text("ready_file", &ready_file, "FILE", "written with {\"grpc_address\":...} once serving");
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  absl::Status parsed = table.ParseCommandLine(argc, argv);
  if (parsed.ok() && table.help_requested()) {
    std::cout << table.Usage();
    return 0;
  }
  if (parsed.ok()) parsed = table.ApplyCommandLine();
  if (!parsed.ok()) {
    std::cerr << "loadgen serve-echo: " << parsed.message() << "\n";
    return 2;
  }
  DiagnosticsService echo;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&echo);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "loadgen serve-echo: cannot listen on " << address << "\n";
    return 1;
  }
  const std::string bound = absl::StrCat(address.substr(0, address.rfind(':')), ":", port);
  if (!ready_file.empty()) {
    (void)WriteFileAtomically(ready_file, nlohmann::json{{"grpc_address", bound}, {"pid", getpid()}}.dump());
  }
  int signal_number = 0;
  sigwait(&stop, &signal_number);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  if (!ready_file.empty()) unlink(ready_file.c_str());
  return 0;
}

void PrintRow(const std::string& label, const LoadReport& report) {
  std::printf("%-44s %10.0f %8.0f %8.0f %9.0f %9.1f %9.1f %7lld\n", label.c_str(), report.calls_per_second,
              report.p50_us, report.p99_us, report.p999_us, report.client_cpu_us_per_call,
              report.server_cpu_us_per_call, static_cast<long long>(report.errors));
}

}  // namespace

int RunLoadgen(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "serve-echo") return ServeEcho(argc - 1, argv + 1);
  // Link every service's messages so that --method can name any RPC of the mesh.
  (void)crosstenant::v1::GetConnectionRequest::descriptor();
  (void)crosstenant::v1::GetMigrationRequest::descriptor();
  (void)crosstenant::v1::GetWorkerStatusRequest::descriptor();

  LoadSpec spec;
  std::string request_text;
  int64_t server_pid = 0;
  bool baseline = false;
  SettingsTable table("loadgen", "closed-loop gRPC load generator; `loadgen serve-echo --help` for the echo server");
  table.Text("target", &spec.target, "HOST:PORT", "server to load");
  table.Text("method", &spec.method, "/pkg.Service/Method", "unary method to call");
  table.Text("request", &request_text, "TEXT", "the request in protobuf text format, e.g. \"name: 'connections/c1'\"");
  table.Int("in_flight", &spec.in_flight, 1, 100000, "calls kept outstanding");
  table.Int("channels", &spec.channels, 1, 1024, "separate TCP connections");
  Millis(table, "warmup", &spec.warmup, "load before measuring");
  Millis(table, "duration", &spec.duration, "measured time");
  table.Int64("server_pid", &server_pid, 1, INT32_MAX, "PID", "also report this process's CPU per call");
  table.Text("tls_ca", &spec.tls.ca_file, "FILE", "CA to verify the server (turns TLS on)");
  table.Text("tls_cert", &spec.tls.cert_file, "FILE", "client certificate for mTLS");
  table.Text("tls_key", &spec.tls.key_file, "FILE", "client key for mTLS");
  table.Text("server_name", &spec.server_name, "NAME", "TLS name to verify (e.g. localhost)");
  table.Switch("baseline", &baseline, "also measure a bare echo server of this build and print the ratios");
  absl::Status parsed = table.ParseCommandLine(argc, argv);
  if (parsed.ok() && table.help_requested()) {
    std::cout << table.Usage();
    return 0;
  }
  if (parsed.ok()) parsed = table.ApplyCommandLine();
  if (parsed.ok() && (spec.target.empty() || spec.method.empty())) {
    parsed = absl::InvalidArgumentError("--target and --method are required");
  }
  spec.server_pid = static_cast<pid_t>(server_pid);
  absl::StatusOr<std::string> request = parsed.ok() ? SerializeRequest(spec.method, request_text) : parsed;
  if (!request.ok()) {
    std::cerr << "loadgen: " << request.status().message() << "\n";
    return 2;
  }
  spec.request_bytes = *request;

  std::printf("closed loop: %d in flight over %d channel(s), %.1fs warm-up, %.1fs measured\n", spec.in_flight,
              spec.channels, spec.warmup.count() / 1000.0, spec.duration.count() / 1000.0);
  std::printf("%-44s %10s %8s %8s %9s %9s %9s %7s\n", "rpc", "calls/s", "p50 us", "p99 us", "p99.9 us", "cli us/c",
              "srv us/c", "errors");
  std::optional<LoadReport> echo_report;
  if (baseline) {
    const std::string ready = absl::StrCat("/tmp/crosstenant-loadgen-echo-", getpid(), ".json");
    const pid_t child = fork();
    if (child == 0) {
      execl("/proc/self/exe", "loadgen", "serve-echo", ("--ready-file=" + ready).c_str(), nullptr);
      _exit(127);
    }
    std::string echo_address;
    for (int i = 0; i < 500 && echo_address.empty(); ++i) {
      std::ifstream in(ready);
      if (in) echo_address = nlohmann::json::parse(in, nullptr, false).value("grpc_address", "");
      if (echo_address.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    LoadSpec echo = spec;
    echo.target = echo_address;
    echo.method = kEchoMethod;
    echo.request_bytes = std::string("\x0a\x10", 2) + std::string(16, 'x');  // payload: 16 bytes
    echo.tls = {};
    echo.server_name.clear();
    echo.server_pid = child;
    absl::StatusOr<LoadReport> result = RunLoad(echo);
    kill(child, SIGTERM);
    waitpid(child, nullptr, 0);
    if (!result.ok()) {
      std::cerr << "loadgen: baseline echo server: " << result.status().message() << "\n";
      return 1;
    }
    echo_report = *result;
    PrintRow("bare echo (same build, no interceptors)", *echo_report);
  }
  absl::StatusOr<LoadReport> report = RunLoad(spec);
  if (!report.ok()) {
    std::cerr << "loadgen: " << report.status().message() << "\n";
    return 1;
  }
  PrintRow(spec.method, *report);
  if (report->errors > 0) std::printf("first error: %s\n", report->first_error.c_str());
  if (echo_report) {
    std::printf("ratio to bare echo: calls/s %.2f, p99 %.2f\n",
                report->calls_per_second / echo_report->calls_per_second,
                report->p99_us / std::max(1.0, echo_report->p99_us));
  }
  return report->errors > 0 ? 3 : 0;
}

}  // namespace crosstenant::loadgen
