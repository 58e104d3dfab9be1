// ParseCsomRequest: every object path, action and parameter kind, escaping, malformed input, limits.

#include "services/tenant_emulator/csom_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace crosstenant::emulator {
namespace {

using ::testing::HasSubstr;

std::string Body(const std::string& actions, const std::string& paths) {
  return absl::StrCat(
      "<Request xmlns=\"http://schemas.microsoft.com/sharepoint/clientquery/2009\" SchemaVersion=\"15.0.0.0\" "
      "LibraryVersion=\"16.0.0.0\" ApplicationName=\"test\"><Actions>",
      actions, "</Actions><ObjectPaths>", paths, "</ObjectPaths></Request>");
}

constexpr char kTenant[] = "<Constructor Id=\"1\" TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\"/>";

// One method action on the Tenant with these parameters.
absl::StatusOr<CsomRequest> Call(const std::string& parameters) {
  return ParseCsomRequest(Body(
      absl::StrCat("<Method Name=\"M\" Id=\"3\" ObjectPathId=\"1\"><Parameters>", parameters, "</Parameters></Method>"),
      kTenant));
}

std::string ErrorOf(const absl::StatusOr<CsomRequest>& parsed) {
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(TenantEmulatorCsomRequestTest, TheConnectorsVerifyRequest) {
  absl::StatusOr<CsomRequest> parsed = ParseCsomRequest(
      R"(<Request xmlns="http://schemas.microsoft.com/sharepoint/clientquery/2009" SchemaVersion="15.0.0.0"
 LibraryVersion="16.0.0.0" ApplicationName="crosstenant" AddExpandoFieldTypeSuffix="true">
 <Actions><ObjectPath Id="2" ObjectPathId="1"/><Method Name="VerifySPOTenantOrgRelation" Id="3" ObjectPathId="1">
  <Parameters><Parameter Type="Enum">1</Parameter><Parameter Type="Enum">2</Parameter>
   <Parameter Type="String">https://fabrikam-my.sharepoint.com/</Parameter></Parameters></Method></Actions>
 <ObjectPaths><Constructor Id="1" TypeId="{268004ae-ef6b-4e9b-8425-127220d84719}"/></ObjectPaths>
</Request>)");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->schema_version, "15.0.0.0");
  EXPECT_EQ(parsed->application_name, "crosstenant");
  ASSERT_EQ(parsed->actions.size(), 2u);
  EXPECT_EQ(parsed->actions[0].kind, CsomAction::Kind::kObjectPath);
  EXPECT_EQ(parsed->actions[0].id, 2);
  EXPECT_EQ(parsed->actions[0].object_path_id, 1);
  const CsomAction& method = parsed->actions[1];
  EXPECT_EQ(method.kind, CsomAction::Kind::kMethod);
  EXPECT_EQ(method.name, "VerifySPOTenantOrgRelation");
  ASSERT_EQ(method.parameters.size(), 3u);
  EXPECT_EQ(method.parameters[0].kind, CsomValue::Kind::kEnum);
  EXPECT_EQ(method.parameters[1].integer, 2);
  EXPECT_EQ(method.parameters[2].text, "https://fabrikam-my.sharepoint.com/");
  ASSERT_EQ(parsed->object_paths.size(), 1u);
  EXPECT_EQ(parsed->object_paths.at(1).kind, CsomObjectPath::Kind::kConstructor);
  EXPECT_EQ(parsed->object_paths.at(1).type_id, "{268004ae-ef6b-4e9b-8425-127220d84719}");
}

TEST(TenantEmulatorCsomRequestTest, EveryObjectPathAndAction) {
  absl::StatusOr<CsomRequest> parsed = ParseCsomRequest(Body(
      R"(<ObjectPath Id="10" ObjectPathId="4"/>
         <Query Id="11" ObjectPathId="4"><Query SelectAllProperties="false"><Properties>
           <Property Name="IsComplete" ScalarProperty="true"/><Property Name="PollingInterval" ScalarProperty="true"/>
         </Properties></Query><ChildItemQuery SelectAllProperties="true"><Properties/></ChildItemQuery></Query>
         <ObjectIdentityQuery Id="12" ObjectPathId="5"/>
         <SetProperty Id="13" ObjectPathId="1" Name="Title"><Parameter Type="String">x</Parameter></SetProperty>
         <StaticMethod Name="GetX" Id="14" TypeId="{00000000-0000-0000-0000-000000000001}"/>)",
      absl::StrCat(
          kTenant,
          R"(<Method Id="4" ParentId="1" Name="RemoveSite"><Parameters><Parameter Type="String">u</Parameter></Parameters></Method>
         <Property Id="5" ParentId="1" Name="RootSite"/>
         <Identity Id="6" Name="a|b:c&#xA;SpoOperation&#xA;RemoveSite"/>
         <StaticProperty Id="7" TypeId="{3747adcd-a3c3-41b9-bfab-4a64dd2f1e0a}" Name="Current"/>
         <StaticMethod Id="8" TypeId="{3747adcd-a3c3-41b9-bfab-4a64dd2f1e0a}" Name="GetY"><Parameters/></StaticMethod>)")));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->actions.size(), 5u);
  const CsomAction& query = parsed->actions[1];
  EXPECT_EQ(query.kind, CsomAction::Kind::kQuery);
  EXPECT_TRUE(query.query.present);
  EXPECT_FALSE(query.query.select_all);
  EXPECT_THAT(query.query.properties, ::testing::ElementsAre("IsComplete", "PollingInterval"));
  EXPECT_TRUE(query.child_item_query.present);
  EXPECT_TRUE(query.child_item_query.select_all);
  EXPECT_EQ(parsed->actions[2].kind, CsomAction::Kind::kObjectIdentityQuery);
  EXPECT_EQ(parsed->actions[3].kind, CsomAction::Kind::kSetProperty);
  EXPECT_EQ(parsed->actions[3].parameters[0].text, "x");
  EXPECT_EQ(parsed->actions[4].kind, CsomAction::Kind::kStaticMethod);
  EXPECT_EQ(parsed->actions[4].type_id, "{00000000-0000-0000-0000-000000000001}");

  EXPECT_EQ(parsed->object_paths.at(4).kind, CsomObjectPath::Kind::kMethod);
  EXPECT_EQ(parsed->object_paths.at(4).parent_id, 1);
  EXPECT_EQ(parsed->object_paths.at(4).parameters[0].text, "u");
  EXPECT_EQ(parsed->object_paths.at(5).kind, CsomObjectPath::Kind::kProperty);
  EXPECT_EQ(parsed->object_paths.at(6).kind, CsomObjectPath::Kind::kIdentity);
  EXPECT_EQ(parsed->object_paths.at(6).name, "a|b:c\nSpoOperation\nRemoveSite") << "&#xA; is a newline";
  EXPECT_EQ(parsed->object_paths.at(7).kind, CsomObjectPath::Kind::kStaticProperty);
  EXPECT_EQ(parsed->object_paths.at(7).name, "Current");
  EXPECT_EQ(parsed->object_paths.at(8).kind, CsomObjectPath::Kind::kStaticMethod);
}

TEST(TenantEmulatorCsomRequestTest, EveryParameterKind) {
  absl::StatusOr<CsomRequest> parsed = Call(
      R"(<Parameter Type="String">a &lt;b&gt; &amp; c&#xA;d</Parameter>
         <Parameter Type="Boolean">true</Parameter>
         <Parameter Type="Int32">-2147483648</Parameter>
         <Parameter Type="UInt32">4294967295</Parameter>
         <Parameter Type="Int64">-9000000000</Parameter>
         <Parameter Type="Double">2.5</Parameter>
         <Parameter Type="Enum">3</Parameter>
         <Parameter Type="Guid">{6B2F5A9F-90A1-4000-8C1D-2E5B0C7A1D3E}</Parameter>
         <Parameter Type="DateTime">2026-12-05T02:28:00.0000000Z</Parameter>
         <Parameter Type="Null"/>
         <Parameter Type="Array"><Object Type="String">x</Object><Object Type="Int32">7</Object></Parameter>
         <Parameter TypeId="{b92aeee2-c92c-4b67-abcc-024e471bc140}"><Property Name="Template" Type="String">RedirectSite#0</Property><Property Name="IncludePersonalSite" Type="Enum">1</Property><Property Name="StartIndex" Type="Null"/></Parameter>
         <Parameter Type="String"> </Parameter>
         <Parameter Type="DateTime">/Date(2026,11,5,2,28,0,0)/</Parameter>
         <Parameter Type="DateTime">/Date(1796437680000)/</Parameter>
         <Parameter ObjectPathId="1"/>
         <Parameter Type="String"><![CDATA[<raw>]]></Parameter>)");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const std::vector<CsomValue>& p = parsed->actions[0].parameters;
  ASSERT_EQ(p.size(), 17u);
  EXPECT_EQ(p[0].kind, CsomValue::Kind::kString);
  EXPECT_EQ(p[0].text, "a <b> & c\nd");
  EXPECT_EQ(p[1].kind, CsomValue::Kind::kBoolean);
  EXPECT_TRUE(p[1].boolean);
  EXPECT_EQ(p[2].kind, CsomValue::Kind::kInt32);
  EXPECT_EQ(p[2].integer, -2147483648LL);
  EXPECT_EQ(p[3].kind, CsomValue::Kind::kUInt32);
  EXPECT_EQ(p[3].integer, 4294967295LL);
  EXPECT_EQ(p[4].kind, CsomValue::Kind::kInt64);
  EXPECT_EQ(p[4].integer, -9000000000LL);
  EXPECT_EQ(p[5].kind, CsomValue::Kind::kDouble);
  EXPECT_DOUBLE_EQ(p[5].number, 2.5);
  EXPECT_EQ(p[6].kind, CsomValue::Kind::kEnum);
  EXPECT_EQ(p[6].integer, 3);
  EXPECT_EQ(p[7].kind, CsomValue::Kind::kGuid);
  EXPECT_EQ(p[7].text, "{6B2F5A9F-90A1-4000-8C1D-2E5B0C7A1D3E}");
  EXPECT_EQ(p[8].kind, CsomValue::Kind::kDateTime);
  const absl::Time expected = absl::FromCivil(absl::CivilSecond(2026, 12, 5, 2, 28, 0), absl::UTCTimeZone());
  EXPECT_EQ(p[8].time, expected);
  EXPECT_EQ(p[9].kind, CsomValue::Kind::kNull);
  ASSERT_EQ(p[10].kind, CsomValue::Kind::kArray);
  ASSERT_EQ(p[10].items.size(), 2u);
  EXPECT_EQ(p[10].items[0].text, "x");
  EXPECT_EQ(p[10].items[1].integer, 7);
  ASSERT_EQ(p[11].kind, CsomValue::Kind::kObject);
  EXPECT_EQ(p[11].type_id, "{b92aeee2-c92c-4b67-abcc-024e471bc140}");
  ASSERT_NE(p[11].Property("Template"), nullptr);
  EXPECT_EQ(p[11].Property("Template")->text, "RedirectSite#0");
  EXPECT_EQ(p[11].Property("IncludePersonalSite")->integer, 1);
  EXPECT_EQ(p[11].Property("StartIndex")->kind, CsomValue::Kind::kNull);
  EXPECT_EQ(p[11].Property("Nope"), nullptr);
  EXPECT_EQ(p[12].text, " ") << "a string of blanks is kept";
  EXPECT_EQ(p[13].time, expected) << "month counted from 0";
  EXPECT_EQ(p[14].time, expected);
  EXPECT_EQ(p[15].kind, CsomValue::Kind::kObjectPath);
  EXPECT_EQ(p[15].integer, 1);
  EXPECT_EQ(p[16].text, "<raw>");
}

TEST(TenantEmulatorCsomRequestTest, NamespacePrefixesAreAccepted) {
  absl::StatusOr<CsomRequest> parsed = ParseCsomRequest(
      "<c:Request xmlns:c=\"http://schemas.microsoft.com/sharepoint/clientquery/2009\"><c:Actions>"
      "<c:ObjectPath Id=\"2\" ObjectPathId=\"1\"/></c:Actions><c:ObjectPaths>"
      "<c:Constructor Id=\"1\" TypeId=\"{268004ae-ef6b-4e9b-8425-127220d84719}\"/></c:ObjectPaths></c:Request>");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->actions.size(), 1u);
}

TEST(TenantEmulatorCsomRequestTest, MalformedInputIsRefusedWithAReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not well-formed"},
      {"<Request", "not well-formed"},
      {"not xml at all", "not well-formed"},
      {"<Request xmlns=\"urn:other\"/>", "namespace"},
      {"<Other xmlns=\"http://schemas.microsoft.com/sharepoint/clientquery/2009\"/>", "root element"},
      {Body("<ObjectPath Id=\"2\" ObjectPathId=\"9\"/>", kTenant), "not declared"},
      {Body("<ObjectPath Id=\"x\" ObjectPathId=\"1\"/>", kTenant), "not a whole number"},
      {Body("<ObjectPath ObjectPathId=\"1\"/>", kTenant), "no Id"},
      {Body("<ObjectPath Id=\"2\" ObjectPathId=\"1\"/><ObjectPath Id=\"2\" ObjectPathId=\"1\"/>", kTenant),
       "two actions"},
      {Body("", absl::StrCat(kTenant, kTenant)), "two object paths"},
      {Body("<Dance Id=\"2\"/>", kTenant), "unknown action"},
      {Body("", "<Teleport Id=\"1\"/>"), "unknown object path"},
      {Body("", "<Constructor Id=\"1\"/>"), "no TypeId"},
      {Body("", "<Method Id=\"1\" ParentId=\"2\" Name=\"A\"/><Method Id=\"2\" ParentId=\"1\" Name=\"B\"/>"),
       "own ancestor"},
      {Body("", "<Method Id=\"1\" ParentId=\"5\" Name=\"A\"/>"), "not declared"},
      {Body("", "<Method Id=\"1\" ParentId=\"5\"/>"), "no Name"},
      {Body("<Method Id=\"3\" ObjectPathId=\"1\"/>", kTenant), "no Name"},
      {Body("<Query Id=\"3\" ObjectPathId=\"1\"><Query SelectAllProperties=\"maybe\"/></Query>", kTenant),
       "SelectAllProperties"},
      {Body("<Query Id=\"3\" ObjectPathId=\"1\"><Bogus/></Query>", kTenant), "unexpected"},
      {Body("<SetProperty Id=\"3\" ObjectPathId=\"1\" Name=\"X\"/>", kTenant), "no <Parameter>"},
  };
  for (const auto& [xml, reason] : cases) {
    absl::StatusOr<CsomRequest> parsed = ParseCsomRequest(xml);
    EXPECT_FALSE(parsed.ok()) << xml;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << xml;
    EXPECT_THAT(ErrorOf(parsed), HasSubstr(reason)) << xml;
  }
  const std::vector<std::pair<std::string, std::string>> parameters = {
      {"<Parameter Type=\"Int32\">2147483648</Parameter>", "Int32 range"},
      {"<Parameter Type=\"UInt32\">-1</Parameter>", "UInt32 range"},
      {"<Parameter Type=\"Int64\">1.5</Parameter>", "whole number"},
      {"<Parameter Type=\"Enum\">Target</Parameter>", "whole number"},
      {"<Parameter Type=\"Boolean\">yes</Parameter>", "true or false"},
      {"<Parameter Type=\"Double\">nan</Parameter>", "not a number"},
      {"<Parameter Type=\"Guid\">not-a-guid</Parameter>", "not a GUID"},
      {"<Parameter Type=\"DateTime\">tomorrow</Parameter>", "date and time"},
      {"<Parameter Type=\"DateTime\">/Date(2026,12,5)/</Parameter>", "date and time"},
      {"<Parameter Type=\"Widget\">1</Parameter>", "unknown Type"},
      {"<Parameter>text without a type</Parameter>", "needs a Type"},
      {"<Parameter Type=\"Array\"><Item/></Parameter>", "<Object>"},
      {"<Parameter TypeId=\"{1}\"><Value/></Parameter>", "<Property"},
      {"<Parameter ObjectPathId=\"-3\"/>", "ObjectPathId"},
      {"<Other/>", "unexpected"},
  };
  for (const auto& [xml, reason] : parameters) {
    EXPECT_THAT(ErrorOf(Call(xml)), HasSubstr(reason)) << xml;
  }
}

TEST(TenantEmulatorCsomRequestTest, WorkIsBounded) {
  // 1,000 actions are fine, 1,001 are not.
  std::string actions;
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&actions, "<ObjectPath Id=\"", i + 2, "\" ObjectPathId=\"1\"/>");
  EXPECT_TRUE(ParseCsomRequest(Body(actions, kTenant)).ok());
  absl::StrAppend(&actions, "<ObjectPath Id=\"5000\" ObjectPathId=\"1\"/>");
  EXPECT_THAT(ErrorOf(ParseCsomRequest(Body(actions, kTenant))), HasSubstr("more than 1000 actions"));

