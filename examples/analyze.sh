#!/bin/sh
# A command stage (docs/protocol.md): one JSON object on stdin, one JSON value on
# stdout, exit 0. It runs in the folder of the spec that names it.
input=$(cat)
run=$(printf '%s' "$input" | sed -n 's/.*"run":\([0-9]*\).*/\1/p')
echo "analyzing run ${run:-?}" >&2
printf '{"design": "split the idea into three slices", "run": %s}\n' "${run:-null}"
