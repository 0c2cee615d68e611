#!/usr/bin/env python3
"""The demo app (examples/app) in headless Chromium: `make test-browser`.

    test_app.py APP

Starts APP on a free loopback port (--port 0: it prints the URL it got),
then, with Debian's chromium and chromedriver driven by python3-selenium:
  1. loads the page and sees what its script fetched: /hello's text, /json
     and /time (the callback-style endpoint);
  2. uploads a file through the form's <input type=file> and sees its name,
     size and SHA-256 listed;
  3. sees a server-sent event tick arrive (/events);
  4. opens a second browser session, sends a chat message from the first
     over the WebSocket and sees it in the second (and in the first: the
     room echoes to the sender).
Every wait is bounded (WebDriverWait with generous limits, never a sleep
standing in for a condition). The app and both browsers are stopped at the
end, on failure too. Prints "browser test: all checks passed" and exits 0,
or prints what failed (with the pages' text) and exits 1."""
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = float(os.environ.get("CIO_BROWSER_WAIT", "60"))  # seconds: a bound against hangs, not a pace

# Loopback only: no proxy for the browsers nor for selenium's own
# connections to chromedriver.
for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    os.environ.pop(var, None)
os.environ["no_proxy"] = os.environ["NO_PROXY"] = "127.0.0.1,localhost"


def stop_on_signal(signo, frame):
    raise SystemExit(f"stopped by signal {signo}")


signal.signal(signal.SIGTERM, stop_on_signal)
signal.signal(signal.SIGHUP, stop_on_signal)


def start_app(app, tmp):
    out_path = os.path.join(tmp, "app.out")
    out = open(out_path, "w")
    env = dict(os.environ, TMPDIR=tmp)
    proc = subprocess.Popen([app, "--port", "0", "--quiet"], stdout=out,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    out.close()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with open(out_path) as f:
            for line in f:
                if line.startswith("cio demo app: http://"):
                    return proc, line.split(": ", 1)[1].strip()
        if proc.poll() is not None:
            with open(out_path) as f:
                raise RuntimeError(f"the app exited ({proc.returncode}): {f.read()}")
        time.sleep(0.05)  # polling the app's output file for its first line
    raise RuntimeError(f"the app printed no URL within {WAIT} s")


def stop_app(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def browser(tmp, name):
    profile = os.path.join(tmp, f"profile-{name}")
    os.mkdir(profile)
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--no-proxy-server", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1200,900"):
        opts.add_argument(arg)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver",
                      log_path=os.path.join(tmp, f"chromedriver-{name}.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


def wait_for(driver, what, cond):
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(lambda d: cond(d))
    except Exception as e:
        raise AssertionError(f"waited {WAIT} s for {what}") from e


def text_of(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def check_page(d):
    wait_for(d, "/hello's text on the page", lambda d: text_of(d, "hello") == "Hello from cio!")
    wait_for(d, "/json's message on the page", lambda d: "Hello, JSON!" in text_of(d, "json"))
    wait_for(d, "/time's answer on the page", lambda d: "callbacks" in text_of(d, "time"))
    print("page: /hello, /json and /time shown")


def check_upload(d, tmp):
    path = os.path.join(tmp, "cio upload test.bin")
    data = os.urandom(123457)
    with open(path, "wb") as f:
        f.write(data)
    digest = hashlib.sha256(data).hexdigest()
    d.find_element(By.ID, "file").send_keys(path)
    d.find_element(By.ID, "upload-button").click()

    def listed(d):
        for row in d.find_elements(By.CSS_SELECTOR, "#uploads tr.upload"):
            cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
            if cells[:2] == ["cio upload test.bin", f"{len(data)} bytes"]:
                return cells
        return None

    cells = wait_for(d, "the uploaded file in the list", listed)
    assert cells[2] == digest, f"sha256 listed {cells[2]}, expected {digest}"
    wait_for(d, "the upload's status line", lambda d: "uploaded cio upload test.bin" in text_of(d, "upload-status"))
    print("upload: name, size and sha256 listed")


def check_events(d):
    wait_for(d, "a server-sent tick", lambda d: text_of(d, "sse").startswith("tick "))
    print(f"events: {text_of(d, 'sse')}")


def check_chat(d1, d2):
    for d in (d1, d2):
        wait_for(d, "the chat to connect", lambda d: text_of(d, "chat-status") == "connected"
                 and d.find_element(By.ID, "chat-input").is_enabled())
    msg = f"hello from the first browser {os.getpid()}"
    d1.find_element(By.ID, "chat-input").send_keys(msg)
    d1.find_element(By.ID, "chat-send").click()

    def shown(d):
        return any(li.text.endswith(": " + msg)
                   for li in d.find_elements(By.CSS_SELECTOR, "#chat-log li.message"))

    wait_for(d2, "the message in the second browser", shown)
    wait_for(d1, "the message echoed to the first browser", shown)
    print("chat: the first browser's message reached the second")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_app.py APP")
    app = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="cio-browser-test.")
    proc = None
    drivers = []
    ok = False
    try:
        proc, url = start_app(app, tmp)
        print(f"app: {url}")
        d1 = browser(tmp, "one")
        drivers.append(d1)
        d1.get(url)
        check_page(d1)
        check_upload(d1, tmp)
        check_events(d1)
        d2 = browser(tmp, "two")
        drivers.append(d2)
        d2.get(url)
        check_page(d2)
        check_chat(d1, d2)
        ok = True
    except (AssertionError, RuntimeError, WebDriverException) as e:
        print(f"FAIL: {e}")
        if e.__cause__:
            print(f"  ({type(e.__cause__).__name__})")
        for i, d in enumerate(drivers):
            try:
                print(f"--- browser {i + 1}'s page:\n{d.find_element(By.TAG_NAME, 'body').text}")
                for entry in d.get_log("browser"):
                    print(f"  console: {entry.get('message')}")
            except WebDriverException:
                pass
        if os.path.exists(os.path.join(tmp, "app.out")):
            with open(os.path.join(tmp, "app.out")) as f:
                print(f"--- the app's output:\n{f.read()}")
    finally:
        for d in drivers:
            try:
                d.quit()
            except Exception as e:  # the browser may be gone already
                print(f"closing a browser: {e}")
        if proc:
            stop_app(proc)
            if ok and proc.returncode != 0:
                print(f"FAIL: the app exited with {proc.returncode} after SIGTERM")
                ok = False
        shutil.rmtree(tmp, ignore_errors=True)
    if not ok:
        sys.exit(1)
    print("browser test: all checks passed")


if __name__ == "__main__":
    main()
