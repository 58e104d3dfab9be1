#include "services/common/executor.h"

#include <algorithm>
#include <system_error>
#include <thread>

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

Executor::Executor(int max_threads, int kind_limit, absl::Duration keep_alive)
    : kind_limit_(kind_limit > 0 ? kind_limit : DefaultKindLimit(max_threads)),
      state_(std::make_shared<State>(std::max(max_threads, 1), keep_alive)) {
  absl::MutexLock lock(&state_->mu);
  StartThread(state_);
}

Executor::~Executor() { Shutdown(); }

int Executor::threads() const {
  absl::MutexLock lock(&state_->mu);
  return state_->threads;
}

void Executor::RunAt(absl::Time when, std::function<void()> task) {
  absl::MutexLock lock(&state_->mu);
  if (state_->stopping) return;
  Push(state_, Timed{when, state_->sequence++, std::move(task)});
}

void Executor::StartThread(const std::shared_ptr<State>& state) {
  try {
    std::thread([state] { Loop(state); }).detach();
    ++state->threads;
  } catch (const std::system_error& error) {
    // Out of threads (EAGAIN): the task waits for one of those already running.
    log::Warning("cannot start an executor thread",
                 {{"threads", std::to_string(state->threads)}, {"error", error.what()}});
  }
}

void Executor::Push(const std::shared_ptr<State>& state, Timed task) {
  const absl::Time when = task.when;
  state->queue.push(std::move(task));
  // Waking every idle thread for each task (and each at every timed task's time) made the threads'
  // sleeps and wake-ups a quarter of a busy server's CPU: one thread is told, the one that needs to know.
  if (when <= absl::Now()) {
    if (state->idle > 0) {
      state->work.Signal();
    } else if (state->threads < state->max_threads) {
      StartThread(state);
    } else if (state->timer_waiting) {
      state->timer.Signal();  // the timer thread is the only idle one: it runs the task
    }
  } else if (state->timer_waiting) {
    if (when < state->timer_deadline) state->timer.Signal();  // it waits again, for this earlier time
  } else if (state->idle > 0) {
    state->work.Signal();  // one idle thread becomes the timer
  } else if (state->threads < state->max_threads) {
    StartThread(state);  // every thread is busy: a new one becomes the timer, so the task is not late
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
  Push(state_, Timed{absl::InfinitePast(), state_->sequence++, [weak, name, task = WithCurrentTrace(std::move(task))] {
                       task();
                       if (std::shared_ptr<State> state = weak.lock()) {
                         absl::MutexLock done(&state->mu);
                         if (--state->kinds[name] == 0) state->kinds.erase(name);
                       }
                     }});
  return absl::OkStatus();
}

int Executor::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&state_->mu);
  if (state_->stopping) return 0;  // shut down before: what it abandoned was reported then
  state_->stopping = true;
  state_->work.SignalAll();
  state_->timer.SignalAll();
  // Dropped tasks release their kind's places too.
  while (!state_->queue.empty()) state_->queue.pop();
  state_->kinds.clear();
  // Every thread ends once it is out of its task; a thread still in one after the grace is left to
  // finish it on its own (it holds the state, not this Executor).
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) { return state_->threads == 0; };
  state_->mu.AwaitWithTimeout(absl::Condition(&ended), grace);
  const int abandoned = state_->running;
  if (abandoned > 0) {
    log::Error("tasks still running after the shutdown grace are abandoned",
               {{"tasks", std::to_string(abandoned)}, {"grace", absl::FormatDuration(grace)}});
  }
  return abandoned;
}

void Executor::Loop(std::shared_ptr<State> state) {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&state->mu);
      absl::Time now;
      bool idled_out = false;  // waited keep_alive for work and got none
      for (;;) {
        if (state->stopping) {
          --state->threads;
          return;
        }
        now = absl::Now();
        if (!state->queue.empty() && state->queue.top().when <= now) break;
        if (!state->queue.empty() && !state->timer_waiting) {
          state->timer_waiting = true;
          state->timer_deadline = state->queue.top().when;
          state->timer.WaitWithDeadline(&state->mu, state->timer_deadline);
          state->timer_waiting = false;
        } else {
          // Only once it has seen the queue: a task pushed as its wait ran out may be the one it was told of.
          if (idled_out && state->threads > 1) {
            --state->threads;
            return;
          }
          ++state->idle;
          idled_out = state->work.WaitWithTimeout(&state->mu, state->keep_alive);
          --state->idle;
        }
      }
      task = std::move(const_cast<Timed&>(state->queue.top()).task);
      state->queue.pop();
      ++state->running;
      // What is left needs a thread: one due now, or a timer for the next timed task (this thread may
      // have been the timer).
      if (!state->queue.empty() && (state->queue.top().when <= now || !state->timer_waiting)) {
        if (state->idle > 0) {
          state->work.Signal();
        } else if (state->threads < state->max_threads) {
          StartThread(state);
        }
      }
    }
    task();
    absl::MutexLock lock(&state->mu);
    --state->running;
  }
}

}  // namespace crosstenant
