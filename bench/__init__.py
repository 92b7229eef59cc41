"""socklab's benchmarks: what the labs teach, measured on loopback (./socklab bench).

  buffers      lab 02: one stream received with recv buffers from 1 B to 1 MiB
  framing      lab 09: an upload through the reference protocol against socat and iperf3;
               many small framed messages against one large one
  concurrency  labs 04 and 05: conversations per second and the slowest client's wait, for
               1 to 64 clients at once, iterative against threaded

Each figure is the median of several runs; ratios are taken within the same run. Results go
to build/bench/results.json and the plots (SVG, by gnuplot) beside it; --docs copies the plots
to docs/img/ for the walkthroughs.
"""
