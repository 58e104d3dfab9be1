#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

The seeds are well-formed inputs in the shapes the real parsers see: identity maps as the unit tests
write them, server configs as the README documents them, Entra token and Graph / SharePoint answers as
the tenant emulator gives them. libFuzzer mutates from there. Rerun after changing a shape:

    python3 tests/fuzz/make_seed_corpus.py
"""
import base64
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
TENANT = "7f1d1c1e-0000-4000-8000-000000000001"
CLIENT = "11111111-1111-4111-8111-111111111111"


def write(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as out:
        out.write(data)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims):
    header = {"typ": "JWT", "alg": "RS256", "kid": "fuzz"}
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()),
                     b64url(b"\x01" * 32)])


# --- identity map CSV ---------------------------------------------------------------------------
user = f"User,{TENANT},alice@contoso.com,alice@fabrikam.com,alice@fabrikam.com,RegularUser\n"
group = (f"Group,{TENANT},11111111-2222-3333-4444-555555555555,aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee,"
         "Sales,M365Group\r\n")
write("fuzz_identity_map_csv", "users_and_groups.csv", user + group +
      f"User,{TENANT},Bob.Smith@contoso.com,bob@fabrikam.com,bob@fabrikam.com,guestuser\n")
write("fuzz_identity_map_csv", "bom_and_quotes.csv",
      "\ufeff" + f'User,{TENANT},"carol@contoso.com","carol@fabrikam.com","carol@fabrikam.com",AdminUser\r\n')
write("fuzz_identity_map_csv", "expected_tenant.csv", f"!{TENANT}\n" + user)
write("fuzz_identity_map_csv", "problems.csv",
      "Type,SourceTenantCompanyID,SourceUserUpn,TargetUserUpn,TargetUserEmail,UserType\n"
      f"User,{TENANT}, o'brien@contoso.com ,x@fabrikam,\"a\"b,Boss\n\nGroup,not-a-guid,,,,\n")

# --- admin URL (first byte: cloud) -----------------------------------------------------------------
for i, text in enumerate(["\x00 HTTPS://Contoso-Admin.SharePoint.com/ ", "\x01https://contoso-my.sharepoint.com",
                          "\x03https://contoso-admin.sharepoint.us", "\x04https://contoso-admin.sharepoint-mil.us",
                          "\x05contoso-admin.sharepoint.cn", "\x02https://contoso.onmicrosoft.com",
                          "\x00https://user@contoso-admin.sharepoint.com:8443/sites/x?y#z"]):
    write("fuzz_admin_url", f"url{i}", text)

# --- config reader -------------------------------------------------------------------------------
write("fuzz_config_reader", "connector.yaml", """grpc_address: 0.0.0.0:50051
metrics_address: 0.0.0.0:9464
health_address: "[::1]:0"
log_format: json
shutdown_grace: 10s
tls:
  cert: /etc/crosstenant/tls.crt
  key: /etc/crosstenant/tls.key
  ca: /etc/crosstenant/ca.crt
  reload_interval: 1h30m
  allowed_peers: [orchestrator, worker]
state_dir: /var/lib/tenant-connector
executor_threads: 16
authorization:
  operate: [orchestrator, worker]
  administer: [migratectl]
upstream:
  connect_to: ["*:443:127.0.0.1:8443"]
  budget: 60s
  max_attempts: 5
  backoff_base: 5s
""")
write("fuzz_config_reader", "plan_like.yaml", """grpc_address: 127.0.0.1:0
migrations:
  - name: wave-1
    dry_run: false
    ratio: 0.25
    max_bytes: 1099511627776
    users: [alice@contoso.com, bob@contoso.com]
    schedule: {every: 5m}
  - name: bad
  - 42
