# The libraries a lab may name in labs.txt's "libraries" column, each found only when a lab
# names it. Labs use well-kept libraries for what is not their lesson (lab 09: cJSON for its
# JSON headers, OpenSSL's libcrypto for SHA-256); scripts/setup installs them all.
#   threads    POSIX threads
#   cjson      cJSON (Debian: libcjson-dev)
#   libcrypto  OpenSSL's libcrypto (Debian: libssl-dev)

# Sets OUT to the CMake target that links library NAME, finding it first.
function(socklab_library name out)
  if(name STREQUAL "threads")
    find_package(Threads REQUIRED)
    set(${out} Threads::Threads PARENT_SCOPE)
  elseif(name STREQUAL "cjson")
    if(NOT TARGET socklab::cjson)
      find_path(SOCKLAB_CJSON_INCLUDE_DIR cjson/cJSON.h)
      find_library(SOCKLAB_CJSON_LIBRARY NAMES cjson)
      if(NOT SOCKLAB_CJSON_INCLUDE_DIR OR NOT SOCKLAB_CJSON_LIBRARY)
        message(FATAL_ERROR "a lab needs cJSON, with its headers "
                            "(Debian: apt-get install libcjson-dev; scripts/setup does it)")
      endif()
      add_library(socklab::cjson UNKNOWN IMPORTED GLOBAL)
      set_target_properties(socklab::cjson PROPERTIES
        IMPORTED_LOCATION "${SOCKLAB_CJSON_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${SOCKLAB_CJSON_INCLUDE_DIR}")
    endif()
    set(${out} socklab::cjson PARENT_SCOPE)
  elseif(name STREQUAL "libcrypto")
    find_package(OpenSSL COMPONENTS Crypto)
    if(NOT OpenSSL_FOUND)
      message(FATAL_ERROR "a lab needs OpenSSL's libcrypto, with its headers "
                          "(Debian: apt-get install libssl-dev; scripts/setup does it)")
    endif()
    set(${out} OpenSSL::Crypto PARENT_SCOPE)
  else()
    message(FATAL_ERROR "labs.txt names a library cmake/libraries.cmake does not know: ${name}")
  endif()
endfunction()
