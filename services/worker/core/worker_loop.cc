#include "services/worker/core/worker_loop.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/common/error_detail.h"
#include "services/common/errors.h"
#include "services/common/proto_time.h"
#include "services/common/logging.h"
#include "services/common/trace_context.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace crosstenant::worker {
namespace {

namespace v1 = ::crosstenant::v1;

std::string Label(const std::string& enum_name, absl::string_view prefix) {
  return absl::AsciiStrToLower(absl::StripPrefix(enum_name, prefix));
}

// A completion refused with these may be recorded if sent again (the orchestrator's database full or
// locked, the orchestrator restarting or slow). ABORTED says the lease is lost: never sent again.
bool RetryableCompletion(absl::StatusCode code) {
  return code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kDeadlineExceeded || code == absl::StatusCode::kInternal ||
         code == absl::StatusCode::kUnknown || code == absl::StatusCode::kCancelled;
}

std::string Describe(const absl::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
}

}  // namespace

struct WorkerLoop::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : tasks(prometheus::BuildCounter()
                  .Name("worker_tasks_total")
                  .Help("Tasks run, by kind and the outcome reported to the orchestrator.")
                  .Register(registry)),
        seconds(prometheus::BuildHistogram()
                    .Name("worker_task_seconds")
                    .Help("Time from lease to completion of a task, by kind.")
                    .Register(registry)),
        in_flight(prometheus::BuildGauge()
                      .Name("worker_tasks_in_flight")
                      .Help("Tasks in hand now.")
                      .Register(registry)
                      .Add({})),
        lease_errors(prometheus::BuildCounter()
                         .Name("worker_lease_errors_total")
                         .Help("Failed calls to the orchestrator's LeaseTasks.")
                         .Register(registry)
                         .Add({})),
        completion_retries(prometheus::BuildCounter()
                               .Name("worker_completion_retries_total")
                               .Help("Completions sent again because the orchestrator could not record them.")
                               .Register(registry)
                               .Add({})) {}
  prometheus::Family<prometheus::Counter>& tasks;
  prometheus::Family<prometheus::Histogram>& seconds;
  prometheus::Gauge& in_flight;
  prometheus::Counter& lease_errors;
  prometheus::Counter& completion_retries;
};

WorkerLoop::WorkerLoop(LeaseClient* orchestrator, TaskRunner* runner, Options options)
    : orchestrator_(orchestrator), runner_(runner), options_(std::move(options)) {
  // CompleteTasks takes 1-100 completions; the slots' hold-back counts against the same number.
  options_.report_batch = std::clamp(options_.report_batch, 1, 100);
  options_.lease_batch = std::clamp(options_.lease_batch, 1, 100);
  options_.poll_batch = std::clamp(options_.poll_batch, 1, 100);
  options_.start_batch = std::clamp(options_.start_batch, 1, 20);
  if (options_.metrics) metrics_ = std::make_unique<Metrics>(*options_.metrics);
  counters_.set_worker_id(options_.worker_id);
  counters_.set_concurrency(options_.concurrency);
  counters_.set_state(v1::WORKER_STATE_STARTING);
}

WorkerLoop::~WorkerLoop() { Stop(); }

void WorkerLoop::Start() {
  {
    absl::MutexLock lock(&mutex_);
    counters_.set_state(v1::WORKER_STATE_RUNNING);
  }
  {
    absl::MutexLock lock(&mutex_);
    slots_running_ = options_.concurrency;
  }
  for (int i = 0; i < options_.concurrency; ++i) threads_.emplace_back([this] { RunSlot(); });
  threads_.emplace_back([this] { RenewLoop(); });
  threads_.emplace_back([this] { ReportLoop(); });
}

void WorkerLoop::Drain() {
  draining_ = true;
  absl::MutexLock lock(&mutex_);
  if (counters_.state() == v1::WORKER_STATE_RUNNING || counters_.state() == v1::WORKER_STATE_STARTING) {
    counters_.set_state(active_.empty() ? v1::WORKER_STATE_DRAINED : v1::WORKER_STATE_DRAINING);
  }
  wake_.SignalAll();
  room_.SignalAll();
  report_ready_.SignalAll();
}

void WorkerLoop::Stop() {
  Drain();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  absl::MutexLock lock(&mutex_);
  counters_.set_state(v1::WORKER_STATE_DRAINED);
}

