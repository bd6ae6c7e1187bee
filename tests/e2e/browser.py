#!/usr/bin/python3
"""Drives headless Chromium through the /certsrv pages (tests/e2e/browser.sh).

Prints TAP-like "ok - what" / "not ok - what: why" lines; browser.sh
counts them. Two browsers: the requester's (anonymous) and the officer's,
whose profile holds a client certificate in its NSS database and a content
setting that selects it for this server without a dialog (the same setting
the AutoSelectCertificateForUrls policy makes)."""
import argparse
import os
import re
import subprocess
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

import chromium_lib
from chromium_lib import check, ok


def shot(d, shots, name):
    chromium_lib.shot(d, os.path.join(shots, name + ".png"), full_page=True)


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
    chromium_lib.download_to(os.path.join(downloads, "request-%s.pem" % rid), a.out,
                             "requester: certificate")


def main():
    p = argparse.ArgumentParser()
    for k in ("url", "shots", "csr", "hostile", "officer-home", "requester-home", "root",
              "officer-cert", "officer-key", "out"):
        p.add_argument("--" + k, required=True)
    a = p.parse_args()
    downloads = os.path.join(a.requester_home, "downloads")
    os.makedirs(downloads, exist_ok=True)
    r = chromium_lib.browser(a.requester_home, downloads)
    o = None
    try:
        rid, hid = requester_part(a, r)
        o = chromium_lib.browser(a.officer_home, os.path.join(a.officer_home, "dl"), a.url)
        officer_part(a, o, rid, hid)
        download(a, r, rid, downloads)
    finally:
        r.quit()
        if o is not None:
            o.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
