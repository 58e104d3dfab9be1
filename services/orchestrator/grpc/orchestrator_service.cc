#include "services/orchestrator/grpc/orchestrator_service.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "services/common/audit_chain.h"
#include "services/common/grpc_status.h"
#include "services/common/tls.h"
#include "services/common/trace_context.h"
#include "services/orchestrator/grpc/watch_migration_reactor.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;

// The most a LeaseTasks waits, whatever it asks for.
const absl::Duration kMaxLeaseWait = absl::Seconds(60);

// Moves a core call's value into the response (or a field of it); its status is the call's.
template <typename Value>
absl::Status Set(absl::StatusOr<Value> result, Value* out) {
  if (result.ok()) *out = *std::move(result);
  return result.status();
}

// An audited call's facts as its handler knows them: read on the gRPC thread, where the call's peer
// and trace are current.
AuditedCall AuditedCallOf(grpc::ServerContextBase* context, const char* action, std::string target,
                          std::string request_id) {
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  return {auth != nullptr ? AuditCaller(PeerNamesOf(*auth)) : "", action, std::move(target), std::move(request_id),
          CurrentTraceId()};
}

// The status as its caller receives it, as the audit trail records it.
absl::Status AsReceived(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// The name a CreateMigration that failed would have given its migration: only a well-formed id names
// one (a migration id is 1-63 of [a-z0-9-]).
std::string RequestedMigration(const std::string& migration_id) {
  if (migration_id.empty() || migration_id.size() > 63) return "";
  for (char c : migration_id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return "";
  }
  return "migrations/" + migration_id;
}

}  // namespace

// The LeaseTasks calls waiting for a task, oldest first, and the one subscription to the EventHub that
// wakes them: as many as there are tasks announced (every one on a resume or on the hub's close), when
// the tasks become ready. A woken waiter leaves the queue; if its look finds nothing (another call took
// the task first, or it asks for other kinds) it queues again at the back, and a task still left is
// found by a periodic look. A task announced while nobody waits is found by the next call's first look.
// One wake-up per task, not one per waiter: a commit costs one look at the store, however many wait.
//
// The hub sees this process's commits only. For the tasks it does not see (another replica's on
// PostgreSQL, a lease that expired), every `probe` the longest-waiting call is woken as a probe; a probe
// that leases a task wakes the next call as a probe, until one finds nothing. Idle, that is one look per
// `probe` per replica, not one per waiting call.
class LeaseWaiters : public std::enable_shared_from_this<LeaseWaiters> {
 public:
  // `wake(probe)`: see Add.
  using WakeCallback = std::function<void(bool probe)>;

  static std::shared_ptr<LeaseWaiters> Create(EventHub* hub, Executor* executor, absl::Duration probe) {
    std::shared_ptr<LeaseWaiters> waiters(new LeaseWaiters(hub, executor, probe));
    std::weak_ptr<LeaseWaiters> weak = waiters;
    waiters->subscription_ = hub->SubscribeTasks([weak](absl::Time ready, int count) {
      if (std::shared_ptr<LeaseWaiters> self = weak.lock()) self->Announced(ready, count);
    });
    waiters->ScheduleProbe();
    return waiters;
  }
  ~LeaseWaiters() { hub_->Unsubscribe(subscription_); }