void WorkerLoop::RunSlot() {
  while (!draining_) {
    {
      // Results the orchestrator has not taken yet are enough: no new work until they are reported.
      absl::MutexLock lock(&mutex_);
      const size_t most = static_cast<size_t>(options_.report_batch);
      while (reports_.size() >= most && !draining_) room_.Wait(&mutex_);
      if (draining_) break;
    }
    v1::LeaseTasksRequest request;
    request.set_worker_id(options_.worker_id);
    request.set_max_tasks(options_.lease_batch);
    SetDuration(options_.lease_duration, request.mutable_lease_duration());
    SetDuration(options_.lease_wait, request.mutable_wait_time());
    const absl::Time asked_at = absl::Now();
    absl::StatusOr<v1::LeaseTasksResponse> leased = orchestrator_->LeaseTasks(request);
    if (!leased.ok()) {
      if (metrics_) metrics_->lease_errors.Increment();
      absl::MutexLock lock(&mutex_);
      counters_.mutable_orchestrator()->set_reachable(false);
      counters_.mutable_orchestrator()->set_last_error(Describe(leased.status()));
      // RESOURCE_EXHAUSTED (the orchestrator's database is full) comes with the wait it asks for.
      wake_.WaitWithTimeout(&mutex_, std::clamp(RetryDelayOf(leased.status()), options_.idle_backoff,
                                                std::max(options_.idle_backoff, absl::Seconds(30))));
      continue;
    }
    std::vector<v1::Task> tasks(leased->tasks().begin(), leased->tasks().end());
    const absl::Time leased_at = absl::Now();
    // A lease of only polls, or of only starts, takes the others of its kind ready now (without
    // waiting), up to `poll_batch` or `start_batch` in all: they go to the connector together.
    v1::TaskKind together = v1::TASK_KIND_UNSPECIFIED;
    int room = 0;
    if (!tasks.empty() && std::all_of(tasks.begin(), tasks.end(), TaskRunner::BatchablePoll)) {
      together = v1::TASK_KIND_POLL_MOVE;
      room = options_.poll_batch - static_cast<int>(tasks.size());
    } else if (!tasks.empty() && std::all_of(tasks.begin(), tasks.end(), [](const v1::Task& task) {
                 return task.spec_case() == v1::Task::kStartMove;
               })) {
      together = v1::TASK_KIND_START_MOVE;
      room = options_.start_batch - static_cast<int>(tasks.size());
    }
    if (room > 0 && !draining_) {
      v1::LeaseTasksRequest more;
      more.set_worker_id(options_.worker_id);
      more.set_max_tasks(room);
      more.add_kinds(together);
      SetDuration(options_.lease_duration, more.mutable_lease_duration());
      absl::StatusOr<v1::LeaseTasksResponse> extra = orchestrator_->LeaseTasks(more);
      if (extra.ok()) {
        for (const v1::Task& task : extra->tasks()) tasks.push_back(task);
      } else if (metrics_) {
        metrics_->lease_errors.Increment();
      }
    }
    {
      absl::MutexLock lock(&mutex_);
      counters_.mutable_orchestrator()->set_reachable(true);
      counters_.mutable_orchestrator()->clear_last_error();
      SetTimestamp(absl::Now(), counters_.mutable_orchestrator()->mutable_last_success_time());
      if (!tasks.empty()) SetTimestamp(absl::Now(), counters_.mutable_last_lease_time());
      // The lease runs from the orchestrator's clock when it got the call: from this side, no later
      // than when the call was made.
      for (const v1::Task& task : tasks) {
        Held& held = active_[task.name()];
        held.task = task;
        held.held_until = asked_at + options_.lease_duration;
      }
    }
    if (metrics_) metrics_->in_flight.Increment(static_cast<double>(tasks.size()));
    // A task runs under the trace of the operator call behind its migration (Task.traceparent), so
    // that its calls to the connector and its log lines carry that trace id; polls read together
    // carry the first one's.
    ScopedTrace trace(tasks.empty() ? std::nullopt : ParseTraceparent(tasks.front().traceparent()));
    // Polls and starts among them go together (RunTogether), as many as were leased together at most;
    // the others run one by one.
    const size_t chunk = static_cast<size_t>(std::max(options_.poll_batch, options_.start_batch));
    for (size_t from = 0; from < tasks.size(); from += chunk) {
      const std::vector<v1::Task> some(
          tasks.begin() + static_cast<std::ptrdiff_t>(from),
          tasks.begin() + static_cast<std::ptrdiff_t>(std::min(tasks.size(), from + chunk)));
      const std::vector<v1::CompleteTaskRequest> completions = runner_->RunTogether(
          some, static_cast<size_t>(options_.poll_batch), static_cast<size_t>(options_.start_batch));
      for (size_t i = 0; i < some.size(); ++i) Finish(some[i], completions[i], leased_at);
    }
  }
  absl::MutexLock lock(&mutex_);
  --slots_running_;
  report_ready_.SignalAll();
}

