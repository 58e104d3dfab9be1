#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_ORCHESTRATOR_SERVICE_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_ORCHESTRATOR_SERVICE_H_

// crosstenant.v1.Orchestrator over gRPC: a thin adapter from requests to MigrationService and
// TaskService, with the one status translation at the edge.
//
// Threading: no handler blocks a gRPC callback thread. Every call whose core call may block (a store
// read or write, identity-map validation) runs on the adapter's Executor and is finished from there;
// one RPC (the executor's kind) holds at most its kind_limit() threads at once, beyond which the call
// ends RESOURCE_EXHAUSTED with RetryInfo. A LeaseTasks with a wait_time that finds nothing holds no
// thread while it waits: it looks again when the EventHub announces tasks (or when an announced task
// becomes ready), and now and then in any case (ServiceOptions::lease_probe, lease_recheck).
//
// Audit: CreateMigration, UploadIdentityMap, PauseMigration, ResumeMigration, CancelMigration and
// ReconcileMigration each leave one record in the AuditTrail (caller, action, target, request and trace
// ids, outcome), written on the executor once the work is done and before the answer is sent. A call
// refused before it ran (authorization, the executor's limit) leaves none: it changed nothing.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "services/common/authorization.h"
#include "services/common/executor.h"
#include "services/orchestrator/core/audit_trail.h"
#include "services/orchestrator/core/migration_service.h"
#include "services/orchestrator/core/task_service.h"
#include "services/orchestrator/grpc/watch_migration_reactor.h"

namespace crosstenant::orchestrator {

// The role each method of crosstenant.v1.Orchestrator needs (authorization.h): reads are read, the
// workers' task RPCs operate, and everything that starts, steers or stops a migration administer,
// so that a worker's certificate cannot create, pause or cancel one.
const MethodRoles& OrchestratorMethodRoles();

class LeaseWaiters;  // the LeaseTasks calls waiting for a task (orchestrator_service.cc)

struct ServiceOptions {
  // At most this many threads run the calls' core work (started as needed); one RPC may hold at most
  // three quarters of them. Most of them wait for the store's writer at busy times: 48 completions in
  // flight at once stay below the limit of one RPC (two workers of 16 slots each send at most 32).
  int executor_threads = 64;
  // The EventHub sees only this process's commits: a task another replica adds (PostgreSQL), or one
  // whose lease expires, is found by looking. Every `lease_probe` the longest-waiting LeaseTasks looks
  // (and, when it leases a task, the next one too), and no waiting LeaseTasks goes longer than
  // `lease_recheck` without looking.
  absl::Duration lease_probe = absl::Seconds(1);
  absl::Duration lease_recheck = absl::Seconds(5);
  // Where the administrative calls are recorded, and ListAuditRecords reads; not owned. Null: a trail
  // of the service's own on the migrations' store, without metrics.
  AuditTrail* audit = nullptr;
};

class OrchestratorService final : public crosstenant::v1::Orchestrator::CallbackService {
 public:
  // `tasks` may be null when no task RPC is called (tests of the migration RPCs).
  OrchestratorService(MigrationService* migrations, TaskService* tasks, WatchOptions watch = {},
                      ServiceOptions options = {});
  ~OrchestratorService() override;  // Shutdown()

  // Stops the executor: call it after the gRPC server's Shutdown (which waits for the calls the
  // executor finishes). Waits up to `grace` for work still running; see Executor::Shutdown.
  void Shutdown(absl::Duration grace = absl::InfiniteDuration()) { executor_.Shutdown(grace); }

  // LeaseTasks calls waiting for a task now, and the looks at the store LeaseTasks calls made so far
  // (a first look each, then one per wake-up or periodic look).
  int waiting_leases() const;
  int64_t lease_looks() const { return lease_looks_.load(); }

