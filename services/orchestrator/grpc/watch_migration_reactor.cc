#include "services/orchestrator/grpc/watch_migration_reactor.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/errors.h"
#include "services/common/grpc_status.h"
#include "services/common/migration_state.h"
#include "services/common/proto_time.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;

class WatchMigrationReactor : public grpc::ServerWriteReactor<v1::WatchMigrationResponse> {
 public:
  WatchMigrationReactor(MigrationService* migrations, const v1::WatchMigrationRequest& request, Executor* executor,
                        WatchOptions options)
      : migrations_(migrations),
        request_(request),
        executor_(executor),
        options_(std::move(options)),
        guard_(std::make_shared<Guard>()) {
    options_.page_size = std::max(options_.page_size, 1);
    opened_ = options_.now();
    guard_->reactor = this;
    // Subscribed before the snapshot is read, so that no commit after it goes unseen; a commit before
    // Open only notes that there may be more (on a closed hub the callback runs here, at once).
    std::weak_ptr<Guard> weak = guard_;
    subscription_ = migrations_->events().Subscribe(request_.name(), [weak] {
      if (auto guard = weak.lock()) {
        std::lock_guard<std::mutex> lock(guard->mutex);
        if (guard->reactor) guard->reactor->Notified();
      }
    });
    std::lock_guard<std::mutex> lock(guard_->mutex);
    absl::Status queued = executor_->TryRun("WatchMigration", OnExecutor(&WatchMigrationReactor::Open));
    if (!queued.ok()) FinishOnce(ToGrpcStatus(queued));
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(guard_->mutex);
    writing_ = false;
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
      return;
    }
    queue_.pop_front();
    if (queue_.empty()) {
      RefillLater();
    } else {
      Pump();
    }
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(guard_->mutex);
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(guard_->mutex);
      guard_->reactor = nullptr;
    }
    if (subscription_) migrations_->events().Unsubscribe(*subscription_);
    delete this;
  }

 private:
  // Shared with the EventHub callback, which may run after this reactor is gone.
  struct Guard {
    std::mutex mutex;
    WatchMigrationReactor* reactor = nullptr;
  };

  // The snapshot, then the first events. On the executor; holds guard_->mutex.
  void Open() {
    absl::StatusOr<v1::Migration> migration = migrations_->GetMigration(request_.name());
    if (!migration.ok()) {
      FinishOnce(ToGrpcStatus(migration.status()));
      return;
    }
    if (request_.after_sequence() < 0 || request_.after_sequence() > migration->last_event_sequence()) {
      FinishOnce(grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                              absl::StrCat("after_sequence must be between 0 and the migration's last_event_sequence ",
                                           migration->last_event_sequence())));
      return;
    }
    v1::WatchMigrationResponse snapshot;
    v1::MigrationEvent* event = snapshot.mutable_event();
    event->set_name(migration->name());
    event->set_sequence(migration->last_event_sequence());
    const int64_t now = absl::ToUnixNanos(absl::Now());
    event->mutable_event_time()->set_seconds(now / 1000000000);
    event->mutable_event_time()->set_nanos(static_cast<int32_t>(now % 1000000000));
    event->set_message("snapshot");
    *event->mutable_snapshot() = *migration;
    cursor_ = request_.after_sequence() > 0 ? request_.after_sequence() : migration->last_event_sequence();
    // A finished migration with nothing to replay ends right after its snapshot.
    ended_ = MigrationHasEnded(migration->state()) && cursor_ == migration->last_event_sequence();
    more_ = !ended_;
    queue_.push_back(std::move(snapshot));
    open_ = true;
    Pump();
  }

  // A task for the executor that runs `method` under guard_->mutex while the stream is open.
  std::function<void()> OnExecutor(void (WatchMigrationReactor::*method)()) {
    std::weak_ptr<Guard> weak = guard_;
    return [weak, method] {
      if (auto guard = weak.lock()) {
        std::lock_guard<std::mutex> lock(guard->mutex);
        if (guard->reactor && !guard->reactor->finished_) (guard->reactor->*method)();
      }
    };
  }

  // Queues the next read on the executor (never on a gRPC thread or a writer's), one at a time. Holds
  // guard_->mutex.
  void RefillLater() {
    if (refill_queued_ || finished_) return;
    refill_queued_ = true;
    executor_->Run(OnExecutor(&WatchMigrationReactor::QueuedRefill));
  }
  void QueuedRefill() {
    refill_queued_ = false;
    Refill();
  }

  // A commit (or the hub's close), on the writer's thread. Holds guard_->mutex. A watcher still writing its
  // page only notes that there is more: it reads on when the page is written, so what it holds stays one
  // page.
  void Notified() {
    more_ = true;
    if (open_ && !writing_ && queue_.empty()) RefillLater();
  }

  // With nothing queued or being written: reads the next page of events after the cursor (skipping those
  // the client does not want) and writes it, or ends the stream when there is nothing more to send.
  // On the executor; holds guard_->mutex.
  void Refill() {
    while (!finished_ && !ended_ && more_ && queue_.empty()) {
      // Shutting down: no more reading; Pump ends the stream where the client has everything.
      if (migrations_->events().closed()) break;
      more_ = false;
      absl::StatusOr<std::vector<v1::MigrationEvent>> events =
          migrations_->store().ListEvents(request_.name(), cursor_, options_.page_size);
      if (!events.ok()) {
        FinishOnce(ToGrpcStatus(events.status()));
        return;
      }
      if (static_cast<int>(events->size()) >= options_.page_size) {
        more_ = true;  // perhaps more after this page
        // The client has everything up to the cursor and a full page waits: is it keeping up?
        if (options_.max_lag > absl::ZeroDuration()) {
          const absl::Duration behind = options_.now() - std::max(TimeOf(events->front().event_time()), opened_);
          if (behind > options_.max_lag) {
            FinishOnce(ToGrpcStatus(ResourceExhaustedWithRetry(
                absl::StrCat("this watcher reads events more slowly than the migration makes them: its next event "
                             "has waited ",
                             absl::FormatDuration(absl::Trunc(behind, absl::Seconds(1))), " (more than ",
                             absl::FormatDuration(options_.max_lag),
                             ") and more wait behind it; watch again with "
                             "after_sequence=",
                             cursor_, " to carry on without a gap (omit_user_transitions sends fewer events)"),
                absl::ZeroDuration())));
            return;
          }
        }
      }
      for (v1::MigrationEvent& event : *events) {
        cursor_ = event.sequence();
        if (event.has_state_change() && MigrationHasEnded(event.state_change().to_state())) ended_ = true;
        if (request_.omit_user_transitions() && event.has_user_transition()) continue;
        v1::WatchMigrationResponse response;
        *response.mutable_event() = std::move(event);
        queue_.push_back(std::move(response));
      }
    }
    Pump();
  }

  // Starts the next write, or ends the stream once everything owed is written. Holds guard_->mutex.
  void Pump() {
    if (writing_ || finished_) return;
    if (!queue_.empty()) {
      writing_ = true;
      StartWrite(&queue_.front());
      return;
    }
    if (ended_) {
      FinishOnce(grpc::Status::OK);
    } else if (migrations_->events().closed()) {
      FinishOnce(
          grpc::Status(grpc::StatusCode::UNAVAILABLE,
                       absl::StrCat("the orchestrator is shutting down; watch again with after_sequence=", cursor_)));
    }
  }

  void FinishOnce(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  MigrationService* migrations_;
  const v1::WatchMigrationRequest request_;
  Executor* const executor_;
  WatchOptions options_;
  std::shared_ptr<Guard> guard_;
  std::optional<int64_t> subscription_;
  std::deque<v1::WatchMigrationResponse> queue_;  // at most one page; front() is being written while writing_
  int64_t cursor_ = 0;                            // the last event sequence read from the store
  absl::Time opened_;                             // when the stream started
  bool more_ = false;                             // events after the cursor may wait in the store
  bool writing_ = false;
  bool open_ = false;           // the snapshot is read
  bool refill_queued_ = false;  // a Refill waits on the executor
  bool ended_ = false;
  bool finished_ = false;
};

}  // namespace

grpc::ServerWriteReactor<v1::WatchMigrationResponse>* NewWatchMigrationReactor(MigrationService* migrations,
                                                                               const v1::WatchMigrationRequest& request,
                                                                               Executor* executor,
                                                                               const WatchOptions& options) {
  return new WatchMigrationReactor(migrations, request, executor, options);
}

}  // namespace crosstenant::orchestrator
