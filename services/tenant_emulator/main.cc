#include "services/tenant_emulator/emulator.h"

int main(int argc, char** argv) { return crosstenant::emulator::RunEmulator(argc, argv); }
