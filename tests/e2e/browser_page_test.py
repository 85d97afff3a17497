#!/usr/bin/env python3
"""heartmula-server's page (GET /) in a real browser (ctest e2e_server_page, docs/server.md).

Starts heartmula-server on the tiny checkpoint (tests/data/ckpt + the fetched tokenizer.json) on a
free loopback port, then headless Chromium with a fresh profile, driven through the Chrome
DevTools Protocol over --remote-debugging-pipe (fd 3: commands to the browser, fd 4: its
messages; each a JSON text ended by a NUL byte). It loads `/`, types the lyrics, tags, duration
and seed into the form, clicks "Make the song", and waits until the new song's line says "done",
its <audio> element has a finite duration > 0 and its download link is there; then the same with
WAV picked in the format field. At the end it saves a screenshot (PNG) where --screenshot says. Any uncaught exception, console.error or browser log
entry of level "error" fails the test, and so does a missing browser (CI installs it:
scripts/install-deps.sh). Python 3 standard library only.

Every wait has a limit, and the whole run one more (--timeout); the browser and the server are
stopped and the temporary folder removed however the run ends.
"""

import argparse
import base64
import ctypes
import fcntl
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# The song typed into the form: 2 s asked for (the tiny model may end it earlier at its end
# token; seed 42 gives 6 frames, 0.48 s, and a non-empty file).
LYRICS = "[Verse]\nMorning paints the window gold\nla la la"
TAGS = "piano,happy"
DURATION = "2"
SEED = "42"


class TestFailure(Exception):
    pass


class Timeout(Exception):
    """A wait for the browser ran out (pump() takes it as the end of its time)."""


class RunTimeout(Exception):
    """The whole run took longer than --timeout (SIGALRM)."""


def log(msg):
    print(f"browser_page_test: {msg}", flush=True)


