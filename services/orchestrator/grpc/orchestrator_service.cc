#include "services/orchestrator/grpc/orchestrator_service.h"

#include <grpcpp/alarm.h>

#include "services/common/grpc_status.h"
#include "services/orchestrator/grpc/watch_migration_reactor.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;

// Finishes a unary call with the result of a business call: on success `store` moves the value into
// the response; on error the status goes through the one translation.
template <typename Value, typename Store>
grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context, absl::StatusOr<Value> result, Store store) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (result.ok()) store(*std::move(result));
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

// LeaseTasks with a wait: asks again every kPollEvery until tasks come or `wait_time` runs out, without
// holding a gRPC thread in between.
class LeaseTasksReactor : public grpc::ServerUnaryReactor {
 public:
  static constexpr std::chrono::milliseconds kPollEvery{200};

  LeaseTasksReactor(TaskService* tasks, const v1::LeaseTasksRequest* request, v1::LeaseTasksResponse* response)
      : tasks_(tasks), request_(request), response_(response) {
    const auto wait = std::chrono::seconds(request->wait_time().seconds()) +
                      std::chrono::nanoseconds(request->wait_time().nanos());
    give_up_ = std::chrono::system_clock::now() + std::min<std::chrono::system_clock::duration>(
                                                       wait, std::chrono::seconds(60));
    Attempt();
  }

  void OnCancel() override { alarm_.Cancel(); }
  void OnDone() override { delete this; }

 private:
  void Attempt() {
    absl::StatusOr<v1::LeaseTasksResponse> result = tasks_->LeaseTasks(*request_);
    const auto now = std::chrono::system_clock::now();
    if (!result.ok() || result->tasks_size() > 0 || now + kPollEvery >= give_up_) {
      if (result.ok()) *response_ = *std::move(result);
      Finish(ToGrpcStatus(result.status()));
      return;
    }
    alarm_.Set(now + kPollEvery, [this](bool fired) {
      if (fired) {
        Attempt();
      } else {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "lease wait cancelled"));
      }
    });
  }

  TaskService* tasks_;
  const v1::LeaseTasksRequest* request_;
  v1::LeaseTasksResponse* response_;
  std::chrono::system_clock::time_point give_up_;
  grpc::Alarm alarm_;
};

}  // namespace

grpc::ServerUnaryReactor* OrchestratorService::LeaseTasks(grpc::CallbackServerContext* /*context*/,
                                                          const v1::LeaseTasksRequest* request,
                                                          v1::LeaseTasksResponse* response) {
  return new LeaseTasksReactor(tasks_, request, response);
}

grpc::ServerUnaryReactor* OrchestratorService::RenewLeases(grpc::CallbackServerContext* context,
                                                           const v1::RenewLeasesRequest* request,
                                                           v1::RenewLeasesResponse* response) {
  return Reply(context, tasks_->RenewLeases(*request),
               [response](v1::RenewLeasesResponse r) { *response = std::move(r); });
}

grpc::ServerUnaryReactor* OrchestratorService::CompleteTask(grpc::CallbackServerContext* context,
                                                            const v1::CompleteTaskRequest* request,
                                                            v1::CompleteTaskResponse* response) {
  return Reply(context, tasks_->CompleteTask(*request),
               [response](v1::CompleteTaskResponse r) { *response = std::move(r); });
}

grpc::ServerUnaryReactor* OrchestratorService::CreateMigration(grpc::CallbackServerContext* context,
                                                               const v1::CreateMigrationRequest* request,
                                                               v1::CreateMigrationResponse* response) {
  return Reply(context, migrations_->CreateMigration(*request),
               [response](v1::Migration m) { *response->mutable_migration() = std::move(m); });
}

grpc::ServerUnaryReactor* OrchestratorService::GetMigration(grpc::CallbackServerContext* context,
                                                            const v1::GetMigrationRequest* request,
                                                            v1::GetMigrationResponse* response) {
  return Reply(context, migrations_->GetMigration(request->name()),
               [response](v1::Migration m) { *response->mutable_migration() = std::move(m); });
}

