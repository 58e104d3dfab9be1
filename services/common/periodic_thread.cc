#include "services/common/periodic_thread.h"

namespace crosstenant {

void PeriodicThread::Start(absl::Duration period, std::function<void()> run) {
  thread_ = std::thread([this, period, run = std::move(run)] {
    absl::MutexLock lock(&mutex_);
    while (!stopping_) {
      mutex_.Unlock();
      run();
      mutex_.Lock();
      if (!stopping_) wake_.WaitWithTimeout(&mutex_, period);
    }
  });
}

void PeriodicThread::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
    wake_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace crosstenant