  // Queues `wake` (it must not block; `probe` when woken by a probe, not for an announced task);
  // returns its id for Remove.
  int64_t Add(WakeCallback wake) {
    absl::MutexLock lock(&mu_);
    const int64_t id = next_id_++;
    queue_.emplace(id, std::move(wake));
    return id;
  }
  void Remove(int64_t id) {
    absl::MutexLock lock(&mu_);
    queue_.erase(id);
  }
  int size() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(queue_.size());
  }

  // Wakes the `count` longest-waiting calls (dequeued), as probes if `probe`.
  void Wake(int count, bool probe = false) {
    std::vector<WakeCallback> woken;
    {
      absl::MutexLock lock(&mu_);
      while (!queue_.empty() && static_cast<int>(woken.size()) < count) {
        woken.push_back(std::move(queue_.begin()->second));
        queue_.erase(queue_.begin());
      }
    }
    for (const WakeCallback& wake : woken) wake(probe);
  }

 private:
  LeaseWaiters(EventHub* hub, Executor* executor, absl::Duration probe)
      : hub_(hub), executor_(executor), probe_(probe) {}

  void ScheduleProbe() {
    std::weak_ptr<LeaseWaiters> weak = weak_from_this();
    executor_->RunAt(absl::Now() + probe_, [weak] {
      if (std::shared_ptr<LeaseWaiters> self = weak.lock()) {
        self->Wake(1, /*probe=*/true);
        self->ScheduleProbe();
      }
    });
  }

  // The hub's callback, on a writer's thread.
  void Announced(absl::Time ready, int count) {
    if (ready <= absl::Now()) {
      Wake(count);
      return;
    }
    // A retry's backoff or the next poll of a move: those waiting then are woken then.
    std::weak_ptr<LeaseWaiters> weak = weak_from_this();
    executor_->RunAt(ready, [weak, count] {
      if (std::shared_ptr<LeaseWaiters> self = weak.lock()) self->Wake(count);
    });
  }

  EventHub* const hub_;
  Executor* const executor_;
  const absl::Duration probe_;
  int64_t subscription_ = 0;
  mutable absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, WakeCallback> queue_ ABSL_GUARDED_BY(mu_);  // by arrival
};

namespace {

// One LeaseTasks: a first look at the store now; when it leases nothing and the request has a
// wait_time, another look each time LeaseWaiters wakes it for announced tasks and every `recheck` in
// any case, until tasks come or the wait is over. Every look runs on the executor; between looks
// nothing holds a thread. Shared with the waiters' queue and the executor's timed tasks, which may
// outlive the call: after the call finished they do nothing.
class LeaseWait : public std::enable_shared_from_this<LeaseWait> {
 public:
  LeaseWait(TaskService* tasks, LeaseWaiters* waiters, EventHub* hub, Executor* executor, absl::Duration recheck,
            std::atomic<int64_t>* looks, const v1::LeaseTasksRequest& request, v1::LeaseTasksResponse* response,
            grpc::ServerUnaryReactor* reactor)
      : tasks_(tasks),
        waiters_(waiters),
        hub_(hub),
        executor_(executor),
        recheck_(recheck),
        looks_(looks),
        request_(request),
        response_(response),
        reactor_(reactor) {
    const absl::Duration wait =
        absl::Seconds(request.wait_time().seconds()) + absl::Nanoseconds(request.wait_time().nanos());
    give_up_ = absl::Now() + std::min(wait, kMaxLeaseWait);
  }

  // Queues the first look (as the executor's kind "LeaseTasks").
  void Begin() {
    uint64_t generation;
    {
      absl::MutexLock lock(&mu_);
      generation = ++generation_;
    }
    absl::Status queued =
        executor_->TryRun("LeaseTasks", [self = shared_from_this(), generation] { self->Look(generation); });
    if (!queued.ok()) End(ToGrpcStatus(queued));
  }

  void Cancel() { End(grpc::Status(grpc::StatusCode::CANCELLED, "lease wait cancelled")); }

  // Leaves the waiters' queue (the call is done).
  void Leave() {
    absl::MutexLock lock(&mu_);
    if (queued_ != 0) waiters_->Remove(queued_);
    queued_ = 0;
  }

