# Compiler settings for every lab program: C11 + POSIX, and warnings that are errors.
set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)

add_compile_definitions(_POSIX_C_SOURCE=200809L)
# Each handout's "Build and test" section and the README's "Compiler flags" say why each one.
# Not -Wcast-qual: it rejects valid socket code, such as a const payload put in the
# iov_base of a struct iovec for sendmsg() (iov_base is not const, yet sendmsg() only reads).
set(SOCKLAB_WARNINGS
    -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wwrite-strings -Wvla)

# A skeleton is unfinished by design: its helpers wait to be called and its stubs ignore their
# parameters. Those two warnings alone are relaxed for skeletons and submissions.
set(SOCKLAB_SKELETON_WARNINGS ${SOCKLAB_WARNINGS} -Wno-unused-function -Wno-unused-parameter)

# Hardening for every lab program (not the harness's shim, which defines recv() and read()
# itself): _FORTIFY_SOURCE=3 makes memcpy(), snprintf(), read(), recv()... check the size of
# the buffer they write to whenever the compiler can work it out, and abort the program with
# "*** buffer overflow detected ***" instead of letting it write past the end; the stack
# protector checks a guard value before a function returns. Correct programs never notice.
# Fortify needs optimisation (glibc warns without it, and warnings are errors), so it is left
# out of Debug builds, which are the sanitizer's (SOCKLAB_SANITIZE).
set(SOCKLAB_OPTIMISED "$<CONFIG:Release,RelWithDebInfo,MinSizeRel>")
set(SOCKLAB_HARDENING -fstack-protector-strong
    "$<${SOCKLAB_OPTIMISED}:-U_FORTIFY_SOURCE>" "$<${SOCKLAB_OPTIMISED}:-D_FORTIFY_SOURCE=3>")

option(SOCKLAB_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
if(SOCKLAB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  set(SOCKLAB_HARDENING "") # the sanitizers check more, and fortify would hide it from them
endif()
