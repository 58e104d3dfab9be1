// Whole migrations whose source connection goes away mid-run, through the real mesh: deleted (forced),
// its credential refused on a re-sign-in, EXPIRED when its token can no longer be refreshed, its
// tenant unreachable. While the connection is gone Microsoft (the emulator) completes every move; the mesh
// must never report one of those users FAILED, must say what it waits for, and once the connection is
// back must end with the emulator's own record: every user SUCCESS, nobody started twice.

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crosstenant/v1/tenant_connector.grpc.pb.h"
#include "tests/integration/migration/migration_fixture.h"

namespace crosstenant::testing {
namespace {

class InDoubtTest : public MigrationTest {
 protected:
  v1::CreateConnectionRequest SourceConnection() {
    return ConnectRequest("contoso", v1::CONNECTION_ROLE_SOURCE, "https://contoso-admin.sharepoint.com",
                          MigrationAppCredential(emulator_, kContosoApp));
  }

  grpc::Status DeleteSource() {
    v1::DeleteConnectionRequest request;
    request.set_name("connections/contoso");
    request.set_force(true);
    grpc::ClientContext context;
    v1::DeleteConnectionResponse response;
    return connector_.stub().DeleteConnection(&context, request, &response);
  }

  grpc::Status CreateSource() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::CreateConnectionResponse response;
    return connector_.stub().CreateConnection(&context, SourceConnection(), &response);
  }

  // Signs the source in again with `credential`; an empty one: with the stored one, its files read again.
  grpc::Status ReauthenticateSource(const v1::Credential& credential) {
    v1::ReauthenticateConnectionRequest request;
    request.set_name("connections/contoso");
    if (credential.ByteSizeLong() > 0) *request.mutable_credential() = credential;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ReauthenticateConnectionResponse response;
    return connector_.stub().ReauthenticateConnection(&context, request, &response);
  }

  v1::ConnectionState SourceState() {
    grpc::ClientContext context;
    v1::GetConnectionRequest request;
    request.set_name("connections/contoso");
    v1::GetConnectionResponse response;
    const grpc::Status status = connector_.stub().GetConnection(&context, request, &response);
    return status.ok() ? response.connection().state() : v1::CONNECTION_STATE_UNSPECIFIED;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
  }

  // Emulator moves in `state` (every user of the seed has at most one).
  int EmulatorMovesIn(const std::string& state) {
    int n = 0;
    for (const auto& [upn, tasks] : EmulatorMoves()) {
      for (const nlohmann::json& task : tasks) n += task["moveState"].get<std::string>() == state ? 1 : 0;
    }
    return n;
  }

