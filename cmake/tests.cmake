# CTest: each lab's tests against the reference solutions (against labs/ when solutions/ is
# gone), the same under valgrind, and the harness's own tests (skeletons, mutants, harness).
# Labels: lab01 ... lab09, tcp / udp, valgrind, selftest.
# COST: a rough guide to each test's length in seconds, so that `ctest -j2` starts the long
# ones first: a fresh build has no record of earlier runs (Testing/Temporary/CTestCostData.txt)
# and would start them in order, ending on one long test alone.
enable_testing()
socklab_finish()

# The harness runs under Debian's python3, where python3-pytest lives; a python3 earlier on
# PATH (pyenv, a virtualenv) usually lacks pytest.
set(SOCKLAB_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with pytest (Debian's python3)")
set(pytest ${SOCKLAB_PYTHON} -m pytest -q --build-dir ${CMAKE_BINARY_DIR})

if(EXISTS ${CMAKE_SOURCE_DIR}/solutions AND NOT SOCKLAB_SUBMISSION)
  set(reference solutions)
else()
  set(reference labs)
endif()

get_property(labs GLOBAL PROPERTY SOCKLAB_LABS)
foreach(lab IN LISTS labs)
  string(SUBSTRING ${lab} 0 2 number)
  string(REPLACE "-" "_" module ${lab})
  set(module ${CMAKE_SOURCE_DIR}/tests/test_${module}.py)
  if(NOT EXISTS ${module})
    continue()
  endif()
  get_property(kind GLOBAL PROPERTY SOCKLAB_${lab}_KIND)
  get_property(modes GLOBAL PROPERTY SOCKLAB_${lab}_MODES)

  # The modes of labs.txt: plain, valgrind, short-io (every send and recv moves at most 7
  # bytes: partial sends and short reads, on demand). Tests lab01, lab01-valgrind, ...
  set(args_valgrind --valgrind)
  set(args_shortio --short-io 7)
  foreach(mode IN LISTS modes)
    string(REPLACE "-" "" mode ${mode})
    set(name lab${number}-${mode})
    set(labels lab${number} ${kind} ${mode})
    if(mode STREQUAL "plain")
      set(name lab${number})
      set(labels lab${number} ${kind})
    elseif(NOT DEFINED args_${mode})
      message(FATAL_ERROR "labs.txt: ${lab} has a mode CTest does not know: ${mode}")
    endif()
    add_test(NAME ${name} COMMAND ${pytest} ${module} --impl ${reference} ${args_${mode}}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(${name} PROPERTIES LABELS "${labels}" TIMEOUT 300)
  endforeach()
  if(TEST lab${number}-valgrind)
    set_tests_properties(lab${number}-valgrind PROPERTIES TIMEOUT 900)
  endif()
  if(TEST lab${number}-shortio)
    set_tests_properties(lab${number}-shortio PROPERTIES COST 10)
  endif()

  if(reference STREQUAL "solutions")
    add_test(NAME lab${number}-mutants
             COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_mutants.py --lab ${lab}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(lab${number}-mutants PROPERTIES
                         LABELS "lab${number};${kind};selftest" TIMEOUT 600 COST 20)
    list(APPEND skeleton_labels lab${number})
  endif()

  # What a student types: cmake --build build --target check01 (rebuilds, then tests labs/).
  add_custom_target(check${number}
    COMMAND ${pytest} ${module} --impl labs
    DEPENDS labs-${lab} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR} USES_TERMINAL)
endforeach()

if(reference STREQUAL "solutions")
  # Every skeleton fails every check of its lab, fast, naming its TODO step: all the labs in
  # one pytest (one start-up), labelled with every lab.
  add_test(NAME skeletons COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_skeletons.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(skeletons PROPERTIES LABELS "selftest;${skeleton_labels}" TIMEOUT 600
                       COST 30)
  # Every promise of a handout has a check and a mutant (docs/lessons/): reads files only.
  add_test(NAME lessons COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_lessons.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(lessons PROPERTIES LABELS selftest TIMEOUT 60)
  # Points by lesson (harness/weights.py): lab 02's C-string mutant loses the shares of the
  # lessons it breaks, not a point a check; a --weights file changes a lesson's points, and a
  # bad one gets one line and exit status 2. About 60 s.
  add_test(NAME weights COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_weights.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(weights PROPERTIES LABELS "selftest;grading;lab02" TIMEOUT 600 COST 60)
  # Valid implementations that choose differently (tests/variants/) keep full marks.
  add_test(NAME variants COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_variants.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(variants PROPERTIES LABELS selftest TIMEOUT 1800 COST 15)
  # Student-style trees (tests/students/): whole programs written from the handouts, one
  # mistake each, graded as `grade --impl TREE` grades them: each loses points with the hint
  # its EXPECT names; the controls and the references keep full marks. About 3 min at -j2.
  add_test(NAME students COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_students.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(students PROPERTIES LABELS "selftest;grading" TIMEOUT 1800 COST 180
                       PROCESSORS 2) # two gradings at a time: ctest -j2 runs nothing beside it
  # The same program gets the same grade every time: mutants that end too soon (labs 01, 03,
  # 04, 05), graded 5 times each, two at a time, and two identical submissions graded by
  # `batch`; every check's verdict must be the same in every run. About 95 s at -j2.
  add_test(NAME steady COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_steady.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(steady PROPERTIES LABELS selftest TIMEOUT 600 COST 95)
endif()

if(reference STREQUAL "solutions")
  # Every transcript of the walkthroughs and every example of the handouts, run again and
  # compared with what the programs print now (harness/doccheck.py): one test per file.
  file(GLOB docs RELATIVE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/docs/0*.md
       ${CMAKE_SOURCE_DIR}/labs/*/README.md)
  foreach(doc IN LISTS docs)
    if(doc MATCHES "^labs/([^/]+)/")
      set(name handout-${CMAKE_MATCH_1})
    else()
      get_filename_component(name ${doc} NAME_WE)
      set(name docs-${name})
    endif()
    add_test(NAME ${name}
             COMMAND ${SOCKLAB_PYTHON} -m harness.doccheck --build-dir ${CMAKE_BINARY_DIR} ${doc}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(${name} PROPERTIES LABELS docs TIMEOUT 120)
  endforeach()
endif()

# Nothing built or graded: every lab of labs.txt has all its files and nothing of a lab is
# without its line; the docs' option tables and module lists say what the code has; the
# command line takes options anywhere and answers a wrong argument in one line; every module
# keeps within the oldest Python and pytest the README names.
foreach(name labs-complete docs-agree command-line portability)
  string(REPLACE "-" "_" module ${name})
  add_test(NAME ${name} COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_${module}.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES LABELS selftest TIMEOUT 60)
endforeach()

# Every C file of the course keeps the layout .clang-format describes (`clang-format -i FILE`
# puts one right), so that a diff shows what changed, never how it was laid out.
find_program(CLANG_FORMAT clang-format)
if(CLANG_FORMAT)
  file(GLOB_RECURSE c_files RELATIVE ${CMAKE_SOURCE_DIR} CONFIGURE_DEPENDS
       ${CMAKE_SOURCE_DIR}/common/*.[ch] ${CMAKE_SOURCE_DIR}/labs/*.[ch]
       ${CMAKE_SOURCE_DIR}/solutions/*.[ch] ${CMAKE_SOURCE_DIR}/harness/*.[ch]
       ${CMAKE_SOURCE_DIR}/tests/*.[ch] ${CMAKE_SOURCE_DIR}/bench/*.[ch])
  add_test(NAME format COMMAND ${CLANG_FORMAT} --dry-run -Werror ${c_files}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(format PROPERTIES LABELS selftest TIMEOUT 60)
endif()

add_test(NAME harness COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_harness.py
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(harness PROPERTIES LABELS selftest TIMEOUT 300)
if(EXISTS ${CMAKE_SOURCE_DIR}/solutions/01-tcp-basic AND NOT SOCKLAB_SUBMISSION)
  # Batch grading of submissions made from lab 01, packages, reports (docs/instructors.md).
  add_test(NAME grading COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_grading.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(grading PROPERTIES LABELS "selftest;grading" TIMEOUT 900 COST 50)
  # A corpus of hostile submissions against the sandbox (tests/selftest/hostile/).
  add_test(NAME sandbox COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_sandbox.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(sandbox PROPERTIES LABELS "selftest;grading;sandbox" TIMEOUT 900
                       COST 100)
  # The conversation (trace) in a failure story, the HTML report, the platforms' results.
  add_test(NAME reports COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_reports.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(reports PROPERTIES LABELS "selftest;grading" TIMEOUT 300 COST 15)
  # Each platform's results against the platform's own contract (tests/contracts/).
  add_test(NAME reports-contracts
           COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/selftest/test_contracts.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(reports-contracts PROPERTIES LABELS "selftest;grading" TIMEOUT 600
                       COST 20)
endif()

# Journeys (tests/journeys/, docs/harness.md "Journeys"): a user's path from a fresh `git
# clone` of this repository's HEAD, nothing built, with the commands the README and
# docs/instructors.md give. Each works in a temporary folder of its own, with ports the system
# picks, so they run beside the rest of the suite and beside another whole suite. They need
# the git repository and solutions/ (a hand-out has neither). `ctest -L journeys` runs them.
# COST: the full builds (selfstudy, outoftree) first.
if(EXISTS ${CMAKE_SOURCE_DIR}/.git AND EXISTS ${CMAKE_SOURCE_DIR}/solutions/01-tcp-basic
   AND NOT SOCKLAB_SUBMISSION)
  foreach(journey selfstudy:240 outoftree:240 student:150 classroom:150 instructor:120
                  gradescope:40 prairielearn:40)
    string(REPLACE ":" ";" journey ${journey})
    list(GET journey 0 name)
    list(GET journey 1 cost)
    if(NOT EXISTS ${CMAKE_SOURCE_DIR}/tests/journeys/test_${name}.py)
      continue()
    endif()
    add_test(NAME journey-${name}
             COMMAND ${pytest} ${CMAKE_SOURCE_DIR}/tests/journeys/test_${name}.py
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(journey-${name} PROPERTIES LABELS journeys TIMEOUT 900 COST ${cost})
  endforeach()
endif()

# The configured build folder flows to every test: each pytest gets --build-dir above, and
# whatever a test starts on its own (python3 -m grader ..., ./socklab ...) finds this build
# through $SOCKLAB_BUILD_DIR, never by assuming ./build.
get_property(socklab_tests DIRECTORY PROPERTY TESTS)
set_tests_properties(${socklab_tests} PROPERTIES ENVIRONMENT "SOCKLAB_BUILD_DIR=${CMAKE_BINARY_DIR}")
