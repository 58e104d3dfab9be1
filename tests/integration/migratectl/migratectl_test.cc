// The real migratectl binary against the real mesh (tenant-emulator, tenant-connector, orchestrator,
// worker, mTLS everywhere): every command, its output and its exit code.

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/integration/migratectl/mesh.h"

namespace crosstenant::migratectl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class MigratectlMeshTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(mesh_.Start()); }

  // The identity map of the seed's movable users (and, with `with_taken`, the one whose target has a
  // OneDrive already).
  std::string MapFile(bool with_taken) {
    std::string csv;
    std::vector<std::string> users = {"alice", "bob", "carol"};
    if (with_taken) users.push_back("taken");
    for (const std::string& user : users) {
      absl::StrAppend(&csv, "User,", kContosoTenantId, ",", user, "@contoso.onmicrosoft.com,", user,
                      "@fabrikam.onmicrosoft.com,", user, "@fabrikam.onmicrosoft.com,RegularUser\n");
    }
    return mesh_.WriteFile(with_taken ? "map-taken.csv" : "map.csv", csv);
  }

  std::string PlanFile(const std::string& id, const std::string& map) {
    return mesh_.WriteFile(id + ".yaml",
                           absl::StrCat("migration: ", id, "\ndisplay_name: test ", id,
                                        "\nsource: contoso\ntarget: fabrikam\nidentity_map: ", map, "\n"));
  }

  Mesh mesh_;
};

