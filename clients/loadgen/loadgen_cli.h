#ifndef CROSSTENANT_CLIENTS_LOADGEN_LOADGEN_CLI_H_
#define CROSSTENANT_CLIENTS_LOADGEN_LOADGEN_CLI_H_

namespace crosstenant::loadgen {

// The `loadgen` command line:
//
//   loadgen --target=HOST:PORT --method=/pkg.Service/Method [--request='text proto'] [--baseline]
//           [--in-flight=64] [--channels=2] [--warmup=2s] [--duration=10s] [--server-pid=PID]
//           [--tls-ca=FILE --tls-cert=FILE --tls-key=FILE --server-name=NAME]
//   loadgen serve-echo [--address=127.0.0.1:0] [--ready-file=FILE]
//
// With --baseline, it first starts its own bare echo server (the second form, same build, no
// interceptors or metrics) in a child process, loads crosstenant.v1.Diagnostics/Echo on it with the
// same settings, then loads the target, and prints both and their ratios: how close the mesh's RPC
// comes to the bare-gRPC limit of this machine. Returns the process exit code.
int RunLoadgen(int argc, char** argv);

}  // namespace crosstenant::loadgen

#endif  // CROSSTENANT_CLIENTS_LOADGEN_LOADGEN_CLI_H_
