#include "services/common/server.h"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include <google/protobuf/descriptor.h>
#include <grpc/support/log.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.pb.h"
#include "nlohmann/json.hpp"
#include "prometheus/exposer.h"
#include "prometheus/gauge.h"
#include "services/common/atomic_file.h"
#include "services/common/build_info.h"
#include "services/common/diagnostics_service.h"
#include "services/common/grpc_server_metrics.h"
#include "services/common/grpc_trace.h"
#include "services/common/logging.h"
#include "services/common/periodic_thread.h"
#include "services/common/sqlite_backup.h"
#include "services/common/status_macros.h"
#include "services/common/process_metrics.h"
#include "services/common/reflection_v1.h"
#include "services/common/user_text.h"

namespace crosstenant {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitStartupFailed = 1;
constexpr int kExitBadConfig = 2;
constexpr int kMaxMessageBytes = 64 << 20;  // an identity map of 100,000 rows fits with room to spare
// How long past --shutdown-grace a stop waits for calls that ignore their cancellation.
constexpr absl::Duration kAbandonAfterGrace = absl::Seconds(2);

// Reflection is a process-wide builder plugin (InitProtoReflectionServerBuilderPlugin); this option
// takes it off the health-only server, which serves grpc.health.v1 and nothing else.
class WithoutReflectionOption : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const auto& plugin) { return plugin->name() == "proto_server_reflection"; }),
                   plugins->end());
  }
};

std::string WithPort(const std::string& address, int port) {
  std::string host;
  int configured = 0;
  SplitHostPort(address, &host, &configured);
  return absl::StrCat(host, ":", port);
}

int Fail(const ServerDefinition& definition, int code, absl::string_view what, const absl::Status& status) {
  std::fprintf(stderr, "%s: %s: %s\n", definition.name.c_str(), std::string(what).c_str(),
               std::string(status.message()).c_str());
  return code;
}

// Parses flags and the config file into `config` (and --backup-to into `backup_to`); an exit code when
// the process must stop now.
std::optional<int> LoadSettings(int argc, char** argv, const ServerDefinition& definition, ServerConfig& config,
                                std::string& backup_to) {
  config.grpc_address = definition.default_grpc_address;
  config.metrics_address = definition.default_metrics_address;

  std::string config_path;
  SettingsTable table(definition.name, definition.summary);
  table.ConfigFile(&config_path);
  DeclareServerSettings(table, &config);
  if (definition.declare_settings) definition.declare_settings(table);
  if (definition.state_database) {
    table
        .Text("backup_to", &backup_to, "FILE",
              "write a consistent copy of the state database to FILE and exit, instead of serving (safe while "
              "the server runs; docs/deploy.md, Backup and restore)")
        .NoConfigKey();
  }

  if (absl::Status status = table.ParseCommandLine(argc, argv); !status.ok()) {
    return Fail(definition, kExitBadConfig, "invalid command line", status);
  }
  if (table.help_requested()) {
    std::cout << table.Usage();
    return kExitOk;
  }
  if (!config_path.empty()) {
    absl::StatusOr<ConfigReader> reader = ConfigReader::FromFile(config_path);
    if (!reader.ok()) return Fail(definition, kExitBadConfig, "invalid config", reader.status());
    table.ReadConfig(*reader);
    if (absl::Status status = reader->Finish(); !status.ok()) {
      return Fail(definition, kExitBadConfig, absl::StrCat("invalid config file ", config_path), status);
    }
  }
  if (absl::Status status = table.ApplyCommandLine(); !status.ok()) {
    return Fail(definition, kExitBadConfig, "invalid command line", status);
  }
  absl::Status valid = ValidateServerConfig(config);
  if (valid.ok() && definition.validate_config) valid = definition.validate_config();
  if (!valid.ok()) return Fail(definition, kExitBadConfig, "invalid settings", valid);
  return std::nullopt;
}

