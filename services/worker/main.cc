#include "services/worker/grpc/worker_host.h"

int main(int argc, char** argv) { return crosstenant::RunServer(argc, argv, crosstenant::worker::WorkerDefinition()); }
