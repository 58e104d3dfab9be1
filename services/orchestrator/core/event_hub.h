#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_EVENT_HUB_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_EVENT_HUB_H_

// Tells watchers of a migration that new events were committed to the store. It carries no events
// itself: a watcher reads them from the store, so what it sends is always what was durably written,
// and a watcher that falls behind simply reads more at once.

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"

namespace crosstenant::orchestrator {

class EventHub {
 public:
  using Callback = std::function<void()>;

  // Calls `callback` (on the notifying thread; it must not block) after each commit of new events of
  // `migration`, and once more on Close(). Returns an id for Unsubscribe.
  int64_t Subscribe(const std::string& migration, Callback callback);
  void Unsubscribe(int64_t id);

  // Called by the writer after a commit.
  void Notify(const std::string& migration);

  // Wakes every subscriber for the last time (server shutdown); later subscriptions are woken at once.
  void Close();
  bool closed() const;

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
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_EVENT_HUB_H_
