# socklab_lab(): registers a lab; socklab_finish() then builds every implementation of it.
#
# An implementation ("impl") is a tree of lab folders: labs/ (the skeletons), solutions/ (the
# references), each mutant, or a student's submission. Every program goes to
# build/IMPL/LAB/PROGRAM, and build/socklab-programs.json tells the harness where each is, so
# that it never guesses a path.

add_library(socklab_common STATIC common/cli.c common/addr.c common/stop.c)
target_include_directories(socklab_common PUBLIC common)
target_compile_options(socklab_common PRIVATE ${SOCKLAB_WARNINGS} ${SOCKLAB_HARDENING})

# The harness's preloaded libraries (harness/shim/): the short-I/O shim, LD_PRELOADed by
# --short-io SPEC and by the partial-I/O checks (@pytest.mark.short_io), and the tracer, which
# records every socket call of a program under test for the failure stories.
foreach(shim shortio trace)
  add_library(socklab_${shim} SHARED harness/shim/${shim}.c)
  target_compile_options(socklab_${shim} PRIVATE ${SOCKLAB_WARNINGS} -Wno-missing-prototypes)
  target_link_libraries(socklab_${shim} PRIVATE ${CMAKE_DL_LIBS})
  if(SOCKLAB_SANITIZE) # a preloaded library cannot come before the sanitizer runtime
    target_compile_options(socklab_${shim} PRIVATE -fno-sanitize=all)
    target_link_options(socklab_${shim} PRIVATE -fno-sanitize=all)
  endif()
endforeach()

# Everything the grader needs from the course's own build before it grades anything, a
# student's tree in its sandbox above all (the room preloads the shim and the tracer into
# every program): the grader builds this target itself (harness/programs.py, prepare()).
add_custom_target(socklab_grader)
add_dependencies(socklab_grader socklab_common socklab_shortio socklab_trace)


# One line of labs.txt (cmake/labs.cmake reads them): KIND tcp|udp, the PROGRAMS, more
# SOURCES linked into each, the LIBS (CMake targets), the MODES CTest runs its tests in.
function(socklab_lab lab)
  cmake_parse_arguments(PARSE_ARGV 1 L "" "KIND" "PROGRAMS;SOURCES;LIBS;MODES")
  set_property(GLOBAL APPEND PROPERTY SOCKLAB_LABS ${lab})
  foreach(key KIND PROGRAMS SOURCES LIBS MODES)
    set_property(GLOBAL PROPERTY SOCKLAB_${lab}_${key} ${L_${key}})
  endforeach()
endfunction()

