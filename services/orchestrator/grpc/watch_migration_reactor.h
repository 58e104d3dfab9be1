#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_WATCH_MIGRATION_REACTOR_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_WATCH_MIGRATION_REACTOR_H_

#include <functional>

#include <grpcpp/support/server_callback.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crosstenant/v1/orchestrator.pb.h"
#include "services/common/executor.h"
#include "services/orchestrator/core/migration_service.h"

namespace crosstenant::orchestrator {

struct WatchOptions {
  // Events a watcher reads from the store at a time, and the most it ever holds in memory (plus the
  // message being written). It reads the next page only when the previous one is written. Bench row 5
  // (1,000 slow watchers): 25 held the orchestrator's peak at 63 MB, 100 at 131 MB.
  int page_size = 25;
  // How far behind a watcher may fall: when it reads a full page (more events wait after it) and the
  // oldest of them has waited longer than this for it, the stream ends with RESOURCE_EXHAUSTED telling
  // the client to watch again with `after_sequence`. An event waits for a stream from its commit, or from
  // the stream's start if it was committed before (a replay). Zero or less: never.
  absl::Duration max_lag = absl::Seconds(60);
  std::function<absl::Time()> now = absl::Now;
};

// Serves one Orchestrator.WatchMigration stream: a snapshot first, then the stored events after the
// requested sequence, then live events as they commit. It ends with OK after the event that puts the
// migration in a terminal state, with CANCELLED when the client goes, with UNAVAILABLE when the server
// shuts down and with RESOURCE_EXHAUSTED when the client reads too slowly (see WatchOptions::max_lag);
// in the last two cases the client resumes with `after_sequence` (given in the message). It never blocks
// a gRPC thread, nor the writer that signals a commit: the snapshot and the events are read from the
// store on `executor`, a page at a time, when the EventHub signals a commit and the previous page is
// written, so a slow watcher holds one page, never the backlog.
grpc::ServerWriteReactor<crosstenant::v1::WatchMigrationResponse>* NewWatchMigrationReactor(
    MigrationService* migrations, const crosstenant::v1::WatchMigrationRequest& request, Executor* executor,
    const WatchOptions& options = {});

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_WATCH_MIGRATION_REACTOR_H_
