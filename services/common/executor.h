#ifndef CROSSTENANT_SERVICES_COMMON_EXECUTOR_H_
#define CROSSTENANT_SERVICES_COMMON_EXECUTOR_H_

// A pool of threads that runs closures now or at a given time. Every gRPC adapter runs the work of a
// call that may block (upstream HTTPS, a store read or write) here, never on gRPC's callback threads,
// and finishes the call from here; timed work (sign-in polls, probes, a lease wait's next look) is
// scheduled here too.
//
// The pool grows with the work: a task due now starts a thread when none is idle, up to `max_threads`,
// and a thread idle for `keep_alive` ends, down to one. An idle service thus holds one thread, not
// its busiest hour's: each thread that ever ran keeps its stack's touched pages and its allocator cache
// (glibc's per-thread cache) for as long as it lives.
//
//   Executor executor(16);
//   executor.Run([] { ... });
//   executor.RunAt(absl::Now() + absl::Seconds(5), [] { ... });
//   RETURN_IF_ERROR(executor.TryRun("CreateConnection", [] { ... }));  // at most kind_limit() at once
//
// A task given to Run or TryRun runs under the trace that was current when it was given
// (trace_context.h), so that its log lines and outgoing calls belong to the call that made it. Timed
// work (RunAt: probes, sign-in polls, a long-poll's next look) outlives any call and runs under none.
//
// One kind of work (one RPC) can never hold every thread: TryRun refuses a kind that already has
// kind_limit() tasks queued or running, so the other kinds keep threads to run on.

#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/common/trace_context.h"

namespace crosstenant {

class Executor {
 public:
  // `kind_limit`: tasks of one kind queued or running at once; 0 means three quarters of `max_threads`
  // (at least 1, and below `max_threads` when there are 2 or more).
  explicit Executor(int max_threads, int kind_limit = 0, absl::Duration keep_alive = absl::Seconds(2));
  ~Executor();  // Shutdown()
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void Run(std::function<void()> task) { RunAt(absl::InfinitePast(), WithCurrentTrace(std::move(task))); }
  void RunAt(absl::Time when, std::function<void()> task);
  // Runs `task` now unless `kind` already has kind_limit() tasks queued or running: then
  // RESOURCE_EXHAUSTED with RetryInfo, naming the kind, and `task` is dropped.
  absl::Status TryRun(absl::string_view kind, std::function<void()> task);
  int kind_limit() const { return kind_limit_; }
  // Threads alive now (1 to max_threads; 0 after Shutdown).
  int threads() const;

  // Drops tasks not yet started and waits up to `grace` for running ones; threads still running a
  // task then are left to finish it (logged) so that a task blocked for ever does not hang the process.
  // Returns the number of tasks abandoned. Idempotent.
  int Shutdown(absl::Duration grace = absl::InfiniteDuration());

 private:
  struct Timed {
    absl::Time when;
    uint64_t sequence;
    std::function<void()> task;
    bool operator>(const Timed& other) const {
      return when != other.when ? when > other.when : sequence > other.sequence;
    }
  };
  // Shared with the threads, so that an abandoned thread never touches a destroyed Executor.
  struct State {
    State(int max_threads, absl::Duration keep_alive) : max_threads(max_threads), keep_alive(keep_alive) {}
    const int max_threads;
    const absl::Duration keep_alive;
    absl::Mutex mu;
    int threads ABSL_GUARDED_BY(mu) = 0;  // alive
    std::priority_queue<Timed, std::vector<Timed>, std::greater<Timed>> queue ABSL_GUARDED_BY(mu);
    uint64_t sequence ABSL_GUARDED_BY(mu) = 0;
    bool stopping ABSL_GUARDED_BY(mu) = false;
    int running ABSL_GUARDED_BY(mu) = 0;  // threads inside a task
    // Idle threads wait on `work`, except one, the timer, which waits on `timer` for the earliest timed
    // task: a new task wakes one thread, never all of them.
    absl::CondVar work;
    absl::CondVar timer;
    int idle ABSL_GUARDED_BY(mu) = 0;  // threads waiting on `work`
    bool timer_waiting ABSL_GUARDED_BY(mu) = false;
    absl::Time timer_deadline ABSL_GUARDED_BY(mu);
    std::map<std::string, int, std::less<>> kinds ABSL_GUARDED_BY(mu);  // queued or running, by kind
  };
  // A thread's life: runs tasks until the executor stops, or until it was idle for keep_alive and is
  // not the last one.
  static void Loop(std::shared_ptr<State> state);
  // Starts a thread (detached: it holds `state` and counts itself in state->threads).
  static void StartThread(const std::shared_ptr<State>& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu);
  // Queues `task` and wakes (or starts) the one thread that should see it.
  static void Push(const std::shared_ptr<State>& state, Timed task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu);

  const int kind_limit_;
  std::shared_ptr<State> state_;
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_EXECUTOR_H_
