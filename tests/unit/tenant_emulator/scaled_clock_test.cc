#include "services/tenant_emulator/scaled_clock.h"

#include <gtest/gtest.h>

namespace crosstenant::emulator {
namespace {

// The real clock is the test's: it moves only when the test says so.
class TenantEmulatorScaledClockTest : public ::testing::Test {
 protected:
  absl::Time real_ = absl::FromUnixSeconds(1'800'000'000);
  ScaledClock clock_{60, [this] { return real_; }};
};

TEST_F(TenantEmulatorScaledClockTest, ScalesDurationsAndMapsInstantsBackToRealTime) {
  const absl::Time start = real_;
  EXPECT_EQ(clock_.started(), start);
  real_ += absl::Seconds(10);
  EXPECT_EQ(clock_.Now(), start + absl::Minutes(10)) << "10 s at 60x";
  EXPECT_EQ(clock_.Elapsed(), absl::Minutes(10));
  EXPECT_EQ(clock_.WallTimeOf(start + absl::Minutes(5)), start + absl::Seconds(5));
  EXPECT_EQ(clock_.WallTimeOf(clock_.Now()), real_);
  EXPECT_EQ(clock_.WallTimeOf(start), start);
  EXPECT_EQ(clock_.WallTimeOf(start - absl::Hours(1)), start - absl::Hours(1)) << "before start-up both agree";
  EXPECT_EQ(clock_.WallTimeOf(start + absl::Hours(5)), real_) << "an instant not reached yet is never ahead";
}

TEST_F(TenantEmulatorScaledClockTest, SetScaleIsPiecewise) {
  const absl::Time start = real_;
  real_ += absl::Seconds(10);  // emulated +10 min
  clock_.SetScale(1);
  real_ += absl::Seconds(30);  // emulated +30 s
  clock_.SetScale(600);
  real_ += absl::Seconds(1);  // emulated +10 min
  EXPECT_EQ(clock_.scale(), 600);
  EXPECT_EQ(clock_.Now(), start + absl::Minutes(20) + absl::Seconds(30));
  EXPECT_EQ(clock_.WallTimeOf(start + absl::Minutes(10)), start + absl::Seconds(10));
  EXPECT_EQ(clock_.WallTimeOf(start + absl::Minutes(10) + absl::Seconds(15)), start + absl::Seconds(25));
  EXPECT_EQ(clock_.WallTimeOf(start + absl::Minutes(15) + absl::Seconds(30)),
            start + absl::Seconds(40) + absl::Milliseconds(500));
}

TEST_F(TenantEmulatorScaledClockTest, AnInstantInsideAnAdvanceMapsToTheJump) {
  const absl::Time start = real_;
  real_ += absl::Seconds(1);  // emulated +1 min
  clock_.Advance(absl::Hours(2));
  const absl::Time jump = real_;
  real_ += absl::Seconds(1);  // emulated +1 min
  EXPECT_EQ(clock_.Now(), start + absl::Hours(2) + absl::Minutes(2));
  EXPECT_EQ(clock_.WallTimeOf(start + absl::Seconds(30)), start + absl::Milliseconds(500)) << "before the jump";
  EXPECT_EQ(clock_.WallTimeOf(start + absl::Minutes(1)), jump) << "where the jump starts";
  EXPECT_EQ(clock_.WallTimeOf(start + absl::Hours(1)), jump) << "skipped by the jump";
  EXPECT_EQ(clock_.WallTimeOf(start + absl::Hours(2) + absl::Minutes(1)), jump) << "where the jump lands";
  EXPECT_EQ(clock_.WallTimeOf(start + absl::Hours(2) + absl::Minutes(1) + absl::Seconds(30)),
            jump + absl::Milliseconds(500));
  // Ordered like the events, never in the future.
  absl::Time previous = absl::InfinitePast();
  for (absl::Duration d = absl::ZeroDuration(); d < absl::Hours(3); d += absl::Minutes(7)) {
    const absl::Time wall = clock_.WallTimeOf(start + d);
    EXPECT_GE(wall, previous);
    EXPECT_LE(wall, real_);
    previous = wall;
  }
}

TEST_F(TenantEmulatorScaledClockTest, AFrozenClockReachesAnInstantOnlyByAJump) {
  ScaledClock frozen(0, [this] { return real_; });
  const absl::Time start = real_;
  real_ += absl::Seconds(5);
  EXPECT_EQ(frozen.Now(), start);
  frozen.Advance(absl::Minutes(6));
  const absl::Time jump = real_;
  real_ += absl::Seconds(5);
  EXPECT_EQ(frozen.WallTimeOf(start), start);
  EXPECT_EQ(frozen.WallTimeOf(start + absl::Minutes(3)), jump);
  EXPECT_EQ(frozen.WallTimeOf(start + absl::Minutes(6)), jump);
  EXPECT_EQ(frozen.WallTimeOf(start + absl::Minutes(7)), real_);
}

TEST_F(TenantEmulatorScaledClockTest, ARealInstantAClientGivesMapsToEmulatedTime) {
  const absl::Time start = real_;
  real_ += absl::Seconds(10);
  clock_.Advance(absl::Hours(1));
  real_ += absl::Seconds(10);
  EXPECT_EQ(clock_.EmulatedTimeOf(start - absl::Minutes(1)), start - absl::Minutes(1));
  EXPECT_EQ(clock_.EmulatedTimeOf(start + absl::Seconds(5)), start + absl::Minutes(5));
  EXPECT_EQ(clock_.EmulatedTimeOf(start + absl::Seconds(10)), start + absl::Hours(1) + absl::Minutes(10))
      << "after the jump at that instant";
  EXPECT_EQ(clock_.EmulatedTimeOf(real_), clock_.Now());
  EXPECT_EQ(clock_.EmulatedTimeOf(real_ + absl::Minutes(1)), clock_.Now() + absl::Hours(1)) << "at today's scale";
  EXPECT_EQ(clock_.WallTimeOf(clock_.EmulatedTimeOf(start + absl::Seconds(15))), start + absl::Seconds(15));
}

}  // namespace
}  // namespace crosstenant::emulator
