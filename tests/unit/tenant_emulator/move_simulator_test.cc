#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/tenant_emulator/move_simulator.h"

namespace crosstenant::emulator {
namespace {

using ::testing::HasSubstr;

class TenantEmulatorMoveSimulatorTest : public ::testing::Test {
 protected:
  TenantEmulatorMoveSimulatorTest() : clock_(0) {
    seed_ = *LoadSeedText(R"(settings:
  max_queued_per_geo: 2
  dormant_period: 1h
  move_durations: {scheduled: 1m, ready_to_trigger: 1m, validation: 1m, backup: 1m, restore: 1m, cleanup: 1m}
tenants:
  - name: contoso
    users: [{upn: a@contoso.onmicrosoft.com}, {upn: b@contoso.onmicrosoft.com}, {upn: c@contoso.onmicrosoft.com},
            {upn: ro@contoso.onmicrosoft.com, onedrive: {read_only: true}}]
  - name: fabrikam
    users: [{upn: a@fabrikam.onmicrosoft.com, onedrive: {exists: false}},
            {upn: b@fabrikam.onmicrosoft.com, onedrive: {exists: false}},
            {upn: c@fabrikam.onmicrosoft.com, onedrive: {exists: false}},
            {upn: ro@fabrikam.onmicrosoft.com, onedrive: {exists: false}}]
)",
                          "seed.yaml", "/tmp");
    directory_ = std::make_unique<Directory>(*Directory::Build(seed_));
    cloud_ = std::make_unique<CloudState>(*directory_);
    moves_ = std::make_unique<MoveSimulator>(*directory_, seed_.settings, clock_, *cloud_, accounting_,
                                             [this](MoveState state) { transitions_.push_back(state); });
  }

  void Trust(absl::Time created) {
    absl::MutexLock lock(&cloud_->mu);
    cloud_->geos[0][0].relationships.push_back({"https://fabrikam-my.sharepoint.com", "Target", created});
    cloud_->geos[1][0].relationships.push_back({"https://contoso-my.sharepoint.com", "Source", created});
  }

  MoveAnswer Start(const std::string& user, bool validate_only = false) {
    return moves_->Start(0,
                         {{"parameters",
                           {{"targetOrganizationHost", "https://fabrikam-my.sharepoint.com"},
                            {"sourceUserIdentity", {{"userPrincipalName", user + "@contoso.onmicrosoft.com"}}},
                            {"targetUserIdentity", {{"userPrincipalName", user + "@fabrikam.onmicrosoft.com"}}},
                            {"validateOnly", validate_only}}}},
                         {});
  }

  std::string State(const std::string& user) {
    nlohmann::ordered_json rows =
        moves_->MoveStates(0, 0, "https://fabrikam-my.sharepoint.com/", user + "@contoso.onmicrosoft.com");
    return rows.empty() ? "" : rows.back()["MoveState"].get<std::string>();
  }

