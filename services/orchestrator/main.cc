#include "services/orchestrator/grpc/orchestrator_host.h"

int main(int argc, char** argv) {
  return crosstenant::RunServer(argc, argv, crosstenant::orchestrator::OrchestratorDefinition());
}
