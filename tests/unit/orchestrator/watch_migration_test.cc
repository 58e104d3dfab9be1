// Orchestrator.WatchMigration over an in-process gRPC server on a real SQLite store: a watcher that keeps
// up gets every event, in order, also across bursts far larger than the page a watcher may hold; a
// watcher that reads too slowly is ended with RESOURCE_EXHAUSTED naming the after_sequence to resume
// from, and resuming from it gets every remaining event without a gap.

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "crosstenant/v1/orchestrator.grpc.pb.h"
#include "services/orchestrator/core/migration_service.h"
#include "services/orchestrator/grpc/orchestrator_service.h"
#include "services/orchestrator/store/sqlite_migration_store.h"
#include "tests/support/server_process.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;
using ::testing::HasSubstr;

constexpr char kName[] = "migrations/merger";

class WatchMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteMigrationStore::Open(dir_.path() + "/o.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    MigrationService::Options options;
    options.now = [this] { return Now(); };
    migrations_ = std::make_unique<MigrationService>(store_.get(), options);
    v1::CreateMigrationRequest create;
    create.set_migration_id("merger");
    create.mutable_plan()->set_source_connection("connections/contoso");
    create.mutable_plan()->set_target_connection("connections/fabrikam");
    create.mutable_plan()->mutable_identity_map()->set_csv(
        "User,7f1d1c1e-0000-4000-8000-000000000001,a@contoso.com,a@fabrikam.com,a@fabrikam.com,RegularUser\n");
    ASSERT_TRUE(migrations_->CreateMigration(create).ok());
  }

  void TearDown() override {
    if (server_) {
      migrations_->events().Close();  // open streams end (UNAVAILABLE) before the server waits for them
      server_->Shutdown();
    }
  }

  absl::Time Now() const { return absl::FromUnixNanos(clock_nanos_.load()); }
  void Advance(absl::Duration by) { clock_nanos_ += absl::ToInt64Nanoseconds(by); }

  // Starts the server with `options` (its clock: this test's).
  void Serve(WatchOptions options) {
    options.now = [this] { return Now(); };
    service_ = std::make_unique<OrchestratorService>(migrations_.get(), nullptr, options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ != nullptr);
    // A client that buffers little: without the BDP probe its stream window stays small, so a watcher
    // that does not read really leaves the server's writes waiting.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
    channel_ = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials(), args);
    stub_ = v1::Orchestrator::NewStub(channel_);
  }

  int64_t LastSequence() { return store_->GetMigration(kName)->last_event_sequence(); }

  // Commits `count` events in one change (each with a message of `bytes` bytes), the last one ending the
  // migration if `terminal`, and notifies the watchers as the orchestrator's writers do.
  void Append(int count, size_t bytes, bool terminal = false) {
    absl::StatusOr<v1::Migration> migration = store_->GetMigration(kName);
    ASSERT_TRUE(migration.ok()) << migration.status();
    std::vector<v1::MigrationEvent> events;
    for (int i = 0; i < count; ++i) {
      v1::MigrationEvent event;
      event.set_name(kName);
      event.set_sequence(migration->last_event_sequence() + 1);
      migration->set_last_event_sequence(event.sequence());
      event.mutable_event_time()->set_seconds(absl::ToUnixSeconds(Now()));
      event.set_message(std::string(bytes, 'e'));
      if (terminal && i == count - 1) {
        event.mutable_state_change()->set_from_state(migration->state());
        event.mutable_state_change()->set_to_state(v1::MIGRATION_STATE_COMPLETED);
        migration->set_state(v1::MIGRATION_STATE_COMPLETED);
      }
      events.push_back(std::move(event));
    }
    absl::Status applied = store_->Update(*migration, {}, events);
    ASSERT_TRUE(applied.ok()) << applied;
    migrations_->events().Notify(kName);
  }

  struct Watch {
    std::unique_ptr<grpc::ClientContext> context = std::make_unique<grpc::ClientContext>();
    std::unique_ptr<grpc::ClientReader<v1::WatchMigrationResponse>> reader;
    int64_t snapshot = -1;
    std::vector<int64_t> sequences;  // events after the snapshot, as received
  };
  std::unique_ptr<Watch> Open(int64_t after_sequence) {
    auto watch = std::make_unique<Watch>();
    v1::WatchMigrationRequest request;
    request.set_name(kName);
    request.set_after_sequence(after_sequence);
    watch->reader = stub_->WatchMigration(watch->context.get(), request);
    v1::WatchMigrationResponse response;
    EXPECT_TRUE(watch->reader->Read(&response));
    EXPECT_TRUE(response.event().has_snapshot());
    watch->snapshot = response.event().sequence();
    return watch;
  }
  // Reads up to `limit` events (all if negative), then, if the stream ended, its status.
  static std::optional<grpc::Status> ReadOn(Watch& watch, int limit = -1) {
    v1::WatchMigrationResponse response;
    for (int n = 0; limit < 0 || n < limit; ++n) {
      if (!watch.reader->Read(&response)) return watch.reader->Finish();
      watch.sequences.push_back(response.event().sequence());
    }
    return std::nullopt;
  }
  static std::vector<int64_t> Range(int64_t from, int64_t to) {
    std::vector<int64_t> range;
    for (int64_t s = from; s <= to; ++s) range.push_back(s);
    return range;
  }

  testing::TempDir dir_;
  std::atomic<int64_t> clock_nanos_{absl::ToUnixNanos(absl::FromUnixSeconds(1800000000))};
  std::unique_ptr<SqliteMigrationStore> store_;
  std::unique_ptr<MigrationService> migrations_;
  std::unique_ptr<OrchestratorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Orchestrator::Stub> stub_;
};