# Builds the programs of one lab from DIR as implementation IMPL. Programs named after
# REUSE are not built again: the implementation takes the solution's (used by mutants, whose
# patch leaves those programs' sources as they are).
function(socklab_build_lab impl lab dir)
  cmake_parse_arguments(PARSE_ARGV 3 B "" "" "REUSE")
  if(impl STREQUAL "solutions" OR impl MATCHES "^(mutant|variant)/")
    set(warnings ${SOCKLAB_WARNINGS})
  else()
    set(warnings ${SOCKLAB_SKELETON_WARNINGS})
  endif()
  get_property(programs GLOBAL PROPERTY SOCKLAB_${lab}_PROGRAMS)
  get_property(sources GLOBAL PROPERTY SOCKLAB_${lab}_SOURCES)
  get_property(libs GLOBAL PROPERTY SOCKLAB_${lab}_LIBS)
  string(MAKE_C_IDENTIFIER "${impl}" id)
  set(lab_target ${id}-${lab})
  add_custom_target(${lab_target})
  # The shims come with every lab's build: the checks run a lab's programs under them. (Not
  # with a submission's: its grader brings its own, built from the course, not from the tree.)
  if(NOT SOCKLAB_SUBMISSION)
    add_dependencies(${lab_target} socklab_shortio socklab_trace)
  endif()
  set(entries "")
  foreach(prog IN LISTS programs)
    if(prog IN_LIST B_REUSE)
      set(reused solutions-${lab}-${prog})
      add_dependencies(${lab_target} ${reused})
      list(APPEND entries "\"${prog}\": \"$<TARGET_FILE:${reused}>\"")
      continue()
    endif()
    set(extra "")
    foreach(src IN LISTS sources)
      list(APPEND extra ${dir}/${src})
    endforeach()
    set(target ${lab_target}-${prog})
    set(main ${dir}/${prog}.c)
    if(NOT EXISTS ${main})
      # A file missing from a (student's) tree fails this lab's build, with a clear message,
      # instead of the configuration of every lab.
      set(main ${CMAKE_BINARY_DIR}/missing/${lab_target}-${prog}.c)
      file(WRITE ${main} "#error \"${dir}/${prog}.c is missing\"\n")
      set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${dir}) # until it comes
    endif()
    set(extra_sources "") # not `sources`: that is the lab's list, read again for each program
    foreach(src IN LISTS extra)
      if(NOT EXISTS ${src})
        set(src ${CMAKE_BINARY_DIR}/missing/${lab_target}-${prog}-extra.c)
        file(WRITE ${src} "#error \"a source file of ${lab} is missing from ${dir}\"\n")
      endif()
      list(APPEND extra_sources ${src})
    endforeach()
    add_executable(${target} ${main} ${extra_sources})
    target_link_libraries(${target} PRIVATE socklab_common ${libs})
    target_compile_options(${target} PRIVATE ${warnings} ${SOCKLAB_HARDENING})
    set_target_properties(${target} PROPERTIES
      OUTPUT_NAME ${prog}
      RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/${impl}/${lab})
    add_dependencies(${lab_target} ${target})
    list(APPEND entries "\"${prog}\": \"$<TARGET_FILE:${target}>\"")
  endforeach()
  list(JOIN entries ", " entries)
  set_property(GLOBAL APPEND PROPERTY SOCKLAB_MANIFEST
      "{\"impl\": \"${impl}\", \"lab\": \"${lab}\", \"source\": \"${dir}\", \"target\": \"${lab_target}\", \"programs\": {${entries}}}")
endfunction()

# Builds every registered lab found in TREE as implementation IMPL. A lab missing from the
# tree comes from FALLBACK, if given (a submission with only the labs a student changed).
function(socklab_build_tree impl tree)
  set(fallback "${ARGN}")
  get_property(labs GLOBAL PROPERTY SOCKLAB_LABS)
  foreach(lab IN LISTS labs)
    if(EXISTS ${tree}/${lab})
      socklab_build_lab(${impl} ${lab} ${tree}/${lab})
    elseif(fallback AND EXISTS ${fallback}/${lab})
      socklab_build_lab(${impl} ${lab} ${fallback}/${lab})
    endif()
  endforeach()
endfunction()