void WorkerLoop::Finish(const v1::Task& task, const v1::CompleteTaskRequest& completion, absl::Time leased_at) {
  // One line per task: at info for the actions taken on a user (start, stop, redirect removal), at
  // debug for the checks and polls that repeat.
  const bool action = task.kind() == v1::TASK_KIND_START_MOVE || task.kind() == v1::TASK_KIND_STOP_MOVE ||
                      task.kind() == v1::TASK_KIND_REMOVE_REDIRECT;
  log::Fields fields = {{"task", task.name()},
                        {"kind", v1::TaskKind_Name(task.kind())},
                        {"attempt", absl::StrCat(task.attempt())},
                        {"outcome", v1::TaskOutcome_Name(completion.outcome())}};
  if (completion.has_error()) {
    fields.push_back({"error", absl::StrCat(completion.error().code(), ": ", completion.error().message())});
  }
  log::Write(action ? log::Severity::kInfo : log::Severity::kDebug, "task done", fields);
  Report report;
  report.completion = completion;
  report.kind = task.kind();
  report.trace = ParseTraceparent(task.traceparent());
  report.leased_at = leased_at;
  report.due = absl::Now() + options_.report_linger;
  report.backoff = options_.report_backoff;
  absl::MutexLock lock(&mutex_);
  reports_.push_back(std::move(report));
  report_ready_.Signal();
}

void WorkerLoop::ReportLoop() {
  const size_t batch = static_cast<size_t>(options_.report_batch);
  absl::MutexLock lock(&mutex_);
  while (true) {
    if (reports_.empty()) {
      if (draining_ && slots_running_ == 0) break;
      report_ready_.Wait(&mutex_);
      continue;
    }
    // The reports due now, and those that would be within the linger: the first `batch` of them.
    const absl::Time now = absl::Now();
    absl::Time earliest = absl::InfiniteFuture();
    size_t ready = 0;
    for (const Report& report : reports_) {
      earliest = std::min(earliest, report.due);
      if (report.due <= now + options_.report_linger) ++ready;
    }
    if (earliest > now && ready < batch) {
      report_ready_.WaitWithTimeout(&mutex_, earliest - now);
      continue;
    }
    // Those of the first one's trace (its migration's), so that the call is found under that trace.
    std::vector<Report> sending;
    std::vector<Report> later;
    std::optional<std::string> trace_id;
    for (Report& report : reports_) {
      const std::string id = report.trace ? report.trace->trace_id : "";
      const bool due_soon = report.due <= now + options_.report_linger;
      if (due_soon && !trace_id) trace_id = id;
      (due_soon && sending.size() < batch && id == *trace_id ? sending : later).push_back(std::move(report));
    }
    reports_ = std::move(later);
    room_.SignalAll();
    v1::CompleteTasksRequest request;
    for (const Report& report : sending) *request.add_completions() = report.completion;
    mutex_.Unlock();
    absl::StatusOr<v1::CompleteTasksResponse> answer;
    {
      ScopedTrace trace(sending.front().trace);
      answer = orchestrator_->CompleteTasks(request);
    }
    mutex_.Lock();
    for (size_t i = 0; i < sending.size(); ++i) {
      absl::Status status = answer.status();
      if (answer.ok() && static_cast<int>(i) >= answer->results_size()) {
        status = absl::InternalError("the orchestrator answered fewer results than completions sent");
      } else if (answer.ok() && answer->results(static_cast<int>(i)).has_error()) {
        status = StatusOfErrorDetail(answer->results(static_cast<int>(i)).error());
      }
      Answered(std::move(sending[i]), status);
    }
  }
}

