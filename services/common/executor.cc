#include "services/common/executor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/logging.h"

namespace crosstenant {
namespace {

int DefaultKindLimit(int threads) {
  if (threads <= 1) return 1;
  return std::clamp(threads * 3 / 4, 1, threads - 1);
}

}  // namespace

Executor::Executor(int threads, int kind_limit)
    : kind_limit_(kind_limit > 0 ? kind_limit : DefaultKindLimit(threads)), state_(std::make_shared<State>()) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([state = state_] { Loop(state); });
}

Executor::~Executor() { Shutdown(); }

void Executor::RunAt(absl::Time when, std::function<void()> task) {
  absl::MutexLock lock(&state_->mu);
  if (state_->stopping) return;
  state_->queue.push(Timed{when, state_->sequence++, std::move(task)});
}

absl::Status Executor::TryRun(absl::string_view kind, std::function<void()> task) {
  absl::MutexLock lock(&state_->mu);
  if (state_->stopping) return absl::UnavailableError("the server is stopping");
  auto it = state_->kinds.find(kind);
  if (it == state_->kinds.end()) it = state_->kinds.emplace(std::string(kind), 0).first;
  if (it->second >= kind_limit_) {
    // A second is long enough for most calls of a kind to finish, short enough for a retrying caller.
    return WithErrorInfo(
        ResourceExhaustedWithRetry(absl::StrCat(kind, ": ", kind_limit_,
                                                " calls of this kind are already in progress (the limit of one "
                                                "kind, so that other calls keep threads); try again shortly"),
                                   absl::Seconds(1)),
        kReasonServerBusy, kCrosstenantDomain, {{"kind", std::string(kind)}});
  }
  ++it->second;
  std::string name(kind);
  std::weak_ptr<State> weak = state_;
  state_->queue.push(
      Timed{absl::InfinitePast(), state_->sequence++, [weak, name, task = WithCurrentTrace(std::move(task))] {
              task();
              if (std::shared_ptr<State> state = weak.lock()) {
                absl::MutexLock done(&state->mu);
                if (--state->kinds[name] == 0) state->kinds.erase(name);
              }
            }});
  return absl::OkStatus();
}

int Executor::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&state_->mu);
    if (state_->stopping && threads_.empty()) return 0;
    state_->stopping = true;
    // Dropped tasks release their kind's places too.
    while (!state_->queue.empty()) state_->queue.pop();
    state_->kinds.clear();
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) { return state_->running == 0; };
    if (grace != absl::InfiniteDuration()) state_->mu.AwaitWithTimeout(absl::Condition(&idle), grace);
  }
  int abandoned = 0;
  {
    absl::MutexLock lock(&state_->mu);
    abandoned = state_->running;
  }
  if (abandoned > 0 && grace != absl::InfiniteDuration()) {
    log::Error("tasks still running after the shutdown grace are abandoned",
               {{"tasks", std::to_string(abandoned)}, {"grace", absl::FormatDuration(grace)}});
    for (std::thread& thread : threads_) thread.detach();
  } else {
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    abandoned = 0;
  }
  threads_.clear();
  return abandoned;
}

void Executor::Loop(std::shared_ptr<State> state) {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&state->mu);
      for (;;) {
        if (state->stopping) return;
        if (!state->queue.empty() && state->queue.top().when <= absl::Now()) break;
        // Wake for a new task, for the earliest timed one, or for shutdown.
        absl::Time wake = state->queue.empty()
                              ? absl::Now() + absl::Milliseconds(200)
                              : std::min(state->queue.top().when, absl::Now() + absl::Milliseconds(200));
        uint64_t seen = state->sequence;
        auto changed = [&state, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) {
          return state->stopping || state->sequence != seen;
        };
        state->mu.AwaitWithDeadline(absl::Condition(&changed), wake);
      }
      task = std::move(const_cast<Timed&>(state->queue.top()).task);
      state->queue.pop();
      ++state->running;
    }
    task();
    absl::MutexLock lock(&state->mu);
    --state->running;
  }
}

}  // namespace crosstenant
