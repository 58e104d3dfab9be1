#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_WATCH_MIGRATION_REACTOR_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_WATCH_MIGRATION_REACTOR_H_

#include <grpcpp/support/server_callback.h>

#include "crosstenant/v1/orchestrator.pb.h"
#include "services/orchestrator/core/migration_service.h"

namespace crosstenant::orchestrator {

// Serves one Orchestrator.WatchMigration stream: a snapshot first, then the stored events after the
// requested sequence, then live events as they commit. It ends with OK after the event that puts the
// migration in a terminal state, with CANCELLED when the client goes, and with UNAVAILABLE when the
// server shuts down (the client resumes elsewhere with `after_sequence`). It never blocks a gRPC
// thread: events are read from the store when the EventHub signals a commit.
grpc::ServerWriteReactor<crosstenant::v1::WatchMigrationResponse>* NewWatchMigrationReactor(
    MigrationService* migrations, const crosstenant::v1::WatchMigrationRequest& request);

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_WATCH_MIGRATION_REACTOR_H_