TEST_F(WatchMigrationTest, AWatcherThatKeepsUpGetsEveryEventInPagesAcrossBursts) {
  WatchOptions options;
  options.page_size = 7;
  Serve(options);
  const int64_t first = LastSequence();
  std::unique_ptr<Watch> live = Open(0);
  std::unique_ptr<Watch> replay = Open(1);  // from the first stored event: a replay, then live
  EXPECT_EQ(live->snapshot, first);
  // Bursts far larger than a page, committed while the watchers read.
  std::thread writer([this] {
    Append(500, 10);
    for (int i = 0; i < 20; ++i) Append(13, 10);
    Append(1, 10, /*terminal=*/true);
  });
  std::optional<grpc::Status> live_end = ReadOn(*live);
  std::optional<grpc::Status> replay_end = ReadOn(*replay);
  writer.join();
  ASSERT_TRUE(live_end && replay_end);
  EXPECT_TRUE(live_end->ok()) << live_end->error_message();
  EXPECT_TRUE(replay_end->ok()) << replay_end->error_message();
  const int64_t last = LastSequence();
  EXPECT_EQ(last, first + 500 + 20 * 13 + 1);
  EXPECT_EQ(live->sequences, Range(first + 1, last)) << "every event, in order, no gap";
  EXPECT_EQ(replay->sequences, Range(2, last));
}

TEST_F(WatchMigrationTest, ASlowWatcherIsCutOffWithResourceExhaustedAndResumesWithoutAGap) {
  WatchOptions options;
  options.page_size = 10;
  options.max_lag = absl::Seconds(60);
  Serve(options);
  std::unique_ptr<Watch> slow = Open(0);
  const int64_t first = slow->snapshot;
  // 200 events of 32 kB: far more than the client's stream window and the server's write buffer, so
  // the server's writes wait for this client to read.
  Append(200, 32 * 1024);
  ASSERT_FALSE(ReadOn(*slow, 1).has_value()) << "the first event arrives";
  // Two minutes pass with the watcher reading nothing more.
  Advance(absl::Minutes(2));
  std::optional<grpc::Status> cut = ReadOn(*slow);
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(cut->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << cut->error_message();
  EXPECT_THAT(cut->error_message(), HasSubstr("reads events more slowly"));
  // It got a gap-free prefix, at least the page it was being written, not everything.
  const int64_t got = slow->sequences.empty() ? first : slow->sequences.back();
  EXPECT_EQ(slow->sequences, Range(first + 1, got));
  EXPECT_GE(got, first + 10);
  EXPECT_LT(got, first + 200);
  // The message names where to carry on: the last event it received.
  const std::string marker = "after_sequence=";
  const size_t at = cut->error_message().find(marker);
  ASSERT_NE(at, std::string::npos) << cut->error_message();
  int64_t resume = -1;
  const std::string rest = cut->error_message().substr(at + marker.size());
  ASSERT_TRUE(absl::SimpleAtoi(rest.substr(0, rest.find_first_not_of("0123456789")), &resume)) << rest;
  EXPECT_EQ(resume, got);

  Append(1, 10, /*terminal=*/true);
  std::unique_ptr<Watch> resumed = Open(resume);
  std::optional<grpc::Status> end = ReadOn(*resumed);
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->ok()) << end->error_message();
  EXPECT_EQ(resumed->sequences, Range(resume + 1, first + 201)) << "the rest, in order, no gap";
}

TEST_F(WatchMigrationTest, NoCutOffWhenTheLimitIsOff) {
  WatchOptions options;
  options.page_size = 5;
  options.max_lag = absl::ZeroDuration();
  Serve(options);
  std::unique_ptr<Watch> slow = Open(0);
  const int64_t first = slow->snapshot;
  Append(100, 32 * 1024);
  ASSERT_FALSE(ReadOn(*slow, 1).has_value());
  Advance(absl::Hours(1));
  Append(1, 10, /*terminal=*/true);
  std::optional<grpc::Status> end = ReadOn(*slow);
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->ok()) << end->error_message();
  EXPECT_EQ(slow->sequences, Range(first + 1, first + 101));
}

}  // namespace
}  // namespace crosstenant::orchestrator
