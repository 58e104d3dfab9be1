#ifndef CROSSTENANT_SERVICES_COMMON_PERIODIC_THREAD_H_
#define CROSSTENANT_SERVICES_COMMON_PERIODIC_THREAD_H_

// A thread that runs a function at once and then every `period` until it is stopped. Stop() wakes it
// from its wait, so a server shuts down without waiting out a period; a run in progress finishes.

#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace crosstenant {

class PeriodicThread {
 public:
  PeriodicThread() = default;
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;
  ~PeriodicThread() { Stop(); }

  // Starts the thread; call once.
  void Start(absl::Duration period, std::function<void()> run);

  // Stops and joins the thread; idempotent.
  void Stop();

 private:
  absl::Mutex mutex_;
  absl::CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_PERIODIC_THREAD_H_
