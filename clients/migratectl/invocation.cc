#include "clients/migratectl/invocation.h"

#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <random>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "clients/migratectl/exit_codes.h"
#include "services/common/tls.h"

namespace crosstenant::migratectl {
namespace {

// Same as the servers accept: a 100,000-row identity map is about 10 MB.
constexpr int kMaxMessageBytes = 64 * 1024 * 1024;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// Host and port of a gRPC target ("127.0.0.1:50051", "dns:///host:443", "[::1]:50051"); false for
// the forms that are not one address (unix sockets, load-balanced names).
bool SplitTarget(std::string target, std::string* host, std::string* port) {
  for (absl::string_view scheme : {"dns:///", "ipv4:", "ipv6:"}) {
    if (absl::StartsWith(target, scheme)) target.erase(0, scheme.size());
  }
  if (absl::StartsWith(target, "unix:")) return false;
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = target.substr(0, colon);
  *port = target.substr(colon + 1);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  return !host->empty() && !port->empty();
}

// The text of OpenSSL's most recent error ("tlsv13 alert certificate required"), and clears the queue.
std::string OpenSslReason() {
  std::string reason;
  while (unsigned long code = ERR_get_error()) {
    const char* text = ERR_reason_error_string(code);
    if (text != nullptr) reason = text;
  }
  return reason;
}

struct TlsOutcome {
  enum Kind { kAccepted, kClientRefused, kServerUntrusted, kUnknown } kind = kUnknown;
  std::string reason;  // OpenSSL's words
};

// Opens a TLS connection to `address` as the gRPC channel would (same CA, client certificate and
// server name, ALPN h2) and reads the server's first answer: with TLS 1.3 a server refuses a client
// certificate only after the client considers the handshake done, so gRPC sees nothing but a closed
// socket. The alert read here says what happened.
TlsOutcome ProbeTls(const std::string& address, const GlobalOptions& o) {
  std::string host, port;
  if (!SplitTarget(address, &host, &port)) return {};
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) return {};
  int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  timeval timeout{3, 0};
  bool connected = false;
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    connected = connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  }
  freeaddrinfo(found);
  if (!connected) {
    if (fd >= 0) close(fd);
    return {};
  }
  // A server that refused us has closed the socket: writing to it must fail, not raise SIGPIPE.
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &previous);
  TlsOutcome outcome;
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = nullptr;
  if (ctx != nullptr && SSL_CTX_load_verify_locations(ctx, o.tls_ca.c_str(), nullptr) == 1 &&
      (o.tls_cert.empty() || (SSL_CTX_use_certificate_chain_file(ctx, o.tls_cert.c_str()) == 1 &&
                              SSL_CTX_use_PrivateKey_file(ctx, o.tls_key.c_str(), SSL_FILETYPE_PEM) == 1))) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    ssl = SSL_new(ctx);
  }
  if (ssl != nullptr) {
    static const unsigned char kAlpn[] = {2, 'h', '2'};
    SSL_set_alpn_protos(ssl, kAlpn, sizeof(kAlpn));
    const std::string name = o.tls_server_name.empty() ? host : o.tls_server_name;
    SSL_set_tlsext_host_name(ssl, name.c_str());
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
      const bool untrusted = SSL_get_verify_result(ssl) != X509_V_OK;
      outcome = {untrusted ? TlsOutcome::kServerUntrusted : TlsOutcome::kClientRefused, OpenSslReason()};
      if (untrusted) outcome.reason = X509_verify_cert_error_string(SSL_get_verify_result(ssl));
    } else {
      // The HTTP/2 preface and an empty SETTINGS frame: a server that accepted us answers with its own.
      static const char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
      char answer[64];
      const int written = SSL_write(ssl, kPreface, sizeof(kPreface) - 1);
      const int read = written > 0 ? SSL_read(ssl, answer, sizeof(answer)) : written;
      const int error = SSL_get_error(ssl, read);
      if (read > 0) {
        outcome.kind = TlsOutcome::kAccepted;
      } else if (std::string reason = OpenSslReason(); absl::StrContains(reason, "alert")) {
        outcome = {TlsOutcome::kClientRefused, reason};
      } else if (error == SSL_ERROR_SSL || error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN) {
        // gRPC's server drops a client certificate it does not trust without an alert: the connection
        // ends right after the handshake, before the server's first HTTP/2 frame.
        outcome = {TlsOutcome::kClientRefused,
                   "it closed the connection right after the handshake, before any HTTP/2 frame"};
      }
    }
    SSL_free(ssl);
  }
  OpenSslReason();
  if (ctx != nullptr) SSL_CTX_free(ctx);
  close(fd);
  sigaction(SIGPIPE, &previous, nullptr);
  return outcome;
}

