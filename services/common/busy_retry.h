#ifndef CROSSTENANT_SERVICES_COMMON_BUSY_RETRY_H_
#define CROSSTENANT_SERVICES_COMMON_BUSY_RETRY_H_

// Sending a call again while the callee refuses it as busy (ErrorInfo SERVER_BUSY: calls of that
// kind already fill their share of the callee's threads). Such a call never ran, so sending it again
// is safe whatever it does, and waiting here keeps the caller's own progress: a migration whose two
// concurrent checks met a connector with room for one must not start both over on every attempt.
//
//   absl::StatusOr<Response> result = RetryWhileBusy(absl::Seconds(20), [&] { return CallUnary<...>(...); });

#include "absl/random/random.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/common/errors.h"
#include "services/common/status_macros.h"

namespace crosstenant {

// `call()`, made again after part of the refusal's RetryInfo delay while it comes back SERVER_BUSY,
// for up to `busy_wait`; then its last result, whatever it is.
template <typename Call>
auto RetryWhileBusy(absl::Duration busy_wait, Call call) -> decltype(call()) {
  thread_local absl::BitGen random;
  const absl::Time give_up = absl::Now() + busy_wait;
  while (true) {
    auto result = call();
    const absl::Status& status = StatusOf(result);
    if (ErrorInfoReasonOf(status) != kReasonServerBusy) return result;
    // A part of the delay at random, so that the callers turned away together do not come back together.
    const absl::Duration wait = RetryDelayOf(status) * absl::Uniform(random, 0.25, 1.0);
    if (absl::Now() + wait > give_up) return result;
    absl::SleepFor(wait);
  }
}

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_BUSY_RETRY_H_
