#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_EXECUTOR_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_EXECUTOR_H_

// A fixed pool of threads that runs closures now or at a given time. Upstream calls (which may wait
// out a Retry-After) run here, never on gRPC's callback threads; device code polls and health probes
// are scheduled here too.
//
//   Executor executor(16);
//   executor.Run([] { ... });
//   executor.RunAt(absl::Now() + absl::Seconds(5), [] { ... });

#include <functional>
#include <queue>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace crosstenant::tenant_connector {

class Executor {
 public:
  explicit Executor(int threads);
  ~Executor();  // Shutdown()
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void Run(std::function<void()> task) { RunAt(absl::InfinitePast(), std::move(task)); }
  void RunAt(absl::Time when, std::function<void()> task);
  // Drops tasks not yet started, waits for running ones, joins the threads. Idempotent.
  void Shutdown();

 private:
  struct Timed {
    absl::Time when;
    uint64_t sequence;
    std::function<void()> task;
    bool operator>(const Timed& other) const {
      return when != other.when ? when > other.when : sequence > other.sequence;
    }
  };
  void Loop();

  absl::Mutex mu_;
  std::priority_queue<Timed, std::vector<Timed>, std::greater<Timed>> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_EXECUTOR_H_
