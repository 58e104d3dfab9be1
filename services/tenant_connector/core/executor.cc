#include "services/tenant_connector/core/executor.h"

namespace crosstenant::tenant_connector {

Executor::Executor(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

Executor::~Executor() { Shutdown(); }

void Executor::RunAt(absl::Time when, std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  queue_.push(Timed{when, sequence_++, std::move(task)});
}

void Executor::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
  absl::MutexLock lock(&mu_);
  while (!queue_.empty()) queue_.pop();
}

void Executor::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        if (stopping_) return;
        if (!queue_.empty() && queue_.top().when <= absl::Now()) break;
        // Wake for a new task, for the earliest timed one, or for shutdown.
        absl::Time wake = queue_.empty() ? absl::Now() + absl::Milliseconds(200)
                                         : std::min(queue_.top().when, absl::Now() + absl::Milliseconds(200));
        uint64_t seen = sequence_;
        auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || sequence_ != seen; };
        mu_.AwaitWithDeadline(absl::Condition(&changed), wake);
      }
      task = std::move(const_cast<Timed&>(queue_.top()).task);
      queue_.pop();
    }
    task();
  }
}

}  // namespace crosstenant::tenant_connector
