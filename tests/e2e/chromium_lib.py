"""The headless Chromium set-up the browser tests share (browser.py and
smime.py): TAP-like output, a Chromium (Selenium, /usr/bin/chromedriver)
whose HOME, and so NSS database, is a folder of the test's, screenshots,
and waiting for a download.

Selenium is imported when a browser is started, so that a script's other
commands (smime.py send) run without it."""
import json
import os
import time

FAILS = 0


def ok(what):
    print("ok - " + what, flush=True)


def fail(what):
    global FAILS
    FAILS += 1
    print("not ok - " + what, flush=True)


def check(what, cond, why=""):
    ok(what) if cond else fail(what + (": " + why if why else ""))


def failures():
    """How many checks failed so far."""
    return FAILS


def browser(home, downloads, autoselect_url=None):
    """A headless Chromium whose HOME (and so NSS db) is home, saving
    downloads in downloads without asking. With autoselect_url, the profile
    holds the content setting that selects the client certificate for that
    server without a dialog (what the AutoSelectCertificateForUrls policy
    sets)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    prof = os.path.join(home, "profile")
    os.makedirs(os.path.join(prof, "Default"), exist_ok=True)
    prefs = {"download": {"default_directory": downloads, "prompt_for_download": False}}
    if autoselect_url:
        # ContentSettingsType::AUTO_SELECT_CERTIFICATE, as the policy sets it.
        prefs["profile"] = {"content_settings": {"exceptions": {"auto_select_certificate": {
            autoselect_url + ",*": {"setting": {"filters": [{}]}}}}}}
    with open(os.path.join(prof, "Default", "Preferences"), "w") as f:
        json.dump(prefs, f)
    o = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + prof,
              "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        o.add_argument(a)
    o.add_experimental_option("prefs", {"download.default_directory": downloads,
                                        "download.prompt_for_download": False})
    env = dict(os.environ, HOME=home)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver", env=env), options=o)
    d.set_page_load_timeout(30)
    return d


def shot(d, path, full_page=False):
    """A screenshot into path; full_page: the whole page, not only the
    window."""
    if not full_page:
        d.save_screenshot(path)
        return
    h = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(1280, max(700, min(int(h) + 40, 4000)))
    d.save_screenshot(path)
    d.set_window_size(1280, 1000)


def download_to(path, out, what):
    """Waits (10 s at most) for the browser's download at path, checks it
    came ("WHAT downloaded in the browser") and copies it to out."""
    for _ in range(100):
        if os.path.exists(path) and os.path.getsize(path) > 0:
            break
        time.sleep(0.1)
    check(what + " downloaded in the browser", os.path.exists(path), path)
    if os.path.exists(path):
        with open(path, "rb") as f, open(out, "wb") as g:
            g.write(f.read())
