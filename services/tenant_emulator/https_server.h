#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_HTTPS_SERVER_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_HTTPS_SERVER_H_

// One HTTPS listener (cpp-httplib over OpenSSL) whose every request goes to a single handler. The
// worker pool holds `threads` threads; each open connection occupies one while it is served, so the
// pool must exceed the number of clients' concurrent connections.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "httplib.h"

namespace crosstenant::emulator {

class HttpsServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  // INVALID_ARGUMENT if the certificate or key cannot be loaded.
  static absl::StatusOr<std::unique_ptr<HttpsServer>> Create(const std::string& cert_file, const std::string& key_file,
                                                             int threads, Handler handler);

  // Binds HOST:PORT (port 0: any free port); the bound port.
  absl::StatusOr<int> Bind(const std::string& host, int port);
  // Serves until Stop(); call from its own thread after Bind.
  void Run();
  void Stop();

 private:
  explicit HttpsServer(std::unique_ptr<httplib::SSLServer> server) : server_(std::move(server)) {}
  std::unique_ptr<httplib::SSLServer> server_;
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_HTTPS_SERVER_H_
