#ifndef CROSSTENANT_SERVICES_COMMON_STORE_HEALTH_H_
#define CROSSTENANT_SERVICES_COMMON_STORE_HEALTH_H_

// Whether the orchestrator's state database takes writes, as its store finds out write by write.
//
// The store reports every write it could not make, with the status it returns (RESOURCE_EXHAUSTED: the
// database or its disk is full; UNAVAILABLE: locked too long; DATA_LOSS: corrupt; INTERNAL: anything
// else), and every write it made. A RESOURCE_EXHAUSTED refusal starts a "full" episode:
//   - logged at ERROR when it starts, again every `reminder_every` while it lasts, and at WARNING when
//     it ends, with the number of writes refused; a database that flips between full and not full is
//     logged at most once per `quiet_period` each way (the flips in between are counted, not logged);
//   - CheckWritable() refuses, so that the orchestrator hands out no new work (leases, phase steps)
//     whose results it could not record;
//   - it ends when the store's room probe says there is room again: asked after a write succeeds and
//     whenever CheckWritable() or full() is called, at most once per `probe_every`.
// Counts are exported as orchestrator_store_write_failures_total{code} and orchestrator_store_full.
//
// Thread-safe. Store-neutral: SQLite and PostgreSQL stores report alike.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace crosstenant {

class StoreHealth {
 public:
  struct Options {
    std::function<absl::Time()> now = absl::Now;
    absl::Duration probe_every = absl::Seconds(1);
    absl::Duration reminder_every = absl::Minutes(5);
    absl::Duration quiet_period = absl::Minutes(1);
    // The delay suggested to callers refused by CheckWritable (RetryInfo).
    absl::Duration retry_after = absl::Seconds(2);
  };

  // Answers whether the database has room for writes again; an error counts as "no".
  using RoomProbe = std::function<absl::StatusOr<bool>()>;

  // The status codes counted, in the order exported; every one is exported (from 0) so that alerts and
  // dashboards always find the series.
  static const std::vector<absl::StatusCode>& CountedCodes();

  // `database` names the database in log lines (a file path, a host).
  StoreHealth(std::string database, Options options);
  explicit StoreHealth(std::string database) : StoreHealth(std::move(database), Options()) {}

  // Installed by the store; nullptr removes it. Without a probe an episode ends at the next successful write.
  void SetRoomProbe(RoomProbe probe);

  void WriteFailed(const absl::Status& status);
  void WriteSucceeded();

  // OK while writes are expected to succeed; otherwise RESOURCE_EXHAUSTED with the last refusal's message
  // and a RetryInfo, for callers about to start work whose result must be stored.
  absl::Status CheckWritable();
  bool full();

  // Writes refused since start, by the lower-case name of their code ("resource_exhausted", ...).
  std::map<std::string, int64_t> WriteFailures() const;

 private:
  // Ends the episode if the probe, when due, says there is room.
  void MaybeProbe() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void EndEpisode(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const std::string database_;
  const Options options_;
  mutable absl::Mutex mutex_;
  RoomProbe probe_ ABSL_GUARDED_BY(mutex_);
  std::map<absl::StatusCode, int64_t> failures_ ABSL_GUARDED_BY(mutex_);
  bool full_ ABSL_GUARDED_BY(mutex_) = false;
  std::string refusal_ ABSL_GUARDED_BY(mutex_);  // the last RESOURCE_EXHAUSTED message
  absl::Time full_since_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  absl::Time last_probe_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  absl::Time last_full_log_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  absl::Time last_room_log_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  int64_t episode_refused_ ABSL_GUARDED_BY(mutex_) = 0;    // RESOURCE_EXHAUSTED refusals in this episode
  int64_t unlogged_episodes_ ABSL_GUARDED_BY(mutex_) = 0;  // episodes that started in a quiet period
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_STORE_HEALTH_H_
