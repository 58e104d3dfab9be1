#ifndef CROSSTENANT_SERVICES_WORKER_CORE_WORKER_LOOP_H_
#define CROSSTENANT_SERVICES_WORKER_CORE_WORKER_LOOP_H_

// The worker's main loop: `concurrency` slots each lease one task at a time from the orchestrator (a
// long poll), run it through TaskRunner and report the completion; one more thread renews the leases
// of tasks in hand. A slot that leased a poll also takes the other polls ready at that moment (up to
// `poll_batch`) and reads them together. Drain stops new leases and lets the tasks in hand finish.

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crosstenant/v1/worker.pb.h"
#include "prometheus/registry.h"
#include "services/worker/core/task_runner.h"

namespace crosstenant::worker {

// The orchestrator's lease calls (implemented over gRPC in ../grpc).
class LeaseClient {
 public:
  virtual ~LeaseClient() = default;
  virtual absl::StatusOr<crosstenant::v1::LeaseTasksResponse> LeaseTasks(
      const crosstenant::v1::LeaseTasksRequest& request) = 0;
  virtual absl::StatusOr<crosstenant::v1::RenewLeasesResponse> RenewLeases(
      const crosstenant::v1::RenewLeasesRequest& request) = 0;
  virtual absl::StatusOr<crosstenant::v1::CompleteTaskResponse> CompleteTask(
      const crosstenant::v1::CompleteTaskRequest& request) = 0;
};

class WorkerLoop {
 public:
  struct Options {
    std::string worker_id;
    int concurrency = 4;
    absl::Duration lease_duration = absl::Seconds(60);
    absl::Duration lease_wait = absl::Seconds(5);
    absl::Duration idle_backoff = absl::Seconds(1);  // after a failed lease call
    // When a slot leases a POLL_MOVE task, it leases up to this many polls in all (the others that are
    // ready at once, without waiting) and reads them in one BatchGetUserContentMoves: one upstream Graph
    // $batch request per 20 polls instead of one GET each. 1 polls one task at a time.
    int poll_batch = 20;
    // When set, the loop exports worker_tasks_total{kind,outcome}, worker_task_seconds{kind},
    // worker_tasks_in_flight and worker_lease_errors_total here.
    prometheus::Registry* metrics = nullptr;
  };

  WorkerLoop(LeaseClient* orchestrator, TaskRunner* runner, Options options);
  ~WorkerLoop();  // Stop()

  void Start();
  // No new leases; tasks in hand finish. Returns at once.
  void Drain();
  // Drains and waits for every thread.
  void Stop();

  crosstenant::v1::WorkerStatus Status() const;

 private:
  void RunSlot();
  // Reports one task's completion and updates the counters and metrics.
  void Report(const crosstenant::v1::Task& task, const crosstenant::v1::CompleteTaskRequest& completion,
              absl::Time leased_at);
  void RenewLoop();

  LeaseClient* orchestrator_;
  TaskRunner* runner_;
  Options options_;
  std::atomic<bool> draining_{false};
  std::vector<std::thread> threads_;

  struct Metrics;
  std::unique_ptr<Metrics> metrics_;

  mutable absl::Mutex mutex_;
  std::map<std::string, crosstenant::v1::Task> active_ ABSL_GUARDED_BY(mutex_);
  crosstenant::v1::WorkerStatus counters_ ABSL_GUARDED_BY(mutex_);
  absl::CondVar wake_;  // signalled on Drain, for the renew thread
};

}  // namespace crosstenant::worker

#endif  // CROSSTENANT_SERVICES_WORKER_CORE_WORKER_LOOP_H_
