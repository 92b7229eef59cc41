"""`python3 -m harness ...`: the grader's command line (grader/__main__.py), under the name
instructors' scripts and the Gradescope zip have always used."""
import sys

from grader.__main__ import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