 private:
  // One look at the store, unless the call has ended or a newer look was scheduled since.
  void Look(uint64_t generation) {
    bool probing = false;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || generation != generation_) return;
      looking_ = true;
      woken_ = false;
      probing = probe_;
      probe_ = false;
      // Queued before the store is read, so that a task committed after the read wakes this call.
      if (queued_ == 0) {
        std::weak_ptr<LeaseWait> weak = weak_from_this();
        queued_ = waiters_->Add([weak](bool probe) {
          if (std::shared_ptr<LeaseWait> wait = weak.lock()) wait->Woken(probe);
        });
      }
    }
    absl::StatusOr<v1::LeaseTasksResponse> result = tasks_->LeaseTasks(request_);
    ++*looks_;
    const absl::Time now = absl::Now();
    // A probe that found a task: there may be more the hub does not know of.
    if (probing && result.ok() && result->tasks_size() > 0) waiters_->Wake(1, /*probe=*/true);
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      looking_ = false;
      if (finished_) return;  // cancelled meanwhile: leases granted now expire unused
      if (result.ok() && result->tasks_size() == 0 && now < give_up_ && !hub_->closed()) {
        // Woken during the look: the task may have been committed after the read, so look again now.
        // Otherwise wait to be woken, looking anyway after `recheck_`: the hub sees only this
        // process's commits, so a task another replica adds (PostgreSQL), or whose lease expires, is
        // found only by looking.
        ScheduleLocked(woken_ ? now : std::min(now + recheck_, give_up_));
        return;
      }
      finished_ = true;
      if (queued_ != 0) waiters_->Remove(queued_);
      queued_ = 0;
      if (result.ok()) *response_ = *std::move(result);
      status = ToGrpcStatus(result.status());
    }
    reactor_->Finish(status);
  }

  // Called by LeaseWaiters (on a writer's thread, or the executor's), which has dequeued this call.
  void Woken(bool probe) {
    absl::MutexLock lock(&mu_);
    queued_ = 0;
    if (finished_) return;
    probe_ = probe_ || probe;
    if (looking_) {
      woken_ = true;
    } else {
      ScheduleLocked(absl::Now());
    }
  }

  // Schedules the next look at `when`; any look scheduled before is skipped.
  void ScheduleLocked(absl::Time when) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t generation = ++generation_;
    executor_->RunAt(when, [self = shared_from_this(), generation] { self->Look(generation); });
  }

  void End(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    reactor_->Finish(std::move(status));
  }

  TaskService* const tasks_;
  LeaseWaiters* const waiters_;
  EventHub* const hub_;
  Executor* const executor_;
  const absl::Duration recheck_;
  std::atomic<int64_t>* const looks_;
  const v1::LeaseTasksRequest request_;      // a copy: a look may still run when the call is gone
  v1::LeaseTasksResponse* const response_;   // written only before Finish
  grpc::ServerUnaryReactor* const reactor_;  // used only before Finish
  absl::Time give_up_;
  absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // of the look to run next
  int64_t queued_ ABSL_GUARDED_BY(mu_) = 0;       // its id in LeaseWaiters while queued there
  bool looking_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;  // during the look
  bool probe_ ABSL_GUARDED_BY(mu_) = false;  // the next look is a probe
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

class LeaseTasksReactor : public grpc::ServerUnaryReactor {
 public:
  explicit LeaseTasksReactor(std::function<std::shared_ptr<LeaseWait>(grpc::ServerUnaryReactor*)> make)
      : wait_(make(this)) {
    wait_->Begin();
  }

  void OnCancel() override { wait_->Cancel(); }
  void OnDone() override {
    wait_->Leave();
    delete this;
  }

 private:
  std::shared_ptr<LeaseWait> wait_;
};

}  // namespace

OrchestratorService::OrchestratorService(MigrationService* migrations, TaskService* tasks, WatchOptions watch,
                                         ServiceOptions options)
    : migrations_(migrations),
      tasks_(tasks),
      watch_(std::move(watch)),
      options_(options),
      own_audit_(options_.audit == nullptr ? std::make_unique<AuditTrail>(&migrations->store()) : nullptr),
      audit_(options_.audit != nullptr ? options_.audit : own_audit_.get()),
      executor_(options_.executor_threads),
      lease_waiters_(LeaseWaiters::Create(&migrations->events(), &executor_, options_.lease_probe)) {}