// --backup-to: one JSON line naming the copy on success.
int BackUp(const ServerDefinition& definition, const std::string& to) {
  const std::string database = definition.state_database();
  if (database.empty()) {
    return Fail(definition, kExitBadConfig, "cannot back up",
                absl::FailedPreconditionError("these settings keep no state in SQLite (no state directory, or the "
                                              "store is PostgreSQL: back that up with pg_dump)"));
  }
  absl::StatusOr<int64_t> bytes = BackupSqliteDatabase(database, to);
  if (!bytes.ok()) return Fail(definition, kExitStartupFailed, "backup failed", bytes.status());
  std::cout << nlohmann::json{{"backup", to}, {"database", database}, {"bytes", *bytes}}.dump() << std::endl;
  return kExitOk;
}

// Passes refused calls to ServiceHost::CallDenied: one by one up to kPerMinute in each minute, so that a
// caller repeating a refused call cannot fill the audit trail (or the host's queue) with it; the rest
// as one summary per caller and method once the minute is over, so that none goes unrecorded.
class DeniedCallBudget {
 public:
  static constexpr int kPerMinute = 60;
  // Callers and methods summarised per minute; more are only counted in the log line.
  static constexpr size_t kMaxSummaries = 100;

  explicit DeniedCallBudget(ServiceHost* host) : host_(host) {}

  void Refused(const std::vector<std::string>& caller, absl::string_view method, const absl::Status& refusal) {
    Flush(/*now_or_never=*/false);
    absl::MutexLock lock(&mutex_);
    if (taken_ < kPerMinute) {
      ++taken_;
      host_->CallDenied(caller, method, refusal);
      return;
    }
    auto key = std::make_pair(caller, std::string(method));
    auto found = dropped_.find(key);
    if (found == dropped_.end() && dropped_.size() >= kMaxSummaries) {
      ++unsummarised_;
      return;
    }
    Dropped& dropped = dropped_[std::move(key)];
    ++dropped.count;
    dropped.last = refusal;
  }

  // Once the minute is over (or at once, `now_or_never`, when the server stops): tells the host of the
  // refusals it was not passed one by one, one summary per caller and method, and starts a new minute.
  void Flush(bool now_or_never) {
    absl::MutexLock lock(&mutex_);
    const absl::Time now = absl::Now();
    if (!now_or_never && now - window_start_ < absl::Minutes(1)) return;
    for (const auto& [key, dropped] : dropped_) {
      host_->CallDenied(key.first, key.second,
                        absl::PermissionDeniedError(absl::StrCat(
                            dropped.count, " more refusals of this call between ", absl::FormatTime(window_start_),
                            " and ", absl::FormatTime(now), ", beyond ", kPerMinute,
                            " a minute recorded one by one; the last: ", dropped.last.message())));
    }
    if (unsummarised_ > 0) {
      log::Warning("refused calls of too many callers and methods to summarise in the audit trail",
                   {{"not_recorded", absl::StrCat(unsummarised_)}, {"summaries", absl::StrCat(kMaxSummaries)}});
    }
    window_start_ = now;
    taken_ = 0;
    dropped_.clear();
    unsummarised_ = 0;
  }

 private:
  struct Dropped {
    int64_t count = 0;
    absl::Status last;
  };
  ServiceHost* const host_;
  absl::Mutex mutex_;
  absl::Time window_start_ ABSL_GUARDED_BY(mutex_) = absl::Now();
  int taken_ ABSL_GUARDED_BY(mutex_) = 0;
  std::map<std::pair<std::vector<std::string>, std::string>, Dropped> dropped_ ABSL_GUARDED_BY(mutex_);
  int64_t unsummarised_ ABSL_GUARDED_BY(mutex_) = 0;
};

