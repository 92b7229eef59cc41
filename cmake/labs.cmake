# Registers every lab of labs.txt (the registry: one line per lab) with socklab_lab().
# A lab whose folder does not exist yet is skipped when the trees are built.
include(cmake/libraries.cmake)

set(registry ${CMAKE_SOURCE_DIR}/labs.txt)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${registry})
file(STRINGS ${registry} lines REGEX "^[^# ]")
foreach(line IN LISTS lines)
  string(REGEX REPLACE "[ \t]+" ";" fields "${line}")
  list(LENGTH fields count)
  if(NOT count EQUAL 6)
    message(FATAL_ERROR "labs.txt: a line needs 6 columns (lab kind programs sources libraries "
                        "modes; - for none), this one has ${count}: ${line}")
  endif()
  set(columns lab kind programs sources library_names modes)
  foreach(i RANGE 5)
    list(GET fields ${i} value)
    list(GET columns ${i} column)
    string(REPLACE "," ";" value "${value}") # several values: a CMake list
    if(value STREQUAL "-")
      set(value "")
    endif()
    set(${column} "${value}")
  endforeach()
  set(libs "")
  foreach(name IN ITEMS ${library_names})
    socklab_library(${name} target)
    list(APPEND libs ${target})
  endforeach()
  socklab_lab(${lab} KIND ${kind} PROGRAMS ${programs} SOURCES ${sources} LIBS ${libs}
              MODES ${modes})
endforeach()
