#include "services/orchestrator/core/event_hub.h"

#include <map>
#include <vector>

#include "services/orchestrator/store/migration_store.h"

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
  task_subscribers_.erase(id);
}

int64_t EventHub::SubscribeTasks(TasksCallback callback) {
  int64_t id;
  bool closed;
  {
    absl::MutexLock lock(&mutex_);
    id = next_id_++;
    closed = closed_;
    if (!closed) task_subscribers_[id] = callback;
  }
  if (closed) callback(absl::InfinitePast(), kAllTasks);
  return id;
}

void EventHub::NotifyTasks(absl::Time ready, int count) {
  std::vector<TasksCallback> callbacks;
  {
    absl::MutexLock lock(&mutex_);
    for (const auto& [id, callback] : task_subscribers_) callbacks.push_back(callback);
  }
  for (const TasksCallback& callback : callbacks) callback(ready, count);
}

void EventHub::NotifyTasks(const std::vector<NewTask>& tasks) {
  std::map<absl::Time, int> by_ready;
  for (const NewTask& task : tasks) ++by_ready[task.ready_time];
  for (const auto& [ready, count] : by_ready) NotifyTasks(ready, count);
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
  std::vector<TasksCallback> task_callbacks;
  {
    absl::MutexLock lock(&mutex_);
    closed_ = true;
    for (const auto& [id, subscriber] : subscribers_) callbacks.push_back(subscriber.callback);
    for (const auto& [id, callback] : task_subscribers_) task_callbacks.push_back(callback);
  }
  for (const Callback& callback : callbacks) callback();
  for (const TasksCallback& callback : task_callbacks) callback(absl::InfinitePast(), kAllTasks);
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