// Admits a call: the caller's certificate must be in tls.allowed_peers (when set), then hold the
// method's role. Every refusal is counted in the gRPC metrics; one of a method that changes something
// goes to the host too, through `denied`.
PeerAuthorizer MakePeerAuthorizer(std::shared_ptr<const Authorizer> authorizer, GrpcServerMetrics& metrics,
                                  std::string server_name, std::vector<std::string> allowed_peers,
                                  std::shared_ptr<DeniedCallBudget> denied) {
  return [authorizer = std::move(authorizer), &metrics, server_name = std::move(server_name),
          allowed_peers = std::move(allowed_peers),
          denied = std::move(denied)](const PeerIdentity& peer, absl::string_view method) {
    absl::Status allowed = absl::OkStatus();
    if (!PeerAllowed(peer, allowed_peers)) {
      allowed = absl::PermissionDeniedError(
          absl::StrCat(server_name, ": client certificate (", absl::StrJoin(peer.names, ", "), ") may not call ",
                       QuoteForMessage(method, 200), ": it is not in tls.allowed_peers"));
    } else {
      allowed = authorizer->Check(peer.names, method);
    }
    if (allowed.ok()) return allowed;
    metrics.RecordDenied(std::string(method));
    const std::optional<Role> role = authorizer->RoleFor(method);
    if (role.has_value() && *role >= Role::kOperate) {
      denied->Refused(peer.names, method.substr(method.rfind('/') + 1), allowed);
    }
    return allowed;
  };
}

// The server of the hosted services, reflection and health on config.grpc_address, each call admitted
// by `authorize` and recorded in `metrics`; the services start NOT_SERVING. Null when it cannot listen.
std::unique_ptr<grpc::Server> StartMainServer(const ServerConfig& config, const std::vector<HostedService>& services,
                                              grpc::Service* reflection_v1, PeerAuthorizer authorize,
                                              GrpcServerMetrics& metrics, HealthRegistry& health, int* port) {
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddListeningPort(config.grpc_address, MakeServerCredentials(config.tls, std::move(authorize)), port);
  for (const HostedService& hosted : services) {
    builder.RegisterService(hosted.service);
    health.SetServing(hosted.full_name, false);
    if (const auto* descriptor =
            google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(hosted.full_name)) {
      metrics.Preregister(*descriptor);
    }
  }
  builder.RegisterService(reflection_v1);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewTraceInterceptorFactory());
  interceptors.push_back(metrics.NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  return builder.BuildAndStart();
}

// The plaintext server that answers grpc.health.v1 only (Kubernetes probes). It needs one callback
// service to poll its completion queue: `unimplemented` answers UNIMPLEMENTED to anything else.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(const std::string& address,
                                                                grpc::CallbackGenericService* unimplemented,
                                                                int* port) {
  grpc::ServerBuilder builder;
  builder.SetOption(std::make_unique<WithoutReflectionOption>());
  builder.RegisterCallbackGenericService(unimplemented);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  return server;
}

// The /metrics endpoint on `address`, serving the registry, the process metrics and the host's own.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetrics(
    const std::string& address, const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", e.what()));
  }
  for (const auto& collectable : collectables) exposer->RegisterCollectable(collectable);
  return exposer;
}

// Blocks SIGTERM and SIGINT in the calling thread and returns them, so that they are only ever taken by
// sigwait(): no gRPC call in a signal handler.
sigset_t BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return stop_signals;
}

// gRPC core's own log lines (GRPC_VERBOSITY, GRPC_TRACE, its errors) as lines of the service's log, in
// its format, instead of gRPC's plain text among the JSON lines. gRPC has already filtered them by
// GRPC_VERBOSITY, so its debug lines are written as info rather than dropped a second time.
void LogGrpcCoreLine(gpr_log_func_args* args) {
  const log::Severity severity =
      args->severity == GPR_LOG_SEVERITY_ERROR ? log::Severity::kError : log::Severity::kInfo;
  log::Write(severity, args->message != nullptr ? args->message : "",
             {{"source", "grpc"}, {"at", absl::StrCat(args->file != nullptr ? args->file : "?", ":", args->line)}});
}

// How calls are admitted, as the "serving" log line says it.
const char* AuthorizationMode(const ServerConfig& config) {
  if (!config.tls.enabled()) return "none: plaintext, every call allowed";
  return config.authorization.configured() ? "roles" : "no roles: every certificate may read";
}