  std::string paths;
  for (int i = 0; i < 1001; ++i) absl::StrAppend(&paths, "<Constructor Id=\"", i, "\" TypeId=\"{1}\"/>");
  EXPECT_THAT(ErrorOf(ParseCsomRequest(Body("", paths))), HasSubstr("more than 1000 object paths"));

  // A chain of 1,000 methods is walked without trouble.
  std::string chain = kTenant;
  for (int i = 2; i <= 1000; ++i)
    absl::StrAppend(&chain, "<Method Id=\"", i, "\" ParentId=\"", i - 1, "\" Name=\"M\"/>");
  EXPECT_TRUE(ParseCsomRequest(Body("<ObjectPath Id=\"1\" ObjectPathId=\"1000\"/>", chain)).ok());

  // Over 2 MiB.
  const std::string big =
      Body(absl::StrCat("<Method Name=\"M\" Id=\"3\" ObjectPathId=\"1\"><Parameters>", "<Parameter Type=\"String\">",
                        std::string(2 * 1024 * 1024, 'a'), "</Parameter></Parameters></Method>"),
           kTenant);
  EXPECT_THAT(ErrorOf(ParseCsomRequest(big)), HasSubstr("at most 2097152"));

  // Value objects nested too deeply.
  std::string nested = "<Parameter TypeId=\"{1}\">";
  for (int i = 0; i < 20; ++i) nested += "<Property Name=\"P\" TypeId=\"{1}\">";
  for (int i = 0; i < 20; ++i) nested += "</Property>";
  nested += "</Parameter>";
  EXPECT_THAT(ErrorOf(Call(nested)), HasSubstr("nested deeper"));

  // Deep XML that the parser never descends into is only memory (bounded by the body size).
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "<a>";
  for (int i = 0; i < 100000; ++i) deep += "</a>";
  EXPECT_FALSE(ParseCsomRequest(Body("", absl::StrCat(kTenant, deep))).ok());
}

TEST(TenantEmulatorCsomRequestTest, DoctypeEntitiesAreNotExpanded) {
  const std::string xml =
      "<!DOCTYPE Request [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>" +
      Body(
          "<Method Name=\"M\" Id=\"3\" ObjectPathId=\"1\"><Parameters><Parameter Type=\"String\">&b;</Parameter>"
          "</Parameters></Method>",
          kTenant);
  absl::StatusOr<CsomRequest> parsed = ParseCsomRequest(xml);
  if (parsed.ok()) {
    EXPECT_LT(parsed->actions[0].parameters[0].text.size(), 10u);
  }
}

}  // namespace
}  // namespace crosstenant::emulator
