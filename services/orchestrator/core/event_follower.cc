#include "services/orchestrator/core/event_follower.h"

#include <set>

namespace crosstenant::orchestrator {

absl::Status EventFollower::PollOnce() {
  const std::set<std::string> watched = hub_->watched_migrations();
  for (auto it = last_seen_.begin(); it != last_seen_.end();) {
    it = watched.count(it->first) ? std::next(it) : last_seen_.erase(it);
  }
  absl::Status result;
  for (const std::string& name : watched) {
    absl::StatusOr<crosstenant::v1::Migration> migration = store_->GetMigration(name);
    if (!migration.ok()) {
      // A watched migration that does not exist has no events to follow; other errors are reported.
      if (!absl::IsNotFound(migration.status())) result.Update(migration.status());
      continue;
    }
    // First sight of a migration notifies too: something may have been committed between a new
    // watcher's first read and this poll. A watcher reads the store itself, so a notification it did
    // not need costs one empty read.
    auto [seen, inserted] = last_seen_.try_emplace(name, migration->last_event_sequence());
    if (!inserted && seen->second == migration->last_event_sequence()) continue;
    seen->second = migration->last_event_sequence();
    hub_->Notify(name);
  }
  return result;
}

}  // namespace crosstenant::orchestrator