// Warms the host up, then reports SERVING and writes the ready file. An exit code when that fails.
int BecomeReady(ServiceHost& host, HealthRegistry& health, const ServerConfig& config,
                const nlohmann::ordered_json& ready) {
  if (absl::Status warm = host.WarmUp(); !warm.ok()) {
    log::Error("warm-up failed", {{"error", std::string(warm.message())}});
    return kExitStartupFailed;
  }
  health.SetAllServing(true);
  if (!config.ready_file.empty()) {
    if (absl::Status written = WriteFileAtomically(config.ready_file, ready.dump() + "\n"); !written.ok()) {
      log::Error("cannot write the ready file", {{"error", std::string(written.message())}});
      return kExitStartupFailed;
    }
  }
  return kExitOk;
}

// Stops the main server within the shutdown grace, then the health server. gRPC cancels the calls still
// running at the deadline, but a call whose handler never finishes (blocked in the kernel, say) keeps
// Shutdown waiting for ever: past the grace and a little more, the process exits without it rather
// than ignore SIGTERM.
void StopServers(grpc::Server& server, grpc::Server* health_server, const ServerConfig& config, int exit_code) {
  auto stopped = std::make_shared<absl::Notification>();
  std::thread stopper([&server, &config, stopped] {
    server.Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(config.shutdown_grace));
    server.Wait();
    stopped->Notify();
  });
  if (!stopped->WaitForNotificationWithTimeout(config.shutdown_grace + kAbandonAfterGrace)) {
    log::Error("calls still running after the shutdown grace; exiting without them",
               {{"grace", absl::FormatDuration(config.shutdown_grace)}});
    if (!config.ready_file.empty()) unlink(config.ready_file.c_str());
    std::fflush(nullptr);
    std::_Exit(exit_code);
  }
  stopper.join();
  if (health_server != nullptr) {
    health_server->Shutdown(std::chrono::system_clock::now());
    health_server->Wait();
  }
}

// One authorizer for every call of every service. A method missing from its service's role table is an
// error, so that it stops start-up rather than being denied at the first call.
absl::StatusOr<std::shared_ptr<Authorizer>> AuthorizerFor(const ServerConfig& config, const std::string& server_name,
                                                          const std::vector<HostedService>& services) {
  auto authorizer = std::make_shared<Authorizer>(config.authorization, server_name);
  for (const HostedService& hosted : services) {
    if (std::vector<std::string> problems = RoleTableMismatches(hosted.full_name, hosted.roles); !problems.empty()) {
      return absl::InternalError(absl::StrJoin(problems, "; "));
    }
    authorizer->AddService(hosted.full_name, hosted.roles);
  }
  return authorizer;
}

// The plaintext health server and the metrics endpoint, each when its address is configured.
struct SideServers {
  std::unique_ptr<grpc::Server> health_server;
  std::string health_address;  // with the port bound, "" when not served
  std::unique_ptr<prometheus::Exposer> exposer;
  std::string metrics_address;  // with the port bound, "" when not served
};

absl::StatusOr<SideServers> StartSideServers(const ServerConfig& config,
                                             const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables,
                                             grpc::CallbackGenericService* unimplemented) {
  SideServers side;
  if (!config.health_address.empty()) {
    int health_port = 0;
    ASSIGN_OR_RETURN(side.health_server, StartHealthServer(config.health_address, unimplemented, &health_port));
    side.health_address = WithPort(config.health_address, health_port);
  }
  if (!config.metrics_address.empty()) {
    absl::StatusOr<std::unique_ptr<prometheus::Exposer>> started = StartMetrics(config.metrics_address, collectables);
    if (!started.ok()) {
      if (side.health_server) side.health_server->Shutdown();
      return started.status();
    }
    side.exposer = std::move(*started);
    side.metrics_address = WithPort(config.metrics_address, side.exposer->GetListeningPorts().front());
  }
  return side;
}

