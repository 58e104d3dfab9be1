# Tests of the tenant connector.

crosstenant_cc_test(NAME tenant_connector_unit_test
  SRCS unit/tenant_connector/admin_url_test.cc unit/tenant_connector/throttle_test.cc
       unit/tenant_connector/crypto_test.cc unit/tenant_connector/test_certificates.cc
       unit/tenant_connector/csom_test.cc unit/tenant_connector/sharepoint_admin_client_test.cc
       unit/tenant_connector/graph_client_test.cc unit/tenant_connector/error_reasons_test.cc
       unit/tenant_connector/proxy_url_test.cc
  DEPS tenant_connector_core crosstenant_test_support
  LABELS unit)

# Against the real tenant-emulator process.
crosstenant_cc_test(NAME tenant_connector_emulator_test
  SRCS integration/tenant_connector/connector_emulator_test.cc integration/tenant_connector/tenant_ops_test.cc
       integration/tenant_connector/start_move_attempt_test.cc integration/tenant_connector/connection_holds_test.cc
       integration/tenant_connector/batch_throttling_test.cc
  DEPS tenant_connector_core crosstenant_common_server crosstenant_mesh_support crosstenant_tenant_emulator
  LABELS integration)
add_dependencies(tenant_connector_emulator_test tenant-connector tenant-emulator)

# The real tenant-connector misused: credential files that are not secrets, floods of one RPC, SIGTERM
# while calls hang upstream. No emulator.
crosstenant_cc_test(NAME tenant_connector_misuse_test
  SRCS integration/tenant_connector/credential_files_test.cc
  DEPS crosstenant_test_support crosstenant_proto gRPC::grpc++
  LABELS integration)
add_dependencies(tenant_connector_misuse_test tenant-connector)

# The audit trail in the state database (append, list, triggers, reopen) and its recorder.
crosstenant_cc_test(NAME tenant_connector_audit_unit_test
  SRCS unit/tenant_connector/audit_trail_test.cc
  DEPS tenant_connector_core crosstenant_test_support
  LABELS unit)

# The real tenant-connector behind the test CONNECT proxy (tests/support/connect_proxy.py, run with
# /usr/bin/python3) in front of the real tenant-emulator: upstream.proxy, no_proxy, refusals, credentials.
crosstenant_cc_test(NAME tenant_connector_proxy_test
  SRCS integration/tenant_connector/upstream_proxy_test.cc
  DEPS crosstenant_mesh_support tenant_connector_core crosstenant_proto gRPC::grpc++
  LABELS integration)
add_dependencies(tenant_connector_proxy_test tenant-connector tenant-emulator)
