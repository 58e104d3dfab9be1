#include "services/orchestrator/store/migration_store.h"

#include <algorithm>
#include <map>

#include "absl/random/random.h"
#include "absl/strings/cord.h"
#include "absl/time/clock.h"

namespace crosstenant::orchestrator {
namespace {

// The payload that tells a lost race on a migration record apart from other ABORTED errors (a lost
// task lease, a lost leadership), which must not be retried.
constexpr absl::string_view kConcurrentChange = "type.crosstenant.dev/crosstenant.ConcurrentChange";

}  // namespace

absl::Status ConcurrentChangeError(absl::string_view migration) {
  absl::Status status =
      absl::AbortedError(absl::StrCat(migration, " was changed by another writer since it was read: read it again"));
  status.SetPayload(kConcurrentChange, absl::Cord(migration));
  return status;
}

bool IsConcurrentChange(const absl::Status& status) {
  return absl::IsAborted(status) && status.GetPayload(kConcurrentChange).has_value();
}

absl::Status LeaseLostError(const CompletedLease& lease) {
  return absl::AbortedError(absl::StrCat("the lease ", lease.lease_id, " on ", lease.task, " is no longer held by ",
                                         lease.worker_id, " (it expired or the task was done): drop the result"));
}

absl::Status CheckTaskNames(const MigrationChange& change) {
  for (const NewTask& added : change.new_tasks) {
    if (!IsTaskOf(added.task.name(), change.migration.name())) {
      return absl::InternalError(absl::StrCat("task ", added.task.name(), " is not named as a task of ",
                                              change.migration.name(), " (", change.migration.name(), "/tasks/...)"));
    }
  }
  return absl::OkStatus();
}

void BackOffAfterConflict(int attempt) {
  thread_local absl::BitGen random;
  absl::SleepFor(absl::Microseconds(absl::Uniform(random, 0, 500 * std::min(attempt, 10))));
}

namespace {

// The context of `task`, its migration read through `migrations` (name -> record) so that the
// contexts of one call read each migration once.
absl::StatusOr<std::optional<TaskContext>> ReadTaskContext(
    MigrationStore& store, const std::string& task,
    std::map<std::string, crosstenant::v1::Migration, std::less<>>& migrations) {
  absl::StatusOr<crosstenant::v1::Task> found = store.GetTask(task);
  if (absl::IsNotFound(found.status())) return std::nullopt;
  if (!found.ok()) return found.status();
  TaskContext context;
  context.task = *std::move(found);
  const std::string name = task.substr(0, task.find("/tasks/"));
  auto it = migrations.find(name);
  if (it == migrations.end()) {
    absl::StatusOr<crosstenant::v1::Migration> migration = store.GetMigration(name);
    if (!migration.ok()) return migration.status();
    it = migrations.emplace(name, *std::move(migration)).first;
  }
  context.migration = it->second;
  absl::StatusOr<crosstenant::v1::UserMove> user_move = store.GetUserMove(context.task.user_move());
  if (!user_move.ok()) return user_move.status();
  context.user_move = *std::move(user_move);
  return context;
}

}  // namespace

absl::StatusOr<std::optional<TaskContext>> MigrationStore::GetTaskContext(const std::string& task) {
  std::map<std::string, crosstenant::v1::Migration, std::less<>> migrations;
  return ReadTaskContext(*this, task, migrations);
}

absl::StatusOr<std::vector<absl::StatusOr<std::optional<TaskContext>>>> MigrationStore::GetTaskContexts(
    const std::vector<std::string>& tasks) {
  // A batch of results is mostly of one migration, whose record (its findings, its queues) is the
  // largest read of all: it is read and parsed once.
  std::map<std::string, crosstenant::v1::Migration, std::less<>> migrations;
  std::vector<absl::StatusOr<std::optional<TaskContext>>> contexts;
  contexts.reserve(tasks.size());
  for (const std::string& task : tasks) contexts.push_back(ReadTaskContext(*this, task, migrations));
  return contexts;
}

}  // namespace crosstenant::orchestrator
