# Lab 09 (sticky packets) uses two well-kept libraries for what is not its lesson: cJSON for
# the upload header and OpenSSL's libcrypto for SHA-256. scripts/setup installs both
# (Debian: libcjson-dev, libssl-dev). This file finds them and sets SOCKLAB_LAB09_LIBS.
find_path(SOCKLAB_CJSON_INCLUDE_DIR cjson/cJSON.h)
find_library(SOCKLAB_CJSON_LIBRARY NAMES cjson)
find_package(OpenSSL COMPONENTS Crypto)

if(NOT SOCKLAB_CJSON_INCLUDE_DIR OR NOT SOCKLAB_CJSON_LIBRARY OR NOT OpenSSL_FOUND)
  message(FATAL_ERROR "lab 09 needs cJSON and OpenSSL's libcrypto, with their headers "
                      "(Debian: apt-get install libcjson-dev libssl-dev; scripts/setup does it)")
endif()

if(NOT TARGET socklab::cjson)
  add_library(socklab::cjson UNKNOWN IMPORTED)
  set_target_properties(socklab::cjson PROPERTIES
    IMPORTED_LOCATION "${SOCKLAB_CJSON_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SOCKLAB_CJSON_INCLUDE_DIR}")
endif()
set(SOCKLAB_LAB09_LIBS socklab::cjson OpenSSL::Crypto)