  // Starts a migration of 10 users whose moves take about 15 s each, breaks the source connection
  // once every move has started at Microsoft, lets Microsoft finish them all, restores the connection
  // and checks the end against the emulator. `waiting_for`: what the migration must say meanwhile
  // (empty: no particular reason, e.g. an outage retried as transient).
  void RunThroughOutage(const std::string& id, const std::function<void()>& break_connection,
                        const std::function<void()>& restore_connection, const std::string& waiting_for) {
    MeshSeed seed;
    seed.nam_users = 8;
    seed.eur_users = 2;
    seed.move_step = "30m";  // 3 s a state at 600x: each move is at Microsoft for about 15 s
    ASSERT_TRUE(StartMesh(seed, 600, 2));
    ASSERT_TRUE(Create(id));
    const std::string name = "migrations/" + id;

    const absl::Time started_by = absl::Now() + absl::Seconds(60);
    while (EmulatorMoves().size() < 10 && absl::Now() < started_by) absl::SleepFor(absl::Milliseconds(100));
    ASSERT_EQ(EmulatorMoves().size(), 10u) << "every move started at Microsoft";
    ASSERT_EQ(EmulatorMovesIn("Success"), 0) << "the connection must break while moves are in flight";

    break_connection();

    // Microsoft finishes every move meanwhile; the mesh must not contradict it.
    const absl::Time finished_by = absl::Now() + absl::Seconds(60);
    const auto says_why = [&](const v1::Migration& m) {
      return m.state() == v1::MIGRATION_STATE_WAITING && absl::StrContains(m.state_reason(), waiting_for);
    };
    bool said_why = waiting_for.empty();
    int most_failed = 0;
    while (EmulatorMovesIn("Success") < 10 && absl::Now() < finished_by) {
      const v1::Migration m = Get(name);
      most_failed = std::max(most_failed, Count(m, v1::USER_MOVE_STATE_FAILED));
      said_why = said_why || says_why(m);
      ASSERT_FALSE(Ended(m)) << "ended while its connection was broken: " << m.DebugString();
      absl::SleepFor(absl::Milliseconds(200));
    }
    ASSERT_EQ(EmulatorMovesIn("Success"), 10);
    if (!said_why) {
      // An unreachable tenant is named once a user's poll has gone unanswered two tries in a row, which
      // may be after Microsoft finished: each try waits for the connector's own retries of the 503s.
      said_why = says_why(WaitUntil(
          name, [&](const v1::Migration& m) { return Ended(m) || says_why(m); }, absl::Seconds(60)));
    }
    // A few more polls' worth of time with every move done at Microsoft and the connection still broken.
    const v1::Migration broken = WaitUntil(name, Ended, absl::Seconds(3));
    EXPECT_FALSE(Ended(broken)) << broken.DebugString();
    EXPECT_EQ(most_failed, 0) << "a user was reported FAILED while Microsoft was completing its move";
    EXPECT_EQ(Count(broken, v1::USER_MOVE_STATE_FAILED), 0);
    EXPECT_TRUE(said_why) << "the migration never said it waits for " << waiting_for
                          << "; last: " << broken.state_reason();

    restore_connection();

    const v1::Migration ended = WaitUntil(name, Ended, absl::Seconds(60));
    EXPECT_EQ(ended.state(), v1::MIGRATION_STATE_COMPLETED) << ended.DebugString();
    EXPECT_EQ(ended.state_reason(), "10 of 10 user(s) moved");
    ExpectFinalStatesMatchEmulator(name);

    // Nothing is in doubt any more: reconciling changes nothing.
    grpc::ClientContext context;
    v1::ReconcileMigrationRequest reconcile;
    reconcile.set_name(name);
    v1::ReconcileMigrationResponse response;
    const grpc::Status status = orchestrator_.stub().ReconcileMigration(&context, reconcile, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.users_to_reconcile(), 0);
    EXPECT_EQ(response.migration().state(), v1::MIGRATION_STATE_COMPLETED);
    EXPECT_EQ(response.migration().last_event_sequence(), Get(name).last_event_sequence());
  }
};

TEST_F(InDoubtTest, ADeletedConnectionRecreatedEndsWithMicrosoftsRecord) {
  RunThroughOutage(
      "deleted",
      [&] {
        const grpc::Status deleted = DeleteSource();
        ASSERT_TRUE(deleted.ok()) << deleted.error_message();
      },
      [&] {
        const grpc::Status created = CreateSource();
        ASSERT_TRUE(created.ok()) << created.error_message();
      },
      "waiting for connections/contoso (");
}

TEST_F(InDoubtTest, AConnectionWhoseCredentialIsRefusedEndsWithMicrosoftsRecordOnceSignedInAgain) {
  RunThroughOutage(
      "refused",
      [&] {
        // As a secret that ran out: Entra refuses the credential, the connection is no longer usable.
        EXPECT_FALSE(ReauthenticateSource(SecretCredential(kContosoApp, "not-the-secret")).ok());
        grpc::ClientContext context;
        v1::GetConnectionRequest request;
        request.set_name("connections/contoso");
        v1::GetConnectionResponse response;
        ASSERT_TRUE(connector_.stub().GetConnection(&context, request, &response).ok());
        EXPECT_NE(response.connection().state(), v1::CONNECTION_STATE_CONNECTED);
      },
      [&] {
        const grpc::Status signed_in = ReauthenticateSource(MigrationAppCredential(emulator_, kContosoApp));
        ASSERT_TRUE(signed_in.ok()) << signed_in.error_message();
      },
      "waiting for connections/contoso");
}

TEST_F(InDoubtTest, AConnectionThatExpiresEndsWithMicrosoftsRecordOnceSignedInAgain) {
  TempDir credentials;
  std::string certificate, key, original_key;
  RunThroughOutage(
      "expired",
      [&] {
        // The source signs in with its own copy of the app's certificate and key; then its key is
        // replaced by one Entra does not know (as a credential that ran out) and tokens live 2 s: the
        // next refresh is refused and the connector turns the connection EXPIRED on its own.
        original_key = ReadFile(emulator_.AppKey());
        certificate = credentials.WriteFile("app.pem", ReadFile(emulator_.AppCertificate()));
        key = credentials.WriteFile("app.key", original_key);
        emulator_.Admin("PUT", "/_emulator/faults", {{"token_lifetime_seconds", 2}});  // tokens issued from now
        const grpc::Status copied = ReauthenticateSource(MigrationAppCredential(certificate, key, kContosoApp));
        ASSERT_TRUE(copied.ok()) << copied.error_message();
        ASSERT_EQ(std::system(("openssl genrsa -out " + key + " 2048 2>/dev/null").c_str()), 0);
        const absl::Time expired_by = absl::Now() + absl::Seconds(30);
        while (SourceState() != v1::CONNECTION_STATE_EXPIRED && absl::Now() < expired_by) {
          absl::SleepFor(absl::Milliseconds(200));
        }
        ASSERT_EQ(SourceState(), v1::CONNECTION_STATE_EXPIRED);
      },
      [&] {
        credentials.WriteFile("app.key", original_key);
        const grpc::Status signed_in = ReauthenticateSource(v1::Credential());  // the files, read again
        ASSERT_TRUE(signed_in.ok()) << signed_in.error_message();
        emulator_.Admin("DELETE", "/_emulator/faults");
      },
      "waiting for connections/contoso");
}

TEST_F(InDoubtTest, AnUnreachableTenantEndsWithMicrosoftsRecordOnceItIsBack) {
  RunThroughOutage(
      "unreachable",
      [&] {
        emulator_.Admin("PUT", "/_emulator/faults", {{"unreachable_tenants", {"contoso"}}});
      },
      [&] {
        emulator_.Admin("PUT", "/_emulator/faults", {{"unreachable_tenants", nlohmann::json::array()}});
      },
      "waiting for connections/contoso (");
}

}  // namespace
}  // namespace crosstenant::testing