// What is wrong with the client certificate as --tls-ca sees it ("self-signed certificate",
// "certificate has expired"), or "" when it verifies (or cannot be read). Servers of one mesh usually
// trust the CA that signed theirs, so this names the likely cause of a refusal.
std::string ClientCertificateProblem(const GlobalOptions& o) {
  std::string problem;
  BIO* file = BIO_new_file(o.tls_cert.c_str(), "r");
  X509* certificate = file == nullptr ? nullptr : PEM_read_bio_X509(file, nullptr, nullptr, nullptr);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_CTX* context = X509_STORE_CTX_new();
  if (certificate != nullptr && store != nullptr && context != nullptr &&
      X509_STORE_load_locations(store, o.tls_ca.c_str(), nullptr) == 1 &&
      X509_STORE_CTX_init(context, store, certificate, nullptr) == 1 && X509_verify_cert(context) != 1) {
    problem = X509_verify_cert_error_string(X509_STORE_CTX_get_error(context));
  }
  X509_STORE_CTX_free(context);
  X509_STORE_free(store);
  X509_free(certificate);
  BIO_free(file);
  OpenSslReason();
  return problem;
}

}  // namespace

GlobalOptions OptionsFromEnvironment() {
  GlobalOptions options;
  if (std::string v = Env("MIGRATECTL_CONNECTOR"); !v.empty()) options.connector_address = v;
  if (std::string v = Env("MIGRATECTL_ORCHESTRATOR"); !v.empty()) options.orchestrator_address = v;
  options.tls_ca = Env("MIGRATECTL_TLS_CA");
  options.tls_cert = Env("MIGRATECTL_TLS_CERT");
  options.tls_key = Env("MIGRATECTL_TLS_KEY");
  options.tls_server_name = Env("MIGRATECTL_TLS_SERVER_NAME");
  if (std::string v = Env("MIGRATECTL_DEADLINE"); !v.empty()) {
    absl::Duration deadline;
    if (absl::ParseDuration(v, &deadline) && deadline > absl::ZeroDuration()) options.deadline = deadline;
  }
  if (std::string v = Env("MIGRATECTL_FORMAT"); !v.empty()) {
    if (auto format = ParseOutputFormat(v); format.ok()) options.format = *format;
  }
  return options;
}

Invocation::Invocation(std::string command, std::vector<std::string> args, GlobalOptions options, std::ostream& out,
                       std::ostream& err, bool out_is_terminal)
    : command_(std::move(command)),
      args_(std::move(args)),
      options_(std::move(options)),
      out_(out),
      err_(err),
      out_is_terminal_(out_is_terminal),
      flags_("migratectl " + command_, "") {
  const char* inherited = std::getenv("TRACEPARENT");
  std::optional<TraceContext> parent = ParseTraceparent(inherited == nullptr ? "" : inherited);
  trace_ = parent ? ChildSpan(*parent) : NewTrace();
}

