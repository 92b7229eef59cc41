# The labs, in order. Each line: the lab's folder and the programs it builds (each from the
# .c file of the same name in that folder), plus what some labs need beyond the basics:
#   SOURCES  more .c files of the lab, linked into every program of the lab
#   LIBS     libraries to link (threads, cJSON, libcrypto)
socklab_lab(01-tcp-basic PROGRAMS server client)