OrchestratorService::~OrchestratorService() { Shutdown(); }

int OrchestratorService::waiting_leases() const { return lease_waiters_->size(); }

template <typename Work>
grpc::ServerUnaryReactor* OrchestratorService::Offload(grpc::CallbackServerContext* context, Work work,
                                                       const char* method) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Each RPC is its own kind: a flood of one cannot take every thread from the others.
  absl::Status queued =
      executor_.TryRun(method, [reactor, work = std::move(work)]() mutable { reactor->Finish(ToGrpcStatus(work())); });
  if (!queued.ok()) reactor->Finish(ToGrpcStatus(queued));
  return reactor;
}

template <typename Work>
grpc::ServerUnaryReactor* OrchestratorService::OffloadAudited(grpc::CallbackServerContext* context, std::string target,
                                                              std::string request_id, Work work, const char* method) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  AuditedCall call = AuditedCallOf(context, method, std::move(target), std::move(request_id));
  absl::Status queued =
      executor_.TryRun(method, [this, reactor, call = std::move(call), work = std::move(work)]() mutable {
        const grpc::Status status = ToGrpcStatus(work(call));
        audit_->Record(call, AsReceived(status));
        reactor->Finish(status);
      });
  if (!queued.ok()) reactor->Finish(ToGrpcStatus(queued));
  return reactor;
}

grpc::ServerUnaryReactor* OrchestratorService::LeaseTasks(grpc::CallbackServerContext* /*context*/,
                                                          const v1::LeaseTasksRequest* request,
                                                          v1::LeaseTasksResponse* response) {
  return new LeaseTasksReactor([this, request, response](grpc::ServerUnaryReactor* reactor) {
    return std::make_shared<LeaseWait>(tasks_, lease_waiters_.get(), &migrations_->events(), &executor_,
                                       options_.lease_recheck, &lease_looks_, *request, response, reactor);
  });
}

grpc::ServerUnaryReactor* OrchestratorService::RenewLeases(grpc::CallbackServerContext* context,
                                                           const v1::RenewLeasesRequest* request,
                                                           v1::RenewLeasesResponse* response) {
  return Offload(context, [this, request, response] { return Set(tasks_->RenewLeases(*request), response); });
}

grpc::ServerUnaryReactor* OrchestratorService::CompleteTask(grpc::CallbackServerContext* context,
                                                            const v1::CompleteTaskRequest* request,
                                                            v1::CompleteTaskResponse* response) {
  return Offload(context, [this, request, response] { return Set(tasks_->CompleteTask(*request), response); });
}

grpc::ServerUnaryReactor* OrchestratorService::CompleteTasks(grpc::CallbackServerContext* context,
                                                             const v1::CompleteTasksRequest* request,
                                                             v1::CompleteTasksResponse* response) {
  return Offload(context, [this, request, response] { return Set(tasks_->CompleteTasks(*request), response); });
}

grpc::ServerUnaryReactor* OrchestratorService::CreateMigration(grpc::CallbackServerContext* context,
                                                               const v1::CreateMigrationRequest* request,
                                                               v1::CreateMigrationResponse* response) {
  return OffloadAudited(context, RequestedMigration(request->migration_id()), request->request_id(),
                        [this, request, response](AuditedCall& call) {
                          absl::Status status =
                              Set(migrations_->CreateMigration(*request), response->mutable_migration());
                          if (status.ok()) call.target = response->migration().name();
                          return status;
                        });
}

grpc::ServerUnaryReactor* OrchestratorService::GetMigration(grpc::CallbackServerContext* context,
                                                            const v1::GetMigrationRequest* request,
                                                            v1::GetMigrationResponse* response) {
  return Offload(context, [this, request, response] {
    return Set(migrations_->GetMigration(request->name()), response->mutable_migration());
  });
}

