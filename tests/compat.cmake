# Microsoft's own client libraries against the tenant emulator (tests/compat/README.md): MSAL for Node
# and the Azure Identity library, at the versions deploy/local/bootstrap.sh installs into tools/.
# `ctest --preset default -L compat` (build tenant-emulator and tenant_emulator_test_certs first).
find_program(CROSSTENANT_NODE node)
if(CROSSTENANT_NODE)
  add_test(NAME compat_msal_and_azure_identity
    COMMAND ${CROSSTENANT_NODE} ${CMAKE_SOURCE_DIR}/tests/compat/msal_compat.js
            ${CMAKE_BINARY_DIR}/bin/tenant-emulator ${TENANT_EMULATOR_CERT_DIR})
  set_tests_properties(compat_msal_and_azure_identity PROPERTIES
    ENVIRONMENT "NODE_EXTRA_CA_CERTS=${TENANT_EMULATOR_CERT_DIR}/ca.pem;NODE_PATH=${CMAKE_SOURCE_DIR}/tools/node_modules"
    LABELS compat TIMEOUT 180)
endif()
