#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_SCALED_CLOCK_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_SCALED_CLOCK_H_

// Emulated time: real time multiplied by a scale, plus whatever the admin API advanced it by. Moves,
// trust dormancy and device codes run on it; tokens and Retry-After run on real time, because
// clients compare those with their own clocks.

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace crosstenant::emulator {

class ScaledClock {
 public:
  explicit ScaledClock(double scale) : scale_(scale) {}

  // Emulated time at start-up, whatever the scale or the advances since.
  absl::Time started() const { return started_; }
  // Emulated time since start-up.
  absl::Duration Elapsed() const { return Now() - started_; }

  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return NowLocked();
  }
  double scale() const {
    absl::MutexLock lock(&mu_);
    return scale_;
  }
  // Changes the speed from now on; emulated time stays continuous.
  void SetScale(double scale) {
    absl::MutexLock lock(&mu_);
    emulated_origin_ = NowLocked();
    real_origin_ = absl::Now();
    scale_ = scale;
  }
  void Advance(absl::Duration by) {
    absl::MutexLock lock(&mu_);
    emulated_origin_ += by;
  }

 private:
  absl::Time NowLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return emulated_origin_ + (absl::Now() - real_origin_) * scale_;
  }

  mutable absl::Mutex mu_;
  absl::Time real_origin_ = absl::Now();
  absl::Time emulated_origin_ = real_origin_;
  const absl::Time started_ = real_origin_;
  double scale_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_SCALED_CLOCK_H_