""")
write("fuzz_config_reader", "errors.yaml", "grpc_address: [1, 2]\nshutdown_grace: soon\ntls: 5\nunknown: &a {x: *a}\n")

# --- emulator JWT (first byte: mode) ---------------------------------------------------------------
claims = {"aud": "https://graph.microsoft.com", "iss": f"https://sts.windows.net/{TENANT}/", "tid": TENANT,
          "roles": ["Sites.FullControl.All"], "exp": 1893456000, "nbf": 1700000000}
write("fuzz_emulator_jwt", "token", b"\x00" + jwt(claims).encode())
write("fuzz_emulator_jwt", "ps256_token", b"\x00" + jwt(dict(claims, alg="PS256")).encode())
write("fuzz_emulator_jwt", "claims", b"\x01" + json.dumps(claims).encode())
write("fuzz_emulator_jwt", "pem", b"\x02-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUAA==\n-----END CERTIFICATE-----\n")
write("fuzz_emulator_jwt", "base64url", b"\x03" + b64url(b"\xff\xfe hello =").encode() + b"==")

# --- connector: Entra answers ----------------------------------------------------------------------
app_claims = {"tid": TENANT, "oid": "22222222-2222-4222-8222-222222222222", "appid": CLIENT,
              "roles": ["Sites.FullControl.All", "User.Read.All"]}
token = json.dumps({"token_type": "Bearer", "expires_in": 3599, "access_token": jwt(app_claims)})
write("fuzz_connector_token", "token", "token\n200\n" + token)
write("fuzz_connector_token", "token_throttled", "token\n429 Retry-After: 2\n{}\n%%\n200\n" + token)
write("fuzz_connector_token", "token_refused", "token\n400\n" + json.dumps(
    {"error": "invalid_client", "error_description": "AADSTS7000222: The provided client secret keys are expired.\r\nTrace ID: x"}))
write("fuzz_connector_token", "device", "device\n200\n" + json.dumps(
    {"device_code": "dc", "user_code": "ABCD-EFGH", "verification_uri": "https://microsoft.com/devicelogin",
     "expires_in": "900", "interval": 5, "message": "To sign in, ..."}))
write("fuzz_connector_token", "poll", "poll\n400\n{\"error\": \"authorization_pending\"}\n%%\n400\n"
      "{\"error\": \"slow_down\"}\n%%\n200\n" + json.dumps({"access_token": jwt(app_claims), "refresh_token": "r",
                                                             "expires_in": 4000}))
write("fuzz_connector_token", "claims", "claims\n" + jwt(app_claims))

# --- connector: the whole sign-in and the tenant operations ------------------------------------------
user_claims = {"tid": TENANT, "oid": "33333333-3333-4333-8333-333333333333", "upn": "admin@contoso.onmicrosoft.com",
               "name": "Admin", "scp": "AllSites.FullControl User.Read.All",
               "wids": ["f28a1f50-f6e7-4571-818b-6a12f2af6b6c"]}


def token_for(claims):
    return "200\n" + json.dumps({"token_type": "Bearer", "expires_in": 3599, "access_token": jwt(claims)})


organization = "200\n" + json.dumps({"value": [{"id": TENANT, "displayName": "Contoso Ltd", "verifiedDomains": [
    {"name": "contoso.onmicrosoft.com", "isInitial": True}, {"name": "contoso.com", "isInitial": False}]}]})
# SharePoint's Bearer challenge naming the tenant (the script's header syntax has no spaces in values).
realm = f'401 WWW-Authenticate: realm="{TENANT}"\n'
CSOM_HEADER = {"SchemaVersion": "15.0.0.0", "LibraryVersion": "16.0.24106.12002", "ErrorInfo": None,
               "TraceCorrelationId": "6b2f5a9f-90a1-4000-8c1d-2e5b0c7a1d3e"}


def csom_answer(*pairs):
    return "200\n" + json.dumps([CSOM_HEADER, *pairs])


def collection(items, **extra):
    return dict({"_ObjectType_": "SP.ClientObjectList", "_Child_Items_": items}, **extra)


instance = {"_ObjectType_": "Microsoft.Online.SharePoint.TenantAdministration.SPOTenantInstance"}
geos = csom_answer(2, {"IsNull": False}, 4, {"IsNull": False}, 5, collection([
    dict(instance, DataLocation="NAM", IsDefaultDataLocation=True, TenantAdminUrl="https://contoso-admin.sharepoint.com/",
         MySiteHostUrl="https://contoso-my.sharepoint.com/", RootSiteUrl="https://contoso.sharepoint.com/"),
    dict(instance, DataLocation="EUR", IsDefaultDataLocation=False,
         TenantAdminUrl="https://contosoeur-admin.sharepoint.com/", MySiteHostUrl="https://contosoeur-my.sharepoint.com/",
         RootSiteUrl="https://contosoeur.sharepoint.com/")]))


def connect(kind, claims):
    # A client secret never reaches SharePoint: the app connects with Graph only.
    if kind == "app":
        return [realm, token_for(claims), organization]
    return [realm, token_for(claims), organization, token_for(claims), geos]


def script(first_line, responses):
    return first_line + "\n" + "\n%%\n".join(responses)


move_task = {"id": "task-1", "status": "inProgress", "startedDateTime": "2026-01-01T10:00:00Z",
             "lastUpdatedDateTime": "2026-01-01T10:05:00.123Z",
             "parameters": {"sourceUserIdentity": {"userPrincipalName": "alice@contoso.com"},
                            "targetUserIdentity": {"userPrincipalName": "alice@fabrikam.com"},
                            "targetOrganizationHost": "https://fabrikam-my.sharepoint.com",
                            "targetDataLocationCode": "NAM", "validateOnly": False,
                            "preferredStartDateTime": "2026-01-02T00:00:00Z"},
             "error": {"code": "x", "message": "y"}}
move_state = {"SourceUserPrincipalName": "alice@contoso.com", "TargetUserPrincipalName": "alice@fabrikam.com",
              "MoveState": "InProgress", "MoveStage": "Backup", "MoveJobId": "job-1",
              "SourceSiteUrl": "https://contoso-my.sharepoint.com/personal/alice",
              "TargetSiteUrl": "https://fabrikam-my.sharepoint.com/personal/alice",
              "SourceDataLocation": "NAM", "DestinationDataLocation": "NAM", "LastModified": "/Date(1767261600000)/",
              "ErrorMessage": ""}
site = {"_ObjectType_": "Microsoft.Online.SharePoint.TenantAdministration.SiteProperties",
        "Url": "https://contoso-my.sharepoint.com/personal/alice", "Template": "RedirectSite#0",
        "LastContentModifiedDate": "/Date(2026,0,1,0,0,0,0)/"}
operations = {
    "hosturl": [csom_answer(2, {"IsNull": False}, 3, "https://contoso-my.sharepoint.com/")],
    "users": ["200\n" + json.dumps({"value": [
        {"id": "u1", "userPrincipalName": "alice@contoso.com", "mail": "alice@contoso.com", "displayName": "Alice",
         "userType": "Member", "accountEnabled": True, "preferredDataLocation": "NAM"}],
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=abc"})],
    "check": ["200\n" + json.dumps({"responses": [
        {"id": "u0", "status": 200, "body": {"id": "u1", "userPrincipalName": "alice@contoso.com",
                                              "accountEnabled": True, "userType": "Member",
                                              "assignedLicenses": [{"skuId": "s"}]}},
        {"id": "d0", "status": 200, "body": {"webUrl": "https://contoso-my.sharepoint.com/personal/alice",
                                              "quota": {"used": 1048576}}},
        {"id": "u1", "status": 404, "body": {"error": {"code": "Request_ResourceNotFound", "message": "no"}}},
        {"id": "d1", "status": 429, "body": {}}]})],
    "move": [csom_answer(2, {"IsNull": False}, 3, json.dumps([move_state]))],
    "moves": [csom_answer(2, {"IsNull": False}, 3, json.dumps([move_state, dict(move_state, MoveState=3,
                                                                                 ErrorMessage="quota")]))],
    "batch": ["200\n" + json.dumps({"responses": [{"id": "0", "status": 200, "body": move_task},
                                                  {"id": "1", "status": 404, "body": {}}]})],
    "compat": ["200\n" + json.dumps({"SupportedVersions": ["1.0", "1.4.7"]}),
               "200\n" + json.dumps({"SourceTenantHostUrl": "https://contoso-my.sharepoint.com/",
                                     "TargetTenantHostUrl": "https://fabrikam-my.sharepoint.com/",
                                     "XTenantMoveCompatibilityResult": 2})],
    "redirects": [csom_answer(2, {"IsNull": False}, 4, {"IsNull": False}, 5,
                              collection([site], NextStartIndexFromSharePoint="2;x")),
                  csom_answer(2, {"IsNull": False}, 4, {"IsNull": False}, 5,
                              collection([], NextStartIndexFromSharePoint=None))],
    "start": ["404\n" + json.dumps({"error": {"code": "itemNotFound", "message": "none"}}),
              "201\n" + json.dumps(move_task)],
    "entry": [csom_answer(2, {"IsNull": False}, 4, {"IsNull": False}, 5, collection([
        {"_ObjectType_": "Microsoft.Online.SharePoint.TenantAdministration.SPOTenantUserIdentityMapping",
         "SourceTenantCompanyId": TENANT, "SourceUserKey": "alice@contoso.com", "TargetUserUpn": "alice@fabrikam.com",
         "TargetUserEmail": "alice@fabrikam.com", "TargetUserPuid": "", "UserType": 1}]))],
    "verify": [csom_answer(2, {"IsNull": False}, 3, 4)],
    "check2": [organization.replace("Contoso Ltd", "Contoso"), geos],
}
for kind, claims in (("app", app_claims), ("user", user_claims)):
    write("fuzz_connector_upstream", f"connect_{kind}", script(kind, connect(kind, claims)))
for op, responses in operations.items():
    write("fuzz_connector_upstream", f"op_{op}", script(f"user {op}", connect("user", user_claims) + responses))
write("fuzz_connector_upstream", "all_ops", script("user " + " ".join(operations),
                                                   connect("user", user_claims) +
                                                   [r for rs in operations.values() for r in rs]))
write("fuzz_connector_upstream", "secret_ops", script("app hosturl verify users", connect("app", app_claims) +
                                                      operations["users"]))
write("fuzz_connector_upstream", "throttled", script("app users", [realm, token_for(app_claims),
                                                                    "429 Retry-After: 3\n{}",
                                                                    "503\n<html>busy</html>", organization] +
                                                     operations["users"]))
write("fuzz_connector_upstream", "user_member_of", script("user check", [
    realm, token_for(dict(user_claims, wids=None)), organization,
    "200\n" + json.dumps({"value": [{"roleTemplateId": "62e90394-69f5-4237-9190-012177145e10"}]}),
    token_for(user_claims), geos] + operations["check"]))

# --- connector: CSOM answers alone (fuzz_connector_csom) -----------------------------------------------
for name, answer in (("scalar", operations["hosturl"][0]), ("geos", geos), ("moves", operations["moves"][0]),
                     ("sites", operations["redirects"][0]), ("entry", operations["entry"][0])):
    write("fuzz_connector_csom", name, answer.split("\n", 1)[1])
write("fuzz_connector_csom", "error", json.dumps([dict(CSOM_HEADER, ErrorInfo={
    "ErrorMessage": "Cannot get site https://x/.", "ErrorValue": None, "TraceCorrelationId": "5fe2279f",
    "ErrorCode": -1, "ErrorTypeName": "Microsoft.Online.SharePoint.Common.SpoNoSiteException"})]))
write("fuzz_connector_csom", "date", "/Date(2017,10,7,11,29,31,0)/")

# --- emulator seed: a minimal one here; run_fuzzers.sh adds deploy/local/emulator-seed.yaml each run ---
write("fuzz_emulator_seed", "minimal.yaml", """settings: {token_lifetime: 1h, max_queued_per_geo: 10}
tenants:
  - name: contoso
    id: 7f1d1c1e-0000-4000-8000-000000000001
    geos: [{location: NAM, name: contoso}, {location: EUR, name: contosoeur}]
    apps:
      - client_id: 11111111-1111-4111-8111-111111111111
        secret: s
        application_permissions: [Sites.FullControl.All]
    admins:
      - {upn: admin@contoso.onmicrosoft.com, password: p, roles: [GlobalAdministrator]}
    users:
      - {upn: alice@contoso.com, geo: EUR, onedrive: {size_bytes: 10, items: 2, legal_hold: true}}
  - name: fabrikam
