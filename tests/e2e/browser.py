#!/usr/bin/python3
"""Drives headless Chromium through the /certsrv pages (tests/e2e/browser.sh).

Prints TAP-like "ok - what" / "not ok - what: why" lines; browser.sh
counts them. Two browsers: the requester's (anonymous) and the officer's,
whose profile holds a client certificate in its NSS database and a content
setting that selects it for this server without a dialog (the same setting
the AutoSelectCertificateForUrls policy makes)."""
import argparse
import json
import os
import re
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

FAILS = 0


def ok(what):
    print("ok - " + what, flush=True)


def fail(what):
    global FAILS
    FAILS += 1
    print("not ok - " + what, flush=True)


def check(what, cond, why=""):
    ok(what) if cond else fail(what + (": " + why if why else ""))


def browser(home, url, downloads, autoselect):
    """A headless Chromium whose HOME (and so NSS db) is home."""
    prof = os.path.join(home, "profile")
    os.makedirs(os.path.join(prof, "Default"), exist_ok=True)
    prefs = {"download": {"default_directory": downloads, "prompt_for_download": False}}
    if autoselect:
        # ContentSettingsType::AUTO_SELECT_CERTIFICATE, as the policy sets it.
        prefs["profile"] = {"content_settings": {"exceptions": {"auto_select_certificate": {
            url + ",*": {"setting": {"filters": [{}]}}}}}}
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


def shot(d, shots, name):
    path = os.path.join(shots, name + ".png")
    # The whole page, not only the window.
    h = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(1280, max(700, min(int(h) + 40, 4000)))
    d.save_screenshot(path)
    d.set_window_size(1280, 1000)


def submit(d, a, shots, csr_path, profile, name):
    d.get(a.url + "/certsrv/request")
    Select(d.find_element(By.ID, "profile")).select_by_value(profile)
    with open(csr_path) as f:
        d.find_element(By.ID, "csr").send_keys(f.read())
    shot(d, shots, name + "-form")
    d.find_element(By.ID, "submit").click()
    shot(d, shots, name + "-result")
    ids = d.find_elements(By.ID, "reqid")
    return ids[0].text if ids else None


def officer_via_curl(a, rid):
    """The fallback when the browser cannot present the certificate."""
    jar = os.path.join(os.path.dirname(a.out), "officer.jar")
    base = ["curl", "-sS", "--cacert", a.root, "--cert", a.officer_cert, "--key", a.officer_key,
            "-b", jar, "-c", jar]
    page = subprocess.run(base + [a.url + "/certsrv/officer"], capture_output=True,
                          text=True).stdout
    tok = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
    return subprocess.run(base + ["-o", "/dev/null", "-w", "%{http_code}", "-d", "csrf=" + tok,
                                  "-d", "action=approve", "-d", "id=" + rid,
                                  a.url + "/certsrv/officer"], capture_output=True,
                          text=True).stdout


def requester_part(a, r):
    r.get(a.url + "/certsrv")
    check("requester: start page", r.title == "Certificate services - certmint", r.title)
    check("requester: anonymous", "Anonymous" in r.find_element(By.CLASS_NAME, "who").text)
    shot(r, a.shots, "01-home")
    r.get(a.url + "/certsrv/download")
    shot(r, a.shots, "02-download")
    rid = submit(r, a, a.shots, a.csr, "web", "03-request")
    check("requester: pasted CSR is pending with a request id", rid and rid.isdigit(), str(rid))
    hid = submit(r, a, a.shots, a.hostile, "people", "04-hostile")
    check("requester: hostile CSR is pending too", hid and hid.isdigit(), str(hid))
    r.get(a.url + "/certsrv/status")
    shot(r, a.shots, "05-status-pending")
    check("requester: status page lists the requests", rid in r.page_source and hid in
          r.page_source)
    return rid, hid


def hostile_checks(o, hid):
    row = o.find_element(By.ID, "req-" + hid)
    text = row.find_element(By.CLASS_NAME, "subject").text
    check("officer: hostile subject shown as text", '\\<script\\>document.title=\\"pwned' in text,
          text)
    check("officer: the injected script did not run (title unchanged)",
          o.title == "Pending requests - certmint", o.title)
    n = o.execute_script("return document.querySelectorAll('script').length")
    check("officer: no script element in the page", n == 0, str(n))
    n = o.execute_script("return document.querySelectorAll('[onmouseover]').length")
    check("officer: no onmouseover attribute was injected", n == 0, str(n))


def officer_part(a, o, rid, hid):
    o.get(a.url + "/certsrv/officer")
    who = o.find_element(By.CLASS_NAME, "who").text
    if "Olivia Officer" not in who:
        print("# headless Chromium did not present the client certificate (%s): the officer "
              "step uses curl" % who, flush=True)
        code = officer_via_curl(a, rid)
        check("officer (curl, client certificate): approve", code == "200", code)
        return
    ok("officer: Chromium presents the client certificate (" + who + ")")
    shot(o, a.shots, "06-officer-pending")
    hostile_checks(o, hid)
    o.find_element(By.ID, "approve-" + rid).click()
    shot(o, a.shots, "07-officer-approved")
    note = o.find_element(By.CLASS_NAME, "note").text
    check("officer: approval confirmed", "approved" in note, note)
    row = o.find_element(By.ID, "req-" + hid)
    row.find_element(By.NAME, "reason").send_keys("<b>not ours</b>")
    o.find_element(By.ID, "deny-" + hid).click()
    shot(o, a.shots, "08-officer-denied")
    o.get(a.url + "/certsrv/officer/search?q=Disposition%3Dissued")
    shot(o, a.shots, "09-officer-search")
    o.get(a.url + "/certsrv/officer/revoke")
    shot(o, a.shots, "10-officer-revoke")
    o.get(a.url + "/certsrv/officer/crl")
    shot(o, a.shots, "11-officer-crl")


def download(a, r, rid, downloads):
    r.get(a.url + "/certsrv/status?id=" + rid)
    shot(r, a.shots, "12-status-issued")
    r.find_element(By.LINK_TEXT, "certificate (PEM)").click()
    path = os.path.join(downloads, "request-%s.pem" % rid)
    for _ in range(100):
        if os.path.exists(path) and os.path.getsize(path) > 0:
            break
        time.sleep(0.1)
    check("requester: certificate downloaded in the browser", os.path.exists(path), path)
    if os.path.exists(path):
        with open(path, "rb") as f, open(a.out, "wb") as g:
            g.write(f.read())


def main():
    p = argparse.ArgumentParser()
    for k in ("url", "shots", "csr", "hostile", "officer-home", "requester-home", "root",
              "officer-cert", "officer-key", "out"):
        p.add_argument("--" + k, required=True)
    a = p.parse_args()
    downloads = os.path.join(a.requester_home, "downloads")
    os.makedirs(downloads, exist_ok=True)
    r = browser(a.requester_home, a.url, downloads, False)
    o = None
    try:
        rid, hid = requester_part(a, r)
        o = browser(a.officer_home, a.url, os.path.join(a.officer_home, "dl"), True)
        officer_part(a, o, rid, hid)
        download(a, r, rid, downloads)
    finally:
        r.quit()
        if o is not None:
            o.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