# Mutants: tests/mutants/LAB/NAME.patch is a mistake applied to a copy of solutions/LAB, built
# as mutant/LAB/NAME. Variants (KIND variant): tests/variants/LAB/NAME.patch is another valid
# choice, built as variant/LAB/NAME, that must keep full marks.
function(socklab_build_mutants)
  set(kind mutant)
  if(ARGV0)
    set(kind ${ARGV0})
  endif()
  set(folder ${CMAKE_SOURCE_DIR}/tests/${kind}s)
  file(GLOB patches RELATIVE ${folder} ${folder}/*/*.patch)
  find_program(PATCH patch REQUIRED)
  get_property(labs GLOBAL PROPERTY SOCKLAB_LABS)
  foreach(rel IN LISTS patches)
    get_filename_component(lab ${rel} DIRECTORY)
    get_filename_component(name ${rel} NAME_WE)
    if(NOT lab IN_LIST labs OR NOT EXISTS ${CMAKE_SOURCE_DIR}/solutions/${lab})
      continue()
    endif()
    set(dir ${CMAKE_BINARY_DIR}/${kind}-sources/${lab}/${name})
    # Re-made whenever the solution or the patch changes (configure depends on both).
    file(REMOVE_RECURSE ${dir})
    # Copy files, never links: patching through a symlinked folder would break the solution.
    file(REAL_PATH ${CMAKE_SOURCE_DIR}/solutions/${lab} solution_dir)
    file(GLOB solution_sources ${solution_dir}/*)
    file(COPY ${solution_sources} DESTINATION ${dir} FOLLOW_SYMLINK_CHAIN)
    execute_process(COMMAND ${PATCH} -s -p1 -d ${dir} -i ${folder}/${rel}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    file(GLOB solution_files ${CMAKE_SOURCE_DIR}/solutions/${lab}/*)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
                 ${folder}/${rel} ${solution_files})
    if(NOT rc EQUAL 0)
      # Not fatal: the labs still build; the mutant self-test reports the stale patch.
      message(WARNING "${kind} ${rel} no longer applies to solutions/${lab}:\n${out}")
      continue()
    endif()
    # The programs whose sources the patch does not touch are the solution's, already built.
    file(STRINGS ${folder}/${rel} touched REGEX "^\\+\\+\\+ b/")
    list(TRANSFORM touched REPLACE "^\\+\\+\\+ b/([^\t ]+).*$" "\\1")
    get_property(programs GLOBAL PROPERTY SOCKLAB_${lab}_PROGRAMS)
    get_property(sources GLOBAL PROPERTY SOCKLAB_${lab}_SOURCES)
    set(shared_touched OFF)
    foreach(src IN LISTS sources)
      if(src IN_LIST touched)
        set(shared_touched ON)
      endif()
    endforeach()
    set(reuse "")
    foreach(prog IN LISTS programs)
      if(NOT shared_touched AND NOT "${prog}.c" IN_LIST touched)
        list(APPEND reuse ${prog})
      endif()
    endforeach()
    socklab_build_lab(${kind}/${lab}/${name} ${lab} ${dir} REUSE ${reuse})
    # A short, stable path for each of the mutant's programs, the ones it changes and the ones
    # it takes from the solution alike: build/mutant/LAB/NAME/PROGRAM (the walkthroughs run them).
    foreach(prog IN LISTS programs)
      if(prog IN_LIST reuse)
        set(real ../../../solutions/${lab}/${prog})
      else()
        set(real ${lab}/${prog})
      endif()
      file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/${kind}/${lab}/${name})
      file(CREATE_LINK ${real} ${CMAKE_BINARY_DIR}/${kind}/${lab}/${name}/${prog} SYMBOLIC)
    endforeach()
  endforeach()
endfunction()

function(socklab_finish)
  if(SOCKLAB_SUBMISSION)
    get_filename_component(tree ${SOCKLAB_SUBMISSION} ABSOLUTE)
    socklab_build_tree(submission ${tree} ${CMAKE_SOURCE_DIR}/labs)
  else()
    socklab_build_tree(labs ${CMAKE_SOURCE_DIR}/labs)
    if(EXISTS ${CMAKE_SOURCE_DIR}/solutions)
      socklab_build_tree(solutions ${CMAKE_SOURCE_DIR}/solutions)
      socklab_build_mutants()
      socklab_build_mutants(variant)
    endif()
  endif()
  get_property(manifest GLOBAL PROPERTY SOCKLAB_MANIFEST)
  list(JOIN manifest ",\n  " body)
  file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/socklab-programs.json
       CONTENT "{\"source_dir\": \"${CMAKE_SOURCE_DIR}\",
 \"shortio\": \"$<TARGET_FILE:socklab_shortio>\",
 \"trace\": \"$<TARGET_FILE:socklab_trace>\",
 \"builds\": [\n  ${body}\n]}\n")
endfunction()
