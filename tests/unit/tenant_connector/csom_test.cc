// CSOM on the wire: request XML (escaping, every parameter kind), answers with any JSON value after an
// action id, ErrorInfo first, dates in both forms, the enum table with unknown numbers, the wire log's
// redaction.

#include "services/tenant_connector/core/sharepoint/csom.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "services/common/errors.h"
#include "services/tenant_connector/core/sharepoint/enums.h"
#include "services/tenant_connector/core/sharepoint/states.h"
#include "services/tenant_connector/core/sharepoint/wire_log.h"

namespace crosstenant::tenant_connector {
namespace {

using csom::Parameter;
using csom::RequestBuilder;
using csom::Response;
using ::testing::HasSubstr;

TEST(CsomRequestTest, VerifyRelationIsTheDocumentedBody) {
  RequestBuilder request("crosstenant");
  const int call = request.CallMethod(
      request.Tenant(), "VerifySPOTenantOrgRelation",
      {Parameter::Enum(1), Parameter::Enum(2), Parameter::String("https://fabrikam-my.sharepoint.com/")});
  EXPECT_EQ(call, 3);
  EXPECT_EQ(request.Build(),
            "<Request xmlns=\"http://schemas.microsoft.com/sharepoint/clientquery/2009\" SchemaVersion=\"15.0.0.0\" "
            "LibraryVersion=\"16.0.0.0\" ApplicationName=\"crosstenant\" AddExpandoFieldTypeSuffix=\"true\">"
            "<Actions><ObjectPath Id=\"2\" ObjectPathId=\"1\" />"
            "<Method Name=\"VerifySPOTenantOrgRelation\" Id=\"3\" ObjectPathId=\"1\"><Parameters>"
            "<Parameter Type=\"Enum\">1</Parameter><Parameter Type=\"Enum\">2</Parameter>"
            "<Parameter Type=\"String\">https://fabrikam-my.sharepoint.com/</Parameter></Parameters></Method>"
            "</Actions><ObjectPaths><Constructor Id=\"1\" TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\" />"
            "</ObjectPaths></Request>");
}

TEST(CsomRequestTest, EscapesEveryMarkupCharacterAndControlCharacters) {
  EXPECT_EQ(csom::EscapeXml("a<b>&\"c'\nd"), "a&lt;b&gt;&amp;&quot;c&apos;&#xa;d");
  RequestBuilder request("app & <co>");
  request.CallMethod(request.Tenant(), "M", {Parameter::String("o'brien@contoso.com </Parameter><Evil/>")});
  const std::string xml = request.Build();
  EXPECT_THAT(xml, HasSubstr("ApplicationName=\"app &amp; &lt;co&gt;\""));
  EXPECT_THAT(xml, HasSubstr(">o&apos;brien@contoso.com &lt;/Parameter&gt;&lt;Evil/&gt;</Parameter>"));
  EXPECT_EQ(xml.find("<Evil/>"), std::string::npos);
}

TEST(CsomRequestTest, EveryParameterKind) {
  std::string out;
  Parameter::Boolean(true).AppendXml(&out);
  Parameter::Int32(-5).AppendXml(&out);
  Parameter::UInt32(7).AppendXml(&out);
  Parameter::Guid("ABCDEF01-0000-4000-8000-000000000001").AppendXml(&out);
  Parameter::DateTime(absl::FromUnixMillis(1764901680123)).AppendXml(&out);
  Parameter::Null().AppendXml(&out);
  Parameter::StringArray({"a", "b&c"}).AppendXml(&out);
  EXPECT_EQ(out,
            "<Parameter Type=\"Boolean\">true</Parameter><Parameter Type=\"Int32\">-5</Parameter>"
            "<Parameter Type=\"UInt32\">7</Parameter>"
            "<Parameter Type=\"Guid\">{abcdef01-0000-4000-8000-000000000001}</Parameter>"
            "<Parameter Type=\"DateTime\">2025-12-05T02:28:00.123+00:00</Parameter><Parameter Type=\"Null\" />"
            "<Parameter Type=\"Array\"><Object Type=\"String\">a</Object><Object Type=\"String\">b&amp;c</Object>"
            "</Parameter>");
  out.clear();
  Parameter::Object(csom::kSitePropertiesFilterTypeId,
                    {{"IncludePersonalSite", Parameter::Enum(1)}, {"Template", Parameter::String("RedirectSite#0")}})
      .AppendXml(&out);
  EXPECT_EQ(out,
            "<Parameter TypeId=\"{b92aeee2-c92c-4b67-abcc-024e471bc140}\">"
            "<Property Name=\"IncludePersonalSite\" Type=\"Enum\">1</Property>"
            "<Property Name=\"Template\" Type=\"String\">RedirectSite#0</Property></Parameter>");
}

TEST(CsomRequestTest, ObjectPathsQueriesAndIdentities) {
  RequestBuilder request("crosstenant");
  const int operation = request.MethodPath(request.Tenant(), "RemoveSite", {Parameter::String("https://x/")});
  const int query = request.Query(operation, {"IsComplete", "PollingInterval"}, false);
  EXPECT_EQ(operation, 3);
  EXPECT_EQ(query, 5);
  EXPECT_THAT(
      request.Build(),
      HasSubstr("<Actions><ObjectPath Id=\"2\" ObjectPathId=\"1\" /><ObjectPath Id=\"4\" ObjectPathId=\"3\" />"
                "<Query Id=\"5\" ObjectPathId=\"3\"><Query SelectAllProperties=\"false\"><Properties>"
                "<Property Name=\"IsComplete\" ScalarProperty=\"true\" />"
                "<Property Name=\"PollingInterval\" ScalarProperty=\"true\" /></Properties></Query></Query>"
                "</Actions><ObjectPaths><Constructor Id=\"1\" TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\" />"
                "<Method Id=\"3\" ParentId=\"1\" Name=\"RemoveSite\"><Parameters>"
                "<Parameter Type=\"String\">https://x/</Parameter></Parameters></Method></ObjectPaths>"));
  RequestBuilder poll("crosstenant");
  poll.Query(poll.IdentityPath("740c6a0b-85e2-48a0-a494-e0f1759d4aa7|908bed80\nSpoOperation\nRemoveSite\n1"), {}, true);
  EXPECT_THAT(poll.Build(), HasSubstr("<Identity Id=\"1\" Name=\"740c6a0b-85e2-48a0-a494-e0f1759d4aa7|908bed80&#xa;"
                                      "SpoOperation&#xa;RemoveSite&#xa;1\" />"));
  EXPECT_THAT(poll.Build(), HasSubstr("<Query SelectAllProperties=\"true\"><Properties></Properties></Query>"
                                      "<ChildItemQuery SelectAllProperties=\"true\"><Properties></Properties>"
                                      "</ChildItemQuery>"));
}

TEST(CsomResponseTest, AnyJsonValueAfterAnActionId) {
  // Microsoft's answer to a knowledge-hub query, then values of every JSON type.
  absl::StatusOr<Response> response =
      Response::Parse(R"([{"SchemaVersion":"15.0.0.0","LibraryVersion":"16.0.20516.12005","ErrorInfo":null,)"
                      R"("TraceCorrelationId":"1f527f9f-00b0-0000-5545-a8da6b2fb12e"},5,{"IsNull":false},6,)"
                      R"("https://contoso.sharepoint.com/sites/knowledgesite",7,4,8,true,9,["a","b"],10,null])");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_FALSE(response->error());
  EXPECT_TRUE(response->Status("X").ok());
  EXPECT_EQ(response->correlation_id(), "1f527f9f-00b0-0000-5545-a8da6b2fb12e");
  EXPECT_EQ(response->library_version(), "16.0.20516.12005");
  EXPECT_EQ(*response->Find(5), nlohmann::json({{"IsNull", false}}));
  EXPECT_EQ(*response->Find(6), "https://contoso.sharepoint.com/sites/knowledgesite");
  EXPECT_EQ(*response->Find(7), 4);
  EXPECT_EQ(*response->Find(8), true);
  EXPECT_EQ(*response->Find(9), nlohmann::json::array({"a", "b"}));
  EXPECT_TRUE(response->Find(10)->is_null());
  EXPECT_EQ(response->Find(11), nullptr);  // a void method answers nothing
}

TEST(CsomResponseTest, ErrorInfoComesFirstAndKeepsTypeCodeAndCorrelationId) {
  absl::StatusOr<Response> response = Response::Parse(
      R"([{"SchemaVersion":"15.0.0.0","LibraryVersion":"16.0.19520.12061","ErrorInfo":{)"
      R"("ErrorMessage":"Cannot get site https://contoso.sharepoint.com/sites/gone.","ErrorValue":null,)"
      R"("TraceCorrelationId":"5fe2279f-8099-0000-2cc9-39b5e6b5ae8b","ErrorCode":-1,)"
      R"("ErrorTypeName":"Microsoft.Online.SharePoint.Common.SpoNoSiteException"},)"
      R"("TraceCorrelationId":"5fe2279f-8099-0000-2cc9-39b5e6b5ae8b"}])");
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_TRUE(response->error());
  absl::Status status = response->Status("RemoveSite");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("SharePoint refused RemoveSite: Cannot get site"));
  EXPECT_THAT(status.message(), HasSubstr("correlation id 5fe2279f-8099-0000-2cc9-39b5e6b5ae8b"));
  EXPECT_EQ(ErrorInfoReasonOf(status), "Microsoft.Online.SharePoint.Common.SpoNoSiteException");
  EXPECT_EQ(ErrorInfoMetadataOf(status, "trace_correlation_id"), "5fe2279f-8099-0000-2cc9-39b5e6b5ae8b");
  EXPECT_EQ(ErrorInfoMetadataOf(status, "error_code"), "-1");
}

TEST(CsomResponseTest, ErrorTypesMapToStatusCodes) {
  auto code_of = [](const std::string& type) {
    csom::ServerError error;
    error.type_name = type;
    return csom::StatusOfServerError(error, "M").code();
  };
  EXPECT_EQ(code_of("System.ArgumentException"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code_of("System.ArgumentOutOfRangeException"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code_of("System.UnauthorizedAccessException"), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(code_of("System.IO.FileNotFoundException"), absl::StatusCode::kNotFound);
  EXPECT_EQ(code_of("Microsoft.Online.SharePoint.Common.SpoException"), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(code_of(""), absl::StatusCode::kFailedPrecondition);
}

TEST(CsomResponseTest, UnreadableAnswersAreErrorsNeverEmptyResults) {
  for (const char* body :
       {"", "<html>", "{}", "[]", "[1,2]", R"([{"ErrorInfo":null},5])", R"([{"ErrorInfo":null},"5",{}])",
        R"([{"ErrorInfo":"oops"}])", R"([{"ErrorInfo":null},5,{"IsNull":false},6,"truncated)"}) {
    absl::StatusOr<Response> response = Response::Parse(body);
    EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << body;
  }
}

TEST(CsomDateTest, BothFormsAsUtc) {
  EXPECT_EQ(csom::ParseDate("/Date(2017,10,7,11,29,31,0)/"),
            absl::FromCivil(absl::CivilSecond(2017, 11, 7, 11, 29, 31), absl::UTCTimeZone()));
  EXPECT_EQ(csom::ParseDate("/Date(2026,0,31,23,59,59,999)/"),
            absl::FromCivil(absl::CivilSecond(2026, 1, 31, 23, 59, 59), absl::UTCTimeZone()) + absl::Milliseconds(999));
  EXPECT_EQ(csom::ParseDate("/Date(1538418692608)/"), absl::FromUnixMillis(1538418692608));
  EXPECT_EQ(csom::ParseDate("/Date(-1000)/"), absl::FromUnixMillis(-1000));
  for (const char* bad : {"", "2017-10-07", "/Date()/", "/Date(2017,12,1)/", "/Date(2017,1,30)/", "/Date(x)/",
                          "/Date(2017,0,1,24,0,0)/", "/Date(99999999999999999999)/", "Date(1)"}) {
    EXPECT_FALSE(csom::ParseDate(bad)) << bad;
  }
}

TEST(SharePointEnumsTest, KnownNumbersBothWaysAndUnknownStaysUnknown) {
  EXPECT_EQ(sharepoint::EnumNumber("OrgRelationScenario", "MnA"), 1);
  EXPECT_EQ(sharepoint::EnumNumber("OrgRelationRole", "Source"), 1);
  EXPECT_EQ(sharepoint::EnumNumber("OrgRelationRole", "Target"), 2);
  EXPECT_EQ(sharepoint::EnumNumber("PersonalSiteFilter", "Include"), 1);
  EXPECT_EQ(sharepoint::EnumName("OrgRelationVerificationStatus", 4), "GoodToProceed");
  EXPECT_EQ(sharepoint::EnumName("OrgRelationVerificationStatus", 3), "DormantByPartner");
  EXPECT_EQ(sharepoint::EnumName("XTenantMoveCompatibilityResult", 1), "Incompatible");
  EXPECT_FALSE(sharepoint::EnumName("OrgRelationVerificationStatus", 6));
  EXPECT_FALSE(sharepoint::EnumName("OrgRelationVerificationStatus", -1));
  EXPECT_FALSE(sharepoint::EnumName("NoSuchEnum", 0));
  EXPECT_EQ(sharepoint::EnumNumberOf("MoveState", "inprogress"), 1);
  EXPECT_EQ(sharepoint::UnknownValue(7), "Unknown(7)");
}

TEST(SharePointEnumsTest, EveryRowNamesItsSourceAndNumbersAreUniquePerEnum) {
  std::map<std::string, std::set<int64_t>> numbers;
  std::map<std::string, std::set<std::string>> names;
  for (const sharepoint::EnumEntry& entry : sharepoint::EnumTable()) {
    EXPECT_NE(std::string(entry.source), "") << entry.enum_name << "." << entry.value_name;
    EXPECT_TRUE(numbers[entry.enum_name].insert(entry.number).second) << entry.enum_name << " " << entry.number;
    EXPECT_TRUE(names[entry.enum_name].insert(entry.value_name).second) << entry.enum_name << " " << entry.value_name;
  }
}

TEST(SharePointEnumsDeathTest, AnUnknownNameToSendIsAProgrammingError) {
  EXPECT_DEATH(sharepoint::EnumNumber("OrgRelationRole", "Owner"), "");
}

TEST(SharePointStatesTest, UnknownNumbersAreUnknownNeverSuccess) {
  namespace v1 = ::crosstenant::v1;
  EXPECT_EQ(sharepoint::TrustStatusFromWire(4).state, v1::TRUST_STATUS_GOOD_TO_PROCEED);
  EXPECT_EQ(sharepoint::TrustStatusFromWire(4).raw, "GoodToProceed");
  EXPECT_EQ(sharepoint::TrustStatusFromWire(2).state, v1::TRUST_STATUS_DORMANT);
  EXPECT_EQ(sharepoint::TrustStatusFromWire(42).state, v1::TRUST_STATUS_UNKNOWN);
  EXPECT_EQ(sharepoint::TrustStatusFromWire(42).raw, "Unknown(42)");
  EXPECT_EQ(sharepoint::CompatibilityFromWire(0).state, v1::COMPATIBILITY_STATUS_COMPATIBLE);
  EXPECT_EQ(sharepoint::CompatibilityFromWire(2).state, v1::COMPATIBILITY_STATUS_WARNING);
  EXPECT_EQ(sharepoint::CompatibilityFromWire(1).state, v1::COMPATIBILITY_STATUS_INCOMPATIBLE);
  EXPECT_EQ(sharepoint::CompatibilityFromWire(3).state, v1::COMPATIBILITY_STATUS_UNKNOWN);
  EXPECT_EQ(sharepoint::CompatibilityFromWire(3).raw, "Error");
  EXPECT_EQ(sharepoint::CompatibilityFromWire(9).raw, "Unknown(9)");
  EXPECT_EQ(sharepoint::CompatibilityFromWire(std::nullopt).state, v1::COMPATIBILITY_STATUS_UNKNOWN);
}

TEST(SharePointStatesTest, MoveRowsByNameOrNumberInAnyCase) {
  namespace v1 = ::crosstenant::v1;
  v1::UserContentMove move = sharepoint::MoveFromStateRow(
      nlohmann::json::parse(R"({"sourceuserprincipalname":"adele@contoso.com","MOVESTATE":1,"MoveStage":"Backup",)"
                            R"("LastModified":"/Date(1764901680000)/","MoveJobId":"j1"})"),
      "https://fabrikam-my.sharepoint.com/");
  EXPECT_EQ(move.source_user_principal_name(), "adele@contoso.com");
  EXPECT_EQ(move.state(), v1::MOVE_STATE_IN_PROGRESS);
  EXPECT_EQ(move.raw_state(), "InProgress");
  EXPECT_EQ(move.stage(), v1::MOVE_STAGE_BACKUP);
  EXPECT_EQ(move.update_time().seconds(), 1764901680);
  EXPECT_EQ(move.task_id(), "j1");
  EXPECT_EQ(move.target_host_url(), "https://fabrikam-my.sharepoint.com/");
  move = sharepoint::MoveFromStateRow(nlohmann::json::parse(R"({"MoveState":7})"), "");
  EXPECT_EQ(move.state(), v1::MOVE_STATE_UNKNOWN);
  EXPECT_EQ(move.raw_state(), "Unknown(7)");
  move = sharepoint::MoveFromStateRow(nlohmann::json::parse(R"({"MoveState":"Exploded","ErrorMessage":"x"})"), "");
  EXPECT_EQ(move.state(), v1::MOVE_STATE_UNKNOWN);
  EXPECT_EQ(move.raw_state(), "Exploded");
  EXPECT_EQ(move.error().message(), "x");
  EXPECT_EQ(sharepoint::MoveFromStateRow(nlohmann::json::parse(R"({"MoveState":"Success"})"), "").state(),
            v1::MOVE_STATE_SUCCESS);
  EXPECT_EQ(sharepoint::MoveFromStateRow(nlohmann::json::array(), "").state(), v1::MOVE_STATE_UNKNOWN);
}

TEST(WireLogTest, RedactsTokensDigestsAndSecrets) {
  const std::string jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl";
  const std::string text = absl::StrCat(
      "Authorization: Bearer abc.def-ghi ", jwt,
      R"( {"FormDigestValue":"0xABCDEF0123456789ABCDEF0123456789ABCDEF0123456789,05 Dec 2026 02:00:00 -0000"})",
      " client_secret=s3cret&password=hunter2 {\"access_token\":\"tok\"}");
  const std::string redacted = sharepoint::RedactSecrets(text);
  for (const char* secret : {"abc.def-ghi", "eyJhbGci", "0xABCDEF", "s3cret", "hunter2", "\"tok\""}) {
    EXPECT_EQ(redacted.find(secret), std::string::npos) << secret << " in " << redacted;
  }
  EXPECT_THAT(redacted, HasSubstr("[REDACTED]"));
  // Ordinary CSOM content stays readable.
  const std::string body = R"([{"ErrorInfo":null},3,4])";
  EXPECT_EQ(sharepoint::RedactSecrets(body), body);
}

TEST(WireLogTest, WritesOneJsonLinePerExchangeWithMode0600) {
  char dir_template[] = "/tmp/wirelogXXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string path = absl::StrCat(dir_template, "/wire.jsonl");
  {
    absl::StatusOr<std::unique_ptr<sharepoint::WireLog>> log = sharepoint::WireLog::Open(path);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Write(absl::FromUnixSeconds(0), "connections/contoso", "POST", "https://contoso-admin.sharepoint.com/x",
                  200, "<Request/>", R"([{"ErrorInfo":null},3,4])");
    (*log)->Write(absl::FromUnixSeconds(1), "connections/contoso", "GET", "https://a/", 401, "", "Bearer eyJa.eyJb.c");
  }
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  std::ifstream in(path);
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_EQ(lines[0]["response"], R"([{"ErrorInfo":null},3,4])");
  EXPECT_EQ(lines[0]["time"], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(lines[1]["response"].get<std::string>().find("eyJa"), std::string::npos);
  EXPECT_EQ(sharepoint::WireLog::Open(dir_template).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sharepoint::WireLog::Open("/dev/null").status().code(), absl::StatusCode::kInvalidArgument);
  unlink(path.c_str());
  rmdir(dir_template);
}

}  // namespace
}  // namespace crosstenant::tenant_connector
