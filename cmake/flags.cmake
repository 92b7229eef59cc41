# Compiler settings for every lab program: C11 + POSIX, and warnings that are errors.
set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)

add_compile_definitions(_POSIX_C_SOURCE=200809L)
set(SOCKLAB_WARNINGS
    -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wcast-qual -Wwrite-strings -Wvla)

# A skeleton is unfinished by design: its helpers wait to be called and its stubs ignore their
# parameters. Those two warnings alone are relaxed for skeletons and submissions.
set(SOCKLAB_SKELETON_WARNINGS ${SOCKLAB_WARNINGS} -Wno-unused-function -Wno-unused-parameter)

option(SOCKLAB_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
if(SOCKLAB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