void AddGlobalFlags(SettingsTable& table, GlobalOptions& o) {
  table.Text("connector", &o.connector_address, "HOST:PORT", "tenant-connector address (env MIGRATECTL_CONNECTOR)");
  table.Text("orchestrator", &o.orchestrator_address, "HOST:PORT",
             "orchestrator address (env MIGRATECTL_ORCHESTRATOR)");
  table.Text("tls-ca", &o.tls_ca, "FILE", "CA to verify the servers with; turns TLS on (env MIGRATECTL_TLS_CA)");
  table.Text("tls-cert", &o.tls_cert, "FILE", "client certificate for mTLS (env MIGRATECTL_TLS_CERT)");
  table.Text("tls-key", &o.tls_key, "FILE", "its private key (env MIGRATECTL_TLS_KEY)");
  table.Text("tls-server-name", &o.tls_server_name, "NAME",
             "name to verify on the server certificate (env MIGRATECTL_TLS_SERVER_NAME)");
  table.Duration("deadline", &o.deadline, absl::Milliseconds(1), "deadline of each call (env MIGRATECTL_DEADLINE)");
  table.Custom("format", "table|csv|json",
               o.format == OutputFormat::kTable ? "table"
               : o.format == OutputFormat::kCsv ? "csv"
                                                : "json",
               "output format (env MIGRATECTL_FORMAT)", [&o](absl::string_view value) -> absl::Status {
                 absl::StatusOr<OutputFormat> format = ParseOutputFormat(value);
                 if (!format.ok()) return format.status();
                 o.format = *format;
                 return absl::OkStatus();
               });
  table.Custom("progress", "auto|bars|lines", o.progress,
               "live progress: bars on a terminal, timestamped lines otherwise",
               [&o](absl::string_view value) -> absl::Status {
                 if (value != "auto" && value != "bars" && value != "lines") {
                   return absl::InvalidArgumentError(absl::StrCat("expected auto, bars or lines, got '", value, "'"));
                 }
                 o.progress = std::string(value);
                 return absl::OkStatus();
               });
  table.Switch("verbose", &o.verbose, "print the command's trace id (W3C trace context) on stderr first");
}

absl::StatusOr<bool> Invocation::Parse(const CommandHelp& help, size_t min_positionals, size_t max_positionals) {
  GlobalOptions& o = options_;
  AddGlobalFlags(flags_, o);
  absl::Status parsed = flags_.ParseCommandLine(args_, &positionals_);
  if (!parsed.ok()) return UsageError(absl::StrCat(parsed.message()));
  if (flags_.help_requested()) {
    std::string text = absl::StrCat("migratectl ", command_, ": ", help.summary, "\n");
    if (!help.replaces.empty()) absl::StrAppend(&text, "Replaces: ", help.replaces, "\n");
    absl::StrAppend(&text, "\nUsage: migratectl ", command_, " [flags]",
                    help.arguments.empty() ? "" : " " + help.arguments, "\n\nFlags:\n", flags_.FlagLines());
    if (!help.details.empty()) absl::StrAppend(&text, "\n", help.details, "\n");
    absl::StrAppend(&text, "\n", ExitCodeHelp());
    out_ << text;
    return false;
  }
  if (absl::Status applied = flags_.ApplyCommandLine(); !applied.ok()) {
    return absl::InvalidArgumentError(applied.message());
  }
  if (positionals_.size() < min_positionals || positionals_.size() > max_positionals) {
    if (positionals_.size() > max_positionals) {
      return UsageError(absl::StrCat("unexpected argument '", positionals_[max_positionals], "' (usage: migratectl ",
                                     command_, " [flags] ", help.arguments, ")"));
    }
    return UsageError(
        absl::StrCat("missing ", help.arguments, " (usage: migratectl ", command_, " [flags] ", help.arguments, ")"));
  }
  if (o.verbose) err_ << "migratectl: trace_id " << trace_.trace_id << "\n";
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return UsageError("--tls-cert and --tls-key go together");
  }
  if (!o.tls_cert.empty() && o.tls_ca.empty()) {
    return UsageError("--tls-cert needs --tls-ca (the CA of the servers)");
  }
  return true;
}

ProgressPrinter::Mode Invocation::progress_mode() const {
  if (options_.progress == "bars") return ProgressPrinter::Mode::kBars;
  if (options_.progress == "lines") return ProgressPrinter::Mode::kLines;
  return out_is_terminal_ ? ProgressPrinter::Mode::kBars : ProgressPrinter::Mode::kLines;
}

