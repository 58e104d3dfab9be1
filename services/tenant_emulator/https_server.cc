#include "services/tenant_emulator/https_server.h"

#include "absl/strings/str_cat.h"

namespace crosstenant::emulator {

absl::StatusOr<std::unique_ptr<HttpsServer>> HttpsServer::Create(const std::string& cert_file,
                                                                 const std::string& key_file, int threads,
                                                                 Handler handler) {
  auto server = std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
  if (!server->is_valid()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot load the TLS certificate ", cert_file, " and key ", key_file,
                                                   " (run deploy/local/dev-certs.sh?)"));
  }
  server->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server->set_tcp_nodelay(true);
  server->set_keep_alive_max_count(100000);
  server->set_keep_alive_timeout(5);
  server->set_payload_max_length(64 << 20);
  auto shared = std::make_shared<Handler>(std::move(handler));
  auto route = [shared](const httplib::Request& request, httplib::Response& response) { (*shared)(request, response); };
  server->Get(".*", route);
  server->Post(".*", route);
  server->Put(".*", route);
  server->Patch(".*", route);
  server->Delete(".*", route);
  server->set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
    response.status = 500;
    response.set_content(R"({"error":"internal error in the emulator"})", "application/json");
  });
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(server)));
}

absl::StatusOr<int> HttpsServer::Bind(const std::string& host, int port) {
  if (port == 0) {
    const int bound = server_->bind_to_any_port(host);
    if (bound <= 0) return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":0"));
    return bound;
  }
  if (!server_->bind_to_port(host, port)) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port, " (address in use, or not an address of this host)"));
  }
  return port;
}

void HttpsServer::Run() { server_->listen_after_bind(); }

void HttpsServer::Stop() { server_->stop(); }

}  // namespace crosstenant::emulator
