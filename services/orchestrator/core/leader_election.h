#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_LEADER_ELECTION_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_LEADER_ELECTION_H_

// Decides which orchestrator replica drives the phases. Every replica serves reads, watch streams
// and workers; exactly one at a time runs the PhaseDriver, under a lease kept in the shared store
// (MigrationStore::AcquireLeadership). The leader renews its lease well before it lapses; when the
// leader dies, another replica takes over once the lease has lapsed. The lease's term is the fencing
// token of every change the driver commits, so a leader that was paused past its lease (and does not
// know it lost) cannot write behind its successor's back.

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/orchestrator/store/migration_store.h"

namespace crosstenant::orchestrator {

class LeaderElection {
 public:
  struct Options {
    // A unique name of this replica (the pod name on Kubernetes).
    std::string replica_id;
    // How long a lease lasts; a dead leader is replaced this long after its last renewal at most.
    absl::Duration lease = absl::Seconds(6);
    std::function<absl::Time()> now = absl::Now;
  };

  LeaderElection(MigrationStore* store, Options options);

  // Takes or renews the lease. Call it every `renew_interval()`. Returns the store's error if it
  // could not be reached; the replica then stops leading once its last lease would have lapsed.
  absl::Status Campaign();

  // Gives the lease up (shutdown), so that another replica takes over at once.
  absl::Status Resign();

  // The term this replica leads in, or 0 if it does not lead now.
  int64_t term() const;
  bool leading() const { return term() != 0; }
  // The last leader seen (this replica or another); empty before the first Campaign.
  std::string leader() const;

  absl::Duration renew_interval() const { return options_.lease / 4; }

 private:
  MigrationStore* store_;
  Options options_;
  mutable absl::Mutex mutex_;
  int64_t term_ ABSL_GUARDED_BY(mutex_) = 0;
  std::string leader_ ABSL_GUARDED_BY(mutex_);
  // Measured on this replica's clock from before the request that renewed it, so never later than the
  // store's own expiry.
  absl::Time lease_end_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_LEADER_ELECTION_H_