std::shared_ptr<grpc::Channel> Invocation::Channel(const std::string& address) const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  if (!options_.tls_server_name.empty()) args.SetSslTargetNameOverride(options_.tls_server_name);
  ClientTlsConfig tls{options_.tls_ca, options_.tls_cert, options_.tls_key};
  return grpc::CreateCustomChannel(address, MakeChannelCredentials(tls), args);
}

crosstenant::v1::TenantConnector::Stub& Invocation::connector() {
  if (!connector_) connector_ = crosstenant::v1::TenantConnector::NewStub(Channel(options_.connector_address));
  return *connector_;
}

crosstenant::v1::Orchestrator::Stub& Invocation::orchestrator() {
  if (!orchestrator_) orchestrator_ = crosstenant::v1::Orchestrator::NewStub(Channel(options_.orchestrator_address));
  return *orchestrator_;
}

absl::Status Invocation::ExplainConnectionFailure(absl::Status status) const {
  // Only a connection that never carried a call (gRPC's own UNAVAILABLE, without a detail); a server's
  // UNAVAILABLE (Microsoft down) carries an ErrorInfo and is left as it is.
  if (status.code() != absl::StatusCode::kUnavailable || options_.tls_ca.empty() || !IsChannelFailure(status)) {
    return status;
  }
  std::vector<std::string> addresses;
  if (connector_) addresses.push_back(options_.connector_address);
  if (orchestrator_) addresses.push_back(options_.orchestrator_address);
  for (const std::string& address : addresses) {
    const TlsOutcome outcome = ProbeTls(address, options_);
    if (outcome.kind == TlsOutcome::kClientRefused) {
      const std::string certificate = options_.tls_cert.empty()
                                          ? std::string("no client certificate (give --tls-cert and --tls-key)")
                                          : absl::StrCat("the client certificate ", options_.tls_cert, " (--tls-cert)");
      const std::string problem = options_.tls_cert.empty() ? "" : ClientCertificateProblem(options_);
      return absl::PermissionDeniedError(absl::StrCat(
          "the server at ", address, " refused the TLS handshake with ", certificate, ": ", outcome.reason,
          problem.empty() ? "" : absl::StrCat(" (checked here against --tls-ca ", options_.tls_ca, ": ", problem, ")"),
          ". Use a certificate issued by the CA that server trusts, not expired, and whose identity it admits."));
    }
    if (outcome.kind == TlsOutcome::kServerUntrusted) {
      return absl::UnauthenticatedError(absl::StrCat("the certificate of the server at ", address,
                                                     " is not trusted with --tls-ca ", options_.tls_ca, ": ",
                                                     outcome.reason));
    }
  }
  return status;
}

std::unique_ptr<grpc::ClientContext> Invocation::Context() const {
  return StreamContext(absl::Now() + options_.deadline);
}

std::unique_ptr<grpc::ClientContext> Invocation::StreamContext(absl::Time deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (deadline != absl::InfiniteFuture()) context->set_deadline(absl::ToChronoTime(deadline));
  context->AddMetadata(kTraceparentKey, FormatTraceparent(ChildSpan(trace_)));
  called_ = true;
  return context;
}

void Invocation::Print(const Table& table, const nlohmann::json& json) {
  switch (options_.format) {
    case OutputFormat::kTable:
      out_ << RenderTable(table);
      break;
    case OutputFormat::kCsv:
      out_ << RenderCsv(table);
      break;
    case OutputFormat::kJson:
      out_ << RenderJson(json.is_null() ? TableToJson(table) : json);
      break;
  }
}

std::string NewRequestId() {
  std::random_device random;
  std::uniform_int_distribution<uint32_t> word;
  uint32_t a = word(random), b = word(random), c = word(random), d = word(random);
  b = (b & 0xFFFF0FFFu) | 0x00004000u;  // version 4
  c = (c & 0x3FFFFFFFu) | 0x80000000u;  // variant 10
  return absl::StrFormat("%08x-%04x-%04x-%04x-%04x%08x", a, b >> 16, b & 0xFFFF, c >> 16, c & 0xFFFF, d);
}

}  // namespace crosstenant::migratectl
