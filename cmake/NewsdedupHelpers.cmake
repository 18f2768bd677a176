# Helpers shaped like Abseil's absl_cc_library / absl_cc_test: one library
# target per component with explicit dependencies, one test binary per library.

include(CMakeParseArguments)

# newsdedup_cc_library(NAME foo SRCS a.cc HDRS a.h DEPS bar)
# Creates target newsdedup_foo (alias newsdedup::foo).
function(newsdedup_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;HDRS;DEPS;DEFINES" ${ARGN})
  set(target newsdedup_${ARG_NAME})
  if(ARG_SRCS)
    add_library(${target} STATIC ${ARG_SRCS} ${ARG_HDRS})
    target_link_libraries(${target} PUBLIC ${ARG_DEPS})
    target_compile_definitions(${target} PUBLIC ${ARG_DEFINES})
  else()
    add_library(${target} INTERFACE)
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
  endif()
  add_library(newsdedup::${ARG_NAME} ALIAS ${target})
endfunction()

# newsdedup_cc_test(NAME foo_test SRCS foo_test.cc DEPS newsdedup::foo)
# Builds one GoogleTest binary and registers each case with ctest.
function(newsdedup_cc_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SRCS;DEPS;DEFINES" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main
                        newsdedup_openssl_no_atexit)
  target_compile_definitions(${ARG_NAME} PRIVATE ${ARG_DEFINES})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  gtest_discover_tests(${ARG_NAME} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
                       DISCOVERY_TIMEOUT 60)
endfunction()