TEST_F(MigratectlMeshTest, ConnectWithSecretCertificateDeviceCodeAndPassword) {
  // Certificate (Connect-SPOService -CertificatePath): PS256 client assertion with the app's key. The
  // credential an app needs for SharePoint's admin steps, so the one every other test connects with.
  CliResult cert = mesh_.Run(mesh_.ConnectArgs("source", "contoso", "contoso"));
  EXPECT_EQ(cert.exit_code, 0) << cert.out << cert.err;
  EXPECT_THAT(cert.out, HasSubstr("state:        CONNECTED"));
  EXPECT_THAT(cert.out, HasSubstr("credential:   certificate"));
  EXPECT_THAT(cert.out, HasSubstr("geo:          EUR https://contosoeur-admin.sharepoint.com"));
  CliResult target = mesh_.Run(mesh_.ConnectArgs("target", "fabrikam", "fabrikam"));
  EXPECT_EQ(target.exit_code, 0) << target.out << target.err;

  // Client secret: Graph accepts it, so it connects; SharePoint refuses app-only tokens obtained with a
  // secret, so nothing here runs a SharePoint step with it.
  const std::string secret_file = mesh_.WriteFile("contoso.secret", std::string(kContosoSecret) + "\n");
  CliResult secret =
      mesh_.Run({"connect", "--role=source", "https://contoso-admin.sharepoint.com", "--id=contoso-secret",
                 std::string("--client-id=") + kContosoApp, "--client-secret-file=" + secret_file});
  EXPECT_EQ(secret.exit_code, 0) << secret.out << secret.err;
  EXPECT_THAT(secret.out, HasSubstr("credential:   client-secret"));
  EXPECT_THAT(secret.out + secret.err, Not(HasSubstr(kContosoSecret)));

  // Device code: Microsoft's prompt on stderr, then migratectl waits until the admin has signed in.
  mesh_.EmulatorAdmin("/_emulator/time", R"({"time_scale":30})");  // 15 emulated minutes = 30 s
  auto device = mesh_.Spawn({"connect", "--role=target", "https://fabrikam-admin.sharepoint.com", "--id=fabrikam-admin",
                             "--device-code", "--timeout=60s"});
  std::string code;
  for (int i = 0; i < 1000 && code.empty(); ++i) {
    const std::string text = device->Stderr();
    const size_t at = text.find("enter the code ");
    if (at != std::string::npos) code = text.substr(at + 15, text.find(' ', at + 15) - at - 15);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(code.empty()) << device->Stderr();
  EXPECT_THAT(device->Stderr(), HasSubstr("To sign in, use a web browser to open the page "
                                          "https://microsoft.com/devicelogin and enter the code " +
                                          code + " to authenticate."));
  EXPECT_THAT(device->Stderr(), HasSubstr("Waiting for the sign-in to connections/fabrikam-admin"));
  EXPECT_FALSE(device->WaitForExit(std::chrono::milliseconds(300)).has_value()) << "must wait for the sign-in";
  mesh_.EmulatorAdmin("/_emulator/devicecode/approve",
                      absl::StrCat(R"({"user_code":")", code, R"(","upn":"admin@fabrikam.onmicrosoft.com"})"));
  EXPECT_EQ(device->WaitForExit(std::chrono::seconds(60)), 0) << device->Stderr();
  EXPECT_THAT(device->Stderr(), HasSubstr("signed in as: admin@fabrikam.onmicrosoft.com"));
  mesh_.EmulatorAdmin("/_emulator/time", R"({"time_scale":3000})");

  // An admin's user name and password (Connect-SPOService -Credential), the password from the environment.
  setenv("CONTOSO_ADMIN_PASSWORD", "Contoso-Admin-1!", 1);
  CliResult password =
      mesh_.Run({"connect", "--role=source", "https://contoso-admin.sharepoint.com", "--id=contoso-admin",
                 "--username=admin@contoso.onmicrosoft.com", "--password-env=CONTOSO_ADMIN_PASSWORD"});
  unsetenv("CONTOSO_ADMIN_PASSWORD");
  EXPECT_EQ(password.exit_code, 0) << password.out << password.err;
  EXPECT_THAT(password.out, HasSubstr("credential:   username-password"));
  EXPECT_THAT(password.out, HasSubstr("signed in as: admin@contoso.onmicrosoft.com"));
  EXPECT_THAT(password.out + password.err, Not(HasSubstr("Contoso-Admin-1!")));

  // All five at once: the connector holds every connection (one per PowerShell session in Microsoft's tool).
  CliResult list = mesh_.Run({"connections"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  for (const char* name : {"connections/contoso ", "connections/contoso-admin", "connections/contoso-secret",
                           "connections/fabrikam ", "connections/fabrikam-admin"}) {
    EXPECT_THAT(list.out, HasSubstr(name));
  }
  EXPECT_THAT(list.out, HasSubstr("NAME "));
  CliResult json = mesh_.Run({"connections", "--format=json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(nlohmann::json::parse(json.out).size(), 5u);
  EXPECT_THAT(json.out, Not(HasSubstr(kContosoSecret)));  // secrets are never shown

  CliResult check = mesh_.Run({"connections", "check", "contoso"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  CliResult removed = mesh_.Run({"connections", "delete", "contoso-secret"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  CliResult gone = mesh_.Run({"connections", "show", "contoso-secret"});
  EXPECT_EQ(gone.exit_code, 4) << gone.err;
  EXPECT_THAT(gone.err, HasSubstr("NOT_FOUND"));
}

TEST_F(MigratectlMeshTest, ConnectRefusalsHaveTheirExitCodes) {
  ASSERT_TRUE(mesh_.ConnectBoth());
  const std::string wrong = mesh_.WriteFile("wrong.secret", "not-the-secret-91b3");
  CliResult refused = mesh_.Run({"connect", "--role=source", "https://contoso-admin.sharepoint.com", "--id=wrong",
                                 std::string("--client-id=") + kContosoApp, "--client-secret-file=" + wrong});
  EXPECT_EQ(refused.exit_code, 6) << refused.err;  // sign-in refused: FAILED_PRECONDITION with the AADSTS code
  EXPECT_THAT(refused.err, HasSubstr("AADSTS7000215"));
  EXPECT_THAT(refused.err + refused.out, Not(HasSubstr("not-the-secret-91b3")));

  std::vector<std::string> my_site_args = mesh_.ConnectArgs("source", "contoso", "my");
  my_site_args[2] = "https://contoso-my.sharepoint.com";
  CliResult my_site = mesh_.Run(my_site_args);
  EXPECT_EQ(my_site.exit_code, 3) << my_site.err;  // the -my URL: INVALID_ARGUMENT naming the URL to type
  EXPECT_THAT(my_site.err, HasSubstr("contoso-admin.sharepoint.com"));

  CliResult taken = mesh_.Run(mesh_.ConnectArgs("source", "contoso", "contoso"));
  EXPECT_EQ(taken.exit_code, 5) << taken.err;  // ALREADY_EXISTS

  CliResult env = mesh_.Run({"connect", "--role=source", "https://contoso-admin.sharepoint.com", "--id=env",
                             std::string("--client-id=") + kContosoApp, "--client-secret-env=NO_SUCH_VARIABLE_X"});
  EXPECT_EQ(env.exit_code, 3) << env.err;
  EXPECT_THAT(env.err, HasSubstr("NO_SUCH_VARIABLE_X is not set"));
}

// A client certificate the servers do not trust is named as the cause, with a code that says not to retry.
TEST_F(MigratectlMeshTest, RefusedClientCertificateIsNamedAndNotRetryable) {
  const std::string dir = mesh_.dir();
  ASSERT_EQ(std::system(("cd '" + dir +
                         "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=stranger' "
                         "-keyout stranger.key -out stranger.pem 2>/dev/null")
                            .c_str()),
            0);
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"connections"}, std::vector<std::string>{"migrate", "status"}}) {
    std::vector<std::string> args = command;
    args.push_back("--tls-cert=" + dir + "/stranger.pem");
    args.push_back("--tls-key=" + dir + "/stranger.key");
    CliResult refused = mesh_.Run(args);
    EXPECT_EQ(refused.exit_code, 7) << refused.err;
    EXPECT_THAT(refused.err,
                HasSubstr("refused the TLS handshake with the client certificate " + dir + "/stranger.pem"));
    EXPECT_THAT(refused.err, HasSubstr("the server at 127.0.0.1:"));
    EXPECT_THAT(refused.err, Not(HasSubstr("is the server running")));
  }
}

TEST_F(MigratectlMeshTest, ConnectionsWatchShowsChangesAsTheyHappen) {
  ASSERT_EQ(mesh_.Run(mesh_.ConnectArgs("source", "contoso", "contoso")).exit_code, 0);
  auto watch = mesh_.Spawn({"connections", "--watch", "--timeout=30s"});
  auto wait_for = [&](const std::string& text) {
    for (int i = 0; i < 1000 && !absl::StrContains(watch->Stderr(), text); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return absl::StrContains(watch->Stderr(), text);
  };
  // The stream opens with the current state of each connection, then shows each change.
  EXPECT_TRUE(wait_for("SNAPSHOT  connections/contoso  SOURCE  CONNECTED")) << watch->Stderr();
  ASSERT_EQ(mesh_.Run(mesh_.ConnectArgs("target", "fabrikam", "fabrikam")).exit_code, 0);
  EXPECT_TRUE(wait_for("connections/fabrikam  TARGET  CONNECTED")) << watch->Stderr();
  EXPECT_THAT(watch->Stderr(), HasSubstr("CREATED  connections/fabrikam  TARGET"));
  ASSERT_EQ(mesh_.Run({"connections", "delete", "fabrikam"}).exit_code, 0);
  EXPECT_TRUE(wait_for("DELETED  connections/fabrikam")) << watch->Stderr();
  watch->Signal(SIGINT);
  EXPECT_EQ(watch->WaitForExit(std::chrono::seconds(10)), 128 + SIGINT);
}

TEST_F(MigratectlMeshTest, PreflightTrustAndCompatibility) {
  ASSERT_TRUE(mesh_.ConnectBoth());
  CliResult before = mesh_.Run({"preflight", "--source=contoso", "--target=fabrikam"});
  EXPECT_EQ(before.exit_code, 10) << before.out << before.err;  // trust not established yet
  EXPECT_THAT(before.out, HasSubstr("TRUST_NOT_ESTABLISHED"));
  CliResult ignoring = mesh_.Run({"preflight", "--source=contoso", "--target=fabrikam", "--ignore=trust"});
  EXPECT_EQ(ignoring.exit_code, 0) << ignoring.out << ignoring.err;
  EXPECT_EQ(mesh_.Run({"preflight", "--source=contoso", "--target=fabrikam", "--ignore=nonsense"}).exit_code, 3);
  EXPECT_EQ(mesh_.Run({"preflight", "--source=nobody", "--target=fabrikam"}).exit_code, 4);

  CliResult unverified = mesh_.Run({"trust", "verify", "--source=contoso", "--target=fabrikam"});
  EXPECT_EQ(unverified.exit_code, 10);
  EXPECT_THAT(unverified.out, HasSubstr("NotEstablished"));

  CliResult established = mesh_.Run({"trust", "establish", "--source=contoso", "--target=fabrikam"});
  EXPECT_EQ(established.exit_code, 0) << established.err;
  // Two pairs (NAM->NAM, EUR->NAM), both sides each.
  EXPECT_THAT(established.out, HasSubstr("source  connections/contoso/geos/eur"));
  EXPECT_THAT(established.out, HasSubstr("https://contosoeur-my.sharepoint.com/"));
  EXPECT_EQ(std::count(established.out.begin(), established.out.end(), '\n'), 5) << established.out;

  CliResult verified = mesh_.Run(
      {"trust", "verify", "--source=contoso", "--target=fabrikam", "--wait", "--interval=200ms", "--timeout=60s"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_THAT(verified.out, HasSubstr("GoodToProceed"));
  EXPECT_THAT(verified.out, Not(HasSubstr("Dormant")));

  CliResult compatible = mesh_.Run({"compatibility", "--source=contoso", "--target=fabrikam"});
  EXPECT_EQ(compatible.exit_code, 0) << compatible.err;
  EXPECT_THAT(compatible.out, HasSubstr("Compatible"));

  CliResult ready = mesh_.Run({"preflight", "--source=contoso", "--target=fabrikam", "--format=json"});
  EXPECT_EQ(ready.exit_code, 0) << ready.out << ready.err;
  EXPECT_EQ(nlohmann::json::parse(ready.out)["ready"], true);

  CliResult removed = mesh_.Run({"trust", "remove", "--source=contoso", "--target=fabrikam"});
  EXPECT_EQ(removed.exit_code, 0) << removed.out << removed.err;
  EXPECT_THAT(removed.out, HasSubstr("NotEstablished"));
  EXPECT_THAT(removed.out, Not(HasSubstr("GoodToProceed")));
}

TEST_F(MigratectlMeshTest, IdentityMapGenerateValidateUpload) {
  ASSERT_TRUE(mesh_.ConnectBoth());
  const std::string generated = mesh_.dir() + "/generated.csv";
  CliResult generate =
      mesh_.Run({"identity-map", "generate", "--source=contoso", "--target=fabrikam", "--output=" + generated});
  EXPECT_EQ(generate.exit_code, 0) << generate.err;
  const std::string csv = mesh_.ReadFile(generated);
  for (const char* user : {"alice", "bob", "carol", "taken", "admin"}) {
    EXPECT_THAT(csv, HasSubstr(absl::StrCat("User,", kContosoTenantId, ",", user, "@contoso.onmicrosoft.com,", user,
                                            "@fabrikam.onmicrosoft.com,")));
  }
  EXPECT_THAT(csv, Not(HasSubstr("brien")));
  EXPECT_THAT(generate.out, HasSubstr("o'brien@contoso.onmicrosoft.com  apostrophe in the UPN"));
  EXPECT_THAT(generate.out, HasSubstr("dave@contoso.onmicrosoft.com"));  // no target user

  CliResult valid = mesh_.Run({"identity-map", "validate", generated, "--source=contoso"});
  EXPECT_EQ(valid.exit_code, 0) << valid.out << valid.err;
  EXPECT_THAT(valid.out, HasSubstr("valid: 5 users, 0 groups"));

  // Another tenant's map: column 2 is checked against the source connection's tenant id.
  const std::string foreign =
      mesh_.WriteFile("foreign.csv",
                      "User,9a2b3c4d-0000-4000-8000-000000000002,alice@contoso.onmicrosoft.com,"
                      "alice@fabrikam.onmicrosoft.com,alice@fabrikam.onmicrosoft.com,RegularUser\n");
  CliResult mismatch = mesh_.Run({"identity-map", "validate", foreign, "--source=contoso"});
  EXPECT_EQ(mismatch.exit_code, 3);
  EXPECT_THAT(mismatch.out, HasSubstr(foreign + ":1:2"));
  EXPECT_THAT(mismatch.out, HasSubstr("SOURCE_TENANT_MISMATCH"));

  CliResult upload = mesh_.Run({"identity-map", "upload", generated, "--target=fabrikam"});
  EXPECT_EQ(upload.exit_code, 0) << upload.out << upload.err;
  EXPECT_THAT(upload.out, HasSubstr("connections/fabrikam/geos/nam  5 "));

  const std::string broken = mesh_.WriteFile("broken.csv", "User,x,y\n");
  CliResult refused = mesh_.Run({"identity-map", "upload", broken, "--target=fabrikam"});
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_THAT(refused.err, HasSubstr("  " + broken + ":1: WRONG_COLUMN_COUNT"));
}

TEST_F(MigratectlMeshTest, MigrateStartWatchReportAndRedirects) {
  ASSERT_TRUE(mesh_.ConnectBoth());
  CliResult start =
      mesh_.Run({"migrate", "start", "--plan=" + PlanFile("wave1", MapFile(false)), "--watch", "--timeout=90s"},
                std::chrono::seconds(120));
  EXPECT_EQ(start.exit_code, 0) << start.out << start.err;  // every user moved: COMPLETED
  EXPECT_THAT(start.out, HasSubstr("created migrations/wave1: 3 users"));
  // Piped output: timestamped progress lines through every phase.
  EXPECT_THAT(start.out, HasSubstr("Z  MOVES  RUNNING"));
  EXPECT_THAT(start.out, HasSubstr("DONE  COMPLETED  3/3 done (100%)  success 3"));

  CliResult list = mesh_.Run({"migrate", "status"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, ::testing::ContainsRegex("migrations/wave1 +test wave1 +DONE +COMPLETED +3 +3 "));
  CliResult status = mesh_.Run({"migrate", "status", "wave1"});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_THAT(status.out, HasSubstr("state:     COMPLETED"));
  EXPECT_THAT(status.out, HasSubstr("queue:     connections/contoso/geos/eur"));

  CliResult table = mesh_.Run({"migrate", "report", "wave1"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out,
              ::testing::ContainsRegex("bob@contoso.onmicrosoft.com +bob@fabrikam.onmicrosoft.com +[A-Z]+->NAM +"
                                       "SUCCESS +1 "));
  EXPECT_THAT(table.out, HasSubstr("migrations/wave1  DONE  COMPLETED  3 users: success 3"));
  EXPECT_THAT(table.out, HasSubstr("STARTED (mesh)        ENDED (mesh)"));
  CliResult microsoft = mesh_.Run({"migrate", "report", "wave1", "--clock=microsoft"});
  EXPECT_EQ(microsoft.exit_code, 0) << microsoft.err;
  EXPECT_THAT(microsoft.out, HasSubstr("STARTED (Microsoft)   ENDED (Microsoft)"));
  EXPECT_EQ(mesh_.Run({"migrate", "report", "wave1", "--clock=emulator"}).exit_code, 3);
  CliResult csv = mesh_.Run({"migrate", "report", "wave1", "--format=csv"});
  EXPECT_EQ(csv.exit_code, 0);
  const std::vector<std::string> lines = absl::StrSplit(csv.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << csv.out;
  EXPECT_TRUE(absl::StartsWith(lines[0], "user_move,source_user_principal_name,target_user_principal_name"));
  CliResult json = mesh_.Run({"migrate", "report", "wave1", "--format=json"});
  ASSERT_EQ(json.exit_code, 0);
  nlohmann::json report = nlohmann::json::parse(json.out);
  EXPECT_EQ(report["counts"]["SUCCESS"], 3);
  EXPECT_EQ(report["rows"].size(), 3u);
  const std::string file = mesh_.dir() + "/report.csv";
  EXPECT_EQ(mesh_.Run({"migrate", "report", "wave1", "--format=csv", "--output=" + file}).exit_code, 0);
  EXPECT_EQ(mesh_.ReadFile(file), csv.out);

  // Step 7: the redirects left at the old OneDrive URLs, and their removal.
  CliResult redirects = mesh_.Run({"redirects", "list", "--source=contoso"});
  EXPECT_EQ(redirects.exit_code, 0) << redirects.err;
  const std::string alice = "https://contoso-my.sharepoint.com/personal/alice_contoso_onmicrosoft_com";
  EXPECT_THAT(redirects.out, HasSubstr("NAM  " + alice));
  EXPECT_THAT(redirects.out,
              HasSubstr("EUR  https://contosoeur-my.sharepoint.com/personal/bob_contoso_onmicrosoft_com"));
  EXPECT_THAT(redirects.out, HasSubstr("3 redirect site(s)"));
  EXPECT_THAT(redirects.out, HasSubstr("CREATED (Microsoft)"));
  CliResult remove = mesh_.Run({"redirects", "remove", alice, "--source=contoso", "--permanent"});
  EXPECT_EQ(remove.exit_code, 0) << remove.err;
  CliResult after = mesh_.Run({"redirects", "list", "--source=contoso"});
  EXPECT_THAT(after.out, Not(HasSubstr(alice)));
  EXPECT_THAT(after.out, HasSubstr("2 redirect site(s)"));
  CliResult elsewhere =
      mesh_.Run({"redirects", "remove", "https://example-my.sharepoint.com/personal/x", "--source=contoso"});
  EXPECT_EQ(elsewhere.exit_code, 3) << elsewhere.err;

  // A second migration of the same users is refused by the orchestrator, and an unknown one is not found.
  CliResult again = mesh_.Run({"migrate", "start", "--plan=" + PlanFile("wave1", MapFile(false))});
  EXPECT_EQ(again.exit_code, 5) << again.err;
  EXPECT_EQ(mesh_.Run({"migrate", "status", "wave9"}).exit_code, 4);
  EXPECT_EQ(mesh_.Run({"migrate", "report", "wave9"}).exit_code, 4);
}

TEST_F(MigratectlMeshTest, RehearsalValidatesEveryUserAndMovesNothing) {
  ASSERT_TRUE(mesh_.ConnectBoth());
  CliResult rehearsal = mesh_.Run({"migrate", "start", "--plan=" + PlanFile("rehearsal", MapFile(true)),
                                   "--validate-only", "--watch", "--timeout=90s"},
                                  std::chrono::seconds(120));
  // taken@ is blocked (its target has a OneDrive), so the rehearsal ends with errors: exit 10.
  EXPECT_EQ(rehearsal.exit_code, 10) << rehearsal.out << rehearsal.err;
  EXPECT_THAT(rehearsal.out, HasSubstr("taken@contoso.onmicrosoft.com BLOCKED: TARGET_ONEDRIVE_EXISTS"));
  EXPECT_THAT(rehearsal.out, HasSubstr("validated 3"));
  CliResult redirects = mesh_.Run({"redirects", "list", "--source=contoso"});
  EXPECT_EQ(redirects.exit_code, 0) << redirects.err;
  EXPECT_THAT(redirects.out, HasSubstr("0 redirect site(s)"));  // nothing moved
}

TEST_F(MigratectlMeshTest, MigratePauseResumeCancel) {
  ASSERT_TRUE(mesh_.ConnectBoth());
  // Real time for Microsoft's side: moves now take 15 minutes, so the migration is still running below.
  mesh_.EmulatorAdmin("/_emulator/time", R"({"time_scale":1})");
  CliResult start = mesh_.Run({"migrate", "start", "--plan=" + PlanFile("slow", MapFile(true))});
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;
  EXPECT_THAT(start.out, HasSubstr("name:      migrations/slow"));

  CliResult pause = mesh_.Run({"migrate", "pause", "slow", "--reason=change freeze"});
  EXPECT_EQ(pause.exit_code, 0) << pause.err;
  EXPECT_THAT(pause.out, HasSubstr("state:     PAUSED"));
  EXPECT_EQ(mesh_.Run({"migrate", "pause", "slow"}).exit_code, 0);  // pausing a paused migration succeeds
  CliResult status = mesh_.Run({"migrate", "status", "slow", "--format=json"});
  EXPECT_EQ(nlohmann::json::parse(status.out)["state"], "MIGRATION_STATE_PAUSED");

  EXPECT_EQ(mesh_.Run({"migrate", "resume", "slow", "--window-begin=soon"}).exit_code, 3);
  CliResult resume = mesh_.Run({"migrate", "resume", "slow"});
  EXPECT_EQ(resume.exit_code, 0) << resume.err;
  EXPECT_THAT(resume.out, Not(HasSubstr("state:     PAUSED")));

  // --watch with a short timeout gives up on a migration that is still running: exit 8.
  CliResult impatient = mesh_.Run({"migrate", "status", "slow", "--watch", "--timeout=1s"});
  EXPECT_EQ(impatient.exit_code, 8) << impatient.out << impatient.err;

  // The running migration holds its connections: a delete is refused with the connector's words (exit 6)
  // and `connections show` says why.
  CliResult show;
  for (int attempt = 0; attempt < 50; ++attempt) {
    show = mesh_.Run({"connections", "show", "fabrikam"});
    if (show.out.find("held by:      migrations/slow") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_THAT(show.out, HasSubstr("held by:      migrations/slow"));
  CliResult refused = mesh_.Run({"connections", "delete", "fabrikam"});
  EXPECT_EQ(refused.exit_code, 6) << refused.out << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("migrations/slow"));
  EXPECT_THAT(refused.err, HasSubstr("--force"));
  EXPECT_THAT(mesh_.Run({"connections"}).out, HasSubstr("migrations/slow"));

  CliResult cancel = mesh_.Run({"migrate", "cancel", "slow", "--reason=wrong wave"});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_THAT(cancel.out, HasSubstr("CANCEL"));
  // Moves Microsoft has not begun are stopped; let Microsoft's clock run so the rest end too.
  mesh_.EmulatorAdmin("/_emulator/time", R"({"time_scale":3000})");
  CliResult watched = mesh_.Run({"migrate", "status", "slow", "--watch", "--timeout=90s"}, std::chrono::seconds(120));
  EXPECT_EQ(watched.exit_code, 10) << watched.out << watched.err;  // ended, but not COMPLETED
  EXPECT_THAT(watched.err, HasSubstr("migrations/slow ended CANCELLED"));
  EXPECT_EQ(mesh_.Run({"migrate", "resume", "slow"}).exit_code, 6);
  // Ended: its holds are released and the connection can go.
  CliResult deleted;
  for (int attempt = 0; attempt < 50; ++attempt) {
    deleted = mesh_.Run({"connections", "delete", "fabrikam"});
    if (deleted.exit_code != 6) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(deleted.exit_code, 0) << deleted.out << deleted.err;
  CliResult stopped = mesh_.Run({"migrate", "report", "slow", "--state=stopped,blocked"});
  EXPECT_EQ(stopped.exit_code, 0);
  EXPECT_THAT(stopped.out, HasSubstr("taken@contoso.onmicrosoft.com"));  // BLOCKED: target OneDrive exists
  EXPECT_EQ(mesh_.Run({"migrate", "report", "slow", "--state=teleported"}).exit_code, 3);
}

}  // namespace
}  // namespace crosstenant::migratectl::testing
