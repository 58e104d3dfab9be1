#include "services/tenant_emulator/emulator.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <iostream>
#include <memory>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "prometheus/exposer.h"
#include "services/common/atomic_file.h"
#include "services/common/build_info.h"
#include "services/common/logging.h"
#include "services/common/server_config.h"
#include "services/common/settings_table.h"
#include "services/tenant_emulator/emulator_context.h"
#include "services/tenant_emulator/https_server.h"
#include "services/tenant_emulator/request_dispatcher.h"
#include "services/tenant_emulator/seed.h"

namespace crosstenant::emulator {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitCannotServe = 1;
constexpr int kExitBadInput = 2;
constexpr char kName[] = "tenant-emulator";

struct Options {
  std::string seed_path;
  std::string address = "127.0.0.1:8443";
  std::string ready_file;
  std::string tls_cert;
  std::string tls_key;
  std::string metrics_address;
  std::string signing_key;
  double time_scale = 1;
  int threads = 128;
  log::Format log_format = log::Format::kText;
  FaultSettings faults;
};

int Fail(int code, absl::string_view what, absl::string_view why) {
  std::fprintf(stderr, "%s: %s: %s\n", kName, std::string(what).c_str(), std::string(why).c_str());
  return code;
}

// Flags only: the emulator is started by scripts and tests, never from a config file.
void DeclareSettings(SettingsTable& table, Options& o) {
  table.Text("seed", &o.seed_path, "FILE", "the seed file: tenants, apps, admins and users (required)");
  table.Custom("address", "HOST:PORT", o.address, "HTTPS listen address; port 0 picks a free port",
               [&o](absl::string_view v) {
                 std::string host;
                 int port = 0;
                 if (!SplitHostPort(std::string(v), &host, &port)) {
                   return absl::InvalidArgumentError("expected HOST:PORT, e.g. 127.0.0.1:0");
                 }
                 o.address = std::string(v);
                 return absl::OkStatus();
               });
  table.Text("ready_file", &o.ready_file, "FILE", "written (JSON, atomically) once serving; removed on clean exit");
  table.Text("tls_cert", &o.tls_cert, "FILE", "server certificate (PEM) naming the Microsoft hosts (required)");
  table.Text("tls_key", &o.tls_key, "FILE", "server private key (PEM) (required)");
  table.Text("signing_key", &o.signing_key, "FILE",
             "RSA private key (PEM) that signs tokens (default: a fresh key at each start; dev-certs.sh makes "
             "emulator-signing.key)");
  table.Number("time_scale", &o.time_scale, 1e-3, 1e6, "X",
               "emulated seconds per real second for moves, trust and device codes");
  table.Int("threads", &o.threads, 2, 4096, "HTTP worker threads, one per open connection");
  table.Text("metrics_address", &o.metrics_address, "HOST:PORT",
             "plain-HTTP Prometheus /metrics (default: off; see /_emulator/metrics)");
  table.Custom("log_format", "text|json", "text", "log line format on stderr", [&o](absl::string_view v) {
    if (!log::ParseFormat(v, &o.log_format)) return absl::InvalidArgumentError("expected text or json");
    return absl::OkStatus();
  });
  table.Number("fault_throttle_ratio", &o.faults.throttle_ratio, 0, 1, "R",
               "share of requests answered 429 with Retry-After");
  table.Custom("fault_retry_after", "SECONDS|MIN-MAX", "2",
               "Retry-After sent with 429 and 503 answers, or a range each one is drawn from, e.g. 1-3",
               [&o](absl::string_view v) {
                 const size_t dash = v.find('-');
                 int low = 0, high = 0;
                 if (!absl::SimpleAtoi(v.substr(0, dash), &low) ||
                     (dash != absl::string_view::npos && !absl::SimpleAtoi(v.substr(dash + 1), &high)) || low < 0 ||
                     (dash != absl::string_view::npos && high < low)) {
                   return absl::InvalidArgumentError("expected whole seconds, or a range MIN-MAX such as 1-3");
                 }
                 o.faults.retry_after_seconds = low;
                 o.faults.retry_after_max_seconds = dash == absl::string_view::npos ? 0 : high;
                 return absl::OkStatus();
               });
  table.Number("fault_unavailable_ratio", &o.faults.unavailable_ratio, 0, 1, "R",
               "share of requests answered 503 with Retry-After");
  table.Duration("fault_latency", &o.faults.latency, absl::ZeroDuration(), "latency added to every Microsoft request");
  table.Custom("token_lifetime", "DURATION", "the seed's, 1h", "access token lifetime, at least 1s",
               [&o](absl::string_view v) {
                 absl::Duration lifetime;
                 if (!absl::ParseDuration(v, &lifetime) || lifetime < absl::Seconds(1)) {
                   return absl::InvalidArgumentError(absl::StrCat("expected a duration of 1s or more, got '", v, "'"));
                 }
                 o.faults.token_lifetime = lifetime;
                 return absl::OkStatus();
               });
  table.TextList("unreachable_tenant", &o.faults.unreachable_tenants, "NAME",
                 "tenants (name, id or domain) that cannot be reached");
}

// The key the emulator signs tokens with: a new one, or the PEM private key in `path`.
absl::StatusOr<SigningKey> TokenSigningKey(const std::string& path) {
  if (path.empty()) return SigningKey::Generate("tenant-emulator token signing");
  std::ifstream in(path);
  std::stringstream pem;
  pem << in.rdbuf();
  if (!in) return absl::InvalidArgumentError("cannot read the file");
  return SigningKey::FromPrivateKeyPem(pem.str(), "tenant-emulator token signing");
}

// The emulator's /metrics endpoint on `address`.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> ServeMetrics(const std::string& address,
                                                                  EmulatorMetrics& metrics) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(e.what());
  }
  exposer->RegisterCollectable(metrics.registry());
  return exposer;
}

}  // namespace

