// GrpcLeaseClient against an orchestrator of an earlier version, which serves CompleteTask but not
// CompleteTasks: the results still reach it, one call each, and each is answered on its own.

#include <gtest/gtest.h>

#include <grpcpp/create_channel.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/worker/grpc/grpc_clients.h"

namespace crosstenant::worker {
namespace {

namespace v1 = ::crosstenant::v1;

// Records every CompleteTask; refuses the task named "stale" as a lost lease.
class EarlierOrchestrator : public v1::Orchestrator::Service {
 public:
  grpc::Status CompleteTask(grpc::ServerContext*, const v1::CompleteTaskRequest* request,
                            v1::CompleteTaskResponse* response) override {
    absl::MutexLock lock(&mutex_);
    tasks_.push_back(request->task());
    if (request->task() == "stale") return grpc::Status(grpc::StatusCode::ABORTED, "the lease is no longer held");
    response->set_user_move_state(v1::USER_MOVE_STATE_SCHEDULED);
    return grpc::Status::OK;
  }
  std::vector<std::string> tasks() {
    absl::MutexLock lock(&mutex_);
    return tasks_;
  }

 private:
  absl::Mutex mutex_;
  std::vector<std::string> tasks_ ABSL_GUARDED_BY(mutex_);
};

TEST(GrpcLeaseClientTest, AnOrchestratorWithoutCompleteTasksGetsTheResultsOneByOne) {
  EarlierOrchestrator orchestrator;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&orchestrator);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  GrpcLeaseClient client(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

  for (int round = 0; round < 2; ++round) {
    v1::CompleteTasksRequest request;
    for (const char* task : {"a", "stale", "b"}) {
      v1::CompleteTaskRequest* completion = request.add_completions();
      completion->set_task(task);
      completion->set_worker_id("w1");
    }
    absl::StatusOr<v1::CompleteTasksResponse> response = client.CompleteTasks(request);
    ASSERT_TRUE(response.ok()) << response.status();
    ASSERT_EQ(response->results_size(), 3);
    EXPECT_EQ(response->results(0).task(), "a");
    EXPECT_FALSE(response->results(0).has_error());
    EXPECT_EQ(response->results(0).user_move_state(), v1::USER_MOVE_STATE_SCHEDULED);
    EXPECT_EQ(response->results(1).error().code(), "ABORTED");
    EXPECT_FALSE(response->results(2).has_error());
  }
  EXPECT_EQ(orchestrator.tasks(), (std::vector<std::string>{"a", "stale", "b", "a", "stale", "b"}));
  server->Shutdown();
}

}  // namespace
}  // namespace crosstenant::worker