grpc::ServerUnaryReactor* OrchestratorService::ListMigrations(grpc::CallbackServerContext* context,
                                                              const v1::ListMigrationsRequest* request,
                                                              v1::ListMigrationsResponse* response) {
  return Reply(context, migrations_->ListMigrations(*request),
               [response](v1::ListMigrationsResponse r) { *response = std::move(r); });
}

grpc::ServerWriteReactor<v1::WatchMigrationResponse>* OrchestratorService::WatchMigration(
    grpc::CallbackServerContext* /*context*/, const v1::WatchMigrationRequest* request) {
  return NewWatchMigrationReactor(migrations_, *request, watch_);
}

grpc::ServerUnaryReactor* OrchestratorService::PauseMigration(grpc::CallbackServerContext* context,
                                                              const v1::PauseMigrationRequest* request,
                                                              v1::PauseMigrationResponse* response) {
  return Reply(context, migrations_->PauseMigration(*request),
               [response](v1::Migration m) { *response->mutable_migration() = std::move(m); });
}

grpc::ServerUnaryReactor* OrchestratorService::ResumeMigration(grpc::CallbackServerContext* context,
                                                               const v1::ResumeMigrationRequest* request,
                                                               v1::ResumeMigrationResponse* response) {
  return Reply(context, migrations_->ResumeMigration(*request),
               [response](v1::Migration m) { *response->mutable_migration() = std::move(m); });
}

grpc::ServerUnaryReactor* OrchestratorService::CancelMigration(grpc::CallbackServerContext* context,
                                                               const v1::CancelMigrationRequest* request,
                                                               v1::CancelMigrationResponse* response) {
  return Reply(context, migrations_->CancelMigration(*request),
               [response](v1::Migration m) { *response->mutable_migration() = std::move(m); });
}

grpc::ServerUnaryReactor* OrchestratorService::ReconcileMigration(grpc::CallbackServerContext* context,
                                                                  const v1::ReconcileMigrationRequest* request,
                                                                  v1::ReconcileMigrationResponse* response) {
  return Reply(context, migrations_->ReconcileMigration(*request),
               [response](v1::ReconcileMigrationResponse r) { *response = std::move(r); });
}

grpc::ServerUnaryReactor* OrchestratorService::GetMigrationReport(grpc::CallbackServerContext* context,
                                                                  const v1::GetMigrationReportRequest* request,
                                                                  v1::GetMigrationReportResponse* response) {
  return Reply(context, migrations_->GetMigrationReport(*request),
               [response](v1::GetMigrationReportResponse r) { *response = std::move(r); });
}

grpc::ServerUnaryReactor* OrchestratorService::ListUserMoves(grpc::CallbackServerContext* context,
                                                             const v1::ListUserMovesRequest* request,
                                                             v1::ListUserMovesResponse* response) {
  return Reply(context, migrations_->ListUserMoves(*request),
               [response](v1::ListUserMovesResponse r) { *response = std::move(r); });
}

grpc::ServerUnaryReactor* OrchestratorService::GetUserMove(grpc::CallbackServerContext* context,
                                                           const v1::GetUserMoveRequest* request,
                                                           v1::GetUserMoveResponse* response) {
  return Reply(context, migrations_->GetUserMove(request->name()),
               [response](v1::UserMove m) { *response->mutable_user_move() = std::move(m); });
}

grpc::ServerUnaryReactor* OrchestratorService::ValidateIdentityMap(grpc::CallbackServerContext* context,
                                                                   const v1::ValidateIdentityMapRequest* request,
                                                                   v1::ValidateIdentityMapResponse* response) {
  return Reply(context, migrations_->ValidateIdentityMap(*request),
               [response](v1::ValidateIdentityMapResponse r) { *response = std::move(r); });
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
      // The workers' side of the task queue.
      {"LeaseTasks", Role::kOperate},
      {"RenewLeases", Role::kOperate},
      {"CompleteTask", Role::kOperate},
  };
  return *roles;
}

}  // namespace crosstenant::orchestrator
