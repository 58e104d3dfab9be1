#include "services/orchestrator/core/leader_election.h"

#include "services/common/logging.h"

namespace crosstenant::orchestrator {

LeaderElection::LeaderElection(MigrationStore* store, Options options) : store_(store), options_(std::move(options)) {}

absl::Status LeaderElection::Campaign() {
  const absl::Time asked = options_.now();
  absl::StatusOr<Leadership> leadership = store_->AcquireLeadership(options_.replica_id, options_.lease);
  absl::MutexLock lock(&mutex_);
  const int64_t before = term_;
  if (!leadership.ok()) {
    // Unsure whether the lease was renewed: lead only as long as the last known lease lasts.
    if (term_ != 0 && options_.now() >= lease_end_) term_ = 0;
  } else if (leadership->held) {
    term_ = leadership->term;
    leader_ = leadership->leader;
    lease_end_ = asked + options_.lease;
  } else {
    term_ = 0;
    leader_ = leadership->leader;
  }
  if (term_ != before) {
    if (term_ != 0) {
      log::Info("this replica now drives the migrations",
                {{"replica", options_.replica_id}, {"term", std::to_string(term_)}});
    } else {
      log::Warning("this replica no longer drives the migrations",
                   {{"replica", options_.replica_id}, {"leader", leader_}});
    }
  }
  return leadership.status();
}

absl::Status LeaderElection::Resign() {
  {
    absl::MutexLock lock(&mutex_);
    if (term_ == 0) return absl::OkStatus();
    term_ = 0;
  }
  return store_->ReleaseLeadership(options_.replica_id);
}

int64_t LeaderElection::term() const {
  absl::MutexLock lock(&mutex_);
  return options_.now() < lease_end_ ? term_ : 0;
}

std::string LeaderElection::leader() const {
  absl::MutexLock lock(&mutex_);
  return leader_;
}

}  // namespace crosstenant::orchestrator
