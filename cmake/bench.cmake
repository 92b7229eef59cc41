# What ./socklab bench needs besides the lab programs: sha256-speed, one core's SHA-256 rate
# through libcrypto's EVP calls (as lab 09 hashes), the bound the framing bench compares the
# upload with. Not built for a submission.
if(NOT SOCKLAB_SUBMISSION AND TARGET OpenSSL::Crypto)
  add_executable(sha256-speed bench/sha256_speed.c)
  target_compile_options(sha256-speed PRIVATE ${SOCKLAB_WARNINGS})
  target_link_libraries(sha256-speed PRIVATE OpenSSL::Crypto)
  set_target_properties(sha256-speed PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tools)
endif()