grpc::ServerUnaryReactor* OrchestratorService::ListMigrations(grpc::CallbackServerContext* context,
                                                              const v1::ListMigrationsRequest* request,
                                                              v1::ListMigrationsResponse* response) {
  return Offload(context, [this, request, response] { return Set(migrations_->ListMigrations(*request), response); });
}

grpc::ServerWriteReactor<v1::WatchMigrationResponse>* OrchestratorService::WatchMigration(
    grpc::CallbackServerContext* /*context*/, const v1::WatchMigrationRequest* request) {
  return NewWatchMigrationReactor(migrations_, *request, &executor_, watch_);
}

grpc::ServerUnaryReactor* OrchestratorService::PauseMigration(grpc::CallbackServerContext* context,
                                                              const v1::PauseMigrationRequest* request,
                                                              v1::PauseMigrationResponse* response) {
  return OffloadAudited(context, request->name(), request->request_id(), [this, request, response](AuditedCall&) {
    return Set(migrations_->PauseMigration(*request), response->mutable_migration());
  });
}

grpc::ServerUnaryReactor* OrchestratorService::ResumeMigration(grpc::CallbackServerContext* context,
                                                               const v1::ResumeMigrationRequest* request,
                                                               v1::ResumeMigrationResponse* response) {
  return OffloadAudited(context, request->name(), request->request_id(), [this, request, response](AuditedCall&) {
    return Set(migrations_->ResumeMigration(*request), response->mutable_migration());
  });
}

grpc::ServerUnaryReactor* OrchestratorService::CancelMigration(grpc::CallbackServerContext* context,
                                                               const v1::CancelMigrationRequest* request,
                                                               v1::CancelMigrationResponse* response) {
  return OffloadAudited(context, request->name(), request->request_id(), [this, request, response](AuditedCall&) {
    return Set(migrations_->CancelMigration(*request), response->mutable_migration());
  });
}

grpc::ServerUnaryReactor* OrchestratorService::ReconcileMigration(grpc::CallbackServerContext* context,
                                                                  const v1::ReconcileMigrationRequest* request,
                                                                  v1::ReconcileMigrationResponse* response) {
  return OffloadAudited(context, request->name(), "", [this, request, response](AuditedCall&) {
    return Set(migrations_->ReconcileMigration(*request), response);
  });
}

grpc::ServerUnaryReactor* OrchestratorService::GetMigrationReport(grpc::CallbackServerContext* context,
                                                                  const v1::GetMigrationReportRequest* request,
                                                                  v1::GetMigrationReportResponse* response) {
  return Offload(context,
                 [this, request, response] { return Set(migrations_->GetMigrationReport(*request), response); });
}

grpc::ServerUnaryReactor* OrchestratorService::ListUserMoves(grpc::CallbackServerContext* context,
                                                             const v1::ListUserMovesRequest* request,
                                                             v1::ListUserMovesResponse* response) {
  return Offload(context, [this, request, response] { return Set(migrations_->ListUserMoves(*request), response); });
}

grpc::ServerUnaryReactor* OrchestratorService::GetUserMove(grpc::CallbackServerContext* context,
                                                           const v1::GetUserMoveRequest* request,
                                                           v1::GetUserMoveResponse* response) {
  return Offload(context, [this, request, response] {
    return Set(migrations_->GetUserMove(request->name()), response->mutable_user_move());
  });
}