  Seed seed_;
  ScaledClock clock_;
  Accounting accounting_;
  std::unique_ptr<Directory> directory_;
  std::unique_ptr<CloudState> cloud_;
  std::unique_ptr<MoveSimulator> moves_;
  std::vector<MoveState> transitions_;
};

TEST_F(TenantEmulatorMoveSimulatorTest, TrustIsRequiredAndDormancyCounts) {
  EXPECT_EQ(Start("a").status, 422);
  Trust(clock_.Now());
  EXPECT_EQ(Start("a").status, 422) << "DormantByPartner is not GoodToProceed";
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(Start("a").status, 200);
}

TEST_F(TenantEmulatorMoveSimulatorTest, ProgressesAndMovesTheOneDrive) {
  Trust(clock_.Now() - absl::Hours(2));
  MoveAnswer started = Start("a");
  ASSERT_EQ(started.status, 200) << started.message;
  EXPECT_EQ(State("a"), "Scheduled");
  clock_.Advance(absl::Minutes(6));
  EXPECT_EQ(State("a"), "Success");
  EXPECT_EQ(transitions_,
            (std::vector<MoveState>{MoveState::kNotStarted, MoveState::kScheduled, MoveState::kReadyToTrigger,
                                    MoveState::kInProgress, MoveState::kSuccess}));
  absl::MutexLock lock(&cloud_->mu);
  EXPECT_FALSE(cloud_->drives[0][0].exists);
  EXPECT_TRUE(cloud_->drives[1][0].exists);
  ASSERT_EQ(cloud_->geos[0][0].redirects.size(), 1u);
  EXPECT_EQ(cloud_->geos[0][0].redirects[0].redirect_url,
            "https://fabrikam-my.sharepoint.com/personal/a_fabrikam_onmicrosoft_com");
}

TEST_F(TenantEmulatorMoveSimulatorTest, QueueLimitDuplicatesAndValidationFailure) {
  Trust(clock_.Now() - absl::Hours(2));
  ASSERT_EQ(Start("a").status, 200);
  EXPECT_EQ(Start("a").status, 409);
  ASSERT_EQ(Start("ro").status, 200);
  MoveAnswer full = Start("b");
  EXPECT_EQ(full.status, 409);
  EXPECT_THAT(full.message, HasSubstr("already has 2 queued"));
  clock_.Advance(absl::Minutes(3));
  EXPECT_EQ(State("ro"), "Failed");
  EXPECT_EQ(Start("b").status, 200) << "the failed move left the queue";
  MoveAnswer validated = Start("c", true);
  EXPECT_EQ(validated.body["status"], "completed");
  EXPECT_EQ(accounting_.ToJson()["moves"]["duplicates"], 1);
}

TEST_F(TenantEmulatorMoveSimulatorTest, CancelOnlyBeforeInProgress) {
  Trust(clock_.Now() - absl::Hours(2));
  const std::string a = Start("a").body["id"];
  EXPECT_EQ(moves_->Cancel(0, a).status, 204);
  EXPECT_EQ(State("a"), "Stopped");
  const std::string b = Start("b").body["id"];
  clock_.Advance(absl::Minutes(2));
  EXPECT_EQ(moves_->Cancel(0, b).status, 409);
  EXPECT_EQ(moves_->Cancel(1, b).status, 404) << "another tenant's task";
}

TEST_F(TenantEmulatorMoveSimulatorTest, MovingBackNeedsTheRedirectRemoved) {
  Trust(clock_.Now() - absl::Hours(2));
  {
    absl::MutexLock lock(&cloud_->mu);
    cloud_->geos[1][0].relationships.push_back(
        {"https://contoso-my.sharepoint.com", "Target", clock_.Now() - absl::Hours(2)});
    cloud_->geos[0][0].relationships.push_back(
        {"https://fabrikam-my.sharepoint.com", "Source", clock_.Now() - absl::Hours(2)});
  }
  ASSERT_EQ(Start("a").status, 200);
  clock_.Advance(absl::Minutes(6));
  ASSERT_EQ(State("a"), "Success");
  auto back = [&] {
    return moves_->Start(1,
                         {{"parameters",
                           {{"targetOrganizationHost", "https://contoso-my.sharepoint.com"},
                            {"sourceUserIdentity", {{"userPrincipalName", "a@fabrikam.onmicrosoft.com"}}},
                            {"targetUserIdentity", {{"userPrincipalName", "a@contoso.onmicrosoft.com"}}}}}},
                         {});
  };
  MoveAnswer refused = back();
  EXPECT_EQ(refused.status, 409);
  EXPECT_THAT(refused.message, HasSubstr("redirect site"));
  {
    absl::MutexLock lock(&cloud_->mu);
    cloud_->geos[0][0].redirects.clear();
  }
  EXPECT_EQ(back().status, 200);
}

}  // namespace
}  // namespace crosstenant::emulator