int RunEmulator(int argc, char** argv) {
  // Block the stop signals before any thread exists, so that only sigwait() below takes them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // As the servers do (server.cc): Debian's Abseil keeps a lock graph on every Lock otherwise.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  Options options;
  SettingsTable table(kName, "Microsoft's cloud on loopback: Entra ID, Graph and SharePoint admin for seeded tenants.");
  DeclareSettings(table, options);
  if (absl::Status status = table.ParseCommandLine(argc, argv); !status.ok()) {
    return Fail(kExitBadInput, "invalid command line", status.message());
  }
  if (table.help_requested()) {
    std::cout << table.Usage();
    return kExitOk;
  }
  if (absl::Status status = table.ApplyCommandLine(); !status.ok()) {
    return Fail(kExitBadInput, "invalid command line", status.message());
  }
  if (options.seed_path.empty()) return Fail(kExitBadInput, "invalid command line", "--seed FILE is required");
  if (options.tls_cert.empty() || options.tls_key.empty()) {
    return Fail(kExitBadInput, "invalid command line",
                "--tls-cert and --tls-key are required (deploy/local/dev-certs.sh creates emulator.pem/.key)");
  }
  log::Configure(options.log_format, kName);

  absl::StatusOr<Seed> seed = LoadSeedFile(options.seed_path);
  if (!seed.ok())
    return Fail(kExitBadInput, absl::StrCat("invalid seed file ", options.seed_path), seed.status().message());
  absl::StatusOr<Directory> directory = Directory::Build(*seed);
  if (!directory.ok()) {
    return Fail(kExitBadInput, absl::StrCat("invalid seed file ", options.seed_path), directory.status().message());
  }
  for (const std::string& tenant : options.faults.unreachable_tenants) {
    if (directory->FindTenant(tenant) < 0) {
      return Fail(kExitBadInput, "invalid command line", absl::StrCat("--unreachable-tenant: no tenant ", tenant));
    }
  }
  absl::StatusOr<SigningKey> key = TokenSigningKey(options.signing_key);
  if (!key.ok()) {
    return Fail(
        options.signing_key.empty() ? kExitCannotServe : kExitBadInput,
        options.signing_key.empty() ? "cannot start" : absl::StrCat("invalid --signing-key ", options.signing_key),
        key.status().message());
  }

  ScaledClock clock(options.time_scale);
  Faults faults(options.faults);
  Accounting accounting;
  EmulatorMetrics metrics;
  CloudState cloud(*directory);
  TokenService tokens(*directory, seed->settings, faults, clock, *std::move(key));
  MoveSimulator moves(*directory, seed->settings, clock, cloud, accounting,
                      [&metrics](MoveState state) { metrics.RecordMoveTransition(MoveStateName(state)); });
  EmulatorContext context{*directory, seed->settings, clock, faults, accounting, metrics, tokens, cloud, moves};
  RequestDispatcher dispatcher(context);

  absl::StatusOr<std::unique_ptr<HttpsServer>> server =
      HttpsServer::Create(options.tls_cert, options.tls_key, options.threads,
                          [&dispatcher](const httplib::Request& request, httplib::Response& response) {
                            dispatcher.Handle(request, response);
                          });
  if (!server.ok()) return Fail(kExitBadInput, "invalid TLS files", server.status().message());
  std::string host;
  int port = 0;
  SplitHostPort(options.address, &host, &port);
  absl::StatusOr<int> bound = (*server)->Bind(host, port);
  if (!bound.ok()) return Fail(kExitCannotServe, "cannot serve", bound.status().message());
  const std::string address = absl::StrCat(host, ":", *bound);

  std::unique_ptr<prometheus::Exposer> exposer;
  std::string metrics_address;
  if (!options.metrics_address.empty()) {
    absl::StatusOr<std::unique_ptr<prometheus::Exposer>> started = ServeMetrics(options.metrics_address, metrics);
    if (!started.ok()) return Fail(kExitCannotServe, "cannot serve metrics", started.status().message());
    exposer = *std::move(started);
    std::string metrics_host;
    int metrics_port = 0;
    SplitHostPort(options.metrics_address, &metrics_host, &metrics_port);
    metrics_address = absl::StrCat(metrics_host, ":", exposer->GetListeningPorts().front());
  }

  std::thread serving([&server] { (*server)->Run(); });
  nlohmann::json tenant_names = nlohmann::json::array();
  for (const DirectoryTenant& tenant : directory->tenants()) tenant_names.push_back(tenant.seed.name);
  const nlohmann::ordered_json ready = {{"service", kName},        {"pid", getpid()},
                                        {"address", address},      {"metrics_address", metrics_address},
                                        {"tenants", tenant_names}, {"time_scale", options.time_scale},
                                        {"version", kVersion}};
  int exit_code = kExitOk;
  if (!options.ready_file.empty()) {
    if (absl::Status written = WriteFileAtomically(options.ready_file, ready.dump() + "\n"); !written.ok()) {
      log::Error("cannot write the ready file", {{"error", std::string(written.message())}});
      exit_code = kExitCannotServe;
    }
  }
  if (exit_code == kExitOk) {
    log::Info("serving", {{"address", address},
                          {"metrics_address", metrics_address},
                          {"seed", options.seed_path},
                          {"tenants", tenant_names.dump()},
                          {"time_scale", absl::StrCat(options.time_scale)}});
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    log::Info("stopping", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  }
  (*server)->Stop();
  serving.join();
  exposer.reset();
  if (!options.ready_file.empty()) unlink(options.ready_file.c_str());
  log::Info("stopped");
  return exit_code;
}

}  // namespace crosstenant::emulator
