#!/bin/sh
# A slow sender for docs/02-recv-buffer.md: "Hello, ", then, a second later, "world" and a
# newline. socat runs it for each client, with the connection as its stdin and stdout.
printf 'Hello, '
sleep 1
printf 'world\n'
