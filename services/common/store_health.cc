#include "services/common/store_health.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/logging.h"

namespace crosstenant {
namespace {

std::string CodeLabel(absl::StatusCode code) { return absl::AsciiStrToLower(absl::StatusCodeToString(code)); }

std::string Seconds(absl::Duration duration) { return absl::StrCat(absl::ToInt64Seconds(duration), "s"); }

}  // namespace

const std::vector<absl::StatusCode>& StoreHealth::CountedCodes() {
  static const std::vector<absl::StatusCode> codes = {absl::StatusCode::kResourceExhausted,
                                                      absl::StatusCode::kUnavailable, absl::StatusCode::kDataLoss,
                                                      absl::StatusCode::kInternal};
  return codes;
}

StoreHealth::StoreHealth(std::string database, Options options)
    : database_(std::move(database)), options_(std::move(options)) {}

void StoreHealth::SetRoomProbe(RoomProbe probe) {
  absl::MutexLock lock(&mutex_);
  probe_ = std::move(probe);
}

void StoreHealth::WriteFailed(const absl::Status& status) {
  if (status.ok()) return;
  absl::MutexLock lock(&mutex_);
  const absl::StatusCode code = status.code();
  ++failures_[code == absl::StatusCode::kUnknown ? absl::StatusCode::kInternal : code];
  if (code != absl::StatusCode::kResourceExhausted) return;
  const absl::Time now = options_.now();
  refusal_ = std::string(status.message());
  last_probe_ = now;  // a refusal just now is the freshest answer there is
  if (!full_) {
    full_ = true;
    full_since_ = now;
    episode_refused_ = 1;
    if (now - last_full_log_ < options_.quiet_period) {
      ++unlogged_episodes_;
      return;
    }
    log::Fields fields = {{"database", database_}, {"error", refusal_}};
    if (unlogged_episodes_ > 0) {
      fields.push_back({"episodes_not_logged", absl::StrCat(unlogged_episodes_)});
      unlogged_episodes_ = 0;
    }
    log::Error("the state database is full: it refuses writes, and no new work is handed out until it has room again",
               fields);
    last_full_log_ = now;
    return;
  }
  ++episode_refused_;
  if (now - last_full_log_ >= options_.reminder_every) {
    log::Error("the state database is still full: it refuses writes",
               {{"database", database_},
                {"full_for", Seconds(now - full_since_)},
                {"refused_writes", absl::StrCat(episode_refused_)},
                {"error", refusal_}});
    last_full_log_ = now;
  }
}

void StoreHealth::WriteSucceeded() {
  absl::MutexLock lock(&mutex_);
  if (!full_) return;
  if (!probe_) {
    EndEpisode(options_.now());  // a write went through: nothing better to go by
    return;
  }
  MaybeProbe();
}

void StoreHealth::MaybeProbe() {
  if (!full_ || !probe_) return;
  const absl::Time now = options_.now();
  if (now - last_probe_ < options_.probe_every) return;
  last_probe_ = now;
  absl::StatusOr<bool> room = probe_();
  if (!room.ok()) {
    log::Debug("state database room probe failed", {{"database", database_}, {"error", room.status().ToString()}});
    return;
  }
  if (*room) EndEpisode(now);
}

void StoreHealth::EndEpisode(absl::Time now) {
  full_ = false;
  if (now - last_room_log_ < options_.quiet_period) return;
  log::Warning("the state database has room again: writes and new work resumed",
               {{"database", database_},
                {"full_for", Seconds(now - full_since_)},
                {"refused_writes", absl::StrCat(episode_refused_)}});
  last_room_log_ = now;
}

absl::Status StoreHealth::CheckWritable() {
  absl::MutexLock lock(&mutex_);
  MaybeProbe();
  if (!full_) return absl::OkStatus();
  return ResourceExhaustedWithRetry(
      absl::StrCat(refusal_, " [no new work is handed out while the state database is full]"), options_.retry_after);
}

bool StoreHealth::full() {
  absl::MutexLock lock(&mutex_);
  MaybeProbe();
  return full_;
}

std::map<std::string, int64_t> StoreHealth::WriteFailures() const {
  absl::MutexLock lock(&mutex_);
  std::map<std::string, int64_t> counts;
  for (absl::StatusCode code : CountedCodes()) counts[CodeLabel(code)] = 0;
  for (const auto& [code, count] : failures_) counts[CodeLabel(code)] += count;
  return counts;
}

}  // namespace crosstenant
