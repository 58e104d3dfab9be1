#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_EMULATOR_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_EMULATOR_H_

// The tenant-emulator process: flags, seed, the HTTPS listener, the ready file, and a graceful stop on
// SIGTERM or SIGINT. Exit codes: 0 after a signal, 1 when it cannot serve, 2 for bad flags or a bad
// seed file.

namespace crosstenant::emulator {

int RunEmulator(int argc, char** argv);

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_EMULATOR_H_
