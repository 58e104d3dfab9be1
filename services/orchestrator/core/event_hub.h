#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_EVENT_HUB_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_EVENT_HUB_H_

// Tells watchers of a migration that new events were committed to the store, and workers waiting for a
// lease that tasks were added. It carries no events or tasks itself: a watcher reads them from the
// store, so what it sends is always what was durably written, and a watcher that falls behind simply
// reads more at once.
//
// It sees the commits of this process only: with several replicas on one database, a replica learns
// of the others' commits late (EventFollower, for events) or not at all (tasks), so a lease waiter
// still looks at the store now and then.

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace crosstenant::orchestrator {

struct NewTask;  // migration_store.h

class EventHub {
 public:
  using Callback = std::function<void()>;

  // Calls `callback` (on the notifying thread; it must not block) after each commit of new events of
  // `migration`, and once more on Close(). Returns an id for Unsubscribe.
  int64_t Subscribe(const std::string& migration, Callback callback);
  void Unsubscribe(int64_t id);

  // Called by the writer after a commit.
  void Notify(const std::string& migration);

  // Lease waiters: calls `callback(ready, count)` (on the notifying thread; it must not block) after
  // each commit that adds `count` tasks, of any migration, that may be leased from `ready`; and once
  // more on Close(), with absl::InfinitePast() and kAllTasks. Returns an id for Unsubscribe.
  using TasksCallback = std::function<void(absl::Time ready, int count)>;
  int64_t SubscribeTasks(TasksCallback callback);
  static constexpr int kAllTasks = 1 << 30;  // a count for "any number: wake every waiter"

  // Called by the writer after a commit that adds `count` tasks leasable from `ready`, or (count
  // kAllTasks) one that makes tasks leasable again.
  void NotifyTasks(absl::Time ready, int count);
  // The same for the tasks a commit added, once per distinct ready time; nothing when there are none.
  void NotifyTasks(const std::vector<NewTask>& tasks);

  // Wakes every subscriber for the last time (server shutdown); later subscriptions are woken at once.
  void Close();
  bool closed() const;

  // Watchers of migrations (Subscribe), not lease waiters.
  int subscriber_count() const;
  // The migrations that have at least one subscriber.
  std::set<std::string> watched_migrations() const;

 private:
  struct Subscriber {
    std::string migration;
    Callback callback;
  };
  mutable absl::Mutex mutex_;
  int64_t next_id_ ABSL_GUARDED_BY(mutex_) = 1;
  std::map<int64_t, Subscriber> subscribers_ ABSL_GUARDED_BY(mutex_);
  std::map<int64_t, TasksCallback> task_subscribers_ ABSL_GUARDED_BY(mutex_);
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_EVENT_HUB_H_
