#!/usr/bin/env python3
"""A newcomer's walk-through: every shell block of README.md, top to bottom,
each command pasted as written, from the repository root, in one shell.

What cannot run here is skipped by pattern, each with its reason (printed):
the two top-level commands (CI runs them), commands that run until Ctrl-C
or need a NATS cluster, and one that needs the server stopped, which runs
after the walk-through stops it. A command that fails fails the test,
naming the README line. Servers the walk-through starts are stopped at
the end, whatever happens.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

ROOT = os.environ["SOURCE_DIR"]

# (pattern, why it is not pasted here)
SKIPPED = [
    (r"^scripts/demo\.sh$", "the README's first command: CI's demo job"),
    (r"^scripts/test\.sh$", "the README's second command: this suite"),
    (r"^scripts/replicated\.sh$", "runs until Ctrl-C"),
    (r"^scripts/failover-check\.sh$", "failover_check is its own test"),
    (r"admin delete-log-entry", "needs a NATS cluster on 127.0.0.1:4222"),
]
# Commands that need the quick-start server stopped: run after it is.
AFTER_STOP = [r"admin compact"]


def readme_commands():
    """(line number, command) of every shell block, continuation lines
    joined, comments and blank lines dropped."""
    commands, block, pending, start = [], False, "", 0
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("```"):
                block = line.strip() == "```sh" and not block
                continue
            if not block:
                continue
            if not pending:
                start = number
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            command = (pending + line).strip()
            pending = ""
            if command and not command.startswith("#"):
                commands.append((start, command))
    return commands


class ReadmeWalkthroughTest(unittest.TestCase):
    def test_every_command_runs_as_written(self):
        # The README's server listens on 127.0.0.1:50051. Taken already (a
        # walk-through run beside this one), its commands would reach that
        # other server and fail far from the cause.
        import socket
        with socket.socket() as probe:
            taken = probe.connect_ex(("127.0.0.1", 50051)) == 0
        self.assertFalse(taken, "127.0.0.1:50051 is in use: stop what listens "
                         "there (the README's server) and run this again")
        script = ["set -euo pipefail",
                  # Background servers stop when the walk-through ends.
                  "trap 'rc=$?; set +e; kill $(jobs -p) 2>/dev/null; wait; "
                  "exit $rc' EXIT",
                  "rm -rf /tmp/newsdedup-data /tmp/newsdedup-backups "
                  "/tmp/restored-data /tmp/newsdedup-tls /tmp/newsdedup-venv"]
        later = []
        for number, command in readme_commands():
            reason = next((why for pattern, why in SKIPPED
                           if re.search(pattern, command)), None)
            if reason:
                print(f"README.md:{number}: skipped ({reason}): {command}")
                continue
            step = [f"echo '>>> README.md:{number}' >&2", command]
            # A server started in the background gets a moment to listen.
            if command.endswith("&"):
                step.append("sleep 2")
            if any(re.search(p, command) for p in AFTER_STOP):
                later.extend(step)
            else:
                script.extend(step)
        script.append("for job in $(jobs -p); do kill $job; done; wait || true")
        script.extend(later)
        with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
            f.write("\n".join(script) + "\n")
            f.flush()
            run = subprocess.run(["bash", f.name], cwd=ROOT, text=True,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=900)
        failed_at = re.findall(r">>> (README\.md:\d+)", run.stdout)
        self.assertEqual(
            run.returncode, 0,
            f"stopped at {failed_at[-1] if failed_at else '?'}:\n"
            + run.stdout[-3000:])


if __name__ == "__main__":
    unittest.main()