  grpc::ServerUnaryReactor* CreateMigration(grpc::CallbackServerContext* context,
                                            const crosstenant::v1::CreateMigrationRequest* request,
                                            crosstenant::v1::CreateMigrationResponse* response) override;
  grpc::ServerUnaryReactor* GetMigration(grpc::CallbackServerContext* context,
                                         const crosstenant::v1::GetMigrationRequest* request,
                                         crosstenant::v1::GetMigrationResponse* response) override;
  grpc::ServerUnaryReactor* ListMigrations(grpc::CallbackServerContext* context,
                                           const crosstenant::v1::ListMigrationsRequest* request,
                                           crosstenant::v1::ListMigrationsResponse* response) override;
  grpc::ServerWriteReactor<crosstenant::v1::WatchMigrationResponse>* WatchMigration(
      grpc::CallbackServerContext* context, const crosstenant::v1::WatchMigrationRequest* request) override;
  grpc::ServerUnaryReactor* PauseMigration(grpc::CallbackServerContext* context,
                                           const crosstenant::v1::PauseMigrationRequest* request,
                                           crosstenant::v1::PauseMigrationResponse* response) override;
  grpc::ServerUnaryReactor* ResumeMigration(grpc::CallbackServerContext* context,
                                            const crosstenant::v1::ResumeMigrationRequest* request,
                                            crosstenant::v1::ResumeMigrationResponse* response) override;
  grpc::ServerUnaryReactor* CancelMigration(grpc::CallbackServerContext* context,
                                            const crosstenant::v1::CancelMigrationRequest* request,
                                            crosstenant::v1::CancelMigrationResponse* response) override;
  grpc::ServerUnaryReactor* ReconcileMigration(grpc::CallbackServerContext* context,
                                               const crosstenant::v1::ReconcileMigrationRequest* request,
                                               crosstenant::v1::ReconcileMigrationResponse* response) override;
  grpc::ServerUnaryReactor* GetMigrationReport(grpc::CallbackServerContext* context,
                                               const crosstenant::v1::GetMigrationReportRequest* request,
                                               crosstenant::v1::GetMigrationReportResponse* response) override;
  grpc::ServerUnaryReactor* ListUserMoves(grpc::CallbackServerContext* context,
                                          const crosstenant::v1::ListUserMovesRequest* request,
                                          crosstenant::v1::ListUserMovesResponse* response) override;
  grpc::ServerUnaryReactor* GetUserMove(grpc::CallbackServerContext* context,
                                        const crosstenant::v1::GetUserMoveRequest* request,
                                        crosstenant::v1::GetUserMoveResponse* response) override;
  grpc::ServerUnaryReactor* LeaseTasks(grpc::CallbackServerContext* context,
                                       const crosstenant::v1::LeaseTasksRequest* request,
                                       crosstenant::v1::LeaseTasksResponse* response) override;
  grpc::ServerUnaryReactor* RenewLeases(grpc::CallbackServerContext* context,
                                        const crosstenant::v1::RenewLeasesRequest* request,
                                        crosstenant::v1::RenewLeasesResponse* response) override;
  grpc::ServerUnaryReactor* CompleteTask(grpc::CallbackServerContext* context,
                                         const crosstenant::v1::CompleteTaskRequest* request,
                                         crosstenant::v1::CompleteTaskResponse* response) override;
  grpc::ServerUnaryReactor* CompleteTasks(grpc::CallbackServerContext* context,
                                          const crosstenant::v1::CompleteTasksRequest* request,
                                          crosstenant::v1::CompleteTasksResponse* response) override;
  grpc::ServerReadReactor<crosstenant::v1::OrchestratorUploadIdentityMapRequest>* UploadIdentityMap(
      grpc::CallbackServerContext* context, crosstenant::v1::OrchestratorUploadIdentityMapResponse* response) override;
  grpc::ServerUnaryReactor* ValidateIdentityMap(grpc::CallbackServerContext* context,
                                                const crosstenant::v1::ValidateIdentityMapRequest* request,
                                                crosstenant::v1::ValidateIdentityMapResponse* response) override;
  grpc::ServerUnaryReactor* ListAuditRecords(grpc::CallbackServerContext* context,
                                             const crosstenant::v1::ListAuditRecordsRequest* request,
                                             crosstenant::v1::ListAuditRecordsResponse* response) override;

 private:
  // Runs `work` (returning absl::Status) on the executor as the kind `method`, and finishes the call
  // with its status from there; RESOURCE_EXHAUSTED at once when that kind is at its limit.
  template <typename Work>
  grpc::ServerUnaryReactor* Offload(grpc::CallbackServerContext* context, Work work,
                                    const char* method = __builtin_FUNCTION());
  // Offload for an audited call: `work` (taking the AuditedCall, whose target it may set once known)
  // runs on the executor, then the call is recorded with the status its caller receives, then finished.
  // The action is `method`.
  template <typename Work>
  grpc::ServerUnaryReactor* OffloadAudited(grpc::CallbackServerContext* context, std::string target,
                                           std::string request_id, Work work,
                                           const char* method = __builtin_FUNCTION());

  MigrationService* migrations_;
  TaskService* tasks_;
  WatchOptions watch_;
  ServiceOptions options_;
  std::unique_ptr<AuditTrail> own_audit_;  // when options_.audit is null
  AuditTrail* audit_;
  Executor executor_;
  std::shared_ptr<LeaseWaiters> lease_waiters_;  // uses executor_
  std::atomic<int64_t> lease_looks_{0};
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_ORCHESTRATOR_SERVICE_H_
