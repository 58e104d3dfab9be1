# Small helpers, one per kind of target, so that every component is declared the same way.

if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # clang checks the ABSL_GUARDED_BY / ABSL_*_LOCKS_REQUIRED annotations; a broken one is an error even in
  # a build whose other warnings are not (the clang fuzz build, tests/fuzz/run_fuzzers.sh).
  set(CROSSTENANT_WARNINGS -Wall -Wextra -Wpedantic -Wnon-virtual-dtor -Wthread-safety -Werror=thread-safety)
else()
  set(CROSSTENANT_WARNINGS -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor)
endif()

# crosstenant_build_revision(<out-var>): the git revision of the source tree, or "unknown".
function(crosstenant_build_revision out)
  execute_process(COMMAND git -C "${CMAKE_SOURCE_DIR}" rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE rev OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR rev STREQUAL "")
    set(rev "unknown")
  endif()
  # Configure again when HEAD moves, so that the revision baked into the binaries stays true.
  foreach(git_file .git/HEAD .git/packed-refs)
    if(EXISTS "${CMAKE_SOURCE_DIR}/${git_file}")
      set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/${git_file}")
    endif()
  endforeach()
  execute_process(COMMAND git -C "${CMAKE_SOURCE_DIR}" symbolic-ref -q HEAD
                  OUTPUT_VARIABLE head_ref OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(head_ref AND EXISTS "${CMAKE_SOURCE_DIR}/.git/${head_ref}")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/.git/${head_ref}")
  endif()
  set(${out} "${rev}" PARENT_SCOPE)
endfunction()

function(_crosstenant_warnings target)
  target_compile_options(${target} PRIVATE ${CROSSTENANT_WARNINGS})
  if(CROSSTENANT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# crosstenant_cc_library(NAME <target> SRCS ... DEPS ...)
# A static library whose headers are included from the repository root ("services/common/x.h").
function(crosstenant_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(${ARG_NAME} STATIC ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PUBLIC ${CMAKE_SOURCE_DIR})
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS})
  _crosstenant_warnings(${ARG_NAME})
endfunction()

# crosstenant_cc_binary(NAME <output name> SRCS ... DEPS ...): a thin executable in build/bin.
function(crosstenant_cc_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  _crosstenant_warnings(${ARG_NAME})
endfunction()

# crosstenant_cc_test(NAME <target> SRCS ... DEPS ... [LABELS ...] [TIMEOUT seconds, default 120]
#                     [ENV VAR=value...] [FIXTURES <ctest fixtures required>...])
# A GoogleTest binary; each test case becomes its own ctest entry, with every label, environment entry and
# fixture given. A test that needs the test PostgreSQL server says
# `FIXTURES ${CROSSTENANT_POSTGRES_FIXTURE} ENV ${CROSSTENANT_POSTGRES_ENV}` (tests/postgres.cmake).
function(crosstenant_cc_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS;ENV;FIXTURES" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/tests")
  _crosstenant_warnings(${ARG_NAME})
  gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT ${ARG_TIMEOUT})
  # `cmake --build --preset default --target unit_tests` builds only what `ctest -L unit` runs.
  if("unit" IN_LIST ARG_LABELS)
    if(NOT TARGET unit_tests)
      add_custom_target(unit_tests)
    endif()
    add_dependencies(unit_tests ${ARG_NAME})
  endif()
  # gtest_discover_tests flattens list-valued PROPERTIES (a second label would be read as a property
  # name), so the lists are set by a script ctest reads after the discovered tests, on <target>_TESTS.
  set(lists "")
  foreach(pair "LABELS;ARG_LABELS" "ENVIRONMENT;ARG_ENV" "FIXTURES_REQUIRED;ARG_FIXTURES")
    list(GET pair 0 property)
    list(GET pair 1 variable)
    if(${variable})
      string(APPEND lists " ${property} [==[${${variable}}]==]")
    endif()
  endforeach()
  if(lists)
    set(script "${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}_list_properties.cmake")
    file(WRITE "${script}" "if(${ARG_NAME}_TESTS)\n  set_tests_properties(\${${ARG_NAME}_TESTS} PROPERTIES${lists})\nendif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${script}")
  endif()
endfunction()

# crosstenant_grpc_proto(<target> ROOTS <import roots...> PROTOS <root-relative paths...>)
# Generates C++ message and gRPC code for every listed file into one static library. Files are
# compiled under the same path they are imported by, so that server reflection can resolve them.
function(crosstenant_grpc_proto target)
  cmake_parse_arguments(ARG "" "" "ROOTS;PROTOS" ${ARGN})
  set(gen_dir "${CMAKE_CURRENT_BINARY_DIR}/gen")
  file(MAKE_DIRECTORY "${gen_dir}")
  set(include_flags)
  foreach(root IN LISTS ARG_ROOTS)
    list(APPEND include_flags "--proto_path=${root}")
  endforeach()
  set(srcs)
  foreach(rel IN LISTS ARG_PROTOS)
    set(abs "")
    foreach(root IN LISTS ARG_ROOTS)
      if(NOT abs AND EXISTS "${root}/${rel}")
        set(abs "${root}/${rel}")
      endif()
    endforeach()
    if(NOT abs)
      message(FATAL_ERROR "${rel} is in none of the proto roots: ${ARG_ROOTS}")
    endif()
    string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
    set(out "${gen_dir}/${stem}")
    add_custom_command(
      OUTPUT ${out}.pb.cc ${out}.pb.h ${out}.grpc.pb.cc ${out}.grpc.pb.h
      COMMAND protobuf::protoc ${include_flags}
              --cpp_out=${gen_dir} --grpc_out=${gen_dir}
              --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>
              ${abs}
      DEPENDS ${abs} protobuf::protoc gRPC::grpc_cpp_plugin
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND srcs ${out}.pb.cc ${out}.grpc.pb.cc)
  endforeach()
  add_library(${target} STATIC ${srcs})
  target_include_directories(${target} SYSTEM PUBLIC "${gen_dir}")
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf gRPC::grpc++)
endfunction()
