# Fuzzing: libFuzzer targets, with AddressSanitizer and UndefinedBehaviorSanitizer, for the
# parsers that read what someone else wrote: the identity-map CSV, the SharePoint admin URL, the JWT and
# token responses, the Graph and SharePoint JSON answers, the YAML config reader and the emulator's seed.
#
# The normal (gcc) build only registers the ctest case `fuzz_short`: it runs tests/fuzz/run_fuzzers.sh,
# which configures and builds a separate clang build directory (build-fuzz/) with CROSSTENANT_FUZZ=ON
# (the option, and ASan and UBSan for everything in that tree, are in the top CMakeLists.txt), runs each
# fuzz target for a few seconds and replays tests/fuzz/regressions/; then, in the same tree, checks the
# thread-safety annotations, and runs the unit tests and a few whole-mesh integration tests under the
# sanitizers. See tests/fuzz/README.md.


# The short run in the test suite: a cold clang build of the fuzz targets takes several minutes on two
# busy cores (about 20 minutes measured), then each target runs for 10 seconds.
add_test(NAME fuzz_short COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run_fuzzers.sh --seconds 10)
set_tests_properties(fuzz_short PROPERTIES LABELS fuzz TIMEOUT 3600 PROCESSORS 2)

if(CROSSTENANT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CROSSTENANT_FUZZ=ON needs clang (libFuzzer); configure with CXX=clang++, "
                        "as tests/fuzz/run_fuzzers.sh does. The compiler is ${CMAKE_CXX_COMPILER_ID}.")
  endif()
  set(CROSSTENANT_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)

  # The libraries holding the fuzzed parsers get coverage feedback and the sanitizers; the generated
  # protobuf code and Debian's libraries stay as they are.
  foreach(fuzzed_library identity_map crosstenant_common_base tenant_connector_sharepoint_protocol tenant_connector_core
                          crosstenant_tenant_emulator)
    # -Wshadow=local is gcc's spelling; clang would warn about it on every file.
    target_compile_options(${fuzzed_library} PRIVATE -fsanitize=fuzzer-no-link ${CROSSTENANT_SANITIZERS}
                                                     -Wno-unknown-warning-option)
  endforeach()

  set(CROSSTENANT_FUZZ_TARGETS)
  # crosstenant_fuzz_target(NAME <target> DEPS ...): tests/fuzz/<target>.cc, built into build-fuzz/fuzz/.
  function(crosstenant_fuzz_target)
    cmake_parse_arguments(ARG "" "NAME" "DEPS" ${ARGN})
    add_executable(${ARG_NAME} fuzz/${ARG_NAME}.cc)
    target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
    target_compile_options(${ARG_NAME} PRIVATE -fsanitize=fuzzer ${CROSSTENANT_SANITIZERS} -Wall -Wextra)
    target_link_options(${ARG_NAME} PRIVATE -fsanitize=fuzzer ${CROSSTENANT_SANITIZERS})
    set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/fuzz")
    set(CROSSTENANT_FUZZ_TARGETS ${CROSSTENANT_FUZZ_TARGETS} ${ARG_NAME} PARENT_SCOPE)
  endfunction()

  crosstenant_fuzz_target(NAME fuzz_identity_map_csv DEPS identity_map)
  crosstenant_fuzz_target(NAME fuzz_admin_url DEPS tenant_connector_core)
  crosstenant_fuzz_target(NAME fuzz_connector_token DEPS tenant_connector_core)
  crosstenant_fuzz_target(NAME fuzz_connector_upstream DEPS tenant_connector_core)
  crosstenant_fuzz_target(NAME fuzz_connector_csom DEPS tenant_connector_sharepoint_protocol)
  crosstenant_fuzz_target(NAME fuzz_config_reader DEPS crosstenant_common_base)
  crosstenant_fuzz_target(NAME fuzz_emulator_seed DEPS crosstenant_tenant_emulator)
  crosstenant_fuzz_target(NAME fuzz_emulator_jwt DEPS crosstenant_tenant_emulator)
  crosstenant_fuzz_target(NAME fuzz_emulator_requests DEPS crosstenant_tenant_emulator)
  crosstenant_fuzz_target(NAME fuzz_emulator_csom DEPS crosstenant_tenant_emulator)
  # migratectl's plan file, compiled in directly: migratectl_lib would bring the whole CLI into the build.
  crosstenant_fuzz_target(NAME fuzz_migratectl_plan DEPS crosstenant_common_base)
  target_sources(fuzz_migratectl_plan PRIVATE ${CMAKE_SOURCE_DIR}/clients/migratectl/plan_file.cc
                                              ${CMAKE_SOURCE_DIR}/clients/migratectl/input_file.cc)
  target_compile_options(fuzz_migratectl_plan PRIVATE -Wno-unknown-warning-option)

  # `cmake --build build-fuzz --target crosstenant_fuzzers` builds them all and nothing else.
  add_custom_target(crosstenant_fuzzers DEPENDS ${CROSSTENANT_FUZZ_TARGETS})

  # The same clang tree checks the thread-safety annotations of every service and client library
  # (-Werror=thread-safety, cmake/CrosstenantHelpers.cmake); run_fuzzers.sh builds this target too.
  add_custom_target(crosstenant_thread_safety)
  add_dependencies(crosstenant_thread_safety orchestrator_grpc worker_grpc tenant_connector_grpc migratectl_lib
                   loadgen_lib crosstenant_tenant_emulator)
endif()
