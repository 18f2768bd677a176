#!/usr/bin/python3
"""Ctrl-C of scripts/replicated.sh (tools/replicated_cluster.py): the
terminal sends SIGINT to the whole process group, NATS servers and replicas
included, and everything must be gone within seconds (it took ~15 s, the
replicas killed at the end, issue 37).

Run by ctest with NEWSDEDUP_CLI and PYTHONPATH (build/python) set."""
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ReplicatedClusterTest(unittest.TestCase):
    def test_ctrl_c_stops_everything_within_seconds(self):
        with tempfile.TemporaryFile("w+") as out:
            # A session of its own: SIGINT to its group is what a terminal's
            # Ctrl-C does, and it reaches no other process.
            proc = subprocess.Popen(
                [sys.executable,
                 os.path.join(SOURCE_DIR, "tools", "replicated_cluster.py"),
                 "--newsdedup", os.environ["NEWSDEDUP_CLI"]],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                for _ in range(1200):  # two minutes
                    out.seek(0)
                    if "Ctrl-C stops everything" in out.read():
                        break
                    self.assertIsNone(proc.poll(), "the cluster did not start")
                    time.sleep(0.1)
                else:
                    out.seek(0)
                    self.fail("the cluster did not start in two minutes:\n"
                              + out.read())
                children = subprocess.run(
                    ["pgrep", "-g", str(proc.pid)], capture_output=True,
                    text=True).stdout.split()
                self.assertGreaterEqual(len(children), 7)  # 3 NATS, 3 replicas
                started = time.monotonic()
                os.killpg(proc.pid, signal.SIGINT)
                self.assertEqual(proc.wait(timeout=60), 0)
                elapsed = time.monotonic() - started
                out.seek(0)
                log = out.read()
                self.assertLess(elapsed, 8, log)
                self.assertIn("stopped in", log)
                left = subprocess.run(["pgrep", "-g", str(proc.pid)],
                                      capture_output=True, text=True).stdout
                self.assertEqual(left.split(), [], log)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


if __name__ == "__main__":
    unittest.main()