#ifdef __GLIBC__
// glibc's per-thread caches of freed blocks (tcache, up to 7 blocks of each of 64 sizes per thread)
// are never given back while their thread lives, and a server's dozens of long-lived gRPC threads keep
// the pages those blocks sit on resident: after a 100,000-user migration they held about 2 MB of the
// orchestrator's heap, and 0.7-1 MB of the connector's and of each worker's, for as long as the process
// ran. glibc reads the cache size only from GLIBC_TUNABLES as the process starts, so the server starts
// itself again once, in place (same pid, arguments and environment), with the caches off. An operator's
// own glibc.malloc.tcache_count setting is kept; if the exec fails, the server runs as it is.
void StartWithoutThreadCaches(char** argv) {
  constexpr absl::string_view kSetting = "glibc.malloc.tcache_count";
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && absl::StrContains(tunables, kSetting)) return;
  const std::string value = tunables == nullptr || *tunables == '\0' ? absl::StrCat(kSetting, "=0")
                                                                     : absl::StrCat(tunables, ":", kSetting, "=0");
  if (setenv("GLIBC_TUNABLES", value.c_str(), /*overwrite=*/1) != 0) return;
  execv("/proc/self/exe", argv);
}
#endif

// The process-wide settings a server needs before its first thread: SIGTERM and SIGINT blocked (every
// thread inherits the mask; the main thread waits for them), and the allocator and Mutex tuned. Returns
// the blocked signals. May replace the process with itself first (StartWithoutThreadCaches).
sigset_t PrepareProcess(char** argv) {
#ifdef __GLIBC__
  StartWithoutThreadCaches(argv);
#endif
  const sigset_t stop_signals = BlockStopSignals();
  // Debian's Abseil is built with Mutex deadlock detection on, which keeps a lock graph on every Lock:
  // 1-3% of a service's CPU under load (perf). The unit tests, which do not come here, keep it, and the
  // clang build checks the lock annotations at compile time.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#ifdef __GLIBC__
  // glibc gives each thread that meets a locked arena a new one, up to 8 per core; a server's dozens of
  // threads then spread its heap over arenas whose half-used pages stay resident after a busy hour. Two
  // keep the heap compact at no measurable cost in CPU.
  mallopt(M_ARENA_MAX, 2);
#endif
  return stop_signals;
}

// The server's metrics registry, holding its `<prefix>_build_info` gauge.
std::shared_ptr<prometheus::Registry> NewRegistry(const ServerDefinition& definition) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name(definition.metrics_prefix + "_build_info")
      .Help("Build of the running binary; the value is always 1.")
      .Register(*registry)
      .Add({{"version", kVersion}, {"revision", kRevision}})
      .Set(1);
  return registry;
}

// Writes the ready file and logs "serving" once the host is ready, then waits for SIGTERM or SIGINT.
// Returns the exit code: kExitOk after a signal, or BecomeReady's failure without waiting.
int ServeUntilStopped(ServiceHost& host, HealthRegistry& health, const ServerConfig& config,
                      const ServerDefinition& definition, const DiagnosticsService::Info& info,
                      const sigset_t& stop_signals) {
  const nlohmann::ordered_json ready = {{"service", definition.name},
                                        {"pid", getpid()},
                                        {"grpc_address", info.grpc_address},
                                        {"metrics_address", info.metrics_address},
                                        {"health_address", info.health_address},
                                        {"mtls", config.tls.enabled()},
                                        {"version", kVersion}};
  const int exit_code = BecomeReady(host, health, config, ready);
  if (exit_code != kExitOk) return exit_code;
  log::Info("serving", {{"grpc_address", info.grpc_address},
                        {"metrics_address", info.metrics_address},
                        {"health_address", info.health_address},
                        {"mtls", config.tls.enabled() ? "true" : "false"},
                        {"authorization", AuthorizationMode(config)},
                        {"version", kVersion}});
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log::Info("stopping", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
                         {"grace", absl::FormatDuration(config.shutdown_grace)}});
  return kExitOk;
}

}  // namespace

