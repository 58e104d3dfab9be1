#ifndef CROSSTENANT_SERVICES_WORKER_CORE_WORKER_LOOP_H_
#define CROSSTENANT_SERVICES_WORKER_CORE_WORKER_LOOP_H_

// The worker's main loop: `concurrency` slots each lease up to `lease_batch` tasks at a time from the
// orchestrator (a long poll that returns as soon as one is ready), run them one after the other through
// TaskRunner and hand their completions to the reporter; one thread renews the leases of tasks in hand,
// and one reports the completions of every slot together (CompleteTasks, up to `report_batch` per call,
// gathered for `report_linger`, one migration's trace per call), so that the orchestrator records a
// batch of results in one transaction instead of one each. A slot whose lease brought only polls (only
// starts) also takes the other polls (starts) ready at that moment, up to `poll_batch` (`start_batch`)
// in all, and sends them to the connector together. Drain
// stops new leases and lets the tasks in hand finish and be reported.
//
// A result is not dropped because the orchestrator could not record it for a while (its database full,
// the orchestrator restarting, a timeout): the reporter keeps the completion and sends it again, backing
// off, for as long as the lease is held, which the renew thread keeps extending. Only a lease the
// orchestrator says is lost (ABORTED, or a renewal refused), a lease that ran out because renewals kept
// failing, or an error that will not go away (INVALID_ARGUMENT...) ends the attempts; the task is then
// handed out again later and redone, which is safe: a start is looked up before it is retried. While
// draining, leases of tasks that are only waiting to report are no longer renewed, so that shutdown
// takes at most one lease duration more. A slot leases nothing new while `report_batch` completions
// wait to be reported.

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crosstenant/v1/worker.pb.h"
#include "prometheus/registry.h"
#include "services/common/trace_context.h"
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
  virtual absl::StatusOr<crosstenant::v1::CompleteTasksResponse> CompleteTasks(
      const crosstenant::v1::CompleteTasksRequest& request) = 0;
};

class WorkerLoop {
 public:
  struct Options {
    std::string worker_id;
    int concurrency = 4;
    absl::Duration lease_duration = absl::Seconds(60);
    absl::Duration lease_wait = absl::Seconds(5);
    absl::Duration idle_backoff = absl::Seconds(1);  // after a failed lease call (or its RetryInfo, up to 30s)
    // Between two attempts to report a completion the orchestrator could not record: doubling from
    // `report_backoff` up to `report_backoff_max`, or the orchestrator's RetryInfo when longer.
    absl::Duration report_backoff = absl::Milliseconds(500);
    absl::Duration report_backoff_max = absl::Seconds(10);
    // Most completions in one CompleteTasks call (1 to 100), and how long a completion waits for others
    // to go with it. Zero linger reports each as soon as the reporter is free.
    int report_batch = 50;
    absl::Duration report_linger = absl::Milliseconds(20);
    // When a slot's lease brings only POLL_MOVE tasks, it leases up to this many polls in all (the others
    // that are ready at once, without waiting) and reads them in one BatchGetUserContentMoves: one
    // upstream Graph $batch request per 20 polls instead of one GET each. Polls leased with other tasks
    // are read together up to this many too. 1 to 100, clamped; 1 polls one task at a time.
    int poll_batch = 20;
    // The same for START_MOVE tasks, sent in one BatchStartUserContentMoves: one upstream Graph $batch
    // request per 20 first attempts instead of one POST each. 1 to 20, clamped; 1 starts one at a time.
    int start_batch = 20;
    // Tasks a slot leases in one call (1 to 100, clamped), run one after the other (polls among them read
    // together): fewer lease calls and orchestrator transactions per user. A long poll still returns as
    // soon as one task is ready, so a small migration is not held back.
    int lease_batch = 4;
    // When set, the loop exports worker_tasks_total{kind,outcome}, worker_task_seconds{kind},
    // worker_tasks_in_flight, worker_lease_errors_total and worker_completion_retries_total here.
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
  // A task in hand: its lease as far as this worker knows.
  struct Held {
    crosstenant::v1::Task task;
    absl::Time held_until;   // by this worker's clock: when the lease runs out unless renewed
    bool lost = false;       // the orchestrator refused to renew it
    bool reporting = false;  // done; its completion is being sent again
  };

  // A completion waiting to be reported.
  struct Report {
    crosstenant::v1::CompleteTaskRequest completion;
    crosstenant::v1::TaskKind kind = crosstenant::v1::TASK_KIND_UNSPECIFIED;
    std::optional<TraceContext> trace;  // the task's: each call carries one trace (one migration's)
    absl::Time leased_at;
    absl::Time due;          // not sent before
    absl::Duration backoff;  // before the next attempt, should this one not be recorded
    int attempts = 0;
  };

  void RunSlot();
  // Logs a task's end and hands its completion to the reporter.
  void Finish(const crosstenant::v1::Task& task, const crosstenant::v1::CompleteTaskRequest& completion,
              absl::Time leased_at);
  void RenewLoop();
  // The reporter: sends the completions that are due, in batches, until drained and none is left.
  void ReportLoop();
  // What became of one report `answer`ed by the orchestrator: done, or due again later (see above).
  void Answered(Report report, const absl::Status& answer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // A report's end: the task leaves the worker, counted as recorded (`answer` OK) or abandoned.
  void Done(const Report& report, const absl::Status& answer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  LeaseClient* orchestrator_;
  TaskRunner* runner_;
  Options options_;
  std::atomic<bool> draining_{false};
  std::vector<std::thread> threads_;

  struct Metrics;
  std::unique_ptr<Metrics> metrics_;

  mutable absl::Mutex mutex_;
  std::map<std::string, Held> active_ ABSL_GUARDED_BY(mutex_);
  std::vector<Report> reports_ ABSL_GUARDED_BY(mutex_);
  int slots_running_ ABSL_GUARDED_BY(mutex_) = 0;
  crosstenant::v1::WorkerStatus counters_ ABSL_GUARDED_BY(mutex_);
  absl::CondVar wake_;          // signalled on Drain, for the renew thread and a slot backing off
  absl::CondVar room_;          // signalled when reports are taken to be sent, and on Drain: for the slots
  absl::CondVar report_ready_;  // signalled when a completion is handed over, a slot ends, and on Drain
};

}  // namespace crosstenant::worker

#endif  // CROSSTENANT_SERVICES_WORKER_CORE_WORKER_LOOP_H_