""")

# --- emulator CSOM ProcessQuery bodies (fuzz_emulator_csom, and inside fuzz_emulator_requests) -----------
CSOM_NS = "http://schemas.microsoft.com/sharepoint/clientquery/2009"
TENANT_PATH = '<Constructor Id="1" TypeId="{268004ae-ef6b-4e9b-8425-127220d84719}"/>'
CHILD_QUERY = ('<Query SelectAllProperties="true"><Properties/></Query>'
               '<ChildItemQuery SelectAllProperties="true"><Properties/></ChildItemQuery>')


def csom_body(actions, paths):
    return (f'<Request xmlns="{CSOM_NS}" SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" '
            f'ApplicationName="crosstenant"><Actions>{actions}</Actions><ObjectPaths>{paths}</ObjectPaths></Request>')


def csom_method(name, parameters):
    return csom_body(f'<ObjectPath Id="2" ObjectPathId="1"/><Method Name="{name}" Id="3" ObjectPathId="1">'
                     f'<Parameters>{parameters}</Parameters></Method>', TENANT_PATH)


def csom_queried(name, parameters):
    return csom_body(f'<ObjectPath Id="2" ObjectPathId="1"/><ObjectPath Id="6" ObjectPathId="4"/>'
                     f'<Query Id="5" ObjectPathId="4">{CHILD_QUERY}</Query>',
                     TENANT_PATH + f'<Method Id="4" ParentId="1" Name="{name}"><Parameters>{parameters}'
                     '</Parameters></Method>')


relation = ('<Parameter Type="Enum">1</Parameter><Parameter Type="Enum">2</Parameter>'
            '<Parameter Type="String">https://fabrikam-my.sharepoint.com/</Parameter>')
csom = {
    "instances": csom_queried("GetTenantInstances", ""),
    "host_url": csom_method("GetMySiteHostUrl", ""),
    "verify": csom_method("VerifySPOTenantOrgRelation", relation),
    "new_relation": csom_method("NewSPOTenantOrgRelation", relation),
    "mapping": csom_queried("GetTenantUserIdentityMappingItem",
                            '<Parameter Type="Enum">0</Parameter><Parameter Type="String">alice@contoso.com</Parameter>'),
    "move_state": csom_method("GetSPOCrossTenantContentMoveState",
                              '<Parameter Type="Enum">0</Parameter>'
                              '<Parameter Type="String">https://fabrikam-my.sharepoint.com/</Parameter>'
                              '<Parameter Type="Null"/><Parameter Type="Guid">{00000000-0000-0000-0000-000000000000}'
                              '</Parameter><Parameter Type="Int32">-1</Parameter><Parameter Type="Int32">0</Parameter>'
                              '<Parameter Type="UInt32">0</Parameter><Parameter Type="DateTime">/Date(0)/</Parameter>'
                              '<Parameter Type="DateTime">2099-01-01T00:00:00.0000000Z</Parameter>'
                              '<Parameter Type="Enum">2</Parameter>'),
    "sites": csom_queried("GetSitePropertiesFromSharePointByFilters",
                          '<Parameter TypeId="{b92aeee2-c92c-4b67-abcc-024e471bc140}">'
                          '<Property Name="Filter" Type="Null"/><Property Name="IncludeDetail" Type="Boolean">false'
                          '</Property><Property Name="IncludePersonalSite" Type="Enum">1</Property>'
                          '<Property Name="StartIndex" Type="Null"/>'
                          '<Property Name="Template" Type="String">RedirectSite#0</Property></Parameter>'),
    "remove_site": csom_queried("RemoveSite", '<Parameter Type="String">'
                                'https://contoso-my.sharepoint.com/personal/alice_contoso_com</Parameter>'),
    "poll": csom_body('<Query Id="2" ObjectPathId="1"><Query SelectAllProperties="false"><Properties>'
                      '<Property Name="IsComplete" ScalarProperty="true"/>'
                      '<Property Name="PollingInterval" ScalarProperty="true"/></Properties></Query></Query>',
                      '<Identity Id="1" Name="6b2f5a9f-90a1-4000-8c1d-2e5b0c7a1d3e|908bed80-a04a-4433-b4a0-883d9847d110:'
                      '7f1d1c1e-0000-4000-8000-000000000001&#xA;SpoOperation&#xA;RemoveSite&#xA;1&#xA;'
                      'https://contoso-my.sharepoint.com/personal/a_b&amp;c"/>'),
    "kinds": csom_method("M", '<Parameter Type="String">a &lt;b&gt; &amp;</Parameter>'
                         '<Parameter Type="Boolean">true</Parameter><Parameter Type="Int64">-5</Parameter>'
                         '<Parameter Type="Double">2.5</Parameter>'
                         '<Parameter Type="Array"><Object Type="String">x</Object><Object Type="Int32">7</Object>'
                         '</Parameter><Parameter ObjectPathId="1"/>'),
}
for name, body in csom.items():
    write("fuzz_emulator_csom", name + ".xml", body)

# --- emulator requests: "METHOD HOST TARGET", headers, empty line, body ------------------------------
LOGIN = "login.microsoftonline.com"
GRAPH = "graph.microsoft.com"
SP = "contoso-admin.sharepoint.com"
FORM = "Content-Type: application/x-www-form-urlencoded"
assertion = jwt({"iss": CLIENT, "sub": CLIENT, "aud": f"https://{LOGIN}/{TENANT}/oauth2/v2.0/token",
                 "exp": 1893456000, "nbf": 1700000000, "jti": "j1"})
requests = {
    "token_secret": f"POST {LOGIN} /contoso.onmicrosoft.com/oauth2/v2.0/token\n{FORM}\n\n"
                    f"grant_type=client_credentials&client_id={CLIENT}&client_secret=contoso-secret"
                    "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
    "token_assertion": f"POST {LOGIN} /{TENANT}/oauth2/v2.0/token\n{FORM}\n\n"
                       f"grant_type=client_credentials&client_id={CLIENT}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
                       "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                       f"&client_assertion={assertion}",
    "token_password": f"POST {LOGIN} /contoso.onmicrosoft.com/oauth2/v2.0/token\n{FORM}\n\n"
                      f"grant_type=password&client_id={CLIENT}&username=admin%40contoso.onmicrosoft.com"
                      "&password=admin-password&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default%20offline_access",
    "token_basic": f"POST {LOGIN} /contoso.onmicrosoft.com/oauth2/token\n{FORM}\n"
                   f"Authorization: Basic {b64url((CLIENT + ':contoso-secret').encode())}\n\n"
                   "grant_type=client_credentials&resource=https%3A%2F%2Fgraph.microsoft.com",
    "devicecode": f"POST {LOGIN} /contoso.onmicrosoft.com/oauth2/v2.0/devicecode\n{FORM}\n\n"
                  f"client_id={CLIENT}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
    "openid": f"GET {LOGIN} /contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration\n\n",
    "userrealm": f"GET {LOGIN} /common/userrealm/admin@contoso.onmicrosoft.com?api-version=1.0\n\n",
    "organization": f"GET {GRAPH} /v1.0/organization\nAuthorization: Bearer $GRAPH_TOKEN\n\n",
    "users": f"GET {GRAPH} /v1.0/users?$top=1&$select=id,userPrincipalName\nAuthorization: Bearer $GRAPH_TOKEN\n\n",
    "drive": f"GET {GRAPH} /v1.0/users/alice@contoso.com/drive\nAuthorization: Bearer $GRAPH_TOKEN\n\n",
    "forged": f"GET {GRAPH} /v1.0/organization\nAuthorization: Bearer {jwt({'aud': 'https://graph.microsoft.com', 'tid': TENANT})}\n\n",
    "batch": f"POST {GRAPH} /v1.0/$batch\nAuthorization: Bearer $GRAPH_TOKEN\nContent-Type: application/json\n\n" +
             json.dumps({"requests": [{"id": "u0", "method": "GET", "url": "/users/alice@contoso.com"},
                                      {"id": "d0", "method": "GET", "url": "/users/alice@contoso.com/drive",
                                       "headers": {"ConsistencyLevel": "eventual"}}]}),
    "mappings": f"PATCH {GRAPH} /beta/solutions/sharePoint/migrations/crossOrganizationUserMappings\n"
                "Authorization: Bearer $GRAPH_TOKEN\nContent-Type: application/json\n\n" +
                json.dumps({"value": [{"sourceUserIdentity": {"userPrincipalName": "alice@contoso.com"},
                                       "targetUserIdentity": {"userPrincipalName": "alice@fabrikam.com"}}]}),
    "task": f"POST {GRAPH} /beta/solutions/sharePoint/migrations/crossOrganizationMigrationTasks\n"
            "Authorization: Bearer $GRAPH_TOKEN\nContent-Type: application/json\n\n" +
            json.dumps(move_task["parameters"] | {"validateOnly": True}),
    "csom_instances": f"POST {SP} /_vti_bin/client.svc/ProcessQuery\nAuthorization: Bearer $SHAREPOINT_TOKEN\n"
                      "Content-Type: text/xml\n\n" + csom["instances"],
    "csom_verify": f"POST {SP} /_vti_bin/client.svc/ProcessQuery\nAuthorization: Bearer $SHAREPOINT_TOKEN\n"
                   "Content-Type: text/xml\n\n" + csom["verify"],
    "csom_new_relation": f"POST {SP} /_vti_bin/client.svc/ProcessQuery\nAuthorization: Bearer $SHAREPOINT_TOKEN\n"
                         "Content-Type: text/xml\n\n" + csom["new_relation"],
    "csom_move_state": f"POST {SP} /_vti_bin/client.svc/ProcessQuery\nAuthorization: Bearer $SHAREPOINT_TOKEN\n"
                       "Content-Type: text/xml\n\n" + csom["move_state"],
    "csom_sites": f"POST {SP} /_vti_bin/client.svc/ProcessQuery\nAuthorization: Bearer $SHAREPOINT_TOKEN\n"
                  "Content-Type: text/xml\n\n" + csom["sites"],
    "csom_remove_site": f"POST {SP} /_vti_bin/client.svc/ProcessQuery\nAuthorization: Bearer $SHAREPOINT_TOKEN\n"
                        "Content-Type: text/xml\n\n" + csom["remove_site"],
    "csom_poll": f"POST {SP} /_vti_bin/client.svc/ProcessQuery\nAuthorization: Bearer $SHAREPOINT_TOKEN\n"
                 "Content-Type: text/xml\n\n" + csom["poll"],
    "realm": f"GET contosoeur-admin.sharepoint.com /_vti_bin/client.svc\nAuthorization: Bearer\n\n",
    "contextinfo": f"POST {SP} /_api/contextinfo\nAuthorization: Bearer $SHAREPOINT_TOKEN\n"
                   "Accept: application/json;odata=verbose\n\n",
    "multigeo_versions": f"GET {SP} /_api/MultiGeoApiVersions\nAuthorization: Bearer $SHAREPOINT_TOKEN\n\n",
    "multigeo_compatibility": f"GET {SP} /_api/XTenantMoveCompatibilityCheck(targetTenantHostUrl="
                              "'https%3A%2F%2Ffabrikam-my.sharepoint.com%2F')?api-version=1.4.7\n"
                              "Authorization: Bearer $SHAREPOINT_TOKEN\n\n",
    "admin_faults": "POST contoso-admin.sharepoint.com /_emulator/faults\nContent-Type: application/json\n\n" +
                    json.dumps({"throttle_ratio": 0.5, "latency_ms": 0, "unreachable_tenants": ["fabrikam"]}),
}
for name, text in requests.items():
    write("fuzz_emulator_requests", name, text)

# --- migratectl plan file (run_fuzzers.sh adds deploy/local/demo-plan.yaml each run) -------------------
write("fuzz_migratectl_plan", "full.yaml", """migration: contoso-to-fabrikam
display_name: Contoso to Fabrikam, wave 1
source: contoso
target: connections/fabrikam
identity_map: identity-map.csv
window:
  begin: 2026-12-05T20:00:00Z
  end: 2026-12-06T06:00:00+01:00
options:
  validate_only: true
  max_queued_per_source_geo: 4000
  remove_trust_when_done: false
  redirect_cleanup: remove_permanently
""")
write("fuzz_migratectl_plan", "errors.yaml", """migration: 9Bad
source: contoso
target: contoso
identity_map: /abs/map.csv
window: {begin: tomorrow, end: 2026-12-05T20:00:00Z}
options: {max_queued_per_source_geo: 4001, redirect_cleanup: maybe, surprise: 1}
""")
