#ifndef CROSSTENANT_CLIENTS_MIGRATECTL_INVOCATION_H_
#define CROSSTENANT_CLIENTS_MIGRATECTL_INVOCATION_H_

// One run of one migratectl command: its flags (the global ones and its own, parsed with the mesh's
// SettingsTable), its positional arguments, the output streams and format, and the gRPC stubs for the
// connector and the orchestrator built from the global address and TLS flags.
//
// Every command is one function that registers its flags, parses, and runs:
//
//   absl::Status RunPreflight(Invocation& in) {
//     std::string source;
//     in.flags().Text("source", &source, "CONNECTION", "the source connection");
//     ASSIGN_OR_RETURN(bool run, in.Parse({"Runs every preflight check", "(none)", ""}));
//     if (!run) return absl::OkStatus();   // --help was printed
//     ...
//   }

#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "clients/migratectl/output.h"
#include "clients/migratectl/progress.h"
#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "crosstenant/v1/tenant_connector.grpc.pb.h"
#include "services/common/settings_table.h"
#include "services/common/grpc_status.h"
#include "services/common/trace_context.h"

namespace crosstenant::migratectl {

// Flags every command takes; defaults come from the environment (MIGRATECTL_*), then built-ins.
struct GlobalOptions {
  std::string connector_address = "127.0.0.1:50051";
  std::string orchestrator_address = "127.0.0.1:50052";
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  absl::Duration deadline = absl::Seconds(30);
  OutputFormat format = OutputFormat::kTable;
  std::string progress = "auto";  // auto | bars | lines
  bool verbose = false;           // print the command's trace id first
};

// The defaults with MIGRATECTL_CONNECTOR, MIGRATECTL_ORCHESTRATOR, MIGRATECTL_TLS_CA, _CERT, _KEY,
// _SERVER_NAME, MIGRATECTL_DEADLINE and MIGRATECTL_FORMAT applied.
GlobalOptions OptionsFromEnvironment();

// The help of a command.
struct CommandHelp {
  std::string summary;    // one line
  std::string replaces;   // the cmdlet(s) it replaces, or "" when none
  std::string arguments;  // positional arguments for the usage line, e.g. "NAME"
  std::string details;    // more text after the flags, may be empty
};

// Declares the global flags in `table`, each writing its field of `options`. The one declaration serves
// every command's parse and the dispatcher, which reads the global flags given before a command.
void AddGlobalFlags(SettingsTable& table, GlobalOptions& options);

class Invocation {
 public:
  // `command` is the command path for messages ("migrate status"); `args` are the command line without
  // the command's words: flags (global and the command's own) and positional arguments, in order.
  Invocation(std::string command, std::vector<std::string> args, GlobalOptions options, std::ostream& out,
             std::ostream& err, bool out_is_terminal);

  SettingsTable& flags() { return flags_; }

  // Adds the global flags, parses and applies every flag (the declarations say which take a value, so
  // `--source NAME` and `--watch NAME` both read right), checks the number of positionals. Returns
  // false after printing the help for --help.
  absl::StatusOr<bool> Parse(const CommandHelp& help, size_t min_positionals = 0, size_t max_positionals = 0);

  const std::vector<std::string>& positionals() const { return positionals_; }
  const GlobalOptions& options() const { return options_; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  OutputFormat format() const { return options_.format; }
  ProgressPrinter::Mode progress_mode() const;

  crosstenant::v1::TenantConnector::Stub& connector();
  crosstenant::v1::Orchestrator::Stub& orchestrator();

  // A client context with the --deadline and the command's trace (a `traceparent` with a new span).
  std::unique_ptr<grpc::ClientContext> Context() const;
  // The same for a stream that may outlive --deadline: ends at `deadline` (absl::InfiniteFuture(): never).
  std::unique_ptr<grpc::ClientContext> StreamContext(absl::Time deadline) const;

  // The command's W3C trace: the one in the TRACEPARENT environment variable when it holds a valid
  // `traceparent` (a script's or a pipeline's trace), else a new one. Every call the command makes
  // carries it, so its trace id finds the command's work in every service's logs.
  const TraceContext& trace() const { return trace_; }
  // Whether the command made a call (built a Context), so that its trace id means something.
  bool called() const { return called_; }

  // One unary call with the --deadline, its status through the mesh's one translation.
  template <typename Response, typename Stub, typename Request, typename Method>
  absl::StatusOr<Response> Call(Stub& stub, Method method, const Request& request) {
    std::unique_ptr<grpc::ClientContext> context = Context();
    Response response;
    grpc::Status status = (stub.*method)(context.get(), request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  // `status` itself, unless it is gRPC's UNAVAILABLE for a TLS connection that never carried a call and
  // a fresh handshake with a server this run used shows why: then PERMISSION_DENIED when the server
  // refused the client certificate (or wanted one), UNAUTHENTICATED when --tls-ca does not trust the
  // server. Either names the server and the files; neither is worth retrying.
  absl::Status ExplainConnectionFailure(absl::Status status) const;

  // Prints `table` as a table or CSV, or `json` for --format=json.
  void Print(const Table& table, const nlohmann::json& json);

 private:
  std::shared_ptr<grpc::Channel> Channel(const std::string& address) const;

  std::string command_;
  std::vector<std::string> args_;
  std::vector<std::string> positionals_;
  GlobalOptions options_;
  std::ostream& out_;
  std::ostream& err_;
  bool out_is_terminal_;
  SettingsTable flags_;
  std::unique_ptr<crosstenant::v1::TenantConnector::Stub> connector_;
  std::unique_ptr<crosstenant::v1::Orchestrator::Stub> orchestrator_;
  TraceContext trace_;
  mutable bool called_ = false;
};

// A fresh random UUID (version 4), for request ids.
std::string NewRequestId();

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_CLIENTS_MIGRATECTL_INVOCATION_H_
