"""`python3 -m harness.doccheck`: the transcripts' checker (grader/doccheck.py), under the
name CTest's docs tests and the walkthroughs have always used."""
import sys

if __name__ == "__main__":
    from grader.doccheck import main
    sys.exit(main())
