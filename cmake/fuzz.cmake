# The fuzz test of lab 09's decoding (tests/fuzz/): a libFuzzer target, built with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, around solutions/09-sticky-packets/frame.c,
# run for a bounded time on a seed corpus by CTest (label "fuzz"):
#   lab09-fuzz-build   builds the target (a CTest fixture, so `ctest` alone is enough)
#   lab09-fuzz         runs it for SOCKLAB_FUZZ_SECONDS; any crash or report fails it
# Skipped without solutions/ (a handed-out course), without clang, or without libFuzzer's
# runtime (Debian: clang, libclang-rt-14-dev; scripts/setup installs them).
set(SOCKLAB_FUZZ_SECONDS 20 CACHE STRING "How long the lab 09 fuzz test runs, in seconds")

set(fuzz_lab ${CMAKE_SOURCE_DIR}/solutions/09-sticky-packets)
find_program(SOCKLAB_CLANG NAMES clang clang-14)
if(SOCKLAB_SUBMISSION OR NOT EXISTS ${fuzz_lab}/frame.c OR NOT SOCKLAB_CLANG
   OR NOT SOCKLAB_CJSON_LIBRARY)
  return()
endif()

# Can this clang link a fuzzer with both sanitizers? (The runtime is a separate package.)
set(fuzz_probe ${CMAKE_BINARY_DIR}/fuzz/probe.c)
file(WRITE ${fuzz_probe} "#include <stddef.h>\n#include <stdint.h>\n"
     "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\n"
     "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
execute_process(COMMAND ${SOCKLAB_CLANG} -fsanitize=fuzzer,address,undefined ${fuzz_probe}
                        -o ${CMAKE_BINARY_DIR}/fuzz/probe
                RESULT_VARIABLE fuzz_probe_rc OUTPUT_QUIET ERROR_QUIET)
if(NOT fuzz_probe_rc EQUAL 0)
  message(STATUS "lab 09 fuzz test skipped: ${SOCKLAB_CLANG} cannot build a libFuzzer target "
                 "(Debian: apt-get install libclang-rt-14-dev)")
  return()
endif()

set(fuzz_sources ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_frame.c ${fuzz_lab}/frame.c
    ${CMAKE_SOURCE_DIR}/common/stop.c ${CMAKE_SOURCE_DIR}/common/cli.c)
set(fuzz_binary ${CMAKE_BINARY_DIR}/fuzz/fuzz_frame)
add_custom_command(
  OUTPUT ${fuzz_binary}
  COMMAND ${SOCKLAB_CLANG} -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1
          -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
          -Wall -Wextra -Werror -I${CMAKE_SOURCE_DIR}/common -I${fuzz_lab}
          -I${SOCKLAB_CJSON_INCLUDE_DIR} ${fuzz_sources} ${SOCKLAB_CJSON_LIBRARY}
          -o ${fuzz_binary}
  DEPENDS ${fuzz_sources} ${fuzz_lab}/frame.h ${CMAKE_SOURCE_DIR}/common/socklab.h
  COMMENT "Building the lab 09 fuzz target with clang, ASan and UBSan"
  VERBATIM)
add_custom_target(fuzz09 DEPENDS ${fuzz_binary})

add_test(NAME lab09-fuzz-build
         COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target fuzz09)
add_test(NAME lab09-fuzz
         COMMAND sh ${CMAKE_SOURCE_DIR}/tests/fuzz/run.sh ${fuzz_binary}
                 ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus ${SOCKLAB_FUZZ_SECONDS})
set_tests_properties(lab09-fuzz-build PROPERTIES LABELS "lab09;fuzz" TIMEOUT 300
                     FIXTURES_SETUP lab09-fuzz-binary COST ${SOCKLAB_FUZZ_SECONDS})
set_tests_properties(lab09-fuzz PROPERTIES LABELS "lab09;fuzz" TIMEOUT 180
                     FIXTURES_REQUIRED lab09-fuzz-binary COST ${SOCKLAB_FUZZ_SECONDS})
