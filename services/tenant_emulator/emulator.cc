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
#include "nlohmann/json.hpp"
#include "prometheus/exposer.h"
#include "services/common/atomic_file.h"
#include "services/common/build_info.h"
#include "services/common/flag_set.h"
#include "services/common/logging.h"
#include "services/common/server_config.h"
#include "services/common/status_macros.h"
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
  bool token_lifetime_set = false;
};

int Fail(int code, absl::string_view what, absl::string_view why) {
  std::fprintf(stderr, "%s: %s: %s\n", kName, std::string(what).c_str(), std::string(why).c_str());
  return code;
}

absl::Status ParseRatio(absl::string_view value, double* out) {
  if (!absl::SimpleAtod(value, out) || *out < 0 || *out > 1) {
    return absl::InvalidArgumentError("expected a number between 0 and 1");
  }
  return absl::OkStatus();
}

absl::Status ParseDurationFlag(absl::string_view value, absl::Duration* out) {
  if (!absl::ParseDuration(value, out) || *out < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("expected a duration such as 250ms, 30s or 5m");
  }
  return absl::OkStatus();
}

void AddFlags(FlagSet& flags, Options& o) {
  flags.Add("seed", "FILE", "the seed file: tenants, apps, admins and users (required)", [&o](absl::string_view v) {
    o.seed_path = std::string(v);
    return absl::OkStatus();
  });
  flags.Add("address", "HOST:PORT", "HTTPS listen address; port 0 picks a free port (default 127.0.0.1:8443)",
            [&o](absl::string_view v) {
              std::string host;
              int port = 0;
              if (!SplitHostPort(std::string(v), &host, &port)) {
                return absl::InvalidArgumentError("expected HOST:PORT, e.g. 127.0.0.1:0");
              }
              o.address = std::string(v);
              return absl::OkStatus();
            });
  flags.Add("ready-file", "FILE", "written (JSON, atomically) once serving; removed on clean exit",
            [&o](absl::string_view v) {
              o.ready_file = std::string(v);
              return absl::OkStatus();
            });
  flags.Add("tls-cert", "FILE", "server certificate (PEM) naming the Microsoft hosts (required)",
            [&o](absl::string_view v) {
              o.tls_cert = std::string(v);
              return absl::OkStatus();
            });
  flags.Add("tls-key", "FILE", "server private key (PEM) (required)", [&o](absl::string_view v) {
    o.tls_key = std::string(v);
    return absl::OkStatus();
  });
  flags.Add("signing-key", "FILE",
            "RSA private key (PEM) that signs tokens (default: a fresh key at each start; dev-certs.sh makes "
            "emulator-signing.key)",
            [&o](absl::string_view v) {
              o.signing_key = std::string(v);
              return absl::OkStatus();
            });
  flags.Add("time-scale", "X", "emulated seconds per real second for moves, trust and device codes (default 1)",
            [&o](absl::string_view v) {
              if (!absl::SimpleAtod(v, &o.time_scale) || o.time_scale <= 0) {
                return absl::InvalidArgumentError("expected a number above 0");
              }
              return absl::OkStatus();
            });
  flags.Add("threads", "N", "HTTP worker threads, one per open connection (default 128)", [&o](absl::string_view v) {
    if (!absl::SimpleAtoi(v, &o.threads) || o.threads < 2 || o.threads > 4096) {
      return absl::InvalidArgumentError("expected an integer between 2 and 4096");
    }
    return absl::OkStatus();
  });
  flags.Add("metrics-address", "HOST:PORT", "plain-HTTP Prometheus /metrics (default: off; see /_emulator/metrics)",
            [&o](absl::string_view v) {
              o.metrics_address = std::string(v);
              return absl::OkStatus();
            });
  flags.Add("log-format", "text|json", "log line format on stderr (default text)", [&o](absl::string_view v) {
    if (!log::ParseFormat(v, &o.log_format)) return absl::InvalidArgumentError("expected text or json");
    return absl::OkStatus();
  });
  flags.Add("fault-throttle-ratio", "R", "share of requests answered 429 with Retry-After (0..1)",
            [&o](absl::string_view v) { return ParseRatio(v, &o.faults.throttle_ratio); });
  flags.Add("fault-retry-after", "SECONDS|MIN-MAX",
            "Retry-After sent with 429 and 503 answers, or a range each one is drawn from, e.g. 1-3 (default 2)",
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
  flags.Add("fault-unavailable-ratio", "R", "share of requests answered 503 with Retry-After (0..1)",
            [&o](absl::string_view v) { return ParseRatio(v, &o.faults.unavailable_ratio); });
  flags.Add("fault-latency", "DURATION", "latency added to every Microsoft request, e.g. 50ms",
            [&o](absl::string_view v) { return ParseDurationFlag(v, &o.faults.latency); });
  flags.Add("token-lifetime", "DURATION", "access token lifetime, e.g. 30s (default: the seed's, 1h)",
            [&o](absl::string_view v) {
              RETURN_IF_ERROR(ParseDurationFlag(v, &o.faults.token_lifetime));
              if (o.faults.token_lifetime < absl::Seconds(1)) return absl::InvalidArgumentError("must be at least 1s");
              return absl::OkStatus();
            });
  flags.Add("unreachable-tenant", "NAME", "a tenant (name, id or domain) that cannot be reached; repeatable",
            [&o](absl::string_view v) {
              o.faults.unreachable_tenants.push_back(std::string(v));
              return absl::OkStatus();
            });
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

  Options options;
  FlagSet flags(kName, "Microsoft's cloud on loopback: Entra ID, Graph and SharePoint admin for seeded tenants.");
  AddFlags(flags, options);
  if (absl::Status status = flags.Parse(argc, argv); !status.ok()) {
    return Fail(kExitBadInput, "invalid command line", status.message());
  }
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return kExitOk;
  }
  if (absl::Status status = flags.Apply(); !status.ok()) {
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
