// Requests per second the tenant emulator sustains for the two calls the mesh makes most: the token
// endpoint (client credentials with a secret) and a Graph GET (a user by UPN). It starts its own
// emulator on 127.0.0.1:0 and drives it over HTTPS with keep-alive connections, one per client thread.
//
//   build/bin/emulator_bench [--clients N] [--seconds S] [--emulator-threads N]
//
// The clients share the machine with the emulator, so the figures are a lower bound of its capacity.

#include <curl/curl.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/support/server_process.h"

namespace {

using crosstenant::testing::BinaryPath;
using crosstenant::testing::ServerProcess;
using crosstenant::testing::TempDir;

constexpr char kSeed[] = R"(tenants:
  - name: contoso
    apps:
      - client_id: 11111111-1111-4111-8111-111111111111
        secret: bench-secret
        application_permissions: [User.Read.All]
    generate_users: [{count: 1000, upn_pattern: "user{n}@contoso.onmicrosoft.com"}]
)";

size_t Collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

struct Client {
  CURL* curl = nullptr;
  curl_slist* connect_to = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
};

Client NewClient(int port, const std::string& ca) {
  Client client;
  client.curl = curl_easy_init();
  client.connect_to = curl_slist_append(nullptr, ("::127.0.0.1:" + std::to_string(port)).c_str());
  curl_easy_setopt(client.curl, CURLOPT_CONNECT_TO, client.connect_to);
  curl_easy_setopt(client.curl, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(client.curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(client.curl, CURLOPT_WRITEDATA, &client.body);
  return client;
}

long Perform(Client& client) {
  client.body.clear();
  if (curl_easy_perform(client.curl) != CURLE_OK) return 0;
  long status = 0;
  curl_easy_getinfo(client.curl, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

struct Result {
  double per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  long errors = 0;
};

template <typename Setup>
Result Run(int clients, double seconds, int port, const std::string& ca, Setup setup) {
  std::atomic<long> errors{0};
  std::vector<std::vector<double>> latencies(clients);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      Client client = NewClient(port, ca);
      setup(client);
      while (std::chrono::steady_clock::now() < deadline) {
        const auto before = std::chrono::steady_clock::now();
        if (Perform(client) != 200) ++errors;
        latencies[i].push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - before).count());
      }
      curl_slist_free_all(client.connect_to);
      curl_slist_free_all(client.headers);
      curl_easy_cleanup(client.curl);
    });
  }
  for (std::thread& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Result result;
  result.per_second = all.size() / elapsed;
  result.p50_ms = all.empty() ? 0 : all[all.size() / 2];
  result.p99_ms = all.empty() ? 0 : all[all.size() * 99 / 100];
  result.errors = errors;
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  int clients = 8;
  double seconds = 3;
  std::string emulator_threads = "128";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--clients")) clients = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--emulator-threads")) emulator_threads = argv[i + 1];
  }
  if (argc > 1 && (!std::strcmp(argv[1], "--help") || argc % 2 == 0)) {
    std::printf("usage: emulator_bench [--clients N] [--seconds S] [--emulator-threads N]\n");
    return argc > 1 && !std::strcmp(argv[1], "--help") ? 0 : 2;
  }
  const std::string certs = TENANT_EMULATOR_CERT_DIR;
  const std::string ca = certs + "/ca.pem";
  curl_global_init(CURL_GLOBAL_DEFAULT);
  TempDir dir;
  const std::string seed = dir.WriteFile("seed.yaml", kSeed);
  const std::string ready_file = dir.path() + "/ready.json";
  ServerProcess emulator(
      BinaryPath("tenant-emulator"),
      {"--seed", seed, "--address", "127.0.0.1:0", "--tls-cert", certs + "/emulator.pem", "--tls-key",
       certs + "/emulator.key", "--ready-file", ready_file, "--threads", emulator_threads},
      dir.path());
  std::optional<nlohmann::json> ready = emulator.WaitForReadyFile(ready_file);
  if (!ready) {
    std::fprintf(stderr, "the emulator did not start:\n%s\n", emulator.Stderr().c_str());
    return 1;
  }
  const std::string address = (*ready)["address"];
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  const std::string form =
      "grant_type=client_credentials&client_id=11111111-1111-4111-8111-111111111111&client_secret=bench-secret"
      "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default";

  // One token for the Graph phase.
  Client first = NewClient(port, ca);
  curl_easy_setopt(first.curl, CURLOPT_URL,
                   "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
  curl_easy_setopt(first.curl, CURLOPT_POSTFIELDS, form.c_str());
  if (Perform(first) != 200) {
    std::fprintf(stderr, "cannot get a token: %s\n", first.body.c_str());
    return 1;
  }
  const std::string token = nlohmann::json::parse(first.body)["access_token"];
  curl_easy_cleanup(first.curl);

  std::printf("tenant-emulator benchmark: %d keep-alive clients, %.1f s per phase, %s emulator threads, %u cores\n",
              clients, seconds, emulator_threads.c_str(), std::thread::hardware_concurrency());
  const Result tokens = Run(clients, seconds, port, ca, [&](Client& client) {
    curl_easy_setopt(client.curl, CURLOPT_URL,
                     "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    curl_easy_setopt(client.curl, CURLOPT_POSTFIELDS, form.c_str());
  });
  std::printf("token endpoint (client_credentials, RS256 signing): %8.0f req/s  p50 %.2f ms  p99 %.2f ms  errors %ld\n",
              tokens.per_second, tokens.p50_ms, tokens.p99_ms, tokens.errors);
  const std::string authorization = "Authorization: Bearer " + token;
  const Result graph = Run(clients, seconds, port, ca, [&](Client& client) {
    curl_easy_setopt(client.curl, CURLOPT_URL, "https://graph.microsoft.com/v1.0/users/user42@contoso.onmicrosoft.com");
    client.headers = curl_slist_append(nullptr, authorization.c_str());
    curl_easy_setopt(client.curl, CURLOPT_HTTPHEADER, client.headers);
  });
  std::printf(
      "Graph GET /v1.0/users/{upn} (token verified):        %8.0f req/s  p50 %.2f ms  p99 %.2f ms  errors %ld\n",
      graph.per_second, graph.p50_ms, graph.p99_ms, graph.errors);
  emulator.Signal(SIGTERM);
  emulator.WaitForExit(std::chrono::seconds(10));
  curl_global_cleanup();
  return tokens.errors + graph.errors == 0 ? 0 : 1;
}
