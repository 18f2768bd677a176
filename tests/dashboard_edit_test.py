#!/usr/bin/env python3
"""The dashboard as an editor uses it, in headless Chromium (Debian's
chromium), driven over the DevTools protocol on a pipe: log in with a token,
then pin, split, move and merge through the page's buttons (each confirmed
in the browser's dialog), checked through the JSON API; hostile titles,
sources and URLs must render as text and run nothing.

Run by ctest with NEWSDEDUP_CLI set. The server and Chromium are started
here, bound to loopback, and stopped by pid."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

CLI = os.environ["NEWSDEDUP_CLI"]
EDITOR = "editor-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"
XSS_TITLE = "<img src=x onerror=alert(1)><script>window.__xss=1</script>"

ARTICLES = [
    {"id": "s1", "title": "Trump says summit with Putin in Budapest is on hold",
     "published": "2025-10-22T08:00:00Z", "source": "Wire A"},
    {"id": "q1", "title": "Magnitude 6.1 earthquake strikes off coast of "
     "Chile, tsunami warning issued", "published": "2025-10-22T08:30:00Z"},
    {"id": "s2", "title": "Putin-Trump summit in Budapest put on hold, "
     "White House says", "published": "2025-10-22T09:00:00Z"},
    {"id": "f1", "title": "Central bank raises interest rates by a quarter "
     "point to fight inflation", "published": "2025-10-22T09:10:00Z"},
    {"id": "q2", "title": "Chile earthquake: tsunami warning lifted after "
     "magnitude 6.1 quake", "published": "2025-10-22T09:20:00Z"},
    {"id": "s3", "title": "No plans for Trump to meet Putin in Budapest "
     "soon, official says", "published": "2025-10-22T10:00:00Z"},
    {"id": "f2", "title": "Interest rates raised a quarter point as central "
     "bank fights inflation", "published": "2025-10-22T10:30:00Z"},
    {"id": "s4", "title": "Budapest summit between Trump and Putin on hold",
     "published": "2025-10-22T13:00:00Z"},
    {"id": "x1", "title": XSS_TITLE, "url": "javascript:alert(3)",
     "source": "<b onmouseover=alert(2)>Evil</b>",
     "published": "2025-10-22T14:00:00Z"},
]


class DevTools:
    """Chromium's DevTools protocol over --remote-debugging-pipe: requests
    go to the browser's fd 3, answers and events come from its fd 4, each a
    JSON message ended by a NUL byte."""

    def __init__(self, profile_dir):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def child_fds():
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run",
             "--user-data-dir=" + profile_dir, "--remote-debugging-pipe",
             "about:blank"],
            # The child closes every fd above 2 not named here after
            # preexec_fn has run: name the two it set up.
            pass_fds=(3, 4), preexec_fn=child_fds, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.session = None
        self.dialogs = []  # (type, message) of every dialog that opened
        self.events = []

    def close(self):
        # Chromium's helper processes are in its own process group.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            if time.time() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise EOFError("Chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _handle_event(self, message):
        self.events.append(message)
        if message.get("method") == "Page.javascriptDialogOpening":
            params = message["params"]
            self.dialogs.append((params["type"], params["message"]))
            # Accept confirmations; an alert must never open (it would mean
            # injected script ran), but is closed so the page goes on.
            self._send("Page.handleJavaScriptDialog", {"accept": True})

    def _send(self, method, params=None, session=True):
        self._next_id += 1
        message = {"id": self._next_id, "method": method,
                   "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def call(self, method, params=None, session=True, timeout=20):
        wanted = self._send(method, params, session)
        deadline = time.time() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._handle_event(message)

    def open_page(self):
        target = self.call("Target.createTarget", {"url": "about:blank"},
                           session=False)
        attached = self.call("Target.attachToTarget",
                             {"targetId": target["targetId"],
                              "flatten": True}, session=False)
        self.session = attached["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate",
                           {"expression": expression, "awaitPromise": True,
                            "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url):
        self.call("Page.navigate", {"url": url})

    def wait_for(self, expression, timeout=15):
        """Polls until `expression` is truthy in the page; returns it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError:
                value = None  # the page is between documents
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError("never true: " + expression)


class DashboardEditTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        tokens = os.path.join(self.dir.name, "tokens")
        with open(tokens, "w") as f:
            f.write(f"{EDITOR} edit Ana Editor\n{READER} read Viewer\n")
        self.log = open(os.path.join(self.dir.name, "server.log"), "w+")
        self.server = subprocess.Popen(
            [CLI, "serve", "--listen", "127.0.0.1:0", "--http-listen",
             "127.0.0.1:0", "--in-memory", "--auth-tokens", tokens],
            stderr=self.log)
        self.addCleanup(self.stop_server)
        self.http = self.grpc = None
        for _ in range(500):
            self.log.seek(0)
            text = self.log.read()
            grpc_port = re.search(r"event=serving .*port=(\d+)", text)
            http_port = re.search(r"event=http_serving .*http_port=(\d+)",
                                  text)
            if grpc_port and http_port:
                self.grpc = f"127.0.0.1:{grpc_port.group(1)}"
                self.http = f"http://127.0.0.1:{http_port.group(1)}"
                break
            time.sleep(0.02)
        self.assertIsNotNone(self.http, "server did not start")
        articles = os.path.join(self.dir.name, "articles.jsonl")
        with open(articles, "w") as f:
            for a in ARTICLES:
                f.write(json.dumps(a) + "\n")
        fed = subprocess.run(
            [CLI, "client", "--server", self.grpc, "--token", EDITOR,
             "assign", articles], capture_output=True, text=True)
        self.assertEqual(fed.returncode, 0, fed.stdout + fed.stderr)
        self.browser = DevTools(os.path.join(self.dir.name, "profile"))
        self.addCleanup(self.browser.close)
        self.browser.open_page()

    def stop_server(self):
        self.server.send_signal(signal.SIGTERM)
        try:
            self.assertEqual(self.server.wait(timeout=30), 0)
        finally:
            if self.server.poll() is None:
                self.server.kill()
            self.log.close()
            self.dir.cleanup()

    def api(self, path):
        request = urllib.request.Request(
            self.http + path, headers={"Authorization": "Bearer " + READER})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def cluster_of(self, article):
        return self.api("/api/articles/" + article)["assignment"]["cluster_id"]

    def login(self, token=EDITOR):
        b = self.browser
        b.navigate(self.http + "/")
        # No session: the page sends the browser to the login form.
        b.wait_for("location.pathname === '/login' && "
                   "document.getElementById('token') !== null")
        b.evaluate(f"document.getElementById('token').value = '{token}';"
                   "document.getElementById('login').submit(); true")
        b.wait_for("location.pathname === '/' && "
                   "document.querySelectorAll('tr.cluster-row').length > 0")

    def open_cluster(self, cluster):
        b = self.browser
        b.evaluate(f"location.hash = '#/cluster/{cluster}'; true")
        b.wait_for(f"document.getElementById('edit-panel') !== null && "
                   f"document.getElementById('status').textContent === "
                   f"'cluster {cluster}'")

    def act(self, reason, target, click):
        """Fills the reason and other-cluster fields, clicks, confirms in
        the dialog, and waits for the outcome line."""
        b = self.browser
        confirmations = len(b.dialogs)
        # The outcome line may still show the last action (the page stays
        # when the action left the articles on it): clear it first.
        b.evaluate(
            "document.getElementById('edit-outcome').textContent = '';"
            f"document.getElementById('edit-reason').value = {json.dumps(reason)};"
            f"document.getElementById('edit-target').value = {json.dumps(target)};"
            f"{click}; true")
        outcome = b.wait_for(
            "(() => { const o = document.getElementById('edit-outcome');"
            " return o && /^(Done|Refused)/.test(o.textContent) &&"
            " o.textContent; })()")
        self.assertEqual(len(b.dialogs), confirmations + 1)
        self.assertEqual(b.dialogs[-1][0], "confirm")
        self.assertIn(reason, b.dialogs[-1][1])
        return outcome

    def test_login_then_pin_split_move_and_merge(self):
        self.login()
        summit = self.cluster_of("s1")
        quake = self.cluster_of("q1")
        rates = self.cluster_of("f1")
        self.assertEqual(self.cluster_of("s4"), summit)

        self.open_cluster(summit)
        outcome = self.act(
            "best headline", "",
            "document.querySelector('tr[data-article=\"s3\"] button.pin')"
            ".click()")
        self.assertTrue(outcome.startswith("Done"), outcome)
        cluster = self.api("/api/clusters/" + summit)["cluster"]
        self.assertEqual(cluster["representative_id"], "s3")
        pin = [e for e in cluster["history"] if e["kind"] == "EDITED"][-1]
        self.assertEqual((pin["action"], pin["editor"], pin["reason"]),
                         ("pin", "Ana Editor", "best headline"))

        self.open_cluster(summit)
        outcome = self.act(
            "a different event", "",
            "document.querySelector('input.member-select[value=\"s4\"]')"
            ".checked = true;"
            "document.getElementById('split-selected').click()")
        self.assertTrue(outcome.startswith("Done"), outcome)
        split_off = self.cluster_of("s4")
        self.assertNotEqual(split_off, summit)
        self.assertEqual(self.cluster_of("s1"), summit)

        self.open_cluster(quake)
        outcome = self.act(
            "belongs with the rates story", rates,
            "document.querySelector('tr[data-article=\"q1\"] button.move')"
            ".click()")
        self.assertTrue(outcome.startswith("Done"), outcome)
        self.assertEqual(self.cluster_of("q1"), rates)

        self.open_cluster(rates)
        outcome = self.act("same story", quake,
                           "document.getElementById('merge-into').click()")
        self.assertTrue(outcome.startswith("Done"), outcome)
        self.assertEqual(self.cluster_of("f1"), quake)
        self.assertEqual(self.cluster_of("q1"), quake)

        # A refused action says why on the page and changes nothing.
        self.open_cluster(split_off)
        outcome = self.act("undo the split", summit,
                           "document.getElementById('merge-into').click()")
        self.assertTrue(outcome.startswith("Refused"), outcome)
        self.assertIn("kept apart", outcome)
        self.assertEqual(self.cluster_of("s4"), split_off)

        # The page lists the history with who and why.
        self.open_cluster(summit)
        history = self.browser.evaluate(
            "document.getElementById('history').textContent")
        self.assertIn("by Ana Editor: best headline", history)
        self.assertEqual([d for d in self.browser.dialogs if d[0] != "confirm"],
                         [])

    def test_a_reader_sees_no_edit_panel_and_logs_out(self):
        self.login(READER)
        b = self.browser
        self.assertEqual(b.wait_for(
            "document.getElementById('user').textContent"), "Viewer (read)")
        summit = self.cluster_of("s1")
        b.evaluate(f"location.hash = '#/cluster/{summit}'; true")
        b.wait_for("document.getElementById('members') !== null")
        self.assertIsNone(b.evaluate(
            "document.getElementById('edit-panel')"))
        self.assertEqual(b.evaluate(
            "document.querySelectorAll('button.pin, button.move').length"), 0)
        b.evaluate("document.querySelector('#session button').click(); true")
        b.wait_for("location.pathname === '/login'")
        # The session is gone: the page sends the browser back to log in.
        b.navigate(self.http + "/")
        b.wait_for("location.pathname === '/login'")

    def test_hostile_text_is_shown_as_text_and_runs_nothing(self):
        self.login()
        b = self.browser
        hostile = self.cluster_of("x1")
        for route in ("#/", "#/cluster/" + hostile, "#/search/Evil"):
            b.evaluate(f"location.hash = {json.dumps(route)}; true")
            b.wait_for("document.getElementById('view').children.length > 0")
            time.sleep(0.5)  # time for any injected handler to fire
        b.evaluate(f"location.hash = '#/cluster/{hostile}'; true")
        b.wait_for("document.getElementById('members') !== null")
        self.assertEqual(b.dialogs, [], "an alert ran: injected script")
        self.assertIsNone(b.evaluate("window.__xss"))
        self.assertEqual(b.evaluate(
            "document.querySelectorAll('#view img, #view script, #view b')"
            ".length"), 0)
        self.assertIn(XSS_TITLE, b.evaluate(
            "document.getElementById('view').textContent"))
        # A javascript: URL does not become a link.
        self.assertEqual(b.evaluate(
            "[...document.querySelectorAll('#view a')]"
            ".filter(a => a.href.startsWith('javascript')).length"), 0)


if __name__ == "__main__":
    unittest.main()
