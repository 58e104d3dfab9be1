#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_ORCHESTRATOR_SERVICE_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_ORCHESTRATOR_SERVICE_H_

// crosstenant.v1.Orchestrator over gRPC: a thin adapter from requests to MigrationService, with the
// one status translation at the edge.

#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "services/common/authorization.h"
#include "services/orchestrator/core/migration_service.h"
#include "services/orchestrator/core/task_service.h"
#include "services/orchestrator/grpc/watch_migration_reactor.h"

namespace crosstenant::orchestrator {

// The role each method of crosstenant.v1.Orchestrator needs (authorization.h): reads are read, the
// workers' task RPCs operate, and everything that starts, steers or stops a migration administer,
// so that a worker's certificate cannot create, pause or cancel one.
const MethodRoles& OrchestratorMethodRoles();

class OrchestratorService final : public crosstenant::v1::Orchestrator::CallbackService {
 public:
  OrchestratorService(MigrationService* migrations, TaskService* tasks, WatchOptions watch = {})
      : migrations_(migrations), tasks_(tasks), watch_(std::move(watch)) {}

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
  grpc::ServerUnaryReactor* ValidateIdentityMap(grpc::CallbackServerContext* context,
                                                const crosstenant::v1::ValidateIdentityMapRequest* request,
                                                crosstenant::v1::ValidateIdentityMapResponse* response) override;

 private:
  MigrationService* migrations_;
  TaskService* tasks_;
  WatchOptions watch_;
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_GRPC_ORCHESTRATOR_SERVICE_H_