namespace {

// One UploadIdentityMap call: reads a message, hands it to the upload on the executor (the store is
// written there, never on a gRPC thread), and reads the next only once it is done, so that one call
// holds one message and one page of rows at a time.
class UploadIdentityMapReactor : public grpc::ServerReadReactor<v1::OrchestratorUploadIdentityMapRequest> {
 public:
  // Constructed by the handler, on the gRPC thread where the call's peer and trace are current.
  UploadIdentityMapReactor(grpc::CallbackServerContext* context, MigrationService* migrations, AuditTrail* audit,
                           Executor* executor, v1::OrchestratorUploadIdentityMapResponse* response)
      : context_(context),
        upload_(migrations->NewIdentityMapUpload()),
        audit_(audit),
        call_(AuditedCallOf(context, "UploadIdentityMap", "", "")),
        executor_(executor),
        response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    absl::Status queued = executor_->TryRun("UploadIdentityMap", [this, ok] {
      if (!ok) {
        // The client is done, or gone: a cancelled call's partial upload is never named, and is deleted
        // with the unused ones.
        if (context_->IsCancelled()) return Done(grpc::Status::CANCELLED);
        absl::StatusOr<v1::OrchestratorUploadIdentityMapResponse> done = upload_->Finish();
        if (done.ok()) *response_ = *std::move(done);
        return Done(ToGrpcStatus(done.status()));
      }
      if (absl::Status added = upload_->Add(request_); !added.ok()) return Done(ToGrpcStatus(added));
      StartRead(&request_);
    });
    if (!queued.ok()) Finish(ToGrpcStatus(queued));
  }

  void OnDone() override { delete this; }

 private:
  // On the executor: records the call (its target is the staged map, none when the map was refused),
  // then answers it.
  void Done(const grpc::Status& status) {
    call_.target = response_->name();
    audit_->Record(call_, AsReceived(status));
    Finish(status);
  }

  grpc::CallbackServerContext* const context_;
  const std::unique_ptr<IdentityMapUploadStream> upload_;
  AuditTrail* const audit_;
  AuditedCall call_;
  Executor* const executor_;
  v1::OrchestratorUploadIdentityMapResponse* const response_;
  v1::OrchestratorUploadIdentityMapRequest request_;
};

}  // namespace

grpc::ServerReadReactor<v1::OrchestratorUploadIdentityMapRequest>* OrchestratorService::UploadIdentityMap(
    grpc::CallbackServerContext* context, v1::OrchestratorUploadIdentityMapResponse* response) {
  return new UploadIdentityMapReactor(context, migrations_, audit_, &executor_, response);
}

grpc::ServerUnaryReactor* OrchestratorService::ValidateIdentityMap(grpc::CallbackServerContext* context,
                                                                   const v1::ValidateIdentityMapRequest* request,
                                                                   v1::ValidateIdentityMapResponse* response) {
  return Offload(context,
                 [this, request, response] { return Set(migrations_->ValidateIdentityMap(*request), response); });
}

grpc::ServerUnaryReactor* OrchestratorService::ListAuditRecords(grpc::CallbackServerContext* context,
                                                                const v1::ListAuditRecordsRequest* request,
                                                                v1::ListAuditRecordsResponse* response) {
  return Offload(context, [this, request, response] { return Set(audit_->List(*request), response); });
}

const MethodRoles& OrchestratorMethodRoles() {
  static const auto* const roles = new MethodRoles{
      {"CreateMigration", Role::kAdminister},
      {"GetMigration", Role::kRead},
      {"ListMigrations", Role::kRead},
      {"WatchMigration", Role::kRead},
      {"PauseMigration", Role::kAdminister},
      {"ResumeMigration", Role::kAdminister},
      {"CancelMigration", Role::kAdminister},
      {"ReconcileMigration", Role::kAdminister},
      {"GetMigrationReport", Role::kRead},
      {"ListUserMoves", Role::kRead},
      {"GetUserMove", Role::kRead},
      // Checks a map sent in the request and changes nothing.
      {"ValidateIdentityMap", Role::kRead},
      // Stages a map for CreateMigration.
      {"UploadIdentityMap", Role::kAdminister},
      // The workers' side of the task queue.
      {"LeaseTasks", Role::kOperate},
      {"RenewLeases", Role::kOperate},
      {"CompleteTask", Role::kOperate},
      {"CompleteTasks", Role::kOperate},
      // Who did what: no secret is in it, and auditors need not be operators.
      {"ListAuditRecords", Role::kRead},
  };
  return *roles;
}

}  // namespace crosstenant::orchestrator