int RunServer(int argc, char** argv, const ServerDefinition& definition) {
  const sigset_t stop_signals = PrepareProcess(argv);
  ServerConfig config;
  std::string backup_to;
  if (std::optional<int> exit_code = LoadSettings(argc, argv, definition, config, backup_to)) return *exit_code;
  log::Configure(config.log_format, definition.name, config.log_level);
  if (!backup_to.empty()) return BackUp(definition, backup_to);
  gpr_set_log_function(&LogGrpcCoreLine);

  std::shared_ptr<prometheus::Registry> registry = NewRegistry(definition);
  GrpcServerMetrics grpc_metrics(*registry);

  DiagnosticsService diagnostics;
  HealthRegistry health({});
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables = {registry,
                                                                        std::make_shared<ProcessMetricsCollector>()};
  ServerEnvironment environment{config, *registry, health,
                                [&collectables](std::shared_ptr<prometheus::Collectable> collectable) {
                                  collectables.push_back(std::move(collectable));
                                }};
  absl::StatusOr<std::unique_ptr<ServiceHost>> host = definition.create(environment);
  if (!host.ok()) return Fail(definition, kExitStartupFailed, "cannot start", host.status());

  std::vector<HostedService> services = (*host)->Services();
  services.push_back({&diagnostics, crosstenant::v1::Diagnostics::service_full_name(),
                      CommonServiceRoles().at(crosstenant::v1::Diagnostics::service_full_name())});
  absl::StatusOr<std::shared_ptr<Authorizer>> authorizer = AuthorizerFor(config, definition.name, services);
  if (!authorizer.ok()) return Fail(definition, kExitStartupFailed, "incomplete role table", authorizer.status());
  // Health.proto's descriptor must be linked in for reflection to describe grpc.health.v1.Health.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  // Reflection v1 lists what v1alpha lists: every service registered below, health and reflection.
  std::vector<std::string> served = {"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                                     "grpc.reflection.v1alpha.ServerReflection"};
  for (const HostedService& hosted : services) served.push_back(hosted.full_name);
  ReflectionV1Service reflection_v1(std::move(served));

  auto denied = std::make_shared<DeniedCallBudget>(host->get());
  PeriodicThread housekeeping;
  housekeeping.Start(absl::Seconds(10), [denied, service_host = host->get()] {
    denied->Flush(/*now_or_never=*/false);
    service_host->ReleaseMemory();
#ifdef __GLIBC__
    // glibc keeps what its per-thread arenas freed resident unless asked, so a service would keep the
    // peak of its busiest hour (an identity map, a migration's last results) for as long as it runs.
    malloc_trim(0);
#endif
  });
  int grpc_port = 0;
  std::unique_ptr<grpc::Server> server =
      StartMainServer(config, services, &reflection_v1,
                      MakePeerAuthorizer(*authorizer, grpc_metrics, definition.name, config.tls.allowed_peers, denied),
                      grpc_metrics, health, &grpc_port);
  if (server == nullptr || grpc_port == 0) {
    return Fail(definition, kExitStartupFailed, "cannot serve gRPC",
                absl::UnavailableError(absl::StrCat("cannot listen on ", config.grpc_address,
                                                    " (address in use, or not an address of this host)")));
  }
  health.Attach(server->GetHealthCheckService());

  grpc::CallbackGenericService unimplemented;
  absl::StatusOr<SideServers> side = StartSideServers(config, collectables, &unimplemented);
  if (!side.ok()) {
    server->Shutdown();
    return Fail(definition, kExitStartupFailed, "cannot serve health or metrics", side.status());
  }
  if (side->health_server) health.Attach(side->health_server->GetHealthCheckService());

  const DiagnosticsService::Info info{definition.name,
                                      kVersion,
                                      kRevision,
                                      absl::Now(),
                                      WithPort(config.grpc_address, grpc_port),
                                      side->metrics_address,
                                      side->health_address,
                                      config.tls.enabled()};
  diagnostics.SetInfo(info);
  const int exit_code = ServeUntilStopped(**host, health, config, definition, info, stop_signals);

  health.Shutdown();
  housekeeping.Stop();
  denied->Flush(/*now_or_never=*/true);
  (*host)->BeginShutdown();
  StopServers(*server, side->health_server.get(), config, exit_code);
  side->exposer.reset();
  if (!config.ready_file.empty()) unlink(config.ready_file.c_str());
  log::Info("stopped");
  return exit_code;
}

}  // namespace crosstenant