def die_with_parent():
    """preexec: the child gets SIGKILL when this process dies (even by SIGKILL from ctest)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def find_browser(given):
    """--browser (CMake's find at configure time) when it is there, else $HEARTMULA_CHROMIUM, else
    a search; TestFailure when there is none."""
    if given and os.path.isfile(given) and os.access(given, os.X_OK):
        return given
    if given:
        log(f"--browser {given} is not there (any more): searching")
    env = os.environ.get("HEARTMULA_CHROMIUM", "")
    if env and os.path.isfile(env) and os.access(env, os.X_OK):
        return env
    for name in ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    for path in ("/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium"):
        if os.access(path, os.X_OK):
            return path
    raise TestFailure(
        "no Chromium found (chromium-headless-shell or chromium): this test needs a browser. "
        "Install it with `bash scripts/install-deps.sh` (Debian: apt-get install "
        "--no-install-recommends chromium-headless-shell), or name one with HEARTMULA_CHROMIUM=PATH")


def make_checkpoint(dest, test_data, tokenizer):
    """The tiny fixture as heartmula-server expects a checkpoint folder (as gen_test_util.cpp):
    symlinks to tests/data/ckpt/{HeartMuLa-oss-3B,HeartCodec-oss,gen_config.json} and to the
    fetched tokenizer.json."""
    if not os.path.isfile(tokenizer):
        raise TestFailure(f"missing {tokenizer} (the Llama-3 tokenizer.json): get it with "
                          "scripts/fetch-test-assets.sh, or run through ctest (fixture test_assets)")
    os.makedirs(dest)
    src = os.path.join(os.path.abspath(test_data), "ckpt")
    for name in ("HeartMuLa-oss-3B", "HeartCodec-oss", "gen_config.json"):
        os.symlink(os.path.join(src, name), os.path.join(dest, name))
    os.symlink(os.path.abspath(tokenizer), os.path.join(dest, "tokenizer.json"))
    return dest


class Server:
    def __init__(self, binary, ckpt, tmp, name="server", extra=()):
        self.out_path = os.path.join(tmp, name + ".stdout")
        self.err_path = os.path.join(tmp, name + ".stderr")
        self.output_dir = os.path.join(tmp, name + "-songs")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [binary, "--model-path", ckpt, "--threads", "1", "--port", "0", "--output-dir", self.output_dir,
                 *extra],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, preexec_fn=die_with_parent)
        self.url = None

    def wait_listening(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with open(self.out_path, encoding="utf-8", errors="replace") as f:
                m = re.search(r"listening on (http://127\.0\.0\.1:[0-9]+)", f.read())
            if m:
                self.url = m.group(1) + "/"
                return
            if self.proc.poll() is not None:
                raise TestFailure(f"heartmula-server exited with {self.proc.returncode} before listening")
            time.sleep(0.05)
        raise TestFailure(f"heartmula-server did not listen within {timeout_s} s")

    def stderr_text(self):
        try:
            with open(self.err_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, then SIGKILL after 20 s; the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


class Browser:
    """Chromium with the DevTools protocol on a pipe. Its own process group, killed on close()."""

    def __init__(self, binary, tmp):
        cmd_r, self.cmd_w = os.pipe()  # we write commands, the browser reads them on its fd 3
        self.msg_r, msg_w = os.pipe()  # the browser writes messages on its fd 4, we read them
        self.err_path = os.path.join(tmp, "browser.stderr")
        args = [binary, "--headless", "--remote-debugging-pipe", "--user-data-dir=" + os.path.join(tmp, "profile"),
                "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars", "--window-size=900,1100"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        args.append("about:blank")

        def child_fds():
            # The pipe's ends become fds 3 and 4 (dup'ed above 10 first, so that neither
            # overwrites the other); os.pipe()'s fds are close-on-exec, these two are not.
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(msg_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)
            die_with_parent()

        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         close_fds=False, preexec_fn=child_fds, start_new_session=True)
        os.close(cmd_r)
        os.close(msg_w)
        self.buf = b""
        self.next_id = 0
        self.events = []  # every event received, in order

    def close(self):
        for fd in (self.cmd_w, self.msg_r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its helper processes too
        except ProcessLookupError:
            pass
        self.proc.wait()

    # Lines of Chromium's stderr that every run in a container has (no D-Bus, no sound card, no
    # GPU): left out of what a failure prints.
    NOISE = re.compile(r"dbus|bluez|ALSA lib|alsa_util|audio_manager_linux|vaapi|sandbox_linux")

    def stderr_text(self):
        try:
            with open(self.err_path, encoding="utf-8", errors="replace") as f:
                return "".join(line for line in f if not self.NOISE.search(line))
        except OSError:
            return ""

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no message from the browser in time")
            ready, _, _ = select.select([self.msg_r], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.msg_r, 1 << 20)
                if not chunk:
                    raise TestFailure(f"the browser closed its DevTools pipe (exit status {self.proc.poll()})")
                self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, session=None, timeout_s=30):
        """One command; its result (a protocol error raises TestFailure). Events met meanwhile are kept."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.cmd_w, data):]
        deadline = time.monotonic() + timeout_s
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise TestFailure(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def pump(self, seconds):
        """Receives events for `seconds`."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                m = self._read_message(deadline)
                if "method" in m:
                    self.events.append(m)
        except Timeout:
            pass

    def wait_event(self, method, timeout_s):
        deadline = time.monotonic() + timeout_s
        seen = len(self.events)
        while True:
            for m in self.events[seen:]:
                if m["method"] == method:
                    return m
            seen = len(self.events)
            m = self._read_message(deadline)
            if "method" in m:
                self.events.append(m)


def page_errors(events):
    """What the page or the browser reported as an error: uncaught exceptions, console.error
    (and failed console.assert), log entries of level error (a resource that failed to load,
    a blocked request, ...)."""
    errors = []
    for m in events:
        p = m.get("params", {})
        if m["method"] == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = d.get("exception", {}).get("description") or d.get("text", "")
            errors.append(f"uncaught exception: {text} ({d.get('url', '')}:{d.get('lineNumber', '?')})")
        elif m["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            errors.append(f"console.{p['type']}: {args}")
        elif m["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}".rstrip())
    return errors


def evaluate(browser, session, expression):
    r = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                     session)
    if "exceptionDetails" in r:
        raise TestFailure(f"evaluating {expression!r}: {r['exceptionDetails']}")
    return r.get("result", {}).get("value")


def click(browser, session, selector):
    """A left click at the middle of the element, as a mouse does (Input.dispatchMouseEvent)."""
    box = evaluate(browser, session, f"""(() => {{
        const e = document.querySelector({json.dumps(selector)});
        if (!e) return null;
        e.scrollIntoView({{block: "center"}});
        const r = e.getBoundingClientRect();
        return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
    }})()""")
    if box is None:
        raise TestFailure(f"the page has no {selector}")
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        params = {"type": kind, "x": box["x"], "y": box["y"]}
        if kind != "mouseMoved":
            params.update(button="left", clickCount=1)
        browser.send("Input.dispatchMouseEvent", params, session)


def type_into(browser, session, element_id, text):
    """Clicks the field, empties it and types `text` (Input.insertText: input events as typing)."""
    click(browser, session, "#" + element_id)
    if not evaluate(browser, session, f"""(() => {{
        const e = document.getElementById({json.dumps(element_id)});
        if (!e || document.activeElement !== e) return false;
        e.value = "";
        return true;
    }})()"""):
        raise TestFailure(f"#{element_id} is missing or did not take the focus")
    for i, line in enumerate(text.split("\n")):
        if i:
            browser.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Enter", "code": "Enter",
                                                    "windowsVirtualKeyCode": 13, "text": "\r"}, session)
            browser.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Enter", "code": "Enter",
                                                    "windowsVirtualKeyCode": 13}, session)
        if line:
            browser.send("Input.insertText", {"text": line}, session)
    got = evaluate(browser, session, f"document.getElementById({json.dumps(element_id)}).value")
    if got != text:
        raise TestFailure(f"#{element_id} holds {got!r} after typing {text!r}")


# What the test reads from the page about one song (its box, #song-<id>).
SONG_STATE = """((id) => {
  const box = document.getElementById("song-" + id);
  if (!box) return null;
  const a = box.querySelector("audio");
  const link = box.querySelector("a[href]");
  return {
    duration: a ? String(a.duration) : null,
    media_error: a && a.error ? a.error.code + " " + a.error.message : null,
    src: a ? a.src : null,
    meta: box.querySelector(".meta").textContent,
    download: link ? link.textContent : null,
  };
})"""


def song_ids(browser, session):
    return evaluate(browser, session, 'Array.from(document.querySelectorAll("#songs .song"), (e) => e.id.slice(5))')


def make_song(browser, session, fmt, timeout_s):
    """Clicks "Make the song" and waits until the new song's line says done, its <audio> has a
    finite duration > 0 and its download link is there; what the page showed on the way."""
    before = set(song_ids(browser, session))
    t_click = time.monotonic()
    click(browser, session, "#form button[type=submit]")
    deadline = t_click + timeout_s
    song_id, state, seen = None, None, []
    while True:
        browser.pump(0.25)
        errors = page_errors(browser.events)
        if errors:
            raise TestFailure("the page reported errors:\n  " + "\n  ".join(errors))
        form_error = evaluate(browser, session, 'document.getElementById("error").textContent')
        if form_error:
            raise TestFailure(f"the page says: {form_error}")
        if song_id is None:
            new = [i for i in song_ids(browser, session) if i not in before]
            song_id = new[0] if new else None
        if song_id is not None:
            state = evaluate(browser, session, f"{SONG_STATE}({json.dumps(song_id)})")
            if state is None:
                raise TestFailure(f"the box of song {song_id} is gone from the page")
            # What the page showed while the song was made: its state word, and whether a player
            # was there yet (without a key it appears once the song runs, reading it as it grows).
            step = state["meta"].split(" ")[0] + (" with player" if state["src"] else "")
            if not seen or seen[-1] != step:
                seen.append(step)
            if state["media_error"]:
                raise TestFailure(f"the <audio> element of song {song_id} failed: {state['media_error']} "
                                  f"(src {state['src']}; the page showed {' -> '.join(seen)})")
            try:
                duration = float(state["duration"]) if state["duration"] is not None else float("nan")
            except ValueError:
                duration = float("nan")
            if 0 < duration < float("inf") and state["meta"].startswith("done") and state["download"]:
                break
        if time.monotonic() > deadline:
            raise TestFailure(f"no finished {fmt} song with an <audio> duration within {timeout_s} s "
                              f"(song {song_id}; the page shows {state})")
    log(f"{fmt}: <audio> duration {duration:.3f} s, {time.monotonic() - t_click:.1f} s after the click; "
        f"the page showed {' -> '.join(seen)}; song line {state['meta']!r}; link {state['download']!r}")
    if not state["download"].endswith("." + fmt):
        raise TestFailure(f"the download link of the {fmt} song is {state['download']!r}")
    # The player has the whole song: its duration is the song's length as the page gives it
    # ("... | 0.5 s of audio | ..."; MP3 adds the encoder's delay and padding, a few tens of ms).
    m = re.search(r"\| ([0-9.]+) s of audio", state["meta"])
    if not m or abs(duration - float(m.group(1))) > 0.3:
        raise TestFailure(f"the <audio> duration {duration:.3f} s is not the song's length ({state['meta']!r})")
    return song_id


def open_page(browser, url):
    """A new tab on `url`, its Runtime, Log and Page events on; the tab's session id."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Page"):
        browser.send(domain + ".enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": 900, "height": 1100, "deviceScaleFactor": 1, "mobile": False}, session)
    nav = browser.send("Page.navigate", {"url": url}, session)
    if nav.get("errorText"):
        raise TestFailure(f"loading {url}: {nav['errorText']}")
    browser.wait_event("Page.loadEventFired", 30)
    title = evaluate(browser, session, "document.title")
    if title != "heartmula-server":
        raise TestFailure(f"the page's title is {title!r}, not 'heartmula-server'")
    return session


def fill_song_form(browser, session):
    """Types the test's lyrics, tags, duration and seed into the page's form."""
    for field, text in (("lyrics", LYRICS), ("tags", TAGS), ("duration", DURATION), ("seed", SEED)):
        type_into(browser, session, field, text)


API_KEY = "browser-test-key-7f3a"


def keyed_server_page(args, browser, ckpt, tmp):
    """heartmula-server with --api-key: the page with a wrong key shows the server's 401 message
    in its error line (and makes no song); with the right key typed into its key field it makes
    a song and plays it (fetched with the key: an <audio src> cannot send the header)."""
    server = Server(args.server, ckpt, tmp, "keyed-server", ("--api-key", API_KEY))
    try:
        server.wait_listening(120)
        log(f"keyed server: {server.url}")
        session = open_page(browser, server.url)
        fill_song_form(browser, session)
        type_into(browser, session, "key", "not-the-key")
        mark = len(browser.events)
        click(browser, session, "#form button[type=submit]")
        deadline, shown = time.monotonic() + 20, ""
        while not shown and time.monotonic() < deadline:
            browser.pump(0.2)
            shown = evaluate(browser, session, 'document.getElementById("error").textContent')
        if "API key" not in shown:
            raise TestFailure(f"with a wrong key the page's error line says {shown!r}, not the server's 401 message")
        if song_ids(browser, session):
            raise TestFailure("with a wrong key the page lists a song")
        # The browser logs the refused request as a failed resource (status 401): expected here,
        # and only that.
        browser.events[mark:] = [m for m in browser.events[mark:] if not (
            m["method"] == "Log.entryAdded" and "401" in m.get("params", {}).get("entry", {}).get("text", ""))]
        errors = page_errors(browser.events)
        if errors:
            raise TestFailure("with a wrong key the page reported errors:\n  " + "\n  ".join(errors))
        log(f"wrong key: the page says {shown!r}")
        type_into(browser, session, "key", API_KEY)  # empties the field first
        make_song(browser, session, "mp3", args.song_timeout)
        code = server.stop()
        if code != 0:
            raise TestFailure(f"the keyed heartmula-server exited with {code} on SIGTERM")
    except BaseException:
        log("keyed server stderr (end):\n" + server.stderr_text()[-3000:])
        raise
    finally:
        server.stop()


def run(args, tmp):
    browser_bin = find_browser(args.browser)
    log(f"browser: {browser_bin}")
    ckpt = make_checkpoint(os.path.join(tmp, "ckpt"), args.test_data, args.tokenizer)
    server = Server(args.server, ckpt, tmp)
    browser = None
    try:
        server.wait_listening(120)
        log(f"server: {server.url}")
        browser = Browser(browser_bin, tmp)
        version = browser.send("Browser.getVersion", timeout_s=60)
        log(f"{version.get('product')} ({version.get('protocolVersion')})")
        session = open_page(browser, server.url)
        fill_song_form(browser, session)
        make_song(browser, session, "mp3", args.song_timeout)
        # The second song as WAV: the format picked in the <select> with the keyboard (focused,
        # then "w" typed: a closed <select> selects the option whose text starts with it).
        evaluate(browser, session, 'document.getElementById("format").focus()')
        browser.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "w", "code": "KeyW", "text": "w",
                                                "windowsVirtualKeyCode": 87}, session)
        browser.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "w", "code": "KeyW",
                                                "windowsVirtualKeyCode": 87}, session)
        fmt = evaluate(browser, session, 'document.getElementById("format").value')
        if fmt != "wav":
            raise TestFailure(f"the format field holds {fmt!r} after choosing WAV")
        make_song(browser, session, "wav", args.song_timeout)

        browser.pump(0.5)  # late console messages
        shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        with open(args.screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        log(f"screenshot: {os.path.abspath(args.screenshot)}")

        errors = page_errors(browser.events)
        if errors:
            raise TestFailure("the page reported errors:\n  " + "\n  ".join(errors))
        code = server.stop()
        if code != 0:
            raise TestFailure(f"heartmula-server exited with {code} on SIGTERM")
        keyed_server_page(args, browser, ckpt, tmp)
    except BaseException as e:
        if browser is not None:
            errors = page_errors(browser.events)
            if errors and "reported errors" not in str(e):
                log("errors the page reported:\n  " + "\n  ".join(errors))
            tail = browser.stderr_text()[-3000:]
            if tail:
                log("browser stderr (end):\n" + tail)
        log("server stderr (end):\n" + server.stderr_text()[-3000:])
        raise
    finally:
        if browser is not None:
            browser.close()
        server.stop()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True, help="the heartmula-server binary")
    ap.add_argument("--screenshot", required=True, help="where the PNG goes")
    ap.add_argument("--browser", default="", help="chromium-headless-shell or chromium (default: searched)")
    ap.add_argument("--test-data", default=os.path.join(here, "..", "data"), help="tests/data")
    ap.add_argument("--test-cache", default=os.path.join(here, "..", "..", ".cache"),
                    help="the fetched test assets (llama3/tokenizer.json); $HEARTMULA_TEST_CACHE wins")
    ap.add_argument("--song-timeout", type=float, default=120, help="seconds from the click to the finished song")
    ap.add_argument("--timeout", type=int, default=240, help="seconds for the whole run")
    args = ap.parse_args()
    args.tokenizer = os.path.join(os.environ.get("HEARTMULA_TEST_CACHE") or args.test_cache, "llama3", "tokenizer.json")

    def on_alarm(signum, frame):
        raise RunTimeout(f"the whole run took more than {args.timeout} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(f"browser_page_test: killed by signal {s}"))
    signal.alarm(args.timeout)
    tmp = tempfile.mkdtemp(prefix="heartmula-browser-")
    t0 = time.monotonic()
    try:
        run(args, tmp)
    except (TestFailure, Timeout, RunTimeout) as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        signal.alarm(0)
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"passed in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