void WorkerLoop::Answered(Report report, const absl::Status& answer) {
  ++report.attempts;
  const std::string& name = report.completion.task();
  if (answer.ok() || !RetryableCompletion(answer.code())) {
    if (answer.ok() && report.attempts > 1) {
      log::Info("completion recorded", {{"task", name}, {"attempts", absl::StrCat(report.attempts)}});
    }
    Done(report, answer);
    return;
  }
  auto found = active_.find(name);
  const absl::Time now = absl::Now();
  if (found == active_.end() || found->second.lost || now >= found->second.held_until) {
    log::Warning("completion not recorded and the lease is gone: the task will be handed out again and redone",
                 {{"task", name}, {"attempts", absl::StrCat(report.attempts)}, {"error", Describe(answer)}});
    Done(report, answer);
    return;
  }
  Held& held = found->second;
  if (!held.reporting) {
    held.reporting = true;
    log::Warning(
        "the orchestrator did not record a completion: keeping the result and sending it again while "
        "the lease is held",
        {{"task", name}, {"error", Describe(answer)}});
  }
  if (metrics_) metrics_->completion_retries.Increment();
  // Not later than the lease lasts unless renewed: one more attempt then (the orchestrator's lease ends
  // a little later than this side reckons).
  report.due = now + std::min(std::max(report.backoff, RetryDelayOf(answer)), held.held_until - now);
  report.backoff = std::min(2 * report.backoff, options_.report_backoff_max);
  reports_.push_back(std::move(report));
}

void WorkerLoop::Done(const Report& report, const absl::Status& answer) {
  if (metrics_) {
    metrics_->in_flight.Decrement();
    const std::string kind = Label(v1::TaskKind_Name(report.kind), "TASK_KIND_");
    const std::string outcome =
        answer.ok() ? Label(v1::TaskOutcome_Name(report.completion.outcome()), "TASK_OUTCOME_") : "lease_lost";
    metrics_->tasks.Add({{"kind", kind}, {"outcome", outcome}}).Increment();
    metrics_->seconds
        .Add({{"kind", kind}},
             prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})
        .Observe(absl::ToDoubleSeconds(absl::Now() - report.leased_at));
  }
  active_.erase(report.completion.task());
  if (!answer.ok()) {
    // The lease is lost (another worker may have the task) or ran out, or the orchestrator refused
    // the result for good: the task is handed out again and redone. Nothing more to do here.
    counters_.set_abandoned_task_count(counters_.abandoned_task_count() + 1);
  } else if (report.completion.outcome() == v1::TASK_OUTCOME_SUCCEEDED) {
    counters_.set_succeeded_task_count(counters_.succeeded_task_count() + 1);
  } else {
    counters_.set_failed_task_count(counters_.failed_task_count() + 1);
  }
  if (draining_ && active_.empty()) counters_.set_state(v1::WORKER_STATE_DRAINED);
}

void WorkerLoop::RenewLoop() {
  absl::MutexLock lock(&mutex_);
  while (!draining_ || !active_.empty()) {
    wake_.WaitWithTimeout(&mutex_, options_.lease_duration / 3);
    if (active_.empty()) {
      if (draining_) break;
      continue;
    }
    v1::RenewLeasesRequest request;
    request.set_worker_id(options_.worker_id);
    SetDuration(options_.lease_duration, request.mutable_lease_duration());
    for (const auto& [name, held] : active_) {
      // Draining: a task that only waits to report gets no more time than its lease has left.
      if (held.lost || (draining_ && held.reporting)) continue;
      v1::TaskLease* lease = request.add_leases();
      lease->set_task(name);
      lease->set_lease_id(held.task.lease_id());
    }
    if (request.leases().empty()) continue;
    const absl::Time asked_at = absl::Now();
    mutex_.Unlock();
    // A lease not renewed is simply lost: the completion will be refused and nothing is applied twice.
    absl::StatusOr<v1::RenewLeasesResponse> renewed = orchestrator_->RenewLeases(request);
    mutex_.Lock();
    if (!renewed.ok()) continue;  // tried again in a third of a lease; a reporting slot watches held_until
    for (const v1::LeaseRenewal& renewal : renewed->renewals()) {
      auto it = active_.find(renewal.task());
      if (it == active_.end() || it->second.task.lease_id() != renewal.lease_id()) continue;
      if (renewal.renewed()) {
        it->second.held_until = asked_at + options_.lease_duration;
        *it->second.task.mutable_lease_expire_time() = renewal.lease_expire_time();
      } else {
        it->second.lost = true;
      }
    }
  }
}

v1::WorkerStatus WorkerLoop::Status() const {
  absl::MutexLock lock(&mutex_);
  v1::WorkerStatus status = counters_;
  for (const auto& [name, held] : active_) {
    const v1::Task& task = held.task;
    v1::ActiveTask* active = status.add_active_tasks();
    active->set_task(name);
    active->set_kind(task.kind());
    active->set_user_move(task.user_move());
    *active->mutable_lease_expire_time() = task.lease_expire_time();
  }
  return status;
}

}  // namespace crosstenant::worker
