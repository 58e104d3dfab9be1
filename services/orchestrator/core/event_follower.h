#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_EVENT_FOLLOWER_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_EVENT_FOLLOWER_H_

// Wakes this replica's watchers for events that other replicas committed. A replica's own commits
// notify its EventHub directly; with several replicas on one store, a watch stream served here must
// also see what a worker's result or the leader's driver wrote through another replica. The follower
// polls the last event sequence of each watched migration (one small read per watched migration per
// poll, none when nobody watches) and notifies the hub when it moved.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "services/orchestrator/core/event_hub.h"
#include "services/orchestrator/store/migration_store.h"

namespace crosstenant::orchestrator {

class EventFollower {
 public:
  EventFollower(MigrationStore* store, EventHub* hub) : store_(store), hub_(hub) {}

  // One poll. Call it from one thread, every few hundred milliseconds.
  absl::Status PollOnce();

 private:
  MigrationStore* store_;
  EventHub* hub_;
  std::map<std::string, int64_t> last_seen_;  // by migration
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_EVENT_FOLLOWER_H_
