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
  Push(*state_, Timed{when, state_->sequence++, std::move(task)});
}

void Executor::Push(State& state, Timed task) {
  const absl::Time when = task.when;
  state.queue.push(std::move(task));
  // Waking every idle thread for each task (and each at every timed task's time) made the threads'
  // sleeps and wake-ups a quarter of a busy server's CPU: one thread is told, the one that needs to know.
  if (when <= absl::Now()) {
    if (state.idle > 0) {
      state.work.Signal();
    } else if (state.timer_waiting) {
      state.timer.Signal();  // the timer thread is the only idle one: it runs the task
    }
  } else if (state.timer_waiting) {
    if (when < state.timer_deadline) state.timer.Signal();  // it waits again, for this earlier time
  } else if (state.idle > 0) {
    state.work.Signal();  // one idle thread becomes the timer
  }
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
  Push(*state_, Timed{absl::InfinitePast(), state_->sequence++, [weak, name, task = WithCurrentTrace(std::move(task))] {
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
    state_->work.SignalAll();
    state_->timer.SignalAll();
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
      absl::Time now;
      for (;;) {
        if (state->stopping) return;
        now = absl::Now();
        if (!state->queue.empty() && state->queue.top().when <= now) break;
        if (!state->queue.empty() && !state->timer_waiting) {
          state->timer_waiting = true;
          state->timer_deadline = state->queue.top().when;
          state->timer.WaitWithDeadline(&state->mu, state->timer_deadline);
          state->timer_waiting = false;
        } else {
          ++state->idle;
          state->work.Wait(&state->mu);
          --state->idle;
        }
      }
      task = std::move(const_cast<Timed&>(state->queue.top()).task);
      state->queue.pop();
      ++state->running;
      // What is left needs a thread: one due now, or a timer for the next timed task (this thread may
      // have been the timer).
      if (!state->queue.empty() && state->idle > 0 && (state->queue.top().when <= now || !state->timer_waiting)) {
        state->work.Signal();
      }
    }
    task();
    absl::MutexLock lock(&state->mu);
    --state->running;
  }
}

}  // namespace crosstenant
