# deploy/: Kubernetes manifests, image, Prometheus rules, Grafana dashboard (tests/deploy/).
# Tools: kubectl (or $KUSTOMIZE), node with tools/node_modules from tests/deploy/package.json, yamllint,
# promtool, /usr/bin/python3 with python3-grpcio and python3-yaml, openssl, readelf and dpkg, and for
# deploy_manifest_args the test PostgreSQL server (postgresql, psql).
set(CROSSTENANT_DEPLOY_TESTS "${CMAKE_CURRENT_SOURCE_DIR}/deploy")
set(CROSSTENANT_PYTHON /usr/bin/python3)  # Debian's, which sees python3-grpcio (not a pyenv shim)

add_test(NAME deploy_render_and_validate COMMAND bash ${CROSSTENANT_DEPLOY_TESTS}/render_and_validate_test.sh)
set_tests_properties(deploy_render_and_validate PROPERTIES
  ENVIRONMENT "TOOLS_DIR=${CMAKE_SOURCE_DIR}/tools" LABELS deploy TIMEOUT 120)

foreach(check pod-security dashboard dockerfile orchestrator-ha https-proxy retained-volumes)
  string(REPLACE "-" "_" test_name "deploy_${check}")
  add_test(NAME ${test_name} COMMAND ${CROSSTENANT_PYTHON} ${CROSSTENANT_DEPLOY_TESTS}/static_checks.py ${check})
  set_tests_properties(${test_name} PROPERTIES
    ENVIRONMENT "BIN_DIR=${CMAKE_BINARY_DIR}/bin" LABELS deploy TIMEOUT 60)
endforeach()

# The prod overlay's orchestrators keep their migrations in PostgreSQL: a database on the test server
# (the fixture `postgres`, tests/postgres.cmake) stands for the one in the Secret orchestrator-postgres.
add_test(NAME deploy_manifest_args COMMAND ${CROSSTENANT_PYTHON} ${CROSSTENANT_DEPLOY_TESTS}/manifest_args_test.py)
set_tests_properties(deploy_manifest_args PROPERTIES
  ENVIRONMENT "BIN_DIR=${CMAKE_BINARY_DIR}/bin;BUF=${CMAKE_SOURCE_DIR}/tools/node_modules/.bin/buf"
  LABELS "deploy;integration" TIMEOUT 300)
crosstenant_requires_postgres(deploy_manifest_args)

add_test(NAME deploy_metric_names COMMAND ${CROSSTENANT_PYTHON} ${CROSSTENANT_DEPLOY_TESTS}/metric_names_test.py)
set_tests_properties(deploy_metric_names PROPERTIES
  ENVIRONMENT "BIN_DIR=${CMAKE_BINARY_DIR}/bin;BUF=${CMAKE_SOURCE_DIR}/tools/node_modules/.bin/buf"
  LABELS "deploy;integration" TIMEOUT 240)

# The image: built from deploy/docker/Dockerfile with podman and run (the short demo migration with every
# program from the image), compiled with this tree's flags so that the ccache it filled serves it.
# Skipped, with the reason printed, where the machine cannot run containers. A first build, with a cold
# cache, takes most of an hour on two busy cores: hence the long timeout.
add_test(NAME deploy_image_build_and_run COMMAND bash ${CROSSTENANT_DEPLOY_TESTS}/image_test.sh)
set_tests_properties(deploy_image_build_and_run PROPERTIES
  ENVIRONMENT "IMAGE_WERROR=${CROSSTENANT_WERROR}" LABELS "deploy;container" TIMEOUT 5400 SKIP_RETURN_CODE 77)
