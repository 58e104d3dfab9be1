#include "services/orchestrator/core/event_hub.h"

#include <vector>

namespace crosstenant::orchestrator {

int64_t EventHub::Subscribe(const std::string& migration, Callback callback) {
  int64_t id;
  bool closed;
  {
    absl::MutexLock lock(&mutex_);
    id = next_id_++;
    closed = closed_;
    if (!closed) subscribers_[id] = {migration, callback};
  }
  if (closed) callback();
  return id;
}

void EventHub::Unsubscribe(int64_t id) {
  absl::MutexLock lock(&mutex_);
  subscribers_.erase(id);
}

void EventHub::Notify(const std::string& migration) {
  std::vector<Callback> callbacks;
  {
    absl::MutexLock lock(&mutex_);
    for (const auto& [id, subscriber] : subscribers_) {
      if (subscriber.migration == migration) callbacks.push_back(subscriber.callback);
    }
  }
  // Outside the lock: a callback may unsubscribe.
  for (const Callback& callback : callbacks) callback();
}

void EventHub::Close() {
  std::vector<Callback> callbacks;
  {
    absl::MutexLock lock(&mutex_);
    closed_ = true;
    for (const auto& [id, subscriber] : subscribers_) callbacks.push_back(subscriber.callback);
  }
  for (const Callback& callback : callbacks) callback();
}

bool EventHub::closed() const {
  absl::MutexLock lock(&mutex_);
  return closed_;
}

int EventHub::subscriber_count() const {
  absl::MutexLock lock(&mutex_);
  return static_cast<int>(subscribers_.size());
}

std::set<std::string> EventHub::watched_migrations() const {
  absl::MutexLock lock(&mutex_);
  std::set<std::string> migrations;
  for (const auto& [id, subscriber] : subscribers_) migrations.insert(subscriber.migration);
  return migrations;
}

}  // namespace crosstenant::orchestrator
