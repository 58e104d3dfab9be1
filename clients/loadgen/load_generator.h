#ifndef CROSSTENANT_CLIENTS_LOADGEN_LOAD_GENERATOR_H_
#define CROSSTENANT_CLIENTS_LOADGEN_LOAD_GENERATOR_H_

// A closed-loop load generator for any unary gRPC method: `in_flight` calls are kept outstanding over
// `channels` separate TCP connections for `duration` after a `warmup`, and every call's latency is
// recorded. It uses the callback API, so one process drives tens of thousands of calls per second.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "services/common/tls.h"

namespace crosstenant::loadgen {

struct LoadSpec {
  std::string target;         // HOST:PORT
  std::string method;         // "/crosstenant.v1.TenantConnector/GetConnection"
  std::string request_bytes;  // the serialized request message
  int in_flight = 64;
  int channels = 2;
  std::chrono::milliseconds warmup{2000};
  std::chrono::milliseconds duration{10000};
  ClientTlsConfig tls;      // plaintext when tls.ca_file is empty
  std::string server_name;  // TLS name to verify, when it differs from the target host
  pid_t server_pid = 0;     // when set, the server's CPU over the measured window is reported too
};

struct LoadReport {
  int64_t calls = 0;   // completed in the measured window
  int64_t errors = 0;  // of those, how many failed
  std::string first_error;
  double seconds = 0;
  double calls_per_second = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0;
  double client_cpu_us_per_call = 0;
  double server_cpu_us_per_call = 0;  // 0 without server_pid
};

// Runs the load; INVALID_ARGUMENT for a bad spec, UNAVAILABLE if the target cannot be reached.
absl::StatusOr<LoadReport> RunLoad(const LoadSpec& spec);

// The serialized request for `method` given as protobuf text format ("name: 'connections/x'"). The
// method's request type must be linked into this binary (every crosstenant.v1 message is).
absl::StatusOr<std::string> SerializeRequest(const std::string& method, const std::string& text_format);

}  // namespace crosstenant::loadgen

#endif  // CROSSTENANT_CLIENTS_LOADGEN_LOAD_GENERATOR_H_
