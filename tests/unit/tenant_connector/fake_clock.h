#ifndef CROSSTENANT_TESTS_UNIT_TENANT_CONNECTOR_FAKE_CLOCK_H_
#define CROSSTENANT_TESTS_UNIT_TENANT_CONNECTOR_FAKE_CLOCK_H_

// A Clock for unit tests: SleepFor advances time at once and is recorded.

#include <vector>

#include "absl/time/time.h"
#include "services/tenant_connector/core/throttle.h"

namespace crosstenant::tenant_connector {

class FakeClock : public Clock {
 public:
  absl::Time Now() override { return now_; }
  void SleepFor(absl::Duration duration) override {
    slept_.push_back(duration);
    now_ += duration;
  }
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  std::vector<absl::Duration> slept_;
};

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_TESTS_UNIT_TENANT_CONNECTOR_FAKE_CLOCK_H_
