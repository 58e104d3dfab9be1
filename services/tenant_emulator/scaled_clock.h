#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_SCALED_CLOCK_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_SCALED_CLOCK_H_

// Emulated time: real time multiplied by a scale, plus whatever the admin API advanced it by. Moves,
// trust dormancy, device codes and SharePoint's long operations run on it, so the scale shortens their
// durations. Emulated instants never leave the emulator: an instant written into an answer is first
// converted with WallTimeOf to the real instant at which the emulated clock reached it, so Microsoft's
// timestamps are real, ordered like the events, and never in the future. Tokens, Retry-After and the
// Date header run on real time directly, because clients compare those with their own clocks.

#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace crosstenant::emulator {

class ScaledClock {
 public:
  // `real_now` reads the real clock (absl::Now unless a test gives its own).
  explicit ScaledClock(double scale, std::function<absl::Time()> real_now = nullptr)
      : real_now_(real_now ? std::move(real_now) : [] { return absl::Now(); }), started_(real_now_()) {
    segments_.push_back({started_, started_, scale});
  }

  // Emulated time at start-up, whatever the scale or the advances since (equal to the real time then).
  absl::Time started() const { return started_; }
  // Emulated time since start-up.
  absl::Duration Elapsed() const { return Now() - started_; }

  // The emulated now.
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return NowLocked(real_now_());
  }
  double scale() const {
    absl::MutexLock lock(&mu_);
    return segments_.back().scale;
  }
  // Changes the speed from now on; emulated time stays continuous.
  void SetScale(double scale) {
    absl::MutexLock lock(&mu_);
    const absl::Time real = real_now_();
    segments_.push_back({real, NowLocked(real), scale});
  }
  // Jumps emulated time forward by `by` (at least zero) at the real now.
  void Advance(absl::Duration by) {
    absl::MutexLock lock(&mu_);
    const absl::Time real = real_now_();
    segments_.push_back({real, NowLocked(real) + std::max(by, absl::ZeroDuration()), segments_.back().scale});
  }

  // The real instant at which the emulated clock reached `emulated`: piecewise across SetScale and
  // Advance; an instant skipped by an Advance maps to the real time of the jump; never later than the
  // real now (an emulated instant not reached yet maps to now). Before start-up both clocks agree.
  absl::Time WallTimeOf(absl::Time emulated) const {
    absl::MutexLock lock(&mu_);
    const absl::Time real_now = real_now_();
    if (emulated <= segments_.front().emulated) return std::min(emulated, real_now);
    // The first segment that begins at or after `emulated`: if it begins exactly there, that is when
    // the clock first reached it; otherwise the segment before it ran through `emulated` (or jumped over).
    auto next = std::lower_bound(segments_.begin(), segments_.end(), emulated,
                                 [](const Segment& s, absl::Time t) { return s.emulated < t; });
    if (next != segments_.end() && next->emulated == emulated) return std::min(next->real, real_now);
    const Segment& segment = *std::prev(next);
    const absl::Time cap = next == segments_.end() ? real_now : next->real;
    if (segment.scale <= 0) return cap;  // a frozen clock reached it only by the next jump
    return std::min(segment.real + (emulated - segment.emulated) / segment.scale, cap);
  }

  // The emulated instant that corresponds to the real instant `real`: for a time a client gives (a
  // preferred start), which it means on its own, real clock. A future instant assumes today's scale.
  absl::Time EmulatedTimeOf(absl::Time real) const {
    absl::MutexLock lock(&mu_);
    if (real < segments_.front().real) return real;
    // The last segment that had begun by `real` (after a jump at that very instant).
    auto after = std::upper_bound(segments_.begin(), segments_.end(), real,
                                  [](absl::Time t, const Segment& s) { return t < s.real; });
    const Segment& segment = *std::prev(after);
    return segment.emulated + (real - segment.real) * segment.scale;
  }

 private:
  // From `real` on (until the next segment), emulated time runs from `emulated` at `scale`.
  struct Segment {
    absl::Time real;
    absl::Time emulated;
    double scale;
  };

  absl::Time NowLocked(absl::Time real) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const Segment& last = segments_.back();
    return last.emulated + (real - last.real) * last.scale;
  }

  const std::function<absl::Time()> real_now_;
  const absl::Time started_;
  mutable absl::Mutex mu_;
  // Begin in real and in emulated order; one per SetScale or Advance (admin calls, so few).
  std::vector<Segment> segments_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_SCALED_CLOCK_H_
