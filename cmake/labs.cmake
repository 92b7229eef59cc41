# The labs, in order. Each line: the lab's folder and the programs it builds (each from the
# .c file of the same name in that folder), plus what some labs need beyond the basics:
#   SOURCES   more .c files of the lab, linked into every program of the lab
#   LIBS      libraries to link (threads, cJSON, libcrypto)
#   SHORT_IO  CTest also runs all of the lab's tests under the short-I/O shim (labNN-shortio);
#             the graded partial-I/O checks are the tests marked @pytest.mark.short_io
# A lab whose folder does not exist yet is skipped.
find_package(Threads REQUIRED)
socklab_lab(01-tcp-basic PROGRAMS server client)
socklab_lab(02-recv-buffer PROGRAMS server client SHORT_IO)
socklab_lab(03-tcp-echo PROGRAMS server client SHORT_IO)
socklab_lab(04-tcp-iterative PROGRAMS server client)
socklab_lab(05-tcp-threaded PROGRAMS server client LIBS Threads::Threads)
socklab_lab(06-udp-basic PROGRAMS server client)
socklab_lab(07-udp-reliable PROGRAMS server client)
socklab_lab(08-udp-time PROGRAMS server client)
include(cmake/lab09.cmake) # finds cJSON and libcrypto: SOCKLAB_LAB09_LIBS
socklab_lab(09-sticky-packets PROGRAMS server client SOURCES frame.c LIBS ${SOCKLAB_LAB09_LIBS} SHORT_IO)
